import Foundation

// The request pipeline of jenkins.md §9.2 (session → Basic auth → CSRF → routing → read access) and the
// endpoints of §9.3. Runs under the engine's mutex, after the clock has been ticked.

/// Who is making the request.
struct Principal {
    /// nil = anonymous.
    let user: String?
    let canRead: Bool
    let canBuild: Bool
    let viaApiToken: Bool

    /// The name the crumb is computed from (`anonymous` for the anonymous user).
    var name: String { user ?? "anonymous" }
    var isAnonymous: Bool { user == nil }
}

/// What the pipeline learned about a request, for the request log.
struct RequestAudit {
    var pathSegments: [String] = []
    var hadValidSession = false
    var principal: String?
    var viaApiToken = false
}

/// A parsed request plus its authentication.
struct RequestContext {
    let request: ServerRequest
    let query: [FakeJenkins.QueryItem]
    /// Fields of an `application/x-www-form-urlencoded` POST body.
    let form: [FakeJenkins.QueryItem]
    /// Fields of a `multipart/form-data` POST body.
    let multipart: [FakeJenkins.QueryItem]
    /// Decoded path segments below the context path (one trailing slash ignored).
    let segments: [String]
    /// `http://<Host header><contextPath>`, what Stapler uses to make `Location` absolute.
    let requestBase: String
    var session: Session?
    var principal = Principal(user: nil, canRead: false, canBuild: false, viaApiToken: false)

    /// `req.getParameterMap()`: query string plus urlencoded form fields.
    var parameters: [FakeJenkins.QueryItem] { query + form }
    func parameter(_ name: String) -> String? { parameters.first { $0.name == name }?.value }
    func values(_ name: String) -> [String] { parameters.filter { $0.name == name }.map(\.value) }
    var isPOST: Bool { request.method == "POST" }
    var uri: String { request.path }
}

extension Model {
    /// Normalized context path: `""` or `/x` (no trailing slash).
    var contextPath: String {
        var c = config.contextPath
        while c.hasSuffix("/") { c.removeLast() }
        if !c.isEmpty && !c.hasPrefix("/") { c = "/" + c }
        return c
    }

    var renderer: Renderer {
        Renderer(
            version: config.version, sessionHash: config.sessionHash, contextPath: contextPath,
            rootBase: config.rootURL.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
                ?? "http://127.0.0.1:\(port)\(contextPath)/")
    }

    /// DefaultCrumbIssuer: hex(SHA-256(principal + ";" + sessionId + salt)).
    func crumb(principal: String, sessionId: String) -> String {
        SHA256.hex(principal + ";" + sessionId + config.crumbSalt)
    }

    /// Decoded segments of `path` below the context path, or nil if the path is outside it.
    func segments(of path: String) -> [String]? {
        let ctx = contextPath
        guard path == ctx || path.hasPrefix(ctx + "/") else { return nil }
        var parts = path.dropFirst(ctx.count).split(separator: "/", omittingEmptySubsequences: false)
        if parts.first == "" { parts.removeFirst() }
        if parts.last == "" { parts.removeLast() }
        return parts.map { URLCoding.decodePathSegment($0) }
    }

    // MARK: Pipeline

    mutating func handle(_ request: ServerRequest) -> (ServerResponse, RequestAudit) {
        var audit = RequestAudit()
        let r = renderer
        guard let segments = segments(of: request.path) else {
            return (r.containerError(404, "Not Found", uri: request.path), audit)
        }
        audit.pathSegments = segments

        let query = request.query.map(URLCoding.parseForm) ?? []
        var form: [FakeJenkins.QueryItem] = []
        var multipart: [FakeJenkins.QueryItem] = []
        let contentType = request.headers["Content-Type"] ?? ""
        if request.method == "POST" {
            if contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") {
                form = URLCoding.parseForm(String(decoding: request.body, as: UTF8.self))
            } else if contentType.lowercased().hasPrefix("multipart/form-data") {
                multipart = URLCoding.parseMultipart(request.body, contentType: contentType)
            }
        }
        let host = request.headers["Host"] ?? "127.0.0.1:\(port)"
        var ctx = RequestContext(
            request: request, query: query, form: form, multipart: multipart, segments: segments,
            requestBase: "http://\(host)\(contextPath)")

        // 1. Session.
        ctx.session = sessionFromCookies(request.headers)
        audit.hadValidSession = ctx.session != nil

        // 2. Basic authentication (401 before anything else).
        switch authenticate(request.headers, session: ctx.session) {
        case .failure:
            return (r.unauthorized(uri: request.path), audit)
        case .success(let principal):
            ctx.principal = principal
        }
        audit.principal = ctx.principal.user
        audit.viaApiToken = ctx.principal.viaApiToken

        // 3. CSRF, before routing.
        if config.csrfEnabled && ctx.isPOST && !ctx.principal.viaApiToken {
            let sent = request.headers[config.crumbField] ?? ctx.parameter(config.crumbField)
            let valid = ctx.session.map { sent == crumb(principal: ctx.principal.name, sessionId: $0.id) } ?? false
            if !valid {
                return (r.containerError(403, "No valid crumb was included in the request", uri: request.path), audit)
            }
        }

        // 4./5. Read access for anonymous (403 on every URL), then routing.
        if ctx.principal.isAnonymous && !ctx.principal.canRead {
            return (r.loginRedirect(uri: request.path), audit)
        }
        return (route(&ctx), audit)
    }

    func sessionFromCookies(_ headers: ServerHeaders) -> Session? {
        for header in headers.values(for: "Cookie") {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                guard let eq = trimmed.firstIndex(of: "="), trimmed[..<eq] == config.cookieName else { continue }
                var value = String(trimmed[trimmed.index(after: eq)...])
                if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                // Jetty appends the worker name (`.node0`) to the session id in the cookie.
                if let dot = value.lastIndex(of: ".") { value = String(value[..<dot]) }
                if let session = sessions[value] { return session }
            }
        }
        return nil
    }

    enum AuthResult {
        case success(Principal)
        case failure
    }

    func authenticate(_ headers: ServerHeaders, session: Session?) -> AuthResult {
        let anonymous = Principal(
            user: nil, canRead: config.anonymous.canRead, canBuild: config.anonymous.canBuild, viaApiToken: false)
        guard let header = headers["Authorization"], header.lowercased().hasPrefix("basic") else {
            return .success(anonymous)
        }
        let lowered = header.lowercased()
        guard lowered == "basic" || lowered.hasPrefix("basic ") else { return .success(anonymous) }
        var encoded = header.dropFirst(5).trimmingCharacters(in: .whitespaces)
        while encoded.count % 4 != 0 { encoded += "=" }
        guard !encoded.isEmpty, let data = Data(base64Encoded: encoded),
            let decoded = String(data: data, encoding: .utf8), let colon = decoded.firstIndex(of: ":")
        else { return .failure }
        let username = String(decoded[..<colon])
        let secret = String(decoded[decoded.index(after: colon)...])
        guard let user = config.users.first(where: { $0.name == username }) else { return .failure }
        if config.sessionSkipsReauthentication, session?.principal == username {
            return .success(Principal(user: user.name, canRead: user.canRead, canBuild: user.canBuild, viaApiToken: false))
        }
        if user.apiTokens.contains(secret) {
            return .success(Principal(user: user.name, canRead: user.canRead, canBuild: user.canBuild, viaApiToken: true))
        }
        if let password = user.password, password == secret {
            return .success(Principal(user: user.name, canRead: user.canRead, canBuild: user.canBuild, viaApiToken: false))
        }
        return .failure
    }

    // MARK: Routing

    mutating func route(_ ctx: inout RequestContext) -> ServerResponse {
        let r = renderer
        let s = ctx.segments
        switch s.first {
        case nil:
            return r.page(200, title: "Dashboard", body: "<h1>Dashboard</h1>")
        case "api" where s == ["api", "json"]:
            return r.api(r.root(model: self, csrf: config.csrfEnabled))
        case "crumbIssuer":
            guard s == ["crumbIssuer", "api", "json"] || s == ["crumbIssuer", "api", "xml"] else { return r.notFound() }
            return crumbIssuer(&ctx, xml: s[2] == "xml")
        case "queue":
            if !ctx.principal.canRead { return r.notFound() }
            if s == ["queue", "cancelItem"] { return cancelItem(ctx) }
            guard s.count >= 3, s[1] == "item", let id = Int(s[2]) else { return r.notFound() }
            if s.count == 3 { return queueItemIndex(ctx, id: id) }
            if s.count == 5 && s[3] == "api" && s[4] == "json" { return queueItemAPI(id: id) }
            return r.notFound()
        case "job":
            if !ctx.principal.canRead { return r.notFound() }
            return jobRoute(&ctx)
        default:
            return r.notFound()
        }
    }

    mutating func crumbIssuer(_ ctx: inout RequestContext, xml: Bool) -> ServerResponse {
        let r = renderer
        guard config.csrfEnabled else { return r.notFound() }
        if ctx.parameter("jsonp") != nil {
            return r.containerError(403, "jsonp forbidden; implement jenkins.security.SecureRequester", uri: ctx.uri)
        }
        var headers = ServerHeaders()
        let session: Session
        if let existing = ctx.session {
            session = existing
        } else {
            session = Session(id: "node0" + Self.randomToken(24), principal: ctx.principal.name)
            sessions[session.id] = session
            ctx.session = session
            let path = contextPath.isEmpty ? "/" : contextPath
            headers.add("Set-Cookie", "\(config.cookieName)=\(session.id).node0; Path=\(path); HttpOnly")
        }
        let value = crumb(principal: ctx.principal.name, sessionId: session.id)
        if xml {
            let xpath = ctx.parameter("xpath")
            let allowed = ["concat(//crumbRequestField,\":\",//crumb)", "concat(//crumbRequestField,':',//crumb)"]
            if let xpath {
                guard allowed.contains(xpath) else {
                    return r.containerError(403, "Only concat(//crumbRequestField,\":\",//crumb) is allowed", uri: ctx.uri)
                }
                var h = r.jenkinsHeaders
                for f in headers { h.add(f.name, f.value) }
                h.add("Content-Type", "text/plain;charset=UTF-8")
                return ServerResponse(status: 200, headers: h, body: Data("\(config.crumbField):\(value)".utf8))
            }
            var h = r.jenkinsHeaders
            for f in headers { h.add(f.name, f.value) }
            h.add("Content-Type", "application/xml;charset=UTF-8")
            let doc = """
                <defaultCrumbIssuer _class='hudson.security.csrf.DefaultCrumbIssuer'><crumb>\(value)</crumb>\
                <crumbRequestField>\(Renderer.escape(config.crumbField))</crumbRequestField></defaultCrumbIssuer>
                """
            return ServerResponse(status: 200, headers: h, body: Data(doc.utf8))
        }
        return r.api(
            .object([
                ("_class", .string("hudson.security.csrf.DefaultCrumbIssuer")),
                ("crumb", .string(value)),
                ("crumbRequestField", .string(config.crumbField)),
            ]), headers: headers)
    }

    static func randomToken(_ count: Int) -> String {
        let chars = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<count).map { _ in chars[Int.random(in: 0..<chars.count)] })
    }

    // MARK: Queue

    mutating func queueItemAPI(id: Int) -> ServerResponse {
        let r = renderer
        guard var item = queue[id] else { return r.notFound() }
        var hide = false
        if case .left(_, false, .some) = item.phase, item.startingPollsRemaining > 0 {
            hide = true
            item.startingPollsRemaining -= 1
            queue[id] = item
        }
        return r.api(r.queueItem(item, model: self, hideExecutable: hide))
    }

    func queueItemIndex(_ ctx: RequestContext, id: Int) -> ServerResponse {
        let r = renderer
        guard queue[id] != nil, !config.legacyQueueItemIndex404 else { return r.notFound() }
        let text =
            "Queue item exists. For details check, for example, "
            + "\(contextPath)/queue/item/\(id)/api/json?tree=cancelled,executable[url]"
        return ServerResponse(status: 200, contentType: "text/plain;charset=UTF-8", text: text)
    }

    /// `Queue.doCancelItem` (`@RequirePOST`): 204, 404 unknown/expired, 422 no permission, 500 already left.
    mutating func cancelItem(_ ctx: RequestContext) -> ServerResponse {
        let r = renderer
        guard ctx.isPOST else { return r.requirePOST() }
        let raw = ctx.parameter("id")
        guard let id = raw.map({ Int($0.trimmingCharacters(in: .whitespaces)) }) ?? 0 else {
            return r.oops("java.lang.NumberFormatException", "For input string: \"\(raw ?? "")\"")
        }
        func error(_ status: Int, _ message: String) -> ServerResponse {
            r.exceptionText(status, "java.lang.Exception", message, at: "hudson.model.Queue.doCancelItem(Queue.java)")
        }
        guard queue[id] != nil else { return error(404, "Provided id (\(id)) not found") }
        guard ctx.principal.canBuild else { return error(422, "Item for id (\(id)) is not cancellable") }
        switch cancel(id) {
        case .cancelled: return ServerResponse(status: 204)
        case .alreadyLeft: return error(500, "Could not cancel run for id \(id)")
        case .notFound: return error(404, "Provided id (\(id)) not found")
        }
    }

    // MARK: Jobs

    mutating func jobRoute(_ ctx: inout RequestContext) -> ServerResponse {
        let r = renderer
        let s = ctx.segments
        var names: [String] = []
        var i = 0
        while i + 1 < s.count && s[i] == "job" {
            names.append(s[i + 1])
            i += 2
        }
        let rest = Array(s[i...])
        let fullName = names.joined(separator: "/")
        // Item names can contain neither '/' nor be empty, so a decoded %2F never reaches a folder's child.
        guard !names.isEmpty, !names.contains(where: { $0.isEmpty || $0.contains("/") }) else { return r.notFound() }

        if jobs[fullName] == nil {
            if isFolder(fullName) {
                if rest.isEmpty { return r.page(200, title: fullName, body: "<h1>\(Renderer.escape(fullName))</h1>") }
                if rest == ["api", "json"] { return r.api(r.folder(fullName, model: self)) }
                return r.notFound()
            }
            guard config.autoCreateJobs, rest == ["build"] || rest == ["buildWithParameters"],
                !jobs.keys.contains(where: { fullName.hasPrefix($0 + "/") })
            else { return r.notFound() }
            var job = FakeJenkins.Job(fullName, quietPeriod: config.autoCreateQuietPeriod)
            if rest == ["buildWithParameters"] {
                let reserved: Set<String> = ["token", "delay", "cause", "json", config.crumbField]
                var seen = Set<String>()
                for item in ctx.parameters where !reserved.contains(item.name) && seen.insert(item.name).inserted {
                    job.parameters.append(FakeJenkins.Parameter(item.name))
                }
            }
            jobs[fullName] = JobRecord(config: job)
        }
        guard let job = jobs[fullName] else { return r.notFound() }

        switch rest.count {
        case 0:
            return r.page(200, title: fullName, body: "<h1>Project \(Renderer.escape(job.config.name))</h1>")
        case 1 where rest[0] == "build":
            return build(ctx, job: job.config)
        case 1 where rest[0] == "buildWithParameters":
            return buildWithParameters(ctx, job: job.config)
        case 2 where rest == ["api", "json"]:
            return r.api(r.job(job, model: self))
        case 1, 3:
            guard let run = resolveBuild(rest[0], in: job) else { return r.notFound() }
            if rest.count == 1 {
                return r.page(200, title: "\(fullName) #\(run.number)", body: "<h1>Build #\(run.number)</h1>")
            }
            guard rest[1] == "api" && rest[2] == "json" else { return r.notFound() }
            return r.api(r.build(run, job: job))
        default:
            return r.notFound()
        }
    }

    func resolveBuild(_ ref: String, in job: JobRecord) -> BuildRecord? {
        if let n = Int(ref) { return job.build(n) }
        let done = job.builds.filter { !$0.building }
        switch ref {
        case "lastBuild": return job.builds.last
        case "lastCompletedBuild": return done.last
        case "lastSuccessfulBuild": return done.last { $0.outcome.result == .success || $0.outcome.result == .unstable }
        case "lastStableBuild": return done.last { $0.outcome.result == .success }
        case "lastFailedBuild": return done.last { $0.outcome.result == .failure }
        case "lastUnstableBuild": return done.last { $0.outcome.result == .unstable }
        case "lastUnsuccessfulBuild": return done.last { $0.outcome.result != .success }
        default: return nil
        }
    }

    enum DelayValue {
        case absent
        case seconds(Int)
        case invalid(String)
    }

    /// `TimeDuration.fromString`: a bare number is milliseconds, a `sec`/`secs` suffix means seconds;
    /// truncated to whole seconds.
    static func parseDelay(_ raw: String?) -> DelayValue {
        guard let raw else { return .absent }
        var text = raw.trimmingCharacters(in: .whitespaces)
        var multiplier: Int64 = 1
        if text.hasSuffix("sec") || text.hasSuffix("secs") {
            if let range = text.range(of: "sec", options: .backwards) { text = String(text[..<range.lowerBound]) }
            text = text.trimmingCharacters(in: .whitespaces)
            multiplier = 1000
        }
        // Long.parseLong: optional sign, decimal digits only.
        var digits = Substring(text)
        if digits.first == "+" || digits.first == "-" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text) else {
            return .invalid(text)
        }
        let (ms, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return .invalid(text) }
        return .seconds(Int(clamping: ms / 1000))
    }

    enum Authorization {
        case byToken
        case byPermission
        case denied(ServerResponse)
    }

    /// `BuildAuthorizationToken.checkPermission`: build token, then Job/Build, then POST.
    func authorizeTrigger(_ ctx: RequestContext, job: FakeJenkins.Job) -> Authorization {
        let r = renderer
        if let token = job.buildToken, let provided = ctx.parameter("token") {
            if provided == token { return .byToken }
            return .denied(
                r.page(403, title: "Access Denied", body: "<h1>Access Denied</h1><p>Invalid token provided.</p>"))
        }
        if !ctx.principal.canBuild {
            if ctx.principal.isAnonymous {
                return .denied(r.loginRedirect(uri: ctx.uri, permission: "hudson.model.Item.Build"))
            }
            return .denied(
                r.accessDenied(user: ctx.principal.name, permission: "hudson.model.Item.Build", permissionTitle: "Job/Build"))
        }
        if !ctx.isPOST { return .denied(r.requirePOST()) }
        return .byPermission
    }

    /// `ParameterizedJobMixIn.getBuildCause`.
    func cause(_ ctx: RequestContext, job: FakeJenkins.Job) -> Cause {
        if job.buildToken != nil && ctx.parameter("token") != nil {
            return .remote(addr: ctx.request.remoteAddress, note: ctx.parameter("cause"))
        }
        return .user(ctx.principal.user)
    }

    func queueLocation(_ ctx: RequestContext, _ id: Int) -> String { "\(ctx.requestBase)/queue/item/\(id)/" }

    /// `POST /job/…/build` (ParameterizedJobMixIn.doBuild).
    mutating func build(_ ctx: RequestContext, job: FakeJenkins.Job) -> ServerResponse {
        let r = renderer
        let delaySeconds: Int
        switch Self.parseDelay(ctx.parameter("delay")) {
        case .absent: delaySeconds = job.quietPeriod
        case .seconds(let s): delaySeconds = s
        case .invalid(let text):
            return r.oops("java.lang.IllegalArgumentException", "Invalid time duration value: \(text)")
        }
        if job.disabled {
            return r.exceptionText(
                409, "java.io.IOException", "\(job.fullName) is not buildable",
                at: "jenkins.model.ParameterizedJobMixIn.doBuild(ParameterizedJobMixIn.java)")
        }
        if job.isParameterized && !ctx.isPOST {
            let fields = job.parameters.map {
                "<input name=\"value\" type=\"text\" value=\"\(Renderer.escape($0.defaultValue))\" data-name=\"\(Renderer.escape($0.name))\"/>"
            }.joined()
            return r.page(
                200, title: job.fullName,
                body:
                    "<h1>Pipeline \(Renderer.escape(job.name))</h1><p>This build requires parameters:</p><form method=\"post\" action=\"build\">\(fields)</form>"
            )
        }
        if case .denied(let response) = authorizeTrigger(ctx, job: job) { return response }

        if job.isParameterized { return buildWithJSON(ctx, job: job, delaySeconds: delaySeconds) }

        let result = schedule(job: job.fullName, delaySeconds: delaySeconds, parameters: nil, cause: cause(ctx, job: job))
        triggers += 1
        // 201 even when merged (JENKINS-66105 TODO), naming the existing item.
        return r.redirect(201, location: queueLocation(ctx, result.id))
    }

    /// ParametersDefinitionProperty._doBuild: the `json` form field.
    mutating func buildWithJSON(_ ctx: RequestContext, job: FakeJenkins.Job, delaySeconds: Int) -> ServerResponse {
        let r = renderer
        let jsonText = ctx.multipart.isEmpty ? ctx.parameter("json") : ctx.multipart.first { $0.name == "json" }?.value
        guard let jsonText else {
            let submittedSomething = !ctx.parameters.isEmpty || !ctx.multipart.isEmpty
            return r.containerError(
                400, submittedSomething ? "This page expects a form submission" : "Nothing is submitted", uri: ctx.uri)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(jsonText.utf8))) as? [String: Any] else {
            return r.oops("net.sf.json.JSONException", "A JSONObject text must begin with '{'")
        }
        var entries: [[String: Any]] = []
        if let array = object["parameter"] as? [Any] {
            for element in array {
                guard let entry = element as? [String: Any] else {
                    return r.oops("net.sf.json.JSONException", "JSONArray[0] is not a JSONObject.")
                }
                entries.append(entry)
            }
        } else if let single = object["parameter"] as? [String: Any] {
            entries = [single]
        }
        var values: [FakeJenkins.QueryItem] = []
        for entry in entries {
            let name = entry["name"] as? String ?? ""
            guard job.parameters.contains(where: { $0.name == name }) else {
                return r.oops("java.lang.IllegalArgumentException", "No such parameter definition: \(name)")
            }
            values.append(FakeJenkins.QueryItem(name: name, value: Self.stringValue(entry["value"])))
        }
        let result = schedule(job: job.fullName, delaySeconds: delaySeconds, parameters: values, cause: .user(ctx.principal.user))
        triggers += 1
        if result.created { return r.redirect(201, location: queueLocation(ctx, result.id)) }
        // Queue.schedule returned null: sendRedirect(".") to the job page.
        return r.redirect(302, location: "\(ctx.requestBase)/\(Renderer.jobPath(job.fullName))")
    }

    static func stringValue(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return ""
        case let s as String: return s
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }
            return n.stringValue
        default: return "\(value!)"
        }
    }

    /// `POST /job/…/buildWithParameters` (doBuildWithParameters → ParametersDefinitionProperty.buildWithParameters).
    mutating func buildWithParameters(_ ctx: RequestContext, job: FakeJenkins.Job) -> ServerResponse {
        let r = renderer
        let delaySeconds: Int
        switch Self.parseDelay(ctx.parameter("delay")) {
        case .absent: delaySeconds = job.quietPeriod
        case .seconds(let s): delaySeconds = s
        case .invalid(let text):
            return r.oops("java.lang.IllegalArgumentException", "Invalid time duration value: \(text)")
        }
        if case .denied(let response) = authorizeTrigger(ctx, job: job) { return response }
        if job.disabled {
            return r.exceptionText(
                409, "java.io.IOException", "\(job.fullName) is not buildable",
                at: "jenkins.model.ParameterizedJobMixIn.doBuildWithParameters(ParameterizedJobMixIn.java)")
        }
        guard job.isParameterized else {
            return r.containerError(400, "\(job.fullName) is not parameterized", uri: ctx.uri)
        }
        var values: [FakeJenkins.QueryItem] = []
        for definition in job.parameters {
            let sent = ctx.values(definition.name)
            if sent.count > 1 {
                return r.oops(
                    "java.lang.IllegalArgumentException",
                    "Illegal number of parameter values for \(definition.name): \(sent.count)")
            }
            values.append(FakeJenkins.QueryItem(name: definition.name, value: sent.first ?? definition.defaultValue))
        }
        let result = schedule(job: job.fullName, delaySeconds: delaySeconds, parameters: values, cause: cause(ctx, job: job))
        triggers += 1
        return r.redirect(result.created ? 201 : 303, location: queueLocation(ctx, result.id))
    }
}

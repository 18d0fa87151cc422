import Foundation

// JSON documents and HTML/error pages in the shapes real Jenkins sends (jenkins.md §2, §4, §9.3).

/// Builds the fake's responses. `rootBase` (`http://127.0.0.1:PORT/ctx/`) is used for URLs inside JSON;
/// `Location` headers are built from the request's Host instead (see `RequestContext.requestBase`).
struct Renderer {
    let version: String
    let sessionHash: String
    let contextPath: String
    /// Ends with `/`.
    let rootBase: String

    // MARK: URLs

    static func jobPath(_ fullName: String) -> String {
        "job/"
            + fullName.split(separator: "/", omittingEmptySubsequences: false)
            .map { URLCoding.rawEncode(String($0)) }.joined(separator: "/job/") + "/"
    }

    func jobURL(_ fullName: String) -> String { rootBase + Self.jobPath(fullName) }
    func buildURL(_ fullName: String, _ number: Int) -> String { jobURL(fullName) + "\(number)/" }

    static func displayPath(_ fullName: String) -> String {
        fullName.split(separator: "/", omittingEmptySubsequences: false).joined(separator: " » ")
    }

    // MARK: Headers

    /// `Functions.advertiseHeaders` / `Api.setHeaders`.
    var jenkinsHeaders: ServerHeaders {
        var h = ServerHeaders()
        h.add("X-Content-Type-Options", "nosniff")
        h.add("X-Hudson", "1.395")
        h.add("X-Jenkins", version)
        h.add("X-Jenkins-Session", sessionHash)
        return h
    }

    // MARK: Responses

    /// 200 `application/json;charset=UTF-8` with the `Api.setHeaders` headers.
    func api(_ json: JSONValue, headers extra: ServerHeaders = ServerHeaders()) -> ServerResponse {
        var h = jenkinsHeaders
        h.add("X-Frame-Options", "deny")
        h.add("Content-Type", "application/json;charset=UTF-8")
        for f in extra { h.add(f.name, f.value) }
        return ServerResponse(status: 200, headers: h, body: Data(json.serialized.utf8))
    }

    /// A Jenkins-rendered HTML page (has the `X-Jenkins` headers).
    func page(_ status: Int, title: String, body: String, headers extra: ServerHeaders = ServerHeaders()) -> ServerResponse {
        var h = jenkinsHeaders
        h.add("Content-Type", "text/html;charset=utf-8")
        for f in extra { h.add(f.name, f.value) }
        let html = """
            <!DOCTYPE html><html><head><title>\(Self.escape(title)) [Jenkins]</title></head>\
            <body><div id="main-panel">\(body)</div></body></html>
            """
        return ServerResponse(status: status, headers: h, body: Data(html.utf8))
    }

    /// The servlet container's (Jetty's) error page from `sendError` (no `X-Jenkins` headers).
    func containerError(_ status: Int, _ message: String, uri: String, headers extra: ServerHeaders = ServerHeaders())
        -> ServerResponse
    {
        var h = ServerHeaders()
        h.add("Cache-Control", "must-revalidate,no-cache,no-store")
        h.add("Content-Type", "text/html;charset=iso-8859-1")
        for f in extra { h.add(f.name, f.value) }
        let m = Self.escape(message)
        let html = """
            <html>
            <head>
            <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
            <title>Error \(status) \(m)</title>
            </head>
            <body><h2>HTTP ERROR \(status) \(m)</h2>
            <table>
            <tr><th>URI:</th><td>\(Self.escape(uri))</td></tr>
            <tr><th>STATUS:</th><td>\(status)</td></tr>
            <tr><th>MESSAGE:</th><td>\(m)</td></tr>
            <tr><th>SERVLET:</th><td>Stapler</td></tr>
            </table>

            </body>
            </html>

            """
        return ServerResponse(status: status, headers: h, body: Data(html.utf8))
    }

    /// Stapler `HttpResponses.error(code, exception)`: the stack trace as text/plain.
    func exceptionText(_ status: Int, _ exception: String, _ message: String, at frame: String) -> ServerResponse {
        ServerResponse(
            status: status, contentType: "text/plain;charset=UTF-8",
            text: "\(exception): \(message)\n\tat \(frame)\n")
    }

    /// Jenkins' `/oops` page for an uncaught exception (500).
    func oops(_ exception: String, _ message: String) -> ServerResponse {
        page(
            500, title: "Jenkins",
            body: """
                <h1>Oops!</h1><p>A problem occurred while processing the request.</p>\
                <pre class="stack-trace">\(Self.escape(exception)): \(Self.escape(message))\n\tat org.kohsuke.stapler.Stapler.invoke</pre>
                """)
    }

    /// Jenkins' own 404 page.
    func notFound() -> ServerResponse {
        page(404, title: "Not Found", body: "<h1>Not Found</h1>")
    }

    /// HudsonAuthenticationEntryPoint: 403 page that redirects an anonymous caller to the login page.
    func loginRedirect(uri: String, permission: String = "hudson.model.Hudson.Read") -> ServerResponse {
        let from = URLCoding.rawEncode(uri)
        let login = "\(contextPath)/login?from=\(from)"
        var h = jenkinsHeaders
        h.add("X-You-Are-Authenticated-As", "anonymous")
        h.add("X-You-Are-In-Group-Disabled", "JENKINS-39402: use -Dhudson.security.AccessDeniedException2.REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose")
        h.add("X-Required-Permission", permission)
        h.add("X-Permission-Implied-By", "hudson.model.Hudson.Administer")
        h.add("Content-Type", "text/html;charset=utf-8")
        let html = """
            <html><head><meta http-equiv='refresh' content='1;url=\(login)'/>\
            <script id='redirect' data-redirect-url='\(login)' src='\(contextPath)/static/00000000/scripts/redirect.js'></script>\
            </head><body style='background-color:white; color:white;'>
            Authentication required
            <!--
            -->

            </body></html>
            """
        return ServerResponse(status: 403, headers: h, body: Data(html.utf8))
    }

    /// AccessDeniedException3 for an authenticated user.
    func accessDenied(user: String, permission: String, permissionTitle: String) -> ServerResponse {
        var h = ServerHeaders()
        h.add("X-You-Are-Authenticated-As", user)
        h.add("X-You-Are-In-Group-Disabled", "JENKINS-39402: use -Dhudson.security.AccessDeniedException2.REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose")
        h.add("X-Required-Permission", permission)
        return page(
            403, title: "Access Denied",
            body: "<h1>Access Denied</h1><p>\(Self.escape(user)) is missing the \(permissionTitle) permission</p>",
            headers: h)
    }

    /// 405 + `Allow: POST` ("This URL requires POST").
    func requirePOST() -> ServerResponse {
        var h = ServerHeaders()
        h.add("Allow", "POST")
        return page(
            405, title: "This URL requires POST",
            body: """
                <h1>This URL requires POST</h1><p>The URL you're trying to access requires that requests be sent \
                using POST (like a form submission). The button below allows you to retry accessing this URL using POST.</p>\
                <form method="POST"><input type="submit" value="Proceed"/></form>
                """,
            headers: h)
    }

    /// 401 from Spring's `BasicAuthenticationEntryPoint`.
    func unauthorized(uri: String) -> ServerResponse {
        var h = ServerHeaders()
        h.add("WWW-Authenticate", "Basic realm=\"Jenkins\"")
        return containerError(401, "Unauthorized", uri: uri, headers: h)
    }

    /// A trigger response: empty body, optional `Location`.
    func redirect(_ status: Int, location: String?) -> ServerResponse {
        var h = ServerHeaders()
        h.add("X-Content-Type-Options", "nosniff")
        if let location { h.add("Location", location) }
        return ServerResponse(status: status, headers: h)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    // MARK: JSON documents

    static func parametersAction(_ parameters: [FakeJenkins.QueryItem]) -> JSONValue {
        .object([
            ("_class", .string("hudson.model.ParametersAction")),
            (
                "parameters",
                .array(
                    parameters.map {
                        .object([
                            ("_class", .string("hudson.model.StringParameterValue")),
                            ("name", .string($0.name)), ("value", .string($0.value)),
                        ])
                    })
            ),
        ])
    }

    static func causeAction(_ causes: CauseBag) -> JSONValue {
        .object([("_class", .string("hudson.model.CauseAction")), ("causes", .array(causes.expanded.map(\.json)))])
    }

    static func actions(parameters: [FakeJenkins.QueryItem]?, causes: CauseBag) -> JSONValue {
        var list: [JSONValue] = []
        if let parameters { list.append(parametersAction(parameters)) }
        list.append(causeAction(causes))
        return .array(list)
    }

    /// Ball color of a job (`BallColor`), `_anime` while a build runs.
    static func color(_ job: JobRecord) -> String {
        if job.config.disabled { return "disabled" }
        var base: String
        switch job.lastCompleted?.outcome.result {
        case nil: base = "notbuilt"
        case .success: base = "blue"
        case .unstable: base = "yellow"
        case .failure: base = "red"
        case .aborted: base = "aborted"
        case .notBuilt: base = "notbuilt"
        }
        if job.runningBuild != nil { base += "_anime" }
        return base
    }

    func task(_ job: JobRecord) -> JSONValue {
        .object([
            ("_class", .string("hudson.model.FreeStyleProject")),
            ("name", .string(job.config.name)),
            ("url", .string(jobURL(job.config.fullName))),
            ("color", .string(Self.color(job))),
        ])
    }

    /// `GET /queue/item/N/api/json`.
    func queueItem(_ item: QueueEntry, model: Model, hideExecutable: Bool) -> JSONValue {
        let job = model.jobs[item.job] ?? JobRecord(config: FakeJenkins.Job(item.job))
        let blocked: Bool
        let buildable: Bool
        let className: String
        var why: JSONValue
        var extra: [(String, JSONValue)] = []
        switch item.phase {
        case .waiting(let due):
            (blocked, buildable, className) = (false, false, "hudson.model.Queue$WaitingItem")
            why = .string("In the quiet period. Expires in \(Self.timeSpan(max(0, due - model.now)))")
            extra = [("timestamp", .int(due))]
        case .ready(let since):
            if model.isBlocked(item) {
                (blocked, buildable, className) = (true, false, "hudson.model.Queue$BlockedItem")
                let running = job.runningBuild?.number ?? 0
                why = .string("Build #\(running) is already in progress")
                extra = [("buildableStartMilliseconds", .int(since))]
            } else {
                (blocked, buildable, className) = (false, true, "hudson.model.Queue$BuildableItem")
                why = .string("Waiting for next available executor")
                extra = [("buildableStartMilliseconds", .int(since)), ("pending", .bool(false))]
            }
        case .left(_, let cancelled, let number):
            (blocked, buildable, className) = (false, false, "hudson.model.Queue$LeftItem")
            why = .null
            var executable = JSONValue.null
            if let number, !hideExecutable {
                executable = .object([
                    ("_class", .string("hudson.model.FreeStyleBuild")),
                    ("number", .int(number)),
                    ("url", .string(buildURL(item.job, number))),
                ])
            }
            extra = [("cancelled", .bool(cancelled)), ("executable", executable)]
        }
        let params = (item.parameters ?? []).map { "\n\($0.name)=\($0.value)" }.joined()
        return .object(
            [
                ("_class", .string(className)),
                ("actions", Self.actions(parameters: item.parameters, causes: item.causes)),
                ("blocked", .bool(blocked)),
                ("buildable", .bool(buildable)),
                ("id", .int(item.id)),
                ("inQueueSince", .int(item.inQueueSince)),
                ("params", .string(params)),
                ("stuck", .bool(false)),
                ("task", task(job)),
                ("url", .string("queue/item/\(item.id)/")),
                ("why", why),
            ] + extra)
    }

    /// `GET /job/…/N/api/json` (a FreeStyleBuild).
    func build(_ build: BuildRecord, job: JobRecord) -> JSONValue {
        let completed = job.builds.filter { !$0.building && ($0.outcome.result == .success || $0.outcome.result == .unstable) }
        let recent = completed.suffix(3)
        let estimated: Int64 = recent.isEmpty ? -1 : recent.reduce(0) { $0 + $1.outcome.durationMs } / Int64(recent.count)
        return .object([
            ("_class", .string("hudson.model.FreeStyleBuild")),
            ("actions", Self.actions(parameters: build.parameters, causes: build.causes)),
            ("artifacts", .array([])),
            ("building", .bool(build.building)),
            ("description", .null),
            ("displayName", .string("#\(build.number)")),
            ("duration", .int(build.building ? 0 : build.outcome.durationMs)),
            ("estimatedDuration", .int(estimated)),
            ("executor", .null),
            ("fullDisplayName", .string("\(Self.displayPath(job.config.fullName)) #\(build.number)")),
            ("id", .string("\(build.number)")),
            ("inProgress", .bool(build.building)),
            ("keepLog", .bool(false)),
            ("number", .int(build.number)),
            ("queueId", .int(build.queueId)),
            ("result", .optionalString(build.result?.rawValue)),
            ("timestamp", .int(build.startedAt)),
            ("url", .string(buildURL(job.config.fullName, build.number))),
            ("builtOn", .string("")),
            (
                "changeSet",
                .object([
                    ("_class", .string("hudson.scm.EmptyChangeLogSet")), ("items", .array([])), ("kind", .null),
                ])
            ),
            ("culprits", .array([])),
        ])
    }

    private func buildRef(_ build: BuildRecord?, _ job: JobRecord) -> JSONValue {
        guard let build else { return .null }
        return .object([
            ("_class", .string("hudson.model.FreeStyleBuild")),
            ("number", .int(build.number)),
            ("url", .string(buildURL(job.config.fullName, build.number))),
        ])
    }

    /// `GET /job/…/api/json` (a FreeStyleProject).
    func job(_ job: JobRecord, model: Model) -> JSONValue {
        let queued = model.queue.values.filter { $0.job == job.config.fullName && $0.isQueued }.sorted { $0.id < $1.id }
        var properties: [JSONValue] = []
        if job.config.isParameterized {
            properties.append(
                .object([
                    ("_class", .string("hudson.model.ParametersDefinitionProperty")),
                    (
                        "parameterDefinitions",
                        .array(
                            job.config.parameters.map { p in
                                .object([
                                    ("_class", .string("hudson.model.StringParameterDefinition")),
                                    (
                                        "defaultParameterValue",
                                        .object([
                                            ("_class", .string("hudson.model.StringParameterValue")),
                                            ("name", .string(p.name)), ("value", .string(p.defaultValue)),
                                        ])
                                    ),
                                    ("description", .string("")),
                                    ("name", .string(p.name)),
                                    ("type", .string("StringParameterDefinition")),
                                ])
                            })
                    ),
                ]))
        }
        let builds = job.builds.reversed()
        let queued0: JSONValue =
            queued.first.map { item in
                .object([
                    ("_class", .string(self.queueItem(item, model: model, hideExecutable: false).className ?? "")),
                    ("id", .int(item.id)),
                    ("url", .string("queue/item/\(item.id)/")),
                ])
            } ?? .null
        return .object([
            ("_class", .string("hudson.model.FreeStyleProject")),
            ("description", .null),
            ("displayName", .string(job.config.name)),
            ("fullDisplayName", .string(Self.displayPath(job.config.fullName))),
            ("fullName", .string(job.config.fullName)),
            ("name", .string(job.config.name)),
            ("url", .string(jobURL(job.config.fullName))),
            ("buildable", .bool(!job.config.disabled)),
            ("builds", .array(builds.map { buildRef($0, job) })),
            ("color", .string(Self.color(job))),
            ("firstBuild", buildRef(job.builds.first, job)),
            ("inQueue", .bool(!queued.isEmpty)),
            ("keepDependencies", .bool(false)),
            ("lastBuild", buildRef(job.builds.last, job)),
            ("lastCompletedBuild", buildRef(job.lastCompleted, job)),
            ("lastFailedBuild", buildRef(job.builds.last { !$0.building && $0.outcome.result == .failure }, job)),
            ("lastSuccessfulBuild", buildRef(job.builds.last { !$0.building && $0.outcome.result == .success }, job)),
            ("nextBuildNumber", .int(job.config.nextBuildNumber)),
            ("property", .array(properties)),
            ("queueItem", queued0),
            ("concurrentBuild", .bool(job.config.concurrent)),
            ("disabled", .bool(job.config.disabled)),
        ])
    }

    /// An entry of a `jobs` list (top level or folder).
    func itemRef(_ fullName: String, model: Model) -> JSONValue {
        if let job = model.jobs[fullName] {
            return .object([
                ("_class", .string("hudson.model.FreeStyleProject")),
                ("name", .string(job.config.name)),
                ("url", .string(jobURL(fullName))),
                ("color", .string(Self.color(job))),
            ])
        }
        return .object([
            ("_class", .string("com.cloudbees.hudson.plugins.folder.Folder")),
            ("name", .string(String(fullName.split(separator: "/").last ?? ""))),
            ("url", .string(jobURL(fullName))),
        ])
    }

    /// Direct children (full names) of a folder ("" = root).
    static func children(of folder: String, in model: Model) -> [String] {
        let prefix = folder.isEmpty ? "" : folder + "/"
        var names = Set<String>()
        for key in model.jobs.keys where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            guard let first = rest.split(separator: "/", omittingEmptySubsequences: false).first else { continue }
            names.insert(prefix + first)
        }
        return names.sorted()
    }

    func folder(_ name: String, model: Model) -> JSONValue {
        .object([
            ("_class", .string("com.cloudbees.hudson.plugins.folder.Folder")),
            ("displayName", .string(String(name.split(separator: "/").last ?? ""))),
            ("fullName", .string(name)),
            ("name", .string(String(name.split(separator: "/").last ?? ""))),
            ("url", .string(jobURL(name))),
            ("jobs", .array(Self.children(of: name, in: model).map { itemRef($0, model: model) })),
        ])
    }

    func root(model: Model, csrf: Bool) -> JSONValue {
        .object([
            ("_class", .string("hudson.model.Hudson")),
            ("jobs", .array(Self.children(of: "", in: model).map { itemRef($0, model: model) })),
            ("quietPeriod", .int(5)),
            ("url", .string(rootBase)),
            ("useCrumbs", .bool(csrf)),
            ("useSecurity", .bool(true)),
        ])
    }

    /// `hudson.Util.getTimeSpanString` (`4.9 sec`, `12 sec`, `1 min 5 sec`, `250 ms`).
    static func timeSpan(_ ms: Int64) -> String {
        let hours = ms / 3_600_000
        let minutes = (ms / 60_000) % 60
        let seconds = (ms / 1000) % 60
        let millis = ms % 1000
        func number(_ value: Double) -> String {
            value == value.rounded() ? String(Int64(value)) : String(value)
        }
        if hours > 0 { return hours >= 10 ? "\(hours) hr" : "\(hours) hr \(minutes) min" }
        if minutes > 0 { return minutes >= 10 ? "\(minutes) min" : "\(minutes) min \(seconds) sec" }
        if seconds >= 10 { return "\(seconds) sec" }
        if seconds >= 1 { return "\(number(Double(seconds) + Double(millis / 100) / 10)) sec" }
        if millis >= 100 { return "\(number(Double(millis / 10) / 100)) sec" }
        return "\(millis) ms"
    }
}

extension JSONValue {
    /// The `_class` member of an object.
    var className: String? {
        guard case .object(let members) = self else { return nil }
        if case .string(let s)? = members.first(where: { $0.0 == "_class" })?.1 { return s }
        return nil
    }
}

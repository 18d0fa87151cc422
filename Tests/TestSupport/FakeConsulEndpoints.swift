import Foundation

/// Endpoint logic of the fake Consul (consul-api.md §1, §3, §4, F.4). Runs with `condition` locked; a blocking
/// query parks on the condition, which releases the lock while it waits.
extension FakeConsulEngine {
    /// What a handler needs to know about the request.
    struct Context {
        var request: Request
        var query: QueryString
        var agent: String
        /// nil: anonymous (or ACLs off).
        var identity: TokenInfo?
        var pretty: Bool
        var stale: Bool
        var index: UInt64
        var wait: Double?
        var knownLeader: Bool
    }

    func handle(
        _ route: Route, _ request: Request, _ query: QueryString, agent: String, token: String?, txnConflict: Bool = false
    ) -> Response {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        state.tick(now: nowLocked)
        var identity: TokenInfo?
        if aclEnabled, let secret = token ?? defaultToken {
            guard let info = tokens[secret] else { return text(403, "ACL not found") }
            identity = info
        }
        var index: UInt64 = 0
        if let v = query.value("index") {
            guard let n = UInt64(v) else { return text(400, "Invalid index") }
            index = n
        }
        var wait: Double?
        if let w = query.value("wait") {
            guard let d = parseGoDuration(w), d >= 0 else { return text(400, "Invalid wait time") }
            wait = d
        }
        if query.has("stale") && query.has("consistent") {
            return text(400, "Cannot specify ?stale with ?consistent, conflicting semantics.")
        }
        let stale = query.has("stale")
        if leaderLost && !route.agentLocal {
            if route.endpoint == .statusLeader { return json(.string(""), index: nil) }
            // A read-only transaction is a stale-capable read too; `txn` decides once it knows its verbs.
            let staleRead = stale && (request.method == "GET" || route.endpoint == .txn)
            if !staleRead { return serverError(500, "No cluster leader") }
        }
        let ctx = Context(
            request: request, query: query, agent: agent, identity: identity,
            pretty: query.has("pretty") || configuration.prettyJSON, stale: stale, index: index, wait: wait,
            knownLeader: !leaderLost)
        let argument = route.argument ?? ""
        switch route.endpoint {
        case .kv:
            switch request.method {
            case "GET": return kvGet(argument, ctx)
            case "PUT": return kvPut(argument, ctx)
            default: return kvDelete(argument, ctx)
            }
        case .agentSelf: return agentSelf(ctx)
        case .agentChecks: return agentChecksList(ctx)
        case .agentCheckRegister: return agentRegister(ctx)
        case .agentCheckDeregister: return agentDeregister(argument, ctx)
        case .agentCheckPass: return agentTTL(argument, status: "passing", output: query.value("note") ?? "", ctx)
        case .agentCheckWarn: return agentTTL(argument, status: "warning", output: query.value("note") ?? "", ctx)
        case .agentCheckFail: return agentTTL(argument, status: "critical", output: query.value("note") ?? "", ctx)
        case .agentCheckUpdate: return agentUpdate(argument, ctx)
        case .catalogNode, .catalogNodeServices: return catalogNode(argument, asList: route.endpoint == .catalogNodeServices, ctx)
        case .catalogServices: return catalogServices(ctx)
        case .catalogNodes: return catalogNodes(ctx)
        case .healthNode: return healthNode(argument, ctx)
        case .healthState: return healthState(argument, ctx)
        case .healthService: return healthService(argument, ctx)
        case .statusLeader: return json(.string(configuration.leaderAddress), index: nil, pretty: ctx.pretty)
        case .sessionCreate: return sessionCreate(ctx)
        case .sessionDestroy: return sessionDestroy(argument, ctx)
        case .sessionRenew: return sessionRenew(argument, ctx)
        case .sessionInfo, .sessionList, .sessionNode: return sessionRead(route.endpoint, argument, ctx)
        case .txn: return txn(ctx, conflict: txnConflict)
        case .unknown: return text(404, "Invalid URL path: not a recognized HTTP API endpoint")
        }
    }

    // MARK: Blocking (F.5)

    /// Answers at once unless `?index` is set and the watched index has not passed it; then parks until it does or
    /// the wait (default `defaultQueryTime`, capped at `maxQueryTime`, plus optional jitter ≤ wait/16) runs out.
    func blocking(_ ctx: Context, _ compute: () -> (watch: UInt64, response: Response)) -> Response {
        var answer = compute()
        guard ctx.index > 0, answer.watch <= ctx.index else { return answer.response }
        var wait = ctx.wait ?? configuration.defaultQueryTime
        if wait <= 0 { wait = configuration.defaultQueryTime }
        wait = min(wait, configuration.maxQueryTime)
        if configuration.jitter { wait += Double.random(in: 0...(wait / 16)) }
        let deadline = nowLocked + wait
        parked += 1
        defer { parked -= 1 }
        while !stopped {
            if spuriousWakeups > 0 {
                spuriousWakeups -= 1
                break
            }
            let remaining = deadline - nowLocked
            if remaining <= 0 { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: min(remaining, 0.05)))
            state.tick(now: nowLocked)
            answer = compute()
            if answer.watch > ctx.index { break }
        }
        return answer.response
    }

    // MARK: ACL (F.6)

    func policy(_ ctx: Context, _ resource: FakeConsul.Resource, _ name: String) -> FakeConsul.Policy {
        guard aclEnabled else { return .write }
        let rules = ctx.identity?.rules ?? anonymousRules
        let table: [String: FakeConsul.Policy]
        switch resource {
        case .key: table = rules.keyPrefix
        case .node: table = rules.nodePrefix
        case .service: table = rules.servicePrefix
        case .agent: table = rules.agentPrefix
        case .session: table = rules.sessionPrefix
        }
        let best = table.filter { name.hasPrefix($0.key) }.max { $0.key.count < $1.key.count }
        return best?.value ?? (aclDefaultAllow ? .write : .deny)
    }

    func canRead(_ ctx: Context, _ resource: FakeConsul.Resource, _ name: String) -> Bool { policy(ctx, resource, name).allowsRead }
    func canWrite(_ ctx: Context, _ resource: FakeConsul.Resource, _ name: String) -> Bool { policy(ctx, resource, name).allowsWrite }

    func denied(_ ctx: Context, _ resource: FakeConsul.Resource, _ level: String, _ name: String) -> Response {
        text(403, deniedText(ctx, resource, level, name))
    }

    /// The permission error's text (a 403 body, or a transaction's error entry).
    func deniedText(_ ctx: Context, _ resource: FakeConsul.Resource, _ level: String, _ name: String) -> String {
        guard configuration.detailedACLErrors else { return "Permission denied" }
        if let identity = ctx.identity {
            return
                "Permission denied: token with AccessorID '\(identity.accessorID)' lacks permission '\(resource.rawValue):\(level)' on \"\(name)\""
        }
        return
            "Permission denied: anonymous token lacks permission '\(resource.rawValue):\(level)' on \"\(name)\". The anonymous token is used implicitly when a request does not specify a token."
    }

    /// Marks a listing as filtered (only for non-anonymous tokens, as Consul does).
    func markFiltered(_ response: inout Response, _ ctx: Context, _ filtered: Bool) {
        if filtered && ctx.identity != nil { response.headers.set("X-Consul-Results-Filtered-By-ACLs", "true") }
    }

    // MARK: KV (§1)

    private static let regex1215 = try! NSRegularExpression(pattern: "^[a-zA-Z0-9,_./\\-?&=]+$")

    func validateKey(_ key: String) -> Response? {
        guard let problem = keyProblem(key) else { return nil }
        return problem.serverSide ? serverError(problem.status, problem.text) : text(problem.status, problem.text)
    }

    /// Why `keyValidation` refuses a key (status and text of `/v1/kv`; a transaction reports the text), or nil.
    func keyProblem(_ key: String) -> (status: Int, text: String, serverSide: Bool)? {
        switch configuration.keyValidation {
        case .none: return nil
        case .regex1215:
            if key.isEmpty { return nil }
            let range = NSRange(key.startIndex..., in: key)
            if Self.regex1215.firstMatch(in: key, range: range) == nil {
                return (500, "invalid key name, keys should respect the \"^[a-zA-Z0-9,_./\\-?&=]+$\" format", true)
            }
            return nil
        case .traversal122:
            if key == ".." || key.hasPrefix("../") || key.contains("/../") || key.hasSuffix("/..") {
                return (400, "invalid key name: path traversal is not allowed", false)
            }
            if key.first == " " || key.last == " " {
                return (400, "invalid key name: leading or trailing spaces are not allowed", false)
            }
            return nil
        }
    }

    func kvGet(_ key: String, _ ctx: Context) -> Response {
        let keysMode = ctx.query.has("keys")
        let recurse = ctx.query.has("recurse")
        if key.isEmpty && !recurse && !keysMode { return text(400, "Missing key name") }
        if let bad = validateKey(key) { return bad }
        let notFound = { (index: UInt64) -> Response in
            Response(status: 404, headers: Self.indexHeaders(index, consistency: false, knownLeader: ctx.knownLeader))
        }
        if keysMode {
            let separator = ctx.query.value("separator") ?? ctx.query.value("seperator") ?? ""
            return blocking(ctx) {
                let all = state.kvList(key)
                let readable = all.filter { canRead(ctx, .key, $0.key) }
                var keys: [String] = []
                for entry in readable {
                    var k = entry.key
                    if !separator.isEmpty {
                        let rest = k.dropFirst(key.count)
                        if let r = rest.range(of: separator) { k = key + rest[..<r.upperBound] }
                    }
                    if keys.last != k { keys.append(k) }
                }
                let index = state.kvListIndex(key)
                if keys.isEmpty && !key.isEmpty { return (index, notFound(index)) }
                var r = json(ConsulJSON.strings(keys), index: index, knownLeader: ctx.knownLeader, pretty: ctx.pretty)
                markFiltered(&r, ctx, readable.count < all.count)
                return (index, r)
            }
        }
        if recurse {
            return blocking(ctx) {
                let all = state.kvList(key)
                let readable = all.filter { canRead(ctx, .key, $0.key) }
                let index = state.kvListIndex(key)
                if readable.isEmpty { return (index, notFound(index)) }
                var r = json(
                    .array(readable.map(ConsulJSON.kvEntry)), index: index, knownLeader: ctx.knownLeader,
                    pretty: ctx.pretty)
                markFiltered(&r, ctx, readable.count < all.count)
                return (index, r)
            }
        }
        guard canRead(ctx, .key, key) else { return denied(ctx, .key, "read", key) }
        return blocking(ctx) {
            guard let entry = state.kv[key] else {
                return (state.tombstones[key] ?? 0, notFound(state.kvTableIndex))
            }
            if ctx.query.has("raw") {
                var headers = Self.indexHeaders(entry.modifyIndex, consistency: false, knownLeader: ctx.knownLeader)
                headers.set("Content-Type", "text/plain")
                headers.set("X-Content-Type-Options", "nosniff")
                headers.set("Content-Security-Policy", "sandbox")
                return (entry.modifyIndex, Response(status: 200, headers: headers, body: Data(entry.value ?? [])))
            }
            return (
                entry.modifyIndex,
                json(.array([ConsulJSON.kvEntry(entry)]), index: entry.modifyIndex, knownLeader: ctx.knownLeader, pretty: ctx.pretty)
            )
        }
    }

    private func parseUInt(_ text: String) -> Result<UInt64, FakeConsulParseError> {
        if let n = UInt64(text) { return .success(n) }
        return .failure(FakeConsulParseError(message: "strconv.ParseUint: parsing \"\(text)\": invalid syntax"))
    }

    func kvPut(_ key: String, _ ctx: Context) -> Response {
        if key.isEmpty { return text(400, "Missing key name") }
        if key.hasPrefix("/") { return text(400, "Invalid key. Key must not begin with a '/'") }
        if let bad = validateKey(key) { return bad }
        let q = ctx.query
        if [q.has("cas"), q.has("acquire"), q.has("release")].filter({ $0 }).count > 1 {
            return text(400, "Conflicting flags: \(q.encoded)")
        }
        var flags: UInt64 = 0
        if let f = q.value("flags") {
            switch parseUInt(f) {
            case .success(let n): flags = n
            case .failure(let e): return text(500, e.message)
            }
        }
        let declared = Int(ctx.request.headers["Content-Length"] ?? "") ?? 0
        let size = max(declared, ctx.request.body.count)
        if size > configuration.kvMaxValueSize {
            return text(
                413,
                "Request body(\(size) bytes) too large, max size: \(configuration.kvMaxValueSize) bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size."
            )
        }
        guard canWrite(ctx, .key, key) else { return denied(ctx, .key, "write", key) }
        let value: [UInt8]? = ctx.request.body.isEmpty ? nil : Array(ctx.request.body)
        if q.has("acquire") || q.has("release") {
            let session = q.value("acquire") ?? q.value("release") ?? ""
            if session.isEmpty { return serverError(500, "missing session") }
            if q.has("release") {
                return json(.bool(state.kvRelease(key, session: session, value: value, flags: flags)), index: nil, pretty: ctx.pretty)
            }
            switch state.kvAcquire(key, session: session, value: value, flags: flags) {
            case .invalidSession: return serverError(500, "invalid session \"\(session)\"")
            case .done(let ok): return json(.bool(ok), index: nil, pretty: ctx.pretty)
            }
        }
        var mode = ConsulState.KVWrite.set
        if let c = q.value("cas") {
            switch parseUInt(c) {
            case .success(let n): mode = .cas(n)
            case .failure(let e): return text(500, e.message)
            }
        }
        return json(.bool(state.kvSet(key, value: value, flags: flags, mode: mode)), index: nil, pretty: ctx.pretty)
    }

    func kvDelete(_ key: String, _ ctx: Context) -> Response {
        let q = ctx.query
        let recurse = q.has("recurse")
        if key.isEmpty && !recurse { return text(400, "Missing key name") }
        if let bad = validateKey(key) { return bad }
        if recurse && q.has("cas") { return text(400, "Conflicting flags: \(q.encoded)") }
        var cas: UInt64?
        if let c = q.value("cas") {
            switch parseUInt(c) {
            case .success(let n): cas = n
            case .failure(let e): return text(500, e.message)
            }
        }
        guard canWrite(ctx, .key, key) else { return denied(ctx, .key, "write", key) }
        if recurse, let blocked = state.kvList(key).first(where: { !canWrite(ctx, .key, $0.key) }) {
            return denied(ctx, .key, "write", blocked.key)
        }
        return json(.bool(state.kvDelete(key, recurse: recurse, cas: cas)), index: nil, pretty: ctx.pretty)
    }

    // MARK: Agent (§3)

    func agentSelf(_ ctx: Context) -> Response {
        guard canRead(ctx, .agent, ctx.agent) else { return denied(ctx, .agent, "read", ctx.agent) }
        let node = state.nodes[ctx.agent]
        let dc = configuration.datacenter
        let body: JSONValue = .object([
            (
                "Config",
                .object([
                    ("Datacenter", .string(dc)), ("PrimaryDatacenter", .string(dc)), ("NodeName", .string(ctx.agent)),
                    ("NodeID", .string(node?.id ?? "")), ("Revision", .string("fake")), ("Server", .bool(false)),
                    ("Version", .string("1.20.2")),
                ])
            ),
            (
                "Member",
                .object([
                    ("Name", .string(ctx.agent)), ("Addr", .string(node?.address ?? "127.0.0.1")), ("Port", .int(8301)),
                    ("Tags", ConsulJSON.stringMap(["dc": dc, "role": "node", "build": "1.20.2:fake"])),
                    ("Status", .int(1)),
                ])
            ),
            ("Meta", ConsulJSON.stringMap(node?.meta ?? [:])),
        ])
        return json(body, index: nil, pretty: ctx.pretty)
    }

    /// The agent's checks: its catalog checks (serfHealth is not an agent check), with the local status and output.
    func agentChecksList(_ ctx: Context) -> Response {
        var members: [(String, JSONValue)] = []
        var filtered = false
        let local = state.agentChecks[ctx.agent] ?? [:]
        for var check in state.checksOf(node: ctx.agent).sorted(by: { $0.checkID < $1.checkID })
        where check.checkID != "serfHealth" {
            let allowed =
                check.serviceID.isEmpty
                ? canRead(ctx, .node, ctx.agent) : canRead(ctx, .service, check.serviceName)
            guard allowed else {
                filtered = true
                continue
            }
            if let l = local[check.checkID] {
                check.status = l.status
                check.output = l.output
            }
            check.createIndex = 0
            check.modifyIndex = 0
            members.append((check.checkID, ConsulJSON.check(check)))
        }
        var r = json(.object(members), index: nil, pretty: ctx.pretty)
        markFiltered(&r, ctx, filtered)
        return r
    }

    /// Go decodes JSON field names case-insensitively.
    private func field(_ object: [String: Any], _ name: String) -> Any? {
        object.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    private func checkWriteDenied(_ ctx: Context, serviceID: String) -> Response? {
        if serviceID.isEmpty {
            return canWrite(ctx, .node, ctx.agent) ? nil : denied(ctx, .node, "write", ctx.agent)
        }
        let name = state.services[ctx.agent]?[serviceID]?.service.name ?? serviceID
        return canWrite(ctx, .service, name) ? nil : denied(ctx, .service, "write", name)
    }

    func agentRegister(_ ctx: Context) -> Response {
        guard
            let object = try? JSONSerialization.jsonObject(with: ctx.request.body) as? [String: Any]
        else {
            return text(400, ctx.request.body.isEmpty ? "Request decode failed: EOF" : "Request decode failed: invalid JSON")
        }
        let name = field(object, "Name") as? String ?? ""
        if name.isEmpty { return text(400, "Missing check name") }
        let id = (field(object, "ID") as? String ?? field(object, "CheckID") as? String).flatMap { $0.isEmpty ? nil : $0 } ?? name
        let status = field(object, "Status") as? String ?? ""
        if !["", "passing", "warning", "critical"].contains(status) { return text(400, "Bad check status") }
        let ttlText = field(object, "TTL") as? String ?? ""
        let intervalText = field(object, "Interval") as? String ?? ""
        let ttl = ttlText.isEmpty ? 0 : (parseGoDuration(ttlText) ?? -1)
        if ttl < 0 { return text(400, "Request decode failed: time: invalid duration \"\(ttlText)\"") }
        if !intervalText.isEmpty && ttl > 0 { return text(400, "Invalid check: Interval and TTL cannot both be specified") }
        if intervalText.isEmpty && ttl <= 0 { return text(400, "Invalid check: TTL must be > 0 for TTL checks") }
        let serviceID = field(object, "ServiceID") as? String ?? ""
        if !serviceID.isEmpty && state.services[ctx.agent]?[serviceID] == nil {
            return text(404, "ServiceID \"\(serviceID)\" does not exist")
        }
        if let deny = checkWriteDenied(ctx, serviceID: serviceID) { return deny }
        let now = nowLocked
        let notes = field(object, "Notes") as? String ?? ""
        var check = ConsulState.AgentCheck(
            id: id, name: name, notes: notes, serviceID: serviceID, ttl: ttl > 0 ? ttl : nil,
            status: status.isEmpty ? "critical" : status, output: "", deadline: now + ttl, lastSync: now)
        // Re-registering keeps the current status and output (no flapping) but restarts the TTL timer.
        if let existing = state.agentChecks[ctx.agent]?[id] {
            check.status = existing.status
            check.output = existing.output
        }
        state.agentChecks[ctx.agent, default: [:]][id] = check
        state.syncAgentCheck(node: ctx.agent, check)
        return Response(status: 200)
    }

    func unknownCheck(_ id: String) -> Response {
        switch configuration.uncheckedCheckErrors {
        case .modern404: text(404, "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name.")
        case .legacy500: text(500, "Unknown check \"\(id)\"")
        }
    }

    func agentDeregister(_ id: String, _ ctx: Context) -> Response {
        guard let check = state.agentChecks[ctx.agent]?[id] else {
            return configuration.uncheckedCheckErrors == .modern404 ? unknownCheck(id) : Response(status: 200)
        }
        if let deny = checkWriteDenied(ctx, serviceID: check.serviceID) { return deny }
        state.agentChecks[ctx.agent]?[id] = nil
        state.removeCheck(node: ctx.agent, id: id)
        return Response(status: 200)
    }

    func agentTTL(_ id: String, status: String, output: String, _ ctx: Context) -> Response {
        guard let check = state.agentChecks[ctx.agent]?[id] else { return unknownCheck(id) }
        if let deny = checkWriteDenied(ctx, serviceID: check.serviceID) { return deny }
        guard check.ttl != nil else { return text(500, "CheckID \"\(id)\" does not have associated TTL") }
        state.updateAgentCheck(node: ctx.agent, id: id, status: status, output: output, now: nowLocked)
        return Response(status: 200)
    }

    func agentUpdate(_ id: String, _ ctx: Context) -> Response {
        if ctx.request.body.isEmpty { return text(400, "Request decode failed: EOF") }
        guard let object = try? JSONSerialization.jsonObject(with: ctx.request.body) as? [String: Any] else {
            return text(400, "Request decode failed: invalid JSON")
        }
        let status = field(object, "Status") as? String ?? ""
        guard ["passing", "warning", "critical"].contains(status) else {
            return text(400, "Invalid check status: '\(status)'")
        }
        return agentTTL(id, status: status, output: field(object, "Output") as? String ?? "", ctx)
    }

    // MARK: Catalog and health (§4)

    func catalogNode(_ name: String, asList: Bool, _ ctx: Context) -> Response {
        if name.isEmpty { return text(400, "Missing node name") }
        return blocking(ctx) {
            let index = max(state.nodesTableIndex, state.servicesTableIndex)
            guard let node = state.nodes[name], canRead(ctx, .node, name) else {
                var r = json(.null, index: index, consistency: true, knownLeader: ctx.knownLeader, pretty: ctx.pretty)
                markFiltered(&r, ctx, state.nodes[name] != nil)
                return (index, r)
            }
            let all = (state.services[name] ?? [:]).values.sorted { $0.service.id < $1.service.id }
            let visible = all.filter { canRead(ctx, .service, $0.service.name) }
            let services: JSONValue =
                asList
                ? .array(visible.map(ConsulJSON.service))
                : .object(visible.map { ($0.service.id, ConsulJSON.service($0)) })
            let body: JSONValue = .object([
                ("Node", ConsulJSON.node(node, datacenter: configuration.datacenter)), ("Services", services),
            ])
            var r = json(body, index: index, consistency: true, knownLeader: ctx.knownLeader, pretty: ctx.pretty)
            markFiltered(&r, ctx, visible.count < all.count)
            return (index, r)
        }
    }

    func catalogServices(_ ctx: Context) -> Response {
        blocking(ctx) {
            var names: [String] = []
            var tags: [String: [String]] = [:]
            var filtered = false
            for node in state.services.keys.sorted() {
                for instance in state.services[node]!.values.sorted(by: { $0.service.id < $1.service.id }) {
                    let s = instance.service
                    guard canRead(ctx, .service, s.name) else {
                        filtered = true
                        continue
                    }
                    if tags[s.name] == nil {
                        names.append(s.name)
                        tags[s.name] = []
                    }
                    for t in s.tags where !tags[s.name]!.contains(t) { tags[s.name]!.append(t) }
                }
            }
            let index = state.servicesTableIndex
            var r = json(
                .object(names.sorted().map { ($0, ConsulJSON.strings(tags[$0]!)) }), index: index, consistency: true,
                knownLeader: ctx.knownLeader, pretty: ctx.pretty)
            markFiltered(&r, ctx, filtered)
            return (index, r)
        }
    }

    func catalogNodes(_ ctx: Context) -> Response {
        blocking(ctx) {
            let all = state.nodes.values.sorted { $0.name < $1.name }
            let visible = all.filter { canRead(ctx, .node, $0.name) }
            let index = state.nodesTableIndex
            var r = json(
                .array(visible.map { ConsulJSON.node($0, datacenter: configuration.datacenter) }), index: index,
                consistency: true, knownLeader: ctx.knownLeader, pretty: ctx.pretty)
            markFiltered(&r, ctx, visible.count < all.count)
            return (index, r)
        }
    }

    private func checkVisible(_ ctx: Context, _ c: FakeConsul.Check) -> Bool {
        canRead(ctx, .node, c.node) && (c.serviceID.isEmpty || canRead(ctx, .service, c.serviceName))
    }

    private func checkList(_ ctx: Context, _ all: [FakeConsul.Check]) -> (UInt64, Response) {
        let visible = all.filter { checkVisible(ctx, $0) }
        let index = state.checksTableIndex
        var r = json(
            .array(visible.map(ConsulJSON.check)), index: index, consistency: true, knownLeader: ctx.knownLeader,
            pretty: ctx.pretty)
        markFiltered(&r, ctx, visible.count < all.count)
        return (index, r)
    }

    func healthNode(_ name: String, _ ctx: Context) -> Response {
        if name.isEmpty { return text(400, "Missing node name") }
        return blocking(ctx) { checkList(ctx, state.checksOf(node: name)) }
    }

    func healthState(_ stateName: String, _ ctx: Context) -> Response {
        if stateName.isEmpty { return text(400, "Missing check state") }
        return blocking(ctx) {
            checkList(ctx, state.allChecks().filter { stateName == "any" || $0.status == stateName })
        }
    }

    func healthService(_ name: String, _ ctx: Context) -> Response {
        if name.isEmpty { return text(400, "Missing service name") }
        guard canRead(ctx, .service, name) else { return denied(ctx, .service, "read", name) }
        var passingOnly = false
        if let p = ctx.query.value("passing") {
            switch p {
            case "", "1", "t", "T", "true", "TRUE", "True": passingOnly = true
            case "0", "f", "F", "false", "FALSE", "False": passingOnly = false
            default: return text(400, "Invalid value for ?passing")
            }
        }
        let wantedTags = ctx.query.values("tag")
        return blocking(ctx) {
            var entries: [(JSONValue, Bool)] = []
            var filtered = false
            for nodeName in state.services.keys.sorted() {
                guard let node = state.nodes[nodeName] else { continue }
                for instance in state.services[nodeName]!.values.sorted(by: { $0.service.id < $1.service.id })
                where instance.service.name == name {
                    guard wantedTags.allSatisfy(instance.service.tags.contains) else { continue }
                    guard canRead(ctx, .node, nodeName) else {
                        filtered = true
                        continue
                    }
                    let checks = state.checksOf(node: nodeName).filter {
                        $0.serviceID.isEmpty || $0.serviceID == instance.service.id
                    }
                    entries.append(
                        (
                            .object([
                                ("Node", ConsulJSON.node(node, datacenter: configuration.datacenter)),
                                ("Service", ConsulJSON.service(instance)), ("Checks", .array(checks.map(ConsulJSON.check))),
                            ]), checks.allSatisfy { $0.status == "passing" }
                        ))
                }
            }
            if passingOnly {
                // Consul's filterNonPassing: a dropped entry's place is taken by the last one (the order changes).
                var n = entries.count
                var i = 0
                while i < n {
                    if entries[i].1 {
                        i += 1
                    } else {
                        entries.swapAt(i, n - 1)
                        n -= 1
                    }
                }
                entries.removeLast(entries.count - n)
            }
            let index = max(state.nodesTableIndex, state.servicesTableIndex, state.checksTableIndex)
            var r = json(.array(entries.map(\.0)), index: index, consistency: true, knownLeader: ctx.knownLeader, pretty: ctx.pretty)
            markFiltered(&r, ctx, filtered)
            return (index, r)
        }
    }
}

// MARK: - Sessions (§2)

extension FakeConsulEngine {
    static func sessionJSON(_ s: FakeConsul.Session) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("ID", .string(s.id)), ("Name", .string(s.name)), ("Node", .string(s.node)),
            ("LockDelay", .int(Int64((s.lockDelay * 1e9).rounded()))), ("Behavior", .string(s.behavior)),
            ("TTL", .string(s.ttl)), ("NodeChecks", ConsulJSON.strings(s.nodeChecks)),
            (
                "ServiceChecks",
                s.serviceChecks.isEmpty
                    ? .null : .array(s.serviceChecks.map { .object([("ID", .string($0)), ("Namespace", .string(""))]) })
            ),
        ]
        if !s.nodeChecks.isEmpty && s.nodeChecks != ["serfHealth"] { members.append(("Checks", ConsulJSON.strings(s.nodeChecks))) }
        members += [("CreateIndex", ConsulJSON.u(s.createIndex)), ("ModifyIndex", ConsulJSON.u(s.modifyIndex))]
        return .object(members)
    }

    /// `LockDelay` as a string duration or a number of nanoseconds; below 1000 ns it means seconds (§2.1).
    static func lockDelay(_ raw: Any?) -> Double? {
        var seconds: Double
        switch raw {
        case nil: return 15
        case let n as NSNumber: seconds = n.doubleValue / 1e9
        case let text as String:
            guard let d = parseGoDuration(text) else { return nil }
            seconds = d
        default: return nil
        }
        if seconds * 1e9 < 1000 { seconds *= 1e9 }
        return seconds
    }

    func sessionCreate(_ ctx: Context) -> Response {
        var object: [String: Any] = [:]
        // The agent decodes the body only when Content-Length > 0 (a chunked body is ignored).
        let declared = Int(ctx.request.headers["Content-Length"] ?? "") ?? 0
        if declared > 0 {
            guard let decoded = try? JSONSerialization.jsonObject(with: ctx.request.body) as? [String: Any] else {
                return text(400, "Request decode failed: invalid JSON")
            }
            object = decoded
        }
        let field = { (name: String) -> Any? in object.first { $0.key.lowercased() == name.lowercased() }?.value }
        let node = (field("Node") as? String).flatMap { $0.isEmpty ? nil : $0 } ?? ctx.agent
        guard let delay = Self.lockDelay(field("LockDelay")) else {
            return text(400, "Request decode failed: invalid LockDelay")
        }
        var behavior = field("Behavior") as? String ?? ""
        if behavior.isEmpty { behavior = "release" }
        guard behavior == "release" || behavior == "delete" else {
            return serverError(500, "Invalid Behavior setting '\(behavior)'")
        }
        let ttl = field("TTL") as? String ?? ""
        var ttlSeconds: Double?
        if !ttl.isEmpty {
            guard let d = parseGoDuration(ttl) else {
                return serverError(500, "Session TTL '\(ttl)' invalid: time: invalid duration \"\(ttl)\"")
            }
            if d != 0 {
                guard d >= configuration.sessionTTLMin, d <= 86_400 else {
                    let minText = configuration.sessionTTLMin == 10 ? "10s" : "\(configuration.sessionTTLMin)s"
                    return serverError(500, "Invalid Session TTL '\(Int64(d * 1e9))', must be between [\(minText)=24h0m0s]")
                }
                ttlSeconds = d
            }
        }
        guard canWrite(ctx, .session, node) else { return denied(ctx, .session, "write", node) }
        let nodeChecks =
            (field("NodeChecks") as? [String]) ?? (field("Checks") as? [String]) ?? ["serfHealth"]
        let serviceChecks = (field("ServiceChecks") as? [[String: Any]] ?? []).compactMap {
            $0.first { $0.key.lowercased() == "id" }?.value as? String
        }
        guard state.nodes[node] != nil else { return serverError(500, "Missing node registration") }
        for id in nodeChecks + serviceChecks {
            guard let check = state.checks[node]?[id] else { return serverError(500, "Missing check '\(id)' registration") }
            if check.status == "critical" { return serverError(500, "Check '\(id)' is in critical state") }
        }
        let i = state.nextIndex()
        let id = UUID().uuidString.lowercased()
        state.sessions[id] = FakeConsul.Session(
            id: id, name: field("Name") as? String ?? "", node: node, lockDelay: max(0, delay), behavior: behavior,
            ttl: ttl, nodeChecks: nodeChecks, serviceChecks: serviceChecks, createIndex: i, modifyIndex: i,
            expiry: ttlSeconds.map { nowLocked + 2 * $0 }, ttlSeconds: ttlSeconds)
        state.sessionsTableIndex = i
        return json(.object([("ID", .string(id))]), index: nil, pretty: ctx.pretty)
    }

    func sessionDestroy(_ id: String, _ ctx: Context) -> Response {
        if id.isEmpty { return text(400, "Missing session") }
        if let s = state.sessions[id], !canWrite(ctx, .session, s.node) { return denied(ctx, .session, "write", s.node) }
        state.invalidateSession(id)
        return json(.bool(true), index: nil, pretty: ctx.pretty)
    }

    func sessionRenew(_ id: String, _ ctx: Context) -> Response {
        if id.isEmpty { return text(400, "Missing session") }
        guard let s = state.sessions[id] else { return text(404, "Session id '\(id)' not found") }
        guard canWrite(ctx, .session, s.node) else { return denied(ctx, .session, "write", s.node) }
        if let ttl = s.ttlSeconds { state.sessions[id]?.expiry = nowLocked + 2 * ttl }
        return json(.array([Self.sessionJSON(state.sessions[id]!)]), index: state.sessionsTableIndex, pretty: ctx.pretty)
    }

    func sessionRead(_ endpoint: FakeConsul.Endpoint, _ argument: String, _ ctx: Context) -> Response {
        if endpoint != .sessionList && argument.isEmpty {
            return text(400, endpoint == .sessionInfo ? "Missing session" : "Missing node name")
        }
        return blocking(ctx) {
            let all = state.sessions.values.filter {
                switch endpoint {
                case .sessionInfo: $0.id == argument
                case .sessionNode: $0.node == argument
                default: true
                }
            }.sorted { $0.createIndex < $1.createIndex }
            let visible = all.filter { canRead(ctx, .session, $0.node) }
            let index = state.sessionsTableIndex
            var r = json(.array(visible.map(Self.sessionJSON)), index: index, knownLeader: ctx.knownLeader, pretty: ctx.pretty)
            markFiltered(&r, ctx, visible.count < all.count)
            return (index, r)
        }
    }
}

/// A strconv-style parse failure, answered as Consul does (500 with Go's text).
struct FakeConsulParseError: Error {
    var message: String
}

import Foundation

/// The request pipeline of the fake Consul (consul-api.md F.3) over the shared `ConsulState`.
/// Every agent's server calls `respond(to:agent:)` on its connection thread; one `NSCondition` guards the state
/// and wakes parked blocking queries on every write.
final class FakeConsulEngine: @unchecked Sendable {
    typealias Response = LoopbackHTTPServer.Response
    typealias Request = LoopbackHTTPServer.Request

    struct TokenInfo {
        var accessorID: String
        var rules: FakeConsul.Rules
    }

    struct FaultSlot {
        var fault: FakeConsul.Fault
        var matched = 0
        var applied = 0
    }

    let condition = NSCondition()
    private let started = DispatchTime.now().uptimeNanoseconds
    // Everything below is guarded by `condition`.
    var state: ConsulState
    let configuration: FakeConsul.Configuration
    var clockOffset: Double = 0
    var aclEnabled = false
    var aclDefaultAllow = true
    var tokens: [String: TokenInfo] = [:]
    var anonymousRules = FakeConsul.Rules()
    /// The agent's `acl.tokens.default`, used when a request carries none.
    var defaultToken: String?
    var faults: [FaultSlot] = []
    var leaderLost = false
    /// The most recent requests (at most `configuration.requestLogLimit`).
    var log: [FakeConsul.RecordedRequest] = []
    /// Every request ever, counted by (agent, endpoint, method): exact even when the log has been trimmed.
    var counts: [RequestKey: Int] = [:]
    var deprecatedTokenQueries = 0
    /// Parked blocking queries right now.
    var parked = 0
    /// Agents by node name.
    var agentNodes: Set<String> = []
    /// Parked blocking queries still to wake early (`spuriousWakeup`).
    var spuriousWakeups = 0
    /// Set by `stop()`: parked blocking queries return at once.
    var stopped = false

    init(_ configuration: FakeConsul.Configuration) {
        self.configuration = configuration
        state = ConsulState(configuration: configuration)
    }

    /// The clock: real seconds since start (unless `realTimeClock` is off) plus every `advance(by:)`.
    var nowLocked: Double {
        (configuration.realTimeClock ? Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 : 0) + clockOffset
    }

    func withState<T>(_ body: (FakeConsulEngine) throws -> T) rethrows -> T {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        state.tick(now: nowLocked)
        return try body(self)
    }

    // MARK: Pipeline

    func respond(to request: Request, agent: String) -> Response {
        var record = FakeConsul.RecordedRequest(
            agent: agent, method: request.method, target: request.target, endpoint: .unknown, key: nil,
            headers: request.headers, body: request.body, status: 0, tokenSource: nil)
        let response = pipeline(request, agent: agent, record: &record)
        record.status = response.disposition == .drop ? 0 : response.status
        condition.lock()
        counts[RequestKey(agent: agent, endpoint: record.endpoint, method: record.method), default: 0] += 1
        log.append(record)
        if log.count > configuration.requestLogLimit { log.removeFirst(log.count - configuration.requestLogLimit / 2) }
        condition.unlock()
        return response
    }

    private func pipeline(_ request: Request, agent: String, record: inout FakeConsul.RecordedRequest) -> Response {
        let rawPath = request.path
        let path = URLCoding.decodePathSegment(Substring(rawPath))
        // 1. Non-printable characters, then Go ServeMux path cleaning.
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return text(400, "Invalid URL path: contains non-printable characters")
        }
        let cleaned = Self.cleanPath(rawPath)
        if cleaned != rawPath {
            var location = cleaned
            if let q = request.query { location += "?" + q }
            var headers = LoopbackHTTPServer.Headers()
            headers.set("Location", location)
            headers.set("Content-Type", "text/html; charset=utf-8")
            let body = request.method == "GET" ? "<a href=\"\(location)\">Moved Permanently</a>.\n\n" : ""
            return Response(status: 301, headers: headers, body: Data(body.utf8))
        }
        // 2. Route.
        guard let route = Self.route(path) else {
            return text(404, "Invalid URL path: not a recognized HTTP API endpoint")
        }
        record.endpoint = route.endpoint
        if route.endpoint == .kv { record.key = route.argument }
        // 3. Method.
        if request.method == "OPTIONS" {
            return Response(status: 200, headers: ["Allow": "OPTIONS," + route.methods.joined(separator: ",")])
        }
        guard route.methods.contains(request.method) else {
            var r = text(405, "method \(request.method) not allowed")
            r.headers.set("Allow", "OPTIONS," + route.methods.joined(separator: ","))
            return r
        }
        let query = QueryString(request.query ?? "")
        // 4. Faults.
        var after: FakeConsul.FaultAction?
        var txnConflict = false
        if let action = takeFault(route: route, method: request.method, agent: agent) {
            switch action {
            case .status(let code, let body, let headers, false):
                var r = text(code, body)
                for (k, v) in headers { r.headers.set(k, v) }
                return r
            case .dropConnection(false):
                return .drop
            case .hang(let seconds):
                Thread.sleep(forTimeInterval: seconds)
                return .drop
            case .delay(let seconds):
                Thread.sleep(forTimeInterval: seconds)
            case .casConflict:
                if route.endpoint == .kv, request.method == "PUT" || request.method == "DELETE", query.has("cas"),
                    let key = route.argument, !key.isEmpty
                {
                    withState { $0.state.kvConcurrentWrite(key) }
                    return json(.bool(false), index: nil)
                }
                if route.endpoint == .txn { txnConflict = true }
            case .status, .dropConnection:
                after = action
            }
        }
        // 5. Token.
        let (token, source) = Self.token(request, query)
        record.tokenSource = source
        if source == "query" { withState { $0.deprecatedTokenQueries += 1 } }
        var response = handle(route, request, query, agent: agent, token: token, txnConflict: txnConflict)
        // After-apply faults: the state changed, the client sees an error.
        switch after {
        case .status(let code, let body, let headers, true)?:
            response = text(code, body)
            for (k, v) in headers { response.headers.set(k, v) }
        case .dropConnection(true)?:
            return .drop
        default: break
        }
        response.headers.set("X-Consul-Default-ACL-Policy", aclDefaultAllowLocked ? "allow" : "deny")
        return response
    }

    private var aclDefaultAllowLocked: Bool {
        condition.lock()
        defer { condition.unlock() }
        return aclDefaultAllow
    }

    /// Finds the first live fault that matches, counts it, and returns its action when this match is due.
    private func takeFault(route: Route, method: String, agent: String) -> FakeConsul.FaultAction? {
        withState { e in
            let now = e.nowLocked
            for n in e.faults.indices {
                let f = e.faults[n].fault
                if let until = f.untilTime, now >= until { continue }
                if let times = f.times, e.faults[n].applied >= times { continue }
                if let endpoints = f.endpoints, !endpoints.contains(route.endpoint) { continue }
                if let m = f.method, m != method { continue }
                if let a = f.agent, a != agent { continue }
                if let prefix = f.keyPrefix, route.endpoint == .kv, !(route.argument ?? "").hasPrefix(prefix) { continue }
                if case .casConflict = f.action, !(method == "PUT" || method == "DELETE") { continue }
                e.faults[n].matched += 1
                guard (e.faults[n].matched - 1) % f.every == 0 else { return nil }
                e.faults[n].applied += 1
                return f.action
            }
            return nil
        }
    }

    // MARK: Routing table (http_register.go)

    struct Route {
        var endpoint: FakeConsul.Endpoint
        var methods: [String]
        /// What follows the endpoint's prefix (key, node, check ID, state, service name).
        var argument: String?
        /// Served from the agent's own state: works without a leader.
        var agentLocal: Bool { endpoint.rawValue.hasPrefix("agent/") }
    }

    static func route(_ path: String) -> Route? {
        let prefixed: [(String, FakeConsul.Endpoint, [String])] = [
            ("/v1/kv/", .kv, ["GET", "PUT", "DELETE"]),
            ("/v1/agent/check/deregister/", .agentCheckDeregister, ["PUT"]),
            ("/v1/agent/check/pass/", .agentCheckPass, ["PUT"]),
            ("/v1/agent/check/warn/", .agentCheckWarn, ["PUT"]),
            ("/v1/agent/check/fail/", .agentCheckFail, ["PUT"]),
            ("/v1/agent/check/update/", .agentCheckUpdate, ["PUT"]),
            ("/v1/catalog/node/", .catalogNode, ["GET"]),
            ("/v1/catalog/node-services/", .catalogNodeServices, ["GET"]),
            ("/v1/health/node/", .healthNode, ["GET"]),
            ("/v1/health/state/", .healthState, ["GET"]),
            ("/v1/health/service/", .healthService, ["GET"]),
            ("/v1/session/destroy/", .sessionDestroy, ["PUT"]),
            ("/v1/session/renew/", .sessionRenew, ["PUT"]),
            ("/v1/session/info/", .sessionInfo, ["GET"]),
            ("/v1/session/node/", .sessionNode, ["GET"]),
        ]
        let exact: [String: (FakeConsul.Endpoint, [String])] = [
            "/v1/agent/self": (.agentSelf, ["GET"]),
            "/v1/agent/checks": (.agentChecks, ["GET"]),
            "/v1/agent/check/register": (.agentCheckRegister, ["PUT"]),
            "/v1/catalog/services": (.catalogServices, ["GET"]),
            "/v1/catalog/nodes": (.catalogNodes, ["GET"]),
            "/v1/status/leader": (.statusLeader, ["GET"]),
            "/v1/session/create": (.sessionCreate, ["PUT"]),
            "/v1/session/list": (.sessionList, ["GET"]),
            "/v1/kv": (.kv, ["GET", "PUT", "DELETE"]),
            "/v1/txn": (.txn, ["PUT"]),
        ]
        if let (endpoint, methods) = exact[path] {
            return Route(endpoint: endpoint, methods: methods, argument: endpoint == .kv ? "" : nil)
        }
        for (prefix, endpoint, methods) in prefixed where path.hasPrefix(prefix) {
            return Route(endpoint: endpoint, methods: methods, argument: String(path.dropFirst(prefix.count)))
        }
        // `/v1/catalog/node` without a name answers like an empty name.
        for (prefix, endpoint, methods) in prefixed where path + "/" == prefix {
            return Route(endpoint: endpoint, methods: methods, argument: "")
        }
        return nil
    }

    /// Go's `path.Clean` as ServeMux applies it: collapses `//`, resolves `.` and `..`, keeps a trailing slash.
    static func cleanPath(_ p: String) -> String {
        if p.isEmpty { return "/" }
        var out: [Substring] = []
        for segment in p.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                if !out.isEmpty { out.removeLast() }
                continue
            }
            out.append(segment)
        }
        var cleaned = "/" + out.joined(separator: "/")
        if p.hasSuffix("/") && cleaned != "/" { cleaned += "/" }
        return cleaned
    }

    /// `?token` (deprecated) > `X-Consul-Token` > `Authorization: Bearer` (consul-api.md §5.3).
    static func token(_ request: Request, _ query: QueryString) -> (String?, String?) {
        if let t = query.value("token"), !t.isEmpty { return (t, "query") }
        if let t = request.headers["X-Consul-Token"], !t.isEmpty { return (t, "header") }
        if let auth = request.headers["Authorization"] {
            let parts = auth.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, parts[0].lowercased() == "bearer" { return (String(parts[1]), "bearer") }
        }
        return (nil, nil)
    }

    // MARK: Responses

    func text(_ status: Int, _ body: String) -> Response {
        var headers = LoopbackHTTPServer.Headers()
        if !body.isEmpty { headers.set("Content-Type", "text/plain; charset=utf-8") }
        return Response(status: status, headers: headers, body: Data(body.utf8))
    }

    /// A server-side error (prefixed in client-agent mode).
    func serverError(_ status: Int, _ body: String) -> Response {
        text(status, (configuration.clientAgentPrefix ? "rpc error making call: " : "") + body)
    }

    /// Index headers of a read (never 0), the consistency header on catalog/health.
    static func indexHeaders(_ index: UInt64, consistency: Bool, knownLeader: Bool) -> LoopbackHTTPServer.Headers {
        var headers = LoopbackHTTPServer.Headers()
        headers.set("X-Consul-Index", String(max(index, 1)))
        headers.set("X-Consul-KnownLeader", knownLeader ? "true" : "false")
        headers.set("X-Consul-LastContact", "0")
        if consistency { headers.set("X-Consul-Effective-Consistency", "leader") }
        return headers
    }

    func json(
        _ value: JSONValue, index: UInt64?, consistency: Bool = false, knownLeader: Bool = true, pretty: Bool = false
    ) -> Response {
        var headers =
            index.map { Self.indexHeaders($0, consistency: consistency, knownLeader: knownLeader) }
            ?? LoopbackHTTPServer.Headers()
        headers.set("Content-Type", "application/json")
        let body = pretty ? value.prettySerialized : value.serialized
        return Response(status: 200, headers: headers, body: Data(body.utf8))
    }
}

struct RequestKey: Hashable {
    var agent: String
    var endpoint: FakeConsul.Endpoint
    var method: String
}

/// A parsed query string (Go's `url.ParseQuery`): `+` is a space, flags count by presence.
struct QueryString {
    var items: [(String, String)] = []

    init(_ raw: String) {
        for piece in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = URLCoding.decodeFormComponent(parts[0])
            let value = parts.count > 1 ? URLCoding.decodeFormComponent(parts[1]) : ""
            items.append((name, value))
        }
    }

    func has(_ name: String) -> Bool { items.contains { $0.0 == name } }
    func value(_ name: String) -> String? { items.first { $0.0 == name }?.1 }
    func values(_ name: String) -> [String] { items.filter { $0.0 == name }.map(\.1) }

    /// Go's `url.Values.Encode()`: sorted by name, escaped.
    var encoded: String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return items.sorted { $0.0 < $1.0 }.map { name, value in
            (name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name) + "="
                + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
        }.joined(separator: "&")
    }
}

/// Go's `time.ParseDuration` (the `wait` parameter): a sequence of number+unit; a bare number is an error.
func parseGoDuration(_ s: String) -> Double? {
    var rest = Substring(s)
    var negative = false
    if rest.first == "-" || rest.first == "+" {
        negative = rest.first == "-"
        rest = rest.dropFirst()
    }
    if rest == "0" { return 0 }
    guard !rest.isEmpty else { return nil }
    var total = 0.0
    let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
    while !rest.isEmpty {
        let number = rest.prefix { $0.isNumber || $0 == "." }
        guard !number.isEmpty, let value = Double(number) else { return nil }
        rest = rest.dropFirst(number.count)
        guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else {
            return nil
        }
        rest = rest.dropFirst(unit.0.count)
        total += value * unit.1
    }
    return negative ? -total : total
}

import ConsulWatch
import FoundationEssentials
import Platform

/// Typed calls to the local Consul agent's HTTP API: agent self, catalog, health, KV (with
/// CAS) and TTL checks. Each call is a value in, a value out, or a ``ConsulError``.
///
/// Retries, with back-off and jitter, follow connection errors, time-outs, 5xx and 429, never
/// another 4xx, and never past the call's deadline. A write whose answer may have been lost
/// after it was sent is never repeated blindly when repeating could change its meaning (a CAS):
/// it ends as ``ConsulError/outcomeUnknown(operation:cause:)`` so that the caller re-reads.
/// The token travels only in the `X-Consul-Token` header.
public struct ConsulClient: Sendable {
    public let settings: ConsulSettings
    let transport: any HTTPTransport
    let clock: any TimeSource

    public init(settings: ConsulSettings, transport: any HTTPTransport, clock: any TimeSource = SystemClock()) {
        self.settings = settings
        self.transport = transport
        self.clock = clock
    }

    /// Connections the live client keeps to its agent (and so the writes a caller may issue at once).
    public static let pooledConnections = 4

    /// A client on the project's socket transport: the unix socket, CA file and TLS name of
    /// `settings` applied to every connection.
    public static func live(_ settings: ConsulSettings, clock: any TimeSource = SystemClock()) -> ConsulClient {
        var unixSocket: String?
        if case .unix(let path) = settings.address { unixSocket = path }
        let transport = SocketHTTPTransport(
            maximumConnections: pooledConnections, caFile: settings.caFile, unixSocket: unixSocket, serverName: settings.tlsServerName,
            caHint: "CONSUL_CACERT or \"caFile\" in the config's consul object")
        return ConsulClient(settings: settings, transport: transport, clock: clock)
    }

    // MARK: Agent

    /// This agent's node name and datacenter. Needs `agent:read`.
    public func agentSelf(deadline: Double? = nil) throws(ConsulError) -> ConsulAgentInfo {
        let call = Call(method: "GET", path: "/v1/agent/self", needs: "agent:read on this agent's node", object: "agent self endpoint")
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { throw .notFound(object: call.object) }
        return try decode(response, call) { (reader) throws(JSONError) in
            var info = ConsulAgentInfo(nodeName: "", datacenter: "")
            try reader.readObject { (key, reader) throws(JSONError) in
                guard key.string == "Config" else { return try reader.skipValue() }
                try reader.readObject { (key, reader) throws(JSONError) in
                    switch key {
                    case "NodeName": info.nodeName = try reader.readString()
                    case "Datacenter": info.datacenter = try reader.readString()
                    default: try reader.skipValue()
                    }
                }
            }
            return info
        } validate: { info in
            info.nodeName.isEmpty ? "no Config.NodeName" : nil
        }
    }

    /// Registers (or re-registers) a TTL check on this agent. Needs `node:write` (or
    /// `service:write` for a check tied to a service).
    public func registerCheck(_ check: ConsulTTLCheck, deadline: Double? = nil) throws(ConsulError) {
        _ = try ConsulPath.segment(check.id, what: "check ID")
        let needs = check.serviceID.map { "service:write for service \($0)" } ?? "node:write on this agent's node"
        var call = Call(method: "PUT", path: "/v1/agent/check/register", needs: needs, object: "service \(check.serviceID ?? "")")
        call.body = check.body
        call.contentType = "application/json"
        let response = try perform(call, deadline: deadline)
        // 404 here means the ServiceID is not registered on this agent.
        if call.isNotFound(response) { throw .notFound(object: "service \(check.serviceID ?? "?") on this agent") }
    }

    /// Sets a TTL check's status and output (`PUT /v1/agent/check/update/<id>`), which also
    /// restarts its timer. An unknown check ID is ``ConsulError/notFound(object:)`` (older
    /// agents' 500 `Unknown check` too), so that the caller can register it and try again.
    public func updateCheck(id: String, status: CheckStatus, output: String, deadline: Double? = nil) throws(ConsulError) {
        guard [CheckStatus.passing, .warning, .critical].contains(status) else {
            throw .invalidName("check status '\(status)' is not passing, warning or critical")
        }
        let segment = try ConsulPath.segment(id, what: "check ID")
        var call = Call(method: "PUT", path: "/v1/agent/check/update/" + segment, needs: "node:write on this agent's node", object: "check \(id) on this agent")
        var writer = JSONWriter()
        writer.object { object in
            object.field("Status", status.rawValue)
            object.field("Output", output)
        }
        call.body = writer.bytes
        call.contentType = "application/json"
        call.isNotFound = { response in
            response.status == 404 || (response.status == 500 && response.text.contains("Unknown check"))
        }
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { throw .notFound(object: call.object) }
    }

    // MARK: Catalog and health

    /// The services registered on `node`, or nil when the catalog does not know the node
    /// (Consul answers `null`). Needs `node:read` (and `service:read`: others are filtered out).
    public func catalogNode(_ node: String, deadline: Double? = nil) throws(ConsulError) -> ConsulCatalogNode? {
        let call = Call(
            method: "GET", path: "/v1/catalog/node/" + (try ConsulPath.segment(node, what: "node name")), needs: "node:read for node \(node)",
            object: "node \(node)")
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { return nil }
        return try decode(response, call) { (reader) throws(JSONError) -> ConsulCatalogNode? in
            if reader.readNullIfPresent() { return nil }
            var found: Node?
            var services: [AgentService] = []
            try reader.readObject { (key, reader) throws(JSONError) in
                switch key {
                case "Node": found = try reader.optional { (reader) throws(JSONError) in try Node(reading: &reader) }
                case "Services":
                    _ = try reader.optional { (reader) throws(JSONError) in
                        try reader.readObject { (_, reader) throws(JSONError) in services.append(try AgentService(reading: &reader)) }
                    }
                default: try reader.skipValue()
                }
            }
            guard let found else { return nil }
            return ConsulCatalogNode(node: found, services: services.sorted { $0.id < $1.id })
        }
    }

    /// The checks of `node`, node-level first (`GET /v1/health/node/<node>`); `[]` for an
    /// unknown node. Services without checks are not in it: use ``catalogNode(_:deadline:)``.
    public func healthNodeChecks(_ node: String, deadline: Double? = nil) throws(ConsulError) -> [HealthCheck] {
        let call = Call(
            method: "GET", path: "/v1/health/node/" + (try ConsulPath.segment(node, what: "node name")), needs: "node:read for node \(node)",
            object: "node \(node)")
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { return [] }
        return try decode(response, call) { (reader) throws(JSONError) in
            var checks: [HealthCheck] = []
            _ = try reader.optional { (reader) throws(JSONError) in
                try reader.readArray { (reader) throws(JSONError) in checks.append(try HealthCheck(reading: &reader)) }
            }
            return checks
        }
    }

    // MARK: KV

    /// The raw value of `key` (`?raw`), or nil when the key does not exist. Needs `key:read`.
    public func kvRaw(_ key: String, deadline: Double? = nil) throws(ConsulError) -> [UInt8]? {
        var call = Call(method: "GET", path: "/v1/kv/" + (try ConsulPath.key(key)), needs: "key:read on \(key)", object: "key \(key)")
        call.query = "raw"
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { return nil }
        return response.body
    }

    /// The entry of `key` with its indexes (for a later CAS), or nil when it does not exist.
    public func kvEntry(_ key: String, deadline: Double? = nil) throws(ConsulError) -> KVPair? {
        let call = Call(method: "GET", path: "/v1/kv/" + (try ConsulPath.key(key)), needs: "key:read on \(key)", object: "key \(key)")
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { return nil }
        let entries = try decode(response, call, Self.readEntries)
        return entries.first { $0.key == key } ?? entries.first
    }

    /// Every entry whose key starts with `prefix` (a plain string prefix), sorted by key; `[]`
    /// when there is none. Entries the token may not read are silently left out by Consul.
    public func kvList(prefix: String, deadline: Double? = nil) throws(ConsulError) -> [KVPair] {
        var call = Call(
            method: "GET", path: "/v1/kv/" + (try ConsulPath.key(prefix, allowEmpty: true)), needs: "key:read on \(prefix)", object: "prefix \(prefix)")
        call.query = "recurse"
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { return [] }
        return try decode(response, call, Self.readEntries)
    }

    /// Writes `value` to `key`. With `cas`, only if the key's ModifyIndex is `cas` (`0`: only if
    /// absent); the answer says whether it was written. Needs `key:write`.
    public func kvPut(_ key: String, value: [UInt8], cas: UInt64? = nil, flags: UInt64? = nil, deadline: Double? = nil) throws(ConsulError) -> Bool {
        var call = Call(method: "PUT", path: "/v1/kv/" + (try ConsulPath.key(key)), needs: "key:write on \(key)", object: "key \(key)")
        call.query = [flags.map { "flags=\($0)" }, cas.map { "cas=\($0)" }].compactMap { $0 }.joined(separator: "&")
        call.body = value
        call.contentType = "application/octet-stream"
        call.repeatable = cas == nil
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { throw .notFound(object: "endpoint for \(call.object)") }
        return try decodeBool(response, call)
    }

    /// Deletes `key`. With `cas`, only if its ModifyIndex is `cas`; Consul answers true for a
    /// key that is already absent. Needs `key:write`.
    public func kvDelete(_ key: String, cas: UInt64? = nil, deadline: Double? = nil) throws(ConsulError) -> Bool {
        var call = Call(method: "DELETE", path: "/v1/kv/" + (try ConsulPath.key(key)), needs: "key:write on \(key)", object: "key \(key)")
        call.query = cas.map { "cas=\($0)" } ?? ""
        call.repeatable = cas == nil
        let response = try perform(call, deadline: deadline)
        if call.isNotFound(response) { throw .notFound(object: "endpoint for \(call.object)") }
        return try decodeBool(response, call)
    }

    static func readEntries(_ reader: inout JSONReader) throws(JSONError) -> [KVPair] {
        var entries: [KVPair] = []
        _ = try reader.optional { (reader) throws(JSONError) in
            try reader.readArray { (reader) throws(JSONError) in entries.append(try KVPair(reading: &reader)) }
        }
        return entries
    }

    // MARK: Sending

    /// One request as the client sends it, with what to say when it is refused.
    struct Call: Sendable {
        var method: String
        /// Already percent-encoded, without the address's path prefix.
        var path: String
        var query = ""
        var body: [UInt8] = []
        var contentType: String?
        /// The permission a 403 means is missing.
        var needs: String
        /// What a 404 means is missing.
        var object: String
        /// False for a write that must not be repeated once it may have been applied (a CAS).
        var repeatable = true
        var isNotFound: @Sendable (HTTPResponse) -> Bool = { $0.status == 404 }
        /// Other statuses that are an answer rather than a failure (a rolled-back transaction's 409).
        var answers: Set<Int> = []

        init(method: String, path: String, needs: String, object: String) {
            self.method = method
            self.path = path
            self.needs = needs
            self.object = object
        }

        var isWrite: Bool { method != "GET" && method != "HEAD" }
        /// `PUT /v1/kv/services/books/color?cas=12`: no token, no host.
        var operation: String { "\(method) \(path)" + (query.isEmpty ? "" : "?\(query)") }
    }

    /// The request for `call` (for tests and dry runs; the token is in a header only).
    func request(for call: Call) -> HTTPRequest {
        var url = settings.address.baseURL + call.path
        if !call.query.isEmpty { url += "?" + call.query }
        var headers: [HTTPHeader] = [HTTPHeader("Accept", "application/json")]
        if let token = settings.token { headers.append(HTTPHeader("X-Consul-Token", token.secret)) }
        if let contentType = call.contentType { headers.append(HTTPHeader("Content-Type", contentType)) }
        return HTTPRequest(method: call.method, url: url, headers: headers, body: call.body)
    }

    /// Sends `call`, retrying what may be retried, and returns a 2xx answer or one that
    /// `call.isNotFound` accepts; everything else is thrown.
    func perform(_ call: Call, deadline: Double?) throws(ConsulError) -> HTTPResponse {
        let request = request(for: call)
        let end = deadline ?? clock.now() + settings.budget
        let agent = settings.address.description
        var attempt = 0
        var maybeApplied = false
        while true {
            attempt += 1
            let remaining = end - clock.now()
            if remaining <= 0 { throw .deadline(operation: call.operation) }
            var retryAfter: Double?
            let failure: ConsulError
            switch transport.send(request, timeout: min(settings.timeout, remaining)) {
            case .success(let response):
                // A success is returned untouched: its body (a whole prefix of KV entries) is not
                // scanned for an error message.
                if (200..<300).contains(response.status) { return response }
                let message = self.message(response)
                if response.status == 404, message.hasPrefix("Invalid URL path") {
                    throw .notFound(object: "\(call.operation) is not an endpoint of this agent (is \(agent) a Consul agent?)")
                }
                if call.isNotFound(response) || call.answers.contains(response.status) { return response }
                switch response.status {
                case 403: throw denied(response, call)
                case 429:
                    // Rate-limited before being handled: safe to repeat, even a CAS.
                    failure = .http(status: 429, operation: call.operation, message: message.isEmpty ? "rate limited" : message)
                    retryAfter = RetryPolicy.retryAfter(response.header("Retry-After"))
                case 500...599:
                    if call.isWrite {
                        maybeApplied = true
                        if !call.repeatable {
                            throw .outcomeUnknown(
                                operation: call.operation, cause: "the agent answered \(response.status)" + (message.isEmpty ? "" : " (\(message))"))
                        }
                    }
                    failure = .http(status: response.status, operation: call.operation, message: message)
                    retryAfter = RetryPolicy.retryAfter(response.header("Retry-After"))
                case 404:
                    throw .notFound(object: call.object)
                default:
                    throw .http(status: response.status, operation: call.operation, message: message)
                }
            case .failure(let failed):
                let error = redacted(failed)
                switch error {
                case .invalidURL, .untrustedCertificate: throw .unreachable(agent: agent, cause: error, attempts: attempt)
                case .cannotConnect: failure = .unreachable(agent: agent, cause: error, attempts: attempt)
                case .timedOut, .failed:
                    if call.isWrite {
                        maybeApplied = true
                        if !call.repeatable { throw .outcomeUnknown(operation: call.operation, cause: error.description) }
                    }
                    failure = .unreachable(agent: agent, cause: error, attempts: attempt)
                }
            }
            let final: ConsulError =
                maybeApplied
                ? .outcomeUnknown(operation: call.operation, cause: Self.cause(failure) + (attempt > 1 ? " (after \(attempt) attempts)" : "")) : failure
            if attempt >= settings.retry.attempts { throw final }
            let delay = retryAfter ?? settings.retry.delay(after: attempt)
            if clock.now() + delay >= end { throw final }
            clock.sleep(delay)
        }
    }

    private static func cause(_ failure: ConsulError) -> String {
        switch failure {
        case .unreachable(_, let cause, _): return cause.description
        case .http(let status, _, let message): return "the agent answered \(status)" + (message.isEmpty ? "" : " (\(message))")
        default: return failure.description
        }
    }

    /// The transport's words with the token hidden (no transport should ever say it; this makes sure).
    func redacted(_ error: TransportError) -> TransportError {
        guard let secret = settings.token?.secret, !secret.isEmpty else { return error }
        switch error {
        case .cannotConnect(let detail): return .cannotConnect(detail.replacing(secret, with: "<redacted>"))
        case .failed(let detail): return .failed(detail.replacing(secret, with: "<redacted>"))
        case .invalidURL(let url): return .invalidURL(url.replacing(secret, with: "<redacted>"))
        case .untrustedCertificate(let detail, let hint): return .untrustedCertificate(detail.replacing(secret, with: "<redacted>"), hint: hint)
        case .timedOut: return error
        }
    }

    /// The first line of an error body, bounded, with the token (should a proxy echo it) hidden.
    func message(_ response: HTTPResponse) -> String {
        // Only the start of the body is looked at: the line is cut at 200 characters anyway.
        let head = String(decoding: response.body.prefix(4096), as: UTF8.self)
        var text = String(head.prefix(while: { $0 != "\n" && $0 != "\r\n" })).trimmingWhitespace()
        if text.count > 200 { text = String(text.prefix(200)) + "…" }
        if let secret = settings.token?.secret, !secret.isEmpty { text = text.replacing(secret, with: "<redacted>") }
        return String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
    }

    /// A 403 in words: the missing permission (from Consul's detailed text when it gives one,
    /// else what this call needs), or an unknown token.
    func denied(_ response: HTTPResponse, _ call: Call) -> ConsulError {
        let body = response.text
        if body.contains("ACL not found") { return .unknownToken(token: tokenName) }
        if body.contains("ermission denied") || body.isEmpty { return denied(text: body, needs: call.needs) }
        return .forbidden(operation: call.operation, message: message(response))
    }

    /// A `Permission denied` text (a 403's body, or a transaction's error) as the permission
    /// missing: `Permission denied: token with AccessorID '…' lacks permission 'key:write' on "a/b"`
    /// names it; a bare one falls back to `needs`.
    func denied(text: String, needs: String) -> ConsulError {
        if let range = text.firstRange(of: "lacks permission '") {
            let rest = text[range.upperBound...]
            if let close = rest.firstIndex(of: "'") {
                let permission = String(rest[..<close])
                var resource = ""
                if let open = rest.firstRange(of: " on \"") {
                    resource = String(rest[open.upperBound...].prefix { $0 != "\"" })
                }
                return .aclDenied(needs: resource.isEmpty ? permission : "\(permission) on \(resource)", token: tokenName)
            }
        }
        return .aclDenied(needs: needs, token: tokenName)
    }

    /// Which token was used, in words that never contain it.
    var tokenName: String {
        settings.token.map { "token (\($0.source))" } ?? "anonymous token (no CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE set)"
    }

    func decode<T>(
        _ response: HTTPResponse, _ call: Call, _ read: (inout JSONReader) throws(JSONError) -> T, validate: (T) -> String? = { _ in nil }
    ) throws(ConsulError) -> T {
        let value: T
        do { value = try JSONReader.read(response.body, read) } catch { throw .badResponse(operation: call.operation, detail: error.description) }
        if let problem = validate(value) { throw .badResponse(operation: call.operation, detail: problem) }
        return value
    }

    /// `true` or `false` (a dev agent adds a newline), as KV writes answer.
    func decodeBool(_ response: HTTPResponse, _ call: Call) throws(ConsulError) -> Bool {
        try decode(response, call) { (reader) throws(JSONError) in try reader.readBool() }
    }
}

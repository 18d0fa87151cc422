import ConsulWatch

/// What the healer asks of the local Consul agent, each behind a small protocol so that the
/// policy is tested with closures and the executables plug in the HTTP client.

/// Why a question to the agent got no answer. `retryable` failures (unreachable, timeout, 5xx)
/// and ACL refusals are both "not now": nothing is marked handled and the question is asked again.
public struct ConsulLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The service instances registered on a node (`GET /v1/catalog/node/<node>`).
public protocol NodeServicesLookup: Sendable {
    func services(on node: String) throws(ConsulLookupError) -> [Selection.Population.Instance]
}

/// A value of Consul's KV store, read raw (`GET /v1/kv/<key>?raw`): nil when the key does not exist.
public protocol KVReader: Sendable {
    func value(of key: String) throws(ConsulLookupError) -> String?
}

/// The status of a TTL check of the handler's own (`PUT /v1/agent/check/update/<id>`, registering
/// it first when the agent does not know it).
public protocol HealthReporter: Sendable {
    func report(checkID: String, name: String, ttl: Double, status: CheckStatus, output: String) throws(ConsulLookupError)
}

/// A ``NodeServicesLookup`` made of a closure (tests, adapters).
public struct NodeServicesLookupFunction: NodeServicesLookup {
    let body: @Sendable (String) throws(ConsulLookupError) -> [Selection.Population.Instance]
    public init(_ body: @escaping @Sendable (String) throws(ConsulLookupError) -> [Selection.Population.Instance]) { self.body = body }
    public func services(on node: String) throws(ConsulLookupError) -> [Selection.Population.Instance] { try body(node) }
}

/// A ``KVReader`` made of a closure.
public struct KVReaderFunction: KVReader {
    let body: @Sendable (String) throws(ConsulLookupError) -> String?
    public init(_ body: @escaping @Sendable (String) throws(ConsulLookupError) -> String?) { self.body = body }
    public func value(of key: String) throws(ConsulLookupError) -> String? { try body(key) }
}

/// A ``HealthReporter`` made of a closure.
public struct HealthReporterFunction: HealthReporter {
    let body: @Sendable (String, String, Double, CheckStatus, String) throws(ConsulLookupError) -> Void
    public init(_ body: @escaping @Sendable (String, String, Double, CheckStatus, String) throws(ConsulLookupError) -> Void) { self.body = body }
    public func report(checkID: String, name: String, ttl: Double, status: CheckStatus, output: String) throws(ConsulLookupError) {
        try body(checkID, name, ttl, status, output)
    }
}

import ConsulWatch

/// The Consul client as what the healer asks of the agent: thin, one call each, every
/// ``ConsulError`` turned into a one-line ``ConsulLookupError`` (the client's words say which
/// permission or object is missing, and never the token).
extension ConsulClient: NodeServicesLookup, KVReader, HealthReporter {
    /// A node that the payload shows but the catalog does not is hidden by ACLs (Consul filters
    /// it out with a 200 and `null`), so that is a failed lookup, never "no services".
    public func services(on node: String) throws(ConsulLookupError) -> [ServiceInstance] {
        let found: ConsulCatalogNode?
        do {
            found = try catalogNode(node)
        } catch {
            throw ConsulLookupError("the catalog lookup of node \(node) failed: \(error.description)")
        }
        guard let found else {
            throw ConsulLookupError(
                "the catalog does not show node \(node): the token needs node:read for node \(node) (or the node was deregistered)")
        }
        return found.services.map { ServiceInstance(service: $0.service, serviceID: $0.id, tags: $0.tags ?? []) }
    }

    public func value(of key: String) throws(ConsulLookupError) -> String? {
        do { return try kvRaw(key).map { String(decoding: $0, as: UTF8.self) } } catch { throw ConsulLookupError(error.description) }
    }

    /// Updates the TTL check, registering it first when the agent does not know it (a restarted
    /// agent forgets checks registered over the API unless they were persisted).
    public func report(checkID: String, name: String, ttl: Double, status: CheckStatus, output: String) throws(ConsulLookupError) {
        do {
            do {
                try updateCheck(id: checkID, status: status, output: output)
            } catch .notFound {
                try registerCheck(
                    ConsulTTLCheck(
                        id: checkID, name: name, ttl: "\(Int(ttl.rounded(.up)))s", notes: "the consul-heal handler's own health (docs/consul.md)",
                        status: status))
                try updateCheck(id: checkID, status: status, output: output)
            }
        } catch {
            throw ConsulLookupError(error.description)
        }
    }
}

/// The agent as configured, or why it cannot be used: a broken `CONSUL_HTTP_ADDR` must not stop
/// a run that never needs the agent, and must fail the one that does with the reason.
public struct ConsulAgent: NodeServicesLookup, KVReader, HealthReporter {
    public let client: ConsulClient?
    public let problem: String?

    public init(client: ConsulClient) {
        self.client = client
        problem = nil
    }

    public init(problem: String) {
        client = nil
        self.problem = problem
    }

    private func agent() throws(ConsulLookupError) -> ConsulClient {
        guard let client else { throw ConsulLookupError("no usable Consul agent: \(problem ?? "not configured")") }
        return client
    }

    public func services(on node: String) throws(ConsulLookupError) -> [ServiceInstance] { try agent().services(on: node) }
    public func value(of key: String) throws(ConsulLookupError) -> String? { try agent().value(of: key) }
    public func report(checkID: String, name: String, ttl: Double, status: CheckStatus, output: String) throws(ConsulLookupError) {
        try agent().report(checkID: checkID, name: name, ttl: ttl, status: status, output: output)
    }
}

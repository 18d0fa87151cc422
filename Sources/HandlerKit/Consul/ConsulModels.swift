import ConsulWatch

/// Who the agent is (`GET /v1/agent/self`, `Config`).
public struct ConsulAgentInfo: Sendable, Hashable {
    public var nodeName: String
    public var datacenter: String

    public init(nodeName: String, datacenter: String) {
        self.nodeName = nodeName
        self.datacenter = datacenter
    }
}

/// A node and the service instances registered on it (`GET /v1/catalog/node/<node>`). A node
/// whose serfHealth is critical stays in the catalog with all its services: this answers
/// "what ran there".
public struct ConsulCatalogNode: Sendable, Hashable {
    public var node: Node
    /// Sorted by service ID (the map keys of Consul's answer).
    public var services: [AgentService]

    public init(node: Node, services: [AgentService]) {
        self.node = node
        self.services = services
    }
}

/// A TTL check to register on the local agent (`PUT /v1/agent/check/register`). Registering
/// again keeps the check's current status and output and restarts its timer (consul-api.md §3.1).
public struct ConsulTTLCheck: Sendable, Hashable {
    public var id: String
    public var name: String
    /// A Go duration (`24h`, `15m`).
    public var ttl: String
    public var notes: String?
    /// The status of a new check; Consul's default is critical.
    public var status: CheckStatus?
    /// Ties the check to a service registered on this agent.
    public var serviceID: String?

    public init(id: String, name: String, ttl: String, notes: String? = nil, status: CheckStatus? = nil, serviceID: String? = nil) {
        self.id = id
        self.name = name
        self.ttl = ttl
        self.notes = notes
        self.status = status
        self.serviceID = serviceID
    }

    var body: [UInt8] {
        var writer = JSONWriter()
        writer.object { object in
            object.field("ID", id)
            object.field("Name", name)
            object.field("TTL", ttl)
            if let notes { object.field("Notes", notes) }
            if let status { object.field("Status", status.rawValue) }
            if let serviceID { object.field("ServiceID", serviceID) }
        }
        return writer.bytes
    }
}

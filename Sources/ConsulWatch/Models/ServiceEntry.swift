/// One instance of a service with its node and checks: an element of a `service` watch
/// payload (`api.ServiceEntry`). `Checks` holds the node-level checks of the node first, then
/// the instance's own checks.
public struct ServiceEntry: Sendable, Hashable, Codable {
    public var node: Node
    public var service: AgentService
    public var checks: [HealthCheck]

    public init(node: Node, service: AgentService, checks: [HealthCheck]) {
        self.node = node
        self.service = service
        self.checks = checks
    }

    enum CodingKeys: String, CodingKey {
        case node = "Node"
        case service = "Service"
        case checks = "Checks"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        node = try container.decode(Node.self, forKey: .node)
        service = try container.decode(AgentService.self, forKey: .service)
        checks = try container.decodeIfPresent([HealthCheck].self, forKey: .checks) ?? []
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        let start = reader.offset
        var node: Node?
        var service: AgentService?
        var checks: [HealthCheck] = []
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Node": node = try Node(reading: &reader)
            case "Service": service = try AgentService(reading: &reader)
            case "Checks":
                checks =
                    try reader.optional { (reader) throws(JSONError) in
                        var checks: [HealthCheck] = []
                        try reader.readArray { (reader) throws(JSONError) in checks.append(try HealthCheck(reading: &reader)) }
                        return checks
                    } ?? []
            default: try reader.skipValue()
            }
        }
        guard let node else { throw reader.error(.missingField("Node"), at: start) }
        guard let service else { throw reader.error(.missingField("Service"), at: start) }
        self.init(node: node, service: service, checks: checks)
    }
}

/// A node of the catalog (`api.Node`): an element of a `nodes` payload and `ServiceEntry.Node`.
public struct Node: Sendable, Hashable, Codable {
    public var id: String?
    public var node: String
    public var address: String?
    public var datacenter: String?
    public var taggedAddresses: [String: String]?
    public var meta: [String: String]?
    public var createIndex: UInt64?
    public var modifyIndex: UInt64?
    public var partition: String?
    public var peerName: String?
    public var locality: Locality?

    public init(node: String, address: String? = nil) {
        self.node = node
        self.address = address
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case node = "Node"
        case address = "Address"
        case datacenter = "Datacenter"
        case taggedAddresses = "TaggedAddresses"
        case meta = "Meta"
        case createIndex = "CreateIndex"
        case modifyIndex = "ModifyIndex"
        case partition = "Partition"
        case peerName = "PeerName"
        case locality = "Locality"
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        let start = reader.offset
        var value = Node(node: "")
        var seenNode = false
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "ID": value.id = try reader.readOptionalString()
            case "Node":
                value.node = try reader.readString()
                seenNode = true
            case "Address": value.address = try reader.readOptionalString()
            case "Datacenter": value.datacenter = try reader.readOptionalString()
            case "TaggedAddresses": value.taggedAddresses = try reader.readStringMapField()
            case "Meta": value.meta = try reader.readStringMapField()
            case "CreateIndex": value.createIndex = try reader.readUInt64Field()
            case "ModifyIndex": value.modifyIndex = try reader.readUInt64Field()
            case "Partition": value.partition = try reader.readOptionalString()
            case "PeerName": value.peerName = try reader.readOptionalString()
            case "Locality": value.locality = try reader.optional { (reader) throws(JSONError) in try Locality(reading: &reader) }
            default: try reader.skipValue()
            }
        }
        if !seenNode { throw reader.error(.missingField("Node"), at: start) }
        self = value
    }
}

/// Where a node or service runs (`api.Locality`).
public struct Locality: Sendable, Hashable, Codable {
    public var region: String?
    public var zone: String?

    enum CodingKeys: String, CodingKey {
        case region = "Region"
        case zone = "Zone"
    }

    public init(region: String? = nil, zone: String? = nil) {
        self.region = region
        self.zone = zone
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        var value = Locality()
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Region": value.region = try reader.readOptionalString()
            case "Zone": value.zone = try reader.readOptionalString()
            default: try reader.skipValue()
            }
        }
        self = value
    }
}

/// A service instance as the agent registered it (`api.AgentService`).
public struct AgentService: Sendable, Hashable, Codable {
    /// Absent for ordinary services; `connect-proxy`, `mesh-gateway`, … otherwise.
    public var kind: String?
    public var id: String
    public var service: String
    public var tags: [String]?
    public var meta: [String: String]?
    public var port: Int?
    /// `""` when the service did not set one (clients then use the node's address).
    public var address: String?
    public var socketPath: String?
    public var taggedAddresses: [String: ServiceAddress]?
    public var weights: Weights?
    public var enableTagOverride: Bool?
    public var createIndex: UInt64?
    public var modifyIndex: UInt64?
    public var contentHash: String?
    public var proxy: JSONValue?
    public var connect: JSONValue?
    public var peerName: String?
    public var namespace: String?
    public var partition: String?
    public var datacenter: String?
    public var locality: Locality?

    public init(id: String, service: String, tags: [String]? = nil) {
        self.id = id
        self.service = service
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case kind = "Kind"
        case id = "ID"
        case service = "Service"
        case tags = "Tags"
        case meta = "Meta"
        case port = "Port"
        case address = "Address"
        case socketPath = "SocketPath"
        case taggedAddresses = "TaggedAddresses"
        case weights = "Weights"
        case enableTagOverride = "EnableTagOverride"
        case createIndex = "CreateIndex"
        case modifyIndex = "ModifyIndex"
        case contentHash = "ContentHash"
        case proxy = "Proxy"
        case connect = "Connect"
        case peerName = "PeerName"
        case namespace = "Namespace"
        case partition = "Partition"
        case datacenter = "Datacenter"
        case locality = "Locality"
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        let start = reader.offset
        var value = AgentService(id: "", service: "")
        var seen: (id: Bool, service: Bool) = (false, false)
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Kind": value.kind = try reader.readOptionalString()
            case "ID":
                value.id = try reader.readString()
                seen.id = true
            case "Service":
                value.service = try reader.readString()
                seen.service = true
            case "Tags": value.tags = try reader.readStringArrayField()
            case "Meta": value.meta = try reader.readStringMapField()
            case "Port": value.port = try reader.readIntField()
            case "Address": value.address = try reader.readOptionalString()
            case "SocketPath": value.socketPath = try reader.readOptionalString()
            case "TaggedAddresses":
                value.taggedAddresses = try reader.optional { (reader) throws(JSONError) in
                    var addresses: [String: ServiceAddress] = [:]
                    try reader.readObject { (key, reader) throws(JSONError) in addresses[key.string] = try ServiceAddress(reading: &reader) }
                    return addresses
                }
            case "Weights": value.weights = try reader.optional { (reader) throws(JSONError) in try Weights(reading: &reader) }
            case "EnableTagOverride": value.enableTagOverride = try reader.readBoolField()
            case "CreateIndex": value.createIndex = try reader.readUInt64Field()
            case "ModifyIndex": value.modifyIndex = try reader.readUInt64Field()
            case "ContentHash": value.contentHash = try reader.readOptionalString()
            case "Proxy": value.proxy = try JSONValue(reading: &reader)
            case "Connect": value.connect = try JSONValue(reading: &reader)
            case "PeerName": value.peerName = try reader.readOptionalString()
            case "Namespace": value.namespace = try reader.readOptionalString()
            case "Partition": value.partition = try reader.readOptionalString()
            case "Datacenter": value.datacenter = try reader.readOptionalString()
            case "Locality": value.locality = try reader.optional { (reader) throws(JSONError) in try Locality(reading: &reader) }
            default: try reader.skipValue()
            }
        }
        if !seen.id { throw reader.error(.missingField("ID"), at: start) }
        if !seen.service { throw reader.error(.missingField("Service"), at: start) }
        self = value
    }
}

/// One tagged address of a service (`api.ServiceAddress`).
public struct ServiceAddress: Sendable, Hashable, Codable {
    public var address: String?
    public var port: Int?

    enum CodingKeys: String, CodingKey {
        case address = "Address"
        case port = "Port"
    }

    public init(address: String? = nil, port: Int? = nil) {
        self.address = address
        self.port = port
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        var value = ServiceAddress()
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Address": value.address = try reader.readOptionalString()
            case "Port": value.port = try reader.readIntField()
            default: try reader.skipValue()
            }
        }
        self = value
    }
}

/// DNS weights of a service (`api.AgentWeights`).
public struct Weights: Sendable, Hashable, Codable {
    public var passing: Int?
    public var warning: Int?

    enum CodingKeys: String, CodingKey {
        case passing = "Passing"
        case warning = "Warning"
    }

    public init(passing: Int? = nil, warning: Int? = nil) {
        self.passing = passing
        self.warning = warning
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        var value = Weights()
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Passing": value.passing = try reader.readIntField()
            case "Warning": value.warning = try reader.readIntField()
            default: try reader.skipValue()
            }
        }
        self = value
    }
}

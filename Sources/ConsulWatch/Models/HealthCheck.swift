/// One health check, as in a `checks` watch payload and in `ServiceEntry.Checks`
/// (`api.HealthCheck` in Consul's Go client).
///
/// `Node`, `CheckID` and `Status` identify a check and are required; every other field is
/// optional, because older agents send fewer fields and Enterprise adds `Namespace` and
/// `Partition`. Unknown fields are ignored.
public struct HealthCheck: Sendable, Hashable, Codable {
    public var node: String
    public var checkID: String
    public var name: String?
    public var status: CheckStatus
    public var notes: String?
    public var output: String?
    /// `""` (or absent) for node-level checks such as `serfHealth`.
    public var serviceID: String?
    public var serviceName: String?
    public var serviceTags: [String]?
    public var type: String?
    public var namespace: String?
    public var partition: String?
    public var exposedPort: Int?
    public var peerName: String?
    public var definition: HealthCheckDefinition?
    public var createIndex: UInt64?
    public var modifyIndex: UInt64?

    public init(
        node: String, checkID: String, name: String? = nil, status: CheckStatus, notes: String? = nil,
        output: String? = nil, serviceID: String? = nil, serviceName: String? = nil, serviceTags: [String]? = nil,
        type: String? = nil, namespace: String? = nil, partition: String? = nil, exposedPort: Int? = nil,
        peerName: String? = nil, definition: HealthCheckDefinition? = nil, createIndex: UInt64? = nil,
        modifyIndex: UInt64? = nil
    ) {
        self.node = node
        self.checkID = checkID
        self.name = name
        self.status = status
        self.notes = notes
        self.output = output
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.serviceTags = serviceTags
        self.type = type
        self.namespace = namespace
        self.partition = partition
        self.exposedPort = exposedPort
        self.peerName = peerName
        self.definition = definition
        self.createIndex = createIndex
        self.modifyIndex = modifyIndex
    }

    enum CodingKeys: String, CodingKey {
        case node = "Node"
        case checkID = "CheckID"
        case name = "Name"
        case status = "Status"
        case notes = "Notes"
        case output = "Output"
        case serviceID = "ServiceID"
        case serviceName = "ServiceName"
        case serviceTags = "ServiceTags"
        case type = "Type"
        case namespace = "Namespace"
        case partition = "Partition"
        case exposedPort = "ExposedPort"
        case peerName = "PeerName"
        case definition = "Definition"
        case createIndex = "CreateIndex"
        case modifyIndex = "ModifyIndex"
    }

    /// Reads a check from the reader (the fast path used by the executables).
    public init(reading reader: inout JSONReader) throws(JSONError) {
        let start = reader.offset
        var check = HealthCheck(node: "", checkID: "", status: .other(""))
        var seen: (node: Bool, checkID: Bool, status: Bool) = (false, false, false)
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Node":
                check.node = try reader.readString()
                seen.node = true
            case "CheckID":
                check.checkID = try reader.readString()
                seen.checkID = true
            case "Status":
                check.status = CheckStatus(try reader.readString())
                seen.status = true
            case "Name": check.name = try reader.readOptionalString()
            case "Notes": check.notes = try reader.readOptionalString()
            case "Output": check.output = try reader.readOptionalString()
            case "ServiceID": check.serviceID = try reader.readOptionalString()
            case "ServiceName": check.serviceName = try reader.readOptionalString()
            case "ServiceTags": check.serviceTags = try reader.readStringArrayField()
            case "Type": check.type = try reader.readOptionalString()
            case "Namespace": check.namespace = try reader.readOptionalString()
            case "Partition": check.partition = try reader.readOptionalString()
            case "ExposedPort": check.exposedPort = try reader.readIntField()
            case "PeerName": check.peerName = try reader.readOptionalString()
            case "Definition":
                check.definition = try reader.optional { (reader) throws(JSONError) in try HealthCheckDefinition(reading: &reader) }
            case "CreateIndex": check.createIndex = try reader.readUInt64Field()
            case "ModifyIndex": check.modifyIndex = try reader.readUInt64Field()
            default: try reader.skipValue()
            }
        }
        if !seen.node { throw reader.error(.missingField("Node"), at: start) }
        if !seen.checkID { throw reader.error(.missingField("CheckID"), at: start) }
        if !seen.status { throw reader.error(.missingField("Status"), at: start) }
        self = check
    }

    /// The few fields selection looks at before deciding to read a whole check.
    public struct Skim: Sendable {
        public var node = ""
        public var serviceName = ""
        public var serviceID = ""
        public var serviceTags: [String] = []
        public var status = CheckStatus.other("")
        public var isMaintenance = false
        /// True when the check has `Node`, `CheckID` and `Status`; when false the full model must be
        /// read, so that the missing field is reported.
        public var hasRequiredFields = false

        init() {}

        /// Reads (and validates) a whole check object, keeping only the skim fields.
        public init(reading reader: inout JSONReader) throws(JSONError) {
            var skim = Skim()
            var seen: (node: Bool, checkID: Bool, status: Bool) = (false, false, false)
            try reader.readObject { (key, reader) throws(JSONError) in
                switch key {
                case "Status":
                    skim.status = CheckStatus(try reader.readString())
                    seen.status = true
                case "Node":
                    skim.node = try reader.readString()
                    seen.node = true
                case "ServiceName": skim.serviceName = try reader.readOptionalString() ?? ""
                case "ServiceID": skim.serviceID = try reader.readOptionalString() ?? ""
                case "ServiceTags": skim.serviceTags = try reader.readStringArrayField() ?? []
                case "CheckID":
                    skim.isMaintenance = try reader.readString().hasPrefix("_")
                    seen.checkID = true
                default: try reader.skipValue()
                }
            }
            skim.hasRequiredFields = seen.node && seen.checkID && seen.status
            self = skim
        }
    }

    /// True for a node-level check (`serfHealth`, node maintenance, node TTL checks): one with no service.
    public var isNodeCheck: Bool { (serviceID ?? "").isEmpty }

    /// The reserved check ID of node maintenance mode.
    public static let nodeMaintenanceCheckID = "_node_maintenance"
    /// The prefix of a service-maintenance check ID (`_service_maintenance:<service ID>`).
    public static let serviceMaintenancePrefix = "_service_maintenance:"
    /// The check ID of the gossip health check that shows a node is down.
    public static let serfHealthCheckID = "serfHealth"

    /// What this check is, if it is one of the maintenance checks Consul adds.
    public var maintenance: Maintenance? {
        if checkID == Self.nodeMaintenanceCheckID { return .node(node) }
        if checkID.hasPrefix(Self.serviceMaintenancePrefix) {
            return .service(node: node, serviceID: String(checkID.dropFirst(Self.serviceMaintenancePrefix.count)))
        }
        return nil
    }

    /// The scope a maintenance check silences.
    public enum Maintenance: Sendable, Hashable {
        case node(String)
        case service(node: String, serviceID: String)
    }
}

/// The check definition Consul re-encodes into every payload (`api.HealthCheckDefinition`).
/// Durations are Go duration strings (`"10s"`, `"1h30m0s"`).
public struct HealthCheckDefinition: Sendable, Hashable, Codable {
    public var interval: String?
    public var timeout: String?
    public var deregisterCriticalServiceAfter: String?
    public var http: String?
    public var header: [String: [String]]?
    public var method: String?
    public var body: String?
    public var tlsServerName: String?
    public var tlsSkipVerify: Bool?
    public var tcp: String?
    public var tcpUseTLS: Bool?
    public var udp: String?
    public var grpc: String?
    public var osService: String?
    public var grpcUseTLS: Bool?
    public var sessionName: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case interval = "Interval"
        case timeout = "Timeout"
        case deregisterCriticalServiceAfter = "DeregisterCriticalServiceAfter"
        case http = "HTTP"
        case header = "Header"
        case method = "Method"
        case body = "Body"
        case tlsServerName = "TLSServerName"
        case tlsSkipVerify = "TLSSkipVerify"
        case tcp = "TCP"
        case tcpUseTLS = "TCPUseTLS"
        case udp = "UDP"
        case grpc = "GRPC"
        case osService = "OSService"
        case grpcUseTLS = "GRPCUseTLS"
        case sessionName = "SessionName"
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        var definition = HealthCheckDefinition()
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Interval": definition.interval = try reader.readOptionalString()
            case "Timeout": definition.timeout = try reader.readOptionalString()
            case "DeregisterCriticalServiceAfter": definition.deregisterCriticalServiceAfter = try reader.readOptionalString()
            case "HTTP": definition.http = try reader.readOptionalString()
            case "Header":
                definition.header = try reader.optional { (reader) throws(JSONError) in
                    var header: [String: [String]] = [:]
                    try reader.readObject { (key, reader) throws(JSONError) in header[key.string] = try reader.readStringArray() }
                    return header
                }
            case "Method": definition.method = try reader.readOptionalString()
            case "Body": definition.body = try reader.readOptionalString()
            case "TLSServerName": definition.tlsServerName = try reader.readOptionalString()
            case "TLSSkipVerify": definition.tlsSkipVerify = try reader.readBoolField()
            case "TCP": definition.tcp = try reader.readOptionalString()
            case "TCPUseTLS": definition.tcpUseTLS = try reader.readBoolField()
            case "UDP": definition.udp = try reader.readOptionalString()
            case "GRPC": definition.grpc = try reader.readOptionalString()
            case "OSService": definition.osService = try reader.readOptionalString()
            case "GRPCUseTLS": definition.grpcUseTLS = try reader.readBoolField()
            case "SessionName": definition.sessionName = try reader.readOptionalString()
            default: try reader.skipValue()
            }
        }
        self = definition
    }
}

/// A check chosen for action, flattened to what a handler needs.
///
/// This is the record `consul-critical --format jsonl` prints (one per line, keys in this
/// order): `kind`, `service`, `serviceID`, `node`, `checkID`, `checkName`, `status`, `output`,
/// `notes`, `tags`, `consulIndex`.
public struct SelectedCheck: Sendable, Hashable, Codable {
    /// Whether a service instance or a whole node is failing.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A service's own check.
        case service
        /// A node-level check (`serfHealth`, a node TTL check): the node itself is failing.
        /// In a `service` watch it is attributed to each instance on the node, so ``service``
        /// is set; in a `checks` watch ``service`` is `nil`.
        case node
    }

    public var kind: Kind
    /// The service name, `nil` for a node failure in a `checks` watch.
    public var service: String?
    /// The service instance ID.
    public var serviceID: String?
    public var node: String
    public var checkID: String
    public var checkName: String
    public var status: CheckStatus
    public var output: String
    public var notes: String
    /// The service's tags (empty for node failures).
    public var tags: [String]
    /// The `CONSUL_INDEX` of the delivery the check came in, when known.
    public var consulIndex: UInt64?

    public init(
        kind: Kind, service: String?, serviceID: String?, node: String, checkID: String, checkName: String,
        status: CheckStatus, output: String = "", notes: String = "", tags: [String] = [], consulIndex: UInt64? = nil
    ) {
        self.kind = kind
        self.service = service
        self.serviceID = serviceID
        self.node = node
        self.checkID = checkID
        self.checkName = checkName
        self.status = status
        self.output = output
        self.notes = notes
        self.tags = tags
        self.consulIndex = consulIndex
    }

    /// Writes the documented JSON object (stable key order, `null` for absent values).
    public func writeJSON(to writer: inout JSONWriter) {
        writer.object { object in
            object.field("kind", kind.rawValue)
            object.field("service", service)
            object.field("serviceID", serviceID)
            object.field("node", node)
            object.field("checkID", checkID)
            object.field("checkName", checkName)
            object.field("status", status.rawValue)
            object.field("output", output)
            object.field("notes", notes)
            object.field("tags", tags)
            object.field("consulIndex", consulIndex)
        }
    }
}

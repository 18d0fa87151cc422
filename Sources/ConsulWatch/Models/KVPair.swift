import FoundationEssentials

/// A key of the KV store (`api.KVPair`): the `key` payload (or `null`) and the elements of a
/// `keyprefix` payload (or `null`).
public struct KVPair: Sendable, Hashable, Codable {
    public var key: String
    public var createIndex: UInt64?
    public var modifyIndex: UInt64?
    public var lockIndex: UInt64?
    public var flags: UInt64?
    /// The value, base64-encoded as Consul sends it; `nil` for an empty value or a folder key.
    public var value: String?
    /// The session holding the lock, `""` when none.
    public var session: String?
    public var namespace: String?
    public var partition: String?

    public init(key: String, value: String? = nil) {
        self.key = key
        self.value = value
    }

    enum CodingKeys: String, CodingKey {
        case key = "Key"
        case createIndex = "CreateIndex"
        case modifyIndex = "ModifyIndex"
        case lockIndex = "LockIndex"
        case flags = "Flags"
        case value = "Value"
        case session = "Session"
        case namespace = "Namespace"
        case partition = "Partition"
    }

    /// The decoded bytes of ``value``, decoded on demand; `nil` when there is no value or it is not valid base64.
    public var decodedValue: [UInt8]? {
        value.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        let start = reader.offset
        var pair = KVPair(key: "")
        var seenKey = false
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Key":
                pair.key = try reader.readString()
                seenKey = true
            case "CreateIndex": pair.createIndex = try reader.readUInt64Field()
            case "ModifyIndex": pair.modifyIndex = try reader.readUInt64Field()
            case "LockIndex": pair.lockIndex = try reader.readUInt64Field()
            case "Flags": pair.flags = try reader.readUInt64Field()
            case "Value": pair.value = try reader.readOptionalString()
            case "Session": pair.session = try reader.readOptionalString()
            case "Namespace": pair.namespace = try reader.readOptionalString()
            case "Partition": pair.partition = try reader.readOptionalString()
            default: try reader.skipValue()
            }
        }
        if !seenKey { throw reader.error(.missingField("Key"), at: start) }
        self = pair
    }
}

/// A user event (`api.UserEvent`): the elements of an `event` payload.
public struct UserEvent: Sendable, Hashable, Codable {
    public var id: String
    public var name: String?
    /// The payload, base64-encoded as Consul sends it; `nil` when the event carried none.
    public var payload: String?
    public var nodeFilter: String?
    public var serviceFilter: String?
    public var tagFilter: String?
    public var version: Int?
    public var lTime: UInt64?

    public init(id: String, name: String? = nil, payload: String? = nil) {
        self.id = id
        self.name = name
        self.payload = payload
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case name = "Name"
        case payload = "Payload"
        case nodeFilter = "NodeFilter"
        case serviceFilter = "ServiceFilter"
        case tagFilter = "TagFilter"
        case version = "Version"
        case lTime = "LTime"
    }

    /// The decoded bytes of ``payload``, decoded on demand.
    public var decodedPayload: [UInt8]? {
        payload.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
    }

    public init(reading reader: inout JSONReader) throws(JSONError) {
        let start = reader.offset
        var event = UserEvent(id: "")
        var seenID = false
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "ID":
                event.id = try reader.readString()
                seenID = true
            case "Name": event.name = try reader.readOptionalString()
            case "Payload": event.payload = try reader.readOptionalString()
            case "NodeFilter": event.nodeFilter = try reader.readOptionalString()
            case "ServiceFilter": event.serviceFilter = try reader.readOptionalString()
            case "TagFilter": event.tagFilter = try reader.readOptionalString()
            case "Version": event.version = try reader.readIntField()
            case "LTime": event.lTime = try reader.readUInt64Field()
            default: try reader.skipValue()
            }
        }
        if !seenID { throw reader.error(.missingField("ID"), at: start) }
        self = event
    }
}

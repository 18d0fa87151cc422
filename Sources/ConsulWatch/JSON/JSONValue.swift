/// Any JSON value, for the parts of a payload this library carries but does not interpret
/// (`AgentService.Proxy`, `Connect`).
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    /// A number, kept as its JSON text so that no precision is lost.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Reads any value.
    public init(reading reader: inout JSONReader) throws(JSONError) {
        switch try reader.peekKind() {
        case .null:
            _ = reader.readNullIfPresent()
            self = .null
        case .bool: self = .bool(try reader.readBool())
        case .number: self = .number(try reader.readNumberText())
        case .string: self = .string(try reader.readString())
        case .array:
            var values: [JSONValue] = []
            try reader.readArray { (reader) throws(JSONError) in values.append(try JSONValue(reading: &reader)) }
            self = .array(values)
        case .object:
            var members: [String: JSONValue] = [:]
            try reader.readObject { (key, reader) throws(JSONError) in members[key.string] = try JSONValue(reading: &reader) }
            self = .object(members)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let text):
            if let integer = Int64(text) { try container.encode(integer) } else { try container.encode(Double(text) ?? 0) }
        case .string(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let members): try container.encode(members)
        }
    }
}

/// Typed views of a value, nil when it is of another kind: for reading our own small files
/// (state, spool entries) field by field.
extension JSONValue {
    public var string: String? { if case .string(let text) = self { return text } else { return nil } }
    public var bool: Bool? { if case .bool(let flag) = self { return flag } else { return nil } }
    /// A finite number (`1e999` reads as infinity in Swift: not a value any field can hold).
    public var double: Double? {
        if case .number(let text) = self, let value = Double(text), value.isFinite { return value } else { return nil }
    }
    /// An integer; nil for one outside `Int`'s range (`1e300`), never a trap.
    public var int: Int? {
        guard case .number(let text) = self else { return nil }
        if let value = Int(text) { return value }
        return Double(text).flatMap { Int(exactly: $0.rounded(.towardZero)) }
    }
    public var uint64: UInt64? { if case .number(let text) = self { return UInt64(text) } else { return nil } }
}

/// Writes compact JSON with a stable member order, straight into a byte buffer.
///
/// Output records (the `jsonl` format, the journal, incident JSON for external actions) have
/// documented key orders; `JSONEncoder` does not promise one, and this is also much faster.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// The output as a string.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func append(raw text: String) { bytes.append(contentsOf: text.utf8) }

    /// Writes a string literal, escaping as RFC 8259 requires.
    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func null() { bytes.append(contentsOf: "null".utf8) }
    public mutating func bool(_ value: Bool) { bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    public mutating func number<N: BinaryInteger>(_ value: N) { bytes.append(contentsOf: String(value).utf8) }
    public mutating func number(_ value: Double) {
        if value.isFinite { bytes.append(contentsOf: String(value).utf8) } else { null() }
    }

    /// Writes an object; `body` adds its members in order.
    public mutating func object(_ body: (inout ObjectWriter) -> Void) {
        var object = ObjectWriter(writer: self)
        self = JSONWriter()
        object.writer.bytes.append(UInt8(ascii: "{"))
        body(&object)
        object.writer.bytes.append(UInt8(ascii: "}"))
        self = object.writer
    }

    /// Writes an array; `element` writes each element.
    public mutating func array<Elements: Sequence>(_ elements: Elements, _ element: (Elements.Element, inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for value in elements {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            element(value, &self)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes an array of strings.
    public mutating func array(_ values: [String]) {
        array(values) { value, writer in writer.string(value) }
    }

    /// Writes a JSON value.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let text): append(raw: text)
        case .string(let text): string(text)
        case .array(let values):
            array(values) { element, writer in writer.value(element) }
        case .object(let members):
            object { object in
                for key in members.keys.sorted() { object.field(key, members[key]!) }
            }
        }
    }

    /// Adds the members of an object being written.
    public struct ObjectWriter {
        var writer: JSONWriter
        var first = true

        mutating func key(_ name: String) {
            if !first { writer.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.string(name)
            writer.bytes.append(UInt8(ascii: ":"))
        }

        public mutating func field(_ name: String, _ value: String?) {
            key(name)
            if let value { writer.string(value) } else { writer.null() }
        }

        public mutating func field<N: BinaryInteger>(_ name: String, _ value: N?) {
            key(name)
            if let value { writer.number(value) } else { writer.null() }
        }

        public mutating func field(_ name: String, _ value: Double?) {
            key(name)
            if let value { writer.number(value) } else { writer.null() }
        }

        public mutating func field(_ name: String, _ value: Bool?) {
            key(name)
            if let value { writer.bool(value) } else { writer.null() }
        }

        public mutating func field(_ name: String, _ values: [String]) {
            key(name)
            writer.array(values)
        }

        public mutating func field(_ name: String, _ value: JSONValue) {
            key(name)
            writer.value(value)
        }

        /// A member whose value `body` writes.
        public mutating func field(_ name: String, _ body: (inout JSONWriter) -> Void) {
            key(name)
            body(&writer)
        }
    }
}

import ConsulWatch
import FoundationEssentials

/// One structured record: ordered fields, rendered as JSON lines, logfmt or text.
public struct LogRecord: Sendable, Hashable {
    /// A field's value.
    public enum Value: Sendable, Hashable {
        case string(String)
        case integer(Int64)
        case unsigned(UInt64)
        case number(Double)
        case bool(Bool)
        case strings([String])
        case null
    }

    /// The record's fields, in output order. The first two are always `time` and `event`.
    public private(set) var fields: [(String, Value)]

    public static func == (lhs: LogRecord, rhs: LogRecord) -> Bool {
        lhs.fields.count == rhs.fields.count && zip(lhs.fields, rhs.fields).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    public func hash(into hasher: inout Hasher) {
        for (key, value) in fields {
            hasher.combine(key)
            hasher.combine(value)
        }
    }

    public init(time: Double, event: String) {
        fields = [("time", .string(Timestamp.iso8601(time))), ("event", .string(event))]
    }

    public mutating func add(_ key: String, _ value: String?) { fields.append((key, value.map(Value.string) ?? .null)) }
    public mutating func add(_ key: String, _ value: Int) { fields.append((key, .integer(Int64(value)))) }
    public mutating func add(_ key: String, _ value: UInt64?) { fields.append((key, value.map(Value.unsigned) ?? .null)) }
    public mutating func add(_ key: String, _ value: Double) { fields.append((key, .number(value))) }
    public mutating func add(_ key: String, _ value: Bool) { fields.append((key, .bool(value))) }
    public mutating func add(_ key: String, _ value: [String]) { fields.append((key, .strings(value))) }

    /// The value of a field, for tests and filters.
    public subscript(key: String) -> Value? { fields.first { $0.0 == key }?.1 }

    /// A record for one selected check (`event: check`).
    public static func check(_ check: SelectedCheck, time: Double) -> LogRecord {
        var record = LogRecord(time: time, event: "check")
        record.add("consulIndex", check.consulIndex)
        record.add("kind", check.kind.rawValue)
        record.add("service", check.service)
        record.add("serviceID", check.serviceID)
        record.add("node", check.node)
        record.add("checkID", check.checkID)
        record.add("checkName", check.checkName)
        record.add("status", check.status.rawValue)
        record.add("output", check.output)
        record.add("notes", check.notes)
        record.add("tags", check.tags)
        return record
    }
}

/// How records are written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// One JSON object per line.
    case jsonl
    /// `key=value` pairs, values quoted when needed (the format of Consul's and Go's loggers).
    case logfmt
    /// For people: time, event, then the fields that matter.
    case text

    /// The record as one line, newline included.
    public func render(_ record: LogRecord) -> [UInt8] {
        switch self {
        case .jsonl:
            var writer = JSONWriter()
            writer.object { object in
                for (key, value) in record.fields {
                    object.field(key) { writer in Self.writeJSON(value, to: &writer) }
                }
            }
            writer.append(raw: "\n")
            return writer.bytes
        case .logfmt:
            let line = record.fields.map { key, value in "\(key)=\(Self.logfmtValue(value))" }.joined(separator: " ")
            return Array((line + "\n").utf8)
        case .text:
            var parts: [String] = []
            for (key, value) in record.fields {
                switch (key, value) {
                case ("time", .string(let text)), ("event", .string(let text)): parts.append(text)
                case (_, .null): continue
                case (_, .string(let text)) where text.isEmpty: continue
                case (_, .strings(let list)) where list.isEmpty: continue
                default: parts.append("\(key)=\(Self.logfmtValue(value))")
                }
            }
            return Array((parts.joined(separator: " ") + "\n").utf8)
        }
    }

    static func writeJSON(_ value: LogRecord.Value, to writer: inout JSONWriter) {
        switch value {
        case .string(let text): writer.string(text)
        case .integer(let number): writer.number(number)
        case .unsigned(let number): writer.number(number)
        case .number(let number): writer.number(number)
        case .bool(let flag): writer.bool(flag)
        case .strings(let list): writer.array(list)
        case .null: writer.null()
        }
    }

    static func logfmtValue(_ value: LogRecord.Value) -> String {
        switch value {
        case .string(let text): return quoted(text)
        case .integer(let number): return String(number)
        case .unsigned(let number): return String(number)
        case .number(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .strings(let list): return quoted(list.joined(separator: ","))
        case .null: return "null"
        }
    }

    /// Quotes a logfmt value when it is empty or holds a space, `=`, a quote or a control
    /// character; newlines become `\n`, so a record is always one line.
    static func quoted(_ text: String) -> String {
        let needsQuotes = text.isEmpty || text.unicodeScalars.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.value < 0x20 || $0 == "\\" }
        guard needsQuotes else { return text }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

/// UTC timestamps without Foundation's formatters.
public enum Timestamp {
    /// `2026-11-26T19:04:05.123Z`.
    public static func iso8601(_ seconds: Double) -> String {
        // Clamped, so no value (a corrupt file's `1e300`) can overflow the conversion below.
        let seconds = seconds.isFinite ? min(max(seconds, -1e13), 1e13) : 0
        let millis = Int64((seconds * 1000).rounded(.down))
        var days = millis / 86_400_000
        var rest = millis % 86_400_000
        if rest < 0 {
            rest += 86_400_000
            days -= 1
        }
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(rest / 3_600_000, 2)):\(pad(rest / 60_000 % 60, 2)):\(pad(rest / 1000 % 60, 2)).\(pad(rest % 1000, 3))Z"
    }
}

/// A short digest of a payload for the journal: FNV-1a, 64 bits, as 16 hex digits. It
/// identifies a delivery (the same bytes give the same digest); it is not a security hash.
public enum PayloadDigest {
    /// Over the bytes in place (`ContiguousBytes`): a payload of tens of MB is hashed on every
    /// delivery, so this runs over a raw buffer, not a generic sequence (seven times slower).
    public static func fnv1a64(_ bytes: some ContiguousBytes) -> String {
        let hash = bytes.withUnsafeBytes { raw in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in raw {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            return hash
        }
        let text = String(hash, radix: 16)
        return "fnv1a64:" + String(repeating: "0", count: 16 - text.count) + text
    }
}

/// KV key segments that every Consul version accepts (consul-api.md §1.1).
///
/// Consul 1.21.5 refused any key outside `^[a-zA-Z0-9,_./\-?&=]+$` (a `:` in `service:web:1`
/// made the key unreachable, for reads too), later versions refuse traversal, and a segment
/// starting or ending with `.` or ending in `.json` invites trouble. So a check ID or service
/// name becomes a segment of `[A-Za-z0-9-]` plus `_XX` escapes (upper-case hex of each other
/// byte, `_` and `.` included): reversible, never `%`, never `/`, never a dot.
public enum ClusterKey {
    public static func escape(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "_"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        // An empty name still needs a non-empty segment.
        return bytes.isEmpty ? "_" : String(decoding: bytes, as: UTF8.self)
    }

    /// The name back from ``escape(_:)``; nil for a segment it cannot have produced.
    public static func unescape(_ segment: String) -> String? {
        if segment == "_" { return "" }
        var bytes: [UInt8] = []
        var iterator = Array(segment.utf8).makeIterator()
        func digit(_ byte: UInt8?) -> UInt8? {
            guard let byte else { return nil }
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "_") {
                guard let high = digit(iterator.next()), let low = digit(iterator.next()) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// True for a configured prefix made of safe segments (`consul-handlers`, `ops/heal`).
    public static func isSafePrefix(_ prefix: String) -> Bool {
        let segments = prefix.split(separator: "/", omittingEmptySubsequences: false)
        return !prefix.isEmpty
            && segments.allSatisfy { segment in
                !segment.isEmpty && segment.first != "." && segment.last != "."
                    && segment.utf8.allSatisfy { b in
                        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
                            || b == UInt8(ascii: ".")
                    }
            }
    }
}

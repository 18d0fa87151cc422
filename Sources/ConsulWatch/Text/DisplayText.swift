/// Text from payloads (service names, check output, notes) made safe for people and line-based
/// scripts: every human-readable output (stderr audit lines, tables, explain/status text,
/// `--format names`) goes through ``escape(_:backslash:)``, so a name can neither forge a
/// line nor send escape sequences to a terminal.
public enum DisplayText {
    /// C0 controls (newline and tab included), DEL, C1 controls, and the Unicode line and
    /// paragraph separators, which some terminals and editors treat as line breaks.
    @inlinable
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x20 || value == 0x7F || (value >= 0x80 && value <= 0x9F) || value == 0x2028 || value == 0x2029
    }

    /// `text` with unsafe scalars written as `\n`, `\r`, `\t` or `\u{1b}` (the escapes of
    /// consul-log's logfmt). With `backslash`, a backslash becomes `\\` too, so that the
    /// escaped form maps back to exactly one name (used by `--format names`).
    public static func escape(_ text: String, backslash: Bool = false) -> String {
        let needed = text.unicodeScalars.contains { isUnsafe($0) || (backslash && $0 == "\\") }
        guard needed else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\" where backslash: out += "\\\\"
            default:
                if isUnsafe(scalar) { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}

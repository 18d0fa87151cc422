/// Building request paths that Consul reads back exactly as meant.
///
/// Consul takes the key from the *decoded* URL path, so every byte outside the unreserved set
/// can be percent-encoded, and `/` is kept between segments (consul-api.md §1.1, §5.6).
/// Go's ServeMux answers a path with `//`, `/./` or `/../` with a redirect to the cleaned path,
/// which turns a PUT into a GET: such keys are refused here before anything is sent.
public enum ConsulPath {
    /// `services/books service/color` → `services/books%20service/color`.
    public static func key(_ key: String, allowEmpty: Bool = false) throws(ConsulError) -> String {
        if key.isEmpty {
            if allowEmpty { return "" }
            throw .invalidName("a KV key must not be empty")
        }
        if key.hasPrefix("/") { throw .invalidName("KV key '\(printable(key))' must not begin with '/'") }
        try refuseControlCharacters(key, what: "KV key")
        // One trailing '/' names a folder key; an empty segment anywhere else would be cleaned away.
        let folder = key.hasSuffix("/")
        let segments = (folder ? key.dropLast() : Substring(key)).split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments {
            if segment.isEmpty { throw .invalidName("KV key '\(printable(key))' has an empty segment ('//')") }
            if segment == "." || segment == ".." { throw .invalidName("KV key '\(printable(key))' has a '\(segment)' segment") }
        }
        return segments.map { PercentEncoding.encode(String($0)) }.joined(separator: "/") + (folder ? "/" : "")
    }

    /// One path segment (a node name, a check ID): everything but unreserved bytes encoded, `/` too.
    public static func segment(_ text: String, what: String) throws(ConsulError) -> String {
        if text.isEmpty { throw .invalidName("\(what) must not be empty") }
        if text == "." || text == ".." { throw .invalidName("\(what) '\(text)' cannot be sent in a URL path") }
        try refuseControlCharacters(text, what: what)
        return PercentEncoding.encode(text)
    }

    static func refuseControlCharacters(_ text: String, what: String) throws(ConsulError) {
        // Consul answers 400 to non-printable characters in the path.
        if text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw .invalidName("\(what) '\(printable(text))' contains a control character")
        }
    }

    /// The text with control characters shown as `\u{…}`, for messages.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { result += "\\u{\(String(scalar.value, radix: 16))}" } else { result.unicodeScalars.append(scalar) }
        }
        return result
    }
}

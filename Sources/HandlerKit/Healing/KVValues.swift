import ConsulWatch
import Platform
import Synchronization

extension Template {
    static let kvPrefix = "kv:"

    /// Parses `KEY` or `KEY|DEFAULT` after `{kv:` up to the matching `}`: braces nest, so the key
    /// may hold placeholders (`{kv:services/{service}/color|blue}`). Returns the part and the
    /// index after the closing brace.
    static func kvPart(_ text: String, from start: String.Index) throws(TemplateError) -> (Part, String.Index) {
        var depth = 0
        var bar: String.Index?
        var index = start
        while index < text.endIndex {
            let character = text[index]
            if character == "{" {
                depth += 1
            } else if character == "}" {
                if depth == 0 { break }
                depth -= 1
            } else if character == "|", depth == 0, bar == nil {
                bar = index
            }
            index = text.index(after: index)
        }
        guard index < text.endIndex else { throw .unclosed(text) }
        let keyText = String(text[start..<(bar ?? index)])
        let fallbackText = bar.map { String(text[text.index(after: $0)..<index]) }
        guard !keyText.trimmingSpaces().isEmpty else { throw .badKV("{kv:} has no key", in: text) }
        let key = try Template(keyText)
        let fallback = try fallbackText.map { (text) throws(TemplateError) in try Template(text) }
        if key.readsKV || fallback?.readsKV == true { throw .badKV("a {kv:…} inside a KV key or default", in: text) }
        return (.kv(key: key, fallback: fallback), text.index(after: index))
    }
}

/// The KV values of one run: each key is read through the agent once (`?raw`), its surrounding
/// whitespace trimmed, and shared by every action of the run. Thread-safe: actions run concurrently.
public final class KVValues: Sendable {
    private let reader: any KVReader
    private let cache = Mutex<[String: CachedValue]>([:])

    private enum CachedValue: Sendable {
        case value(String?)
        case failure(ConsulLookupError)
    }

    public init(reader: any KVReader) { self.reader = reader }

    /// Without surrounding white space (spaces, tabs, CR, LF): `consul kv put` of a file keeps its newline.
    static func trimmed(_ text: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        var slice = Substring(text)
        while let first = slice.first, isSpace(first) { slice.removeFirst() }
        while let last = slice.last, isSpace(last) { slice.removeLast() }
        return String(slice)
    }

    /// The value of `key` (nil: the key does not exist).
    public func value(of key: String) throws(ConsulLookupError) -> String? {
        // Read under the lock: concurrent actions wanting the same key wait for the one request.
        let cached = cache.withLock { cache -> CachedValue in
            if let cached = cache[key] { return cached }
            let read: CachedValue
            do throws(ConsulLookupError) { read = .value(try reader.value(of: key).map(Self.trimmed)) } catch { read = .failure(error) }
            cache[key] = read
            return read
        }
        switch cached {
        case .value(let value): return value
        case .failure(let error): throw error
        }
    }
}

import FoundationEssentials

/// A validating pull reader for JSON, working directly on the payload's bytes.
///
/// Consul can hand a handler tens of megabytes (a `checks` watch without `state` in a large
/// cluster), and the handler blocks the watch while it runs. The models therefore read
/// themselves from this reader field by field: no intermediate tree, no `Decoder` machinery,
/// strings materialised only for the fields a model keeps, everything else skipped (but still
/// validated, so malformed input is always reported). Errors are ``JSONError`` values with an
/// offset, line, column and JSON path; the path is added as an error unwinds, so the success
/// path pays nothing for it.
///
/// A reader borrows its bytes: create one only through ``JSONReader/read(_:_:)``.
public struct JSONReader: ~Copyable {
    /// Arrays and objects nested deeper than this are refused instead of exhausting the stack.
    public static let maximumDepth = 256

    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let end: Int
    @usableFromInline var position: Int = 0
    @usableFromInline var depth: Int = 0

    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        // An empty buffer may have a nil base address; point at a dummy byte instead.
        self.base = buffer.baseAddress ?? UnsafePointer(Self.emptyByte)
        self.end = buffer.count
    }

    nonisolated(unsafe) private static let emptyByte: UnsafeMutablePointer<UInt8> = {
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return pointer
    }()

    /// Runs `body` with a reader over `bytes`, then checks that nothing but white space follows
    /// the value `body` consumed.
    public static func read<Bytes: ContiguousBytes, Result>(
        _ bytes: Bytes,
        _ body: (inout JSONReader) throws(JSONError) -> Result
    ) throws(JSONError) -> Result {
        let outcome: Swift.Result<Result, JSONError> = bytes.withUnsafeBytes { raw in
            let buffer = raw.bindMemory(to: UInt8.self)
            var reader = JSONReader(buffer)
            do throws(JSONError) {
                reader.skipWhitespace()
                if reader.position >= reader.end { throw reader.error(.emptyInput) }
                let value = try body(&reader)
                reader.skipWhitespace()
                if reader.position < reader.end { throw reader.error(.trailingData) }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    // MARK: - Kinds

    /// The kind of the next value, without consuming it.
    public enum Kind: Sendable, Equatable, CustomStringConvertible {
        case object, array, string, number, bool, null

        public var description: String {
            switch self {
            case .object: return "an object"
            case .array: return "an array"
            case .string: return "a string"
            case .number: return "a number"
            case .bool: return "a boolean"
            case .null: return "null"
            }
        }
    }

    /// The kind of the next value (skipping white space), or throws at the end of input or on a
    /// byte that cannot start a value.
    public mutating func peekKind() throws(JSONError) -> Kind {
        skipWhitespace()
        guard position < end else { throw error(.unexpectedEnd(expected: "a value")) }
        switch base[position] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case let byte: throw error(.unexpectedByte(byte, expected: "a value"))
        }
    }

    /// The current byte offset, for callers that report positions of their own.
    public var offset: Int { position }

    // MARK: - Containers

    /// Reads an object, calling `body` once per member with the reader positioned on its value.
    /// `body` must consume the value (read it, or ``skipValue()``).
    public mutating func readObject(
        _ body: (JSONKey, inout JSONReader) throws(JSONError) -> Void
    ) throws(JSONError) {
        try expectOpening(UInt8(ascii: "{"), kind: .object)
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maximumDepth { throw error(.nestingTooDeep(Self.maximumDepth)) }
        skipWhitespace()
        if position < end, base[position] == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            guard position < end else { throw error(.unexpectedEnd(expected: "a member name")) }
            guard base[position] == UInt8(ascii: "\"") else {
                throw error(.unexpectedByte(base[position], expected: "a member name in quotes"))
            }
            let key = try readKey()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':' after a member name")
            do {
                try body(key, &self)
            } catch var failure {
                failure.path.insert(.key(key.string), at: 0)
                throw failure
            }
            skipWhitespace()
            guard position < end else { throw error(.unexpectedEnd(expected: "',' or '}'")) }
            switch base[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return
            case let byte: throw error(.unexpectedByte(byte, expected: "',' or '}' after a member"))
            }
        }
    }

    /// Reads an array, calling `body` once per element with the reader positioned on it.
    public mutating func readArray(
        _ body: (inout JSONReader) throws(JSONError) -> Void
    ) throws(JSONError) {
        try expectOpening(UInt8(ascii: "["), kind: .array)
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maximumDepth { throw error(.nestingTooDeep(Self.maximumDepth)) }
        skipWhitespace()
        if position < end, base[position] == UInt8(ascii: "]") {
            position += 1
            return
        }
        var index = 0
        while true {
            do {
                try body(&self)
            } catch var failure {
                failure.path.insert(.index(index), at: 0)
                throw failure
            }
            index += 1
            skipWhitespace()
            guard position < end else { throw error(.unexpectedEnd(expected: "',' or ']'")) }
            switch base[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return
            case let byte: throw error(.unexpectedByte(byte, expected: "',' or ']' after an element"))
            }
        }
    }

    /// Reads the opening of an array and, if it has one, its first element with `body`; the rest
    /// is left unread (the caller restores ``position`` or reads on). Returns false for `[]`.
    /// For looking at a payload's first element without reading the whole payload.
    public mutating func readFirstElement(
        _ body: (inout JSONReader) throws(JSONError) -> Void
    ) throws(JSONError) -> Bool {
        try expectOpening(UInt8(ascii: "["), kind: .array)
        skipWhitespace()
        if position < end, base[position] == UInt8(ascii: "]") {
            position += 1
            return false
        }
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maximumDepth { throw error(.nestingTooDeep(Self.maximumDepth)) }
        do {
            try body(&self)
        } catch var failure {
            failure.path.insert(.index(0), at: 0)
            throw failure
        }
        return true
    }

    /// Reads `null` if it is next and returns true; otherwise consumes nothing.
    public mutating func readNullIfPresent() -> Bool {
        skipWhitespace()
        if end - position >= 4, base[position] == UInt8(ascii: "n"), base[position + 1] == UInt8(ascii: "u"),
            base[position + 2] == UInt8(ascii: "l"), base[position + 3] == UInt8(ascii: "l")
        {
            position += 4
            return true
        }
        return false
    }

    // MARK: - Scalars

    /// Reads a string value.
    public mutating func readString() throws(JSONError) -> String {
        try expectOpening(UInt8(ascii: "\""), kind: .string, consume: false)
        let (start, count, escaped) = try scanString()
        if escaped { return try unescape(from: start, count: count) }
        return try makeString(start: start, count: count)
    }

    /// Reads a string, or `nil` for JSON `null`.
    public mutating func readOptionalString() throws(JSONError) -> String? {
        if readNullIfPresent() { return nil }
        return try readString()
    }

    /// Reads `true` or `false`.
    public mutating func readBool() throws(JSONError) -> Bool {
        skipWhitespace()
        if end - position >= 4, memcmp4(position, "true") {
            position += 4
            return true
        }
        if end - position >= 5, memcmp4(position, "fals"), base[position + 4] == UInt8(ascii: "e") {
            position += 5
            return false
        }
        throw try mismatch(expected: "a boolean")
    }

    /// Reads a non-negative integer that fits in 64 bits (Consul's indexes and flags).
    public mutating func readUInt64() throws(JSONError) -> UInt64 {
        skipWhitespace()
        let start = position
        var value: UInt64 = 0
        var overflow = false
        while position < end, base[position] >= UInt8(ascii: "0"), base[position] <= UInt8(ascii: "9") {
            let digit = UInt64(base[position] &- UInt8(ascii: "0"))
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(digit)
            overflow = overflow || o1 || o2
            value = sum
            position += 1
        }
        if position == start {
            if position < end, base[position] == UInt8(ascii: "-") {
                // A negative number is a number, just not one an index can hold.
                let text = try numberText()
                throw error(.numberOutOfRange(text, expected: "an unsigned integer"), at: start)
            }
            throw try mismatch(expected: "an unsigned integer")
        }
        if position - start > 1, base[start] == UInt8(ascii: "0") {
            // JSON numbers have no leading zeros (`01`).
            throw error(.unexpectedByte(base[start + 1], expected: "',' or the end of the number after a leading 0"), at: start + 1)
        }
        if position < end, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(base[position]) {
            position = start
            let text = try numberText()
            throw error(.numberOutOfRange(text, expected: "an unsigned integer"), at: start)
        }
        if overflow {
            throw error(.numberOutOfRange(text(from: start), expected: "an unsigned 64-bit integer"), at: start)
        }
        return value
    }

    /// Reads an integer (ports, versions, weights).
    public mutating func readInt() throws(JSONError) -> Int {
        skipWhitespace()
        let start = position
        let negative = position < end && base[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard position < end, base[position] >= UInt8(ascii: "0"), base[position] <= UInt8(ascii: "9") else {
            position = start
            throw try mismatch(expected: "an integer")
        }
        let magnitude: UInt64
        do {
            magnitude = try readUInt64()
        } catch {
            throw self.error(.numberOutOfRange(text(from: start), expected: "an integer"), at: start)
        }
        guard magnitude <= UInt64(Int.max) else {
            throw error(.numberOutOfRange(text(from: start), expected: "a 64-bit integer"), at: start)
        }
        return negative ? -Int(magnitude) : Int(magnitude)
    }

    /// Reads any JSON number and returns its text, validated against the JSON grammar.
    public mutating func readNumberText() throws(JSONError) -> String {
        skipWhitespace()
        guard position < end, base[position] == UInt8(ascii: "-") || (base[position] >= 48 && base[position] <= 57) else {
            throw try mismatch(expected: "a number")
        }
        return try numberText()
    }

    /// Reads an array of strings.
    public mutating func readStringArray() throws(JSONError) -> [String] {
        var values: [String] = []
        try readArray { (reader) throws(JSONError) in values.append(try reader.readString()) }
        return values
    }

    /// Reads an object whose values are strings.
    public mutating func readStringMap() throws(JSONError) -> [String: String] {
        var values: [String: String] = [:]
        try readObject { (key, reader) throws(JSONError) in values[key.string] = try reader.readString() }
        return values
    }

    /// Skips one value of any kind, validating it.
    public mutating func skipValue() throws(JSONError) {
        switch try peekKind() {
        case .object: try readObject { (_, reader) throws(JSONError) in try reader.skipValue() }
        case .array: try readArray { (reader) throws(JSONError) in try reader.skipValue() }
        case .string:
            let (start, count, escaped) = try scanString()
            if escaped { _ = try unescape(from: start, count: count) } else { try validateUTF8(start: start, count: count) }
        case .number: _ = try numberText()
        case .bool: _ = try readBool()
        case .null:
            guard readNullIfPresent() else {
                try validateLiteral()
                return
            }
        }
    }

    // MARK: - Errors

    /// An error of the given kind at the current position (or `offset`).
    public func error(_ problem: JSONError.Problem, at offset: Int? = nil) -> JSONError {
        let at = min(offset ?? position, end)
        var line = 1
        var lineStart = 0
        var index = 0
        while index < at {
            if base[index] == UInt8(ascii: "\n") {
                line += 1
                lineStart = index + 1
            }
            index += 1
        }
        return JSONError(problem, offset: at, line: line, column: at - lineStart + 1)
    }

    /// A type-mismatch error for the value at the current position, which it describes.
    public mutating func mismatch(expected: String) throws(JSONError) -> JSONError {
        let found = try peekKind()
        // Only a well-formed value is "of the wrong type": a literal or a number cut short by the
        // end of the input, or misspelt, is a syntax error, reported as such.
        let start = position
        switch found {
        case .bool, .null: try validateLiteral()
        case .number: _ = try numberText()
        case .string, .object, .array: break
        }
        position = start
        return error(.typeMismatch(expected: expected, found: found.description))
    }

    /// Checks that `true`, `false` or `null` (chosen by the byte at the current position) follows
    /// in full; throws the syntax error otherwise. Consumes nothing.
    private func validateLiteral() throws(JSONError) {
        let word: StaticString
        switch base[position] {
        case UInt8(ascii: "t"): word = "true"
        case UInt8(ascii: "f"): word = "false"
        default: word = "null"
        }
        let expected = "'\(word)'"
        for index in 0..<word.utf8CodeUnitCount {
            guard position + index < end else { throw error(.unexpectedEnd(expected: expected), at: end) }
            guard base[position + index] == word.utf8Start[index] else {
                throw error(.unexpectedByte(base[position + index], expected: expected), at: position + index)
            }
        }
    }

    // MARK: - Internals

    @inline(__always)
    mutating func skipWhitespace() {
        while position < end {
            switch base[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8, _ expected: String) throws(JSONError) {
        guard position < end else { throw error(.unexpectedEnd(expected: expected)) }
        guard base[position] == byte else { throw error(.unexpectedByte(base[position], expected: expected)) }
        position += 1
    }

    /// Checks that the next value starts with `byte`; a different kind of value is a type
    /// mismatch, not a syntax error.
    private mutating func expectOpening(_ byte: UInt8, kind: Kind, consume: Bool = true) throws(JSONError) {
        skipWhitespace()
        guard position < end else { throw error(.unexpectedEnd(expected: kind.description)) }
        guard base[position] == byte else { throw try mismatch(expected: kind.description) }
        if consume { position += 1 }
    }

    private func memcmp4(_ at: Int, _ word: StaticString) -> Bool {
        let w = word.utf8Start
        return base[at] == w[0] && base[at + 1] == w[1] && base[at + 2] == w[2] && base[at + 3] == w[3]
    }

    private func text(from start: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: base + start, count: max(0, position - start)), as: UTF8.self)
    }

    /// Scans a string starting at the opening quote; returns its content's range and whether it
    /// holds escapes. Leaves the reader after the closing quote.
    private mutating func scanString() throws(JSONError) -> (start: Int, count: Int, escaped: Bool) {
        position += 1  // opening quote
        let start = position
        var escaped = false
        while position < end {
            let byte = base[position]
            if byte == UInt8(ascii: "\"") {
                let count = position - start
                position += 1
                return (start, count, escaped)
            }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 2
                continue
            }
            if byte < 0x20 { throw error(.controlCharacter(byte)) }
            position += 1
        }
        throw error(.unexpectedEnd(expected: "the end of a string"), at: end)
    }

    private mutating func readKey() throws(JSONError) -> JSONKey {
        let (start, count, escaped) = try scanString()
        if escaped {
            return JSONKey(decoded: try unescape(from: start, count: count))
        }
        try validateUTF8(start: start, count: count)
        return JSONKey(bytes: UnsafeBufferPointer(start: base + start, count: count))
    }

    private func validateUTF8(start: Int, count: Int) throws(JSONError) {
        var index = start
        let stop = start + count
        // Fast scan for ASCII; only strings with high bytes go through full validation.
        while index < stop, base[index] < 0x80 { index += 1 }
        if index == stop { return }
        let slice = UnsafeBufferPointer(start: base + start, count: count)
        if String(validating: slice, as: UTF8.self) == nil {
            throw error(.invalidUTF8, at: index)
        }
    }

    private func makeString(start: Int, count: Int) throws(JSONError) -> String {
        let slice = UnsafeBufferPointer(start: base + start, count: count)
        var index = 0
        while index < count, slice[index] < 0x80 { index += 1 }
        if index == count { return String(decoding: slice, as: UTF8.self) }
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw error(.invalidUTF8, at: start + index)
        }
        return string
    }

    private func unescape(from start: Int, count: Int) throws(JSONError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var index = start
        let stop = start + count
        while index < stop {
            let byte = base[index]
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                index += 1
                continue
            }
            guard index + 1 < stop else { throw error(.invalidEscape, at: index) }
            let escape = base[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): bytes.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(at: index)
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard index + 6 <= stop, base[index] == UInt8(ascii: "\\"), base[index + 1] == UInt8(ascii: "u") else {
                        throw error(.invalidEscape, at: index)
                    }
                    let low = try hex4(at: index + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw error(.invalidEscape, at: index) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error(.invalidEscape, at: index - 6)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw error(.invalidEscape, at: index - 6) }
                bytes.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw error(.invalidEscape, at: index - 2)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw error(.invalidUTF8, at: start)
        }
        return string
    }

    private func hex4(at index: Int) throws(JSONError) -> UInt32 {
        guard index + 4 <= end else { throw error(.invalidEscape, at: index) }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = base[index + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error(.invalidEscape, at: index + offset)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Consumes a number following the JSON grammar and returns its text.
    private mutating func numberText() throws(JSONError) -> String {
        let start = position
        func digits(_ reader: inout JSONReader) -> Int {
            let from = reader.position
            while reader.position < reader.end, reader.base[reader.position] >= 48, reader.base[reader.position] <= 57 {
                reader.position += 1
            }
            return reader.position - from
        }
        if position < end, base[position] == UInt8(ascii: "-") { position += 1 }
        guard position < end else { throw error(.unexpectedEnd(expected: "a digit")) }
        if base[position] == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw error(.unexpectedByte(base[position], expected: "a digit"))
        }
        if position < end, base[position] == UInt8(ascii: ".") {
            position += 1
            guard position < end else { throw error(.unexpectedEnd(expected: "a digit")) }
            if digits(&self) == 0 { throw error(.unexpectedByte(base[position], expected: "a digit after '.'")) }
        }
        if position < end, base[position] == UInt8(ascii: "e") || base[position] == UInt8(ascii: "E") {
            position += 1
            if position < end, base[position] == UInt8(ascii: "+") || base[position] == UInt8(ascii: "-") { position += 1 }
            guard position < end else { throw error(.unexpectedEnd(expected: "a digit")) }
            if digits(&self) == 0 { throw error(.unexpectedByte(base[position], expected: "a digit in the exponent")) }
        }
        return text(from: start)
    }
}

/// A member name as the reader found it, compared against literals without allocating.
///
/// A key borrows the reader's bytes: use it inside the `readObject` body only.
public struct JSONKey {
    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline let decoded: String?

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.decoded = nil
    }

    init(decoded: String) {
        self.bytes = UnsafeBufferPointer(start: nil, count: 0)
        self.decoded = decoded
    }

    /// The name as a `String`.
    public var string: String {
        decoded ?? String(decoding: bytes, as: UTF8.self)
    }

    /// True when the name is exactly `literal`.
    @inlinable
    public func equals(_ literal: StaticString) -> Bool {
        if let decoded { return decoded == literal.description }
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let other = literal.utf8Start
        for index in 0..<bytes.count where bytes[index] != other[index] { return false }
        return true
    }

    /// Lets a `switch` over a key use string literals as patterns.
    @inlinable
    public static func ~= (pattern: StaticString, key: JSONKey) -> Bool {
        key.equals(pattern)
    }
}

extension JSONReader {
    /// Reads `null` as `nil`, anything else with `read`.
    @inlinable
    public mutating func optional<T>(_ read: (inout JSONReader) throws(JSONError) -> T) throws(JSONError) -> T? {
        if readNullIfPresent() { return nil }
        return try read(&self)
    }

    /// An optional array-of-strings field.
    public mutating func readStringArrayField() throws(JSONError) -> [String]? {
        try optional { (reader) throws(JSONError) in try reader.readStringArray() }
    }

    /// An optional object-of-strings field.
    public mutating func readStringMapField() throws(JSONError) -> [String: String]? {
        try optional { (reader) throws(JSONError) in try reader.readStringMap() }
    }

    /// An optional unsigned-integer field.
    public mutating func readUInt64Field() throws(JSONError) -> UInt64? {
        try optional { (reader) throws(JSONError) in try reader.readUInt64() }
    }

    /// An optional integer field.
    public mutating func readIntField() throws(JSONError) -> Int? {
        try optional { (reader) throws(JSONError) in try reader.readInt() }
    }

    /// An optional boolean field.
    public mutating func readBoolField() throws(JSONError) -> Bool? {
        try optional { (reader) throws(JSONError) in try reader.readBool() }
    }
}

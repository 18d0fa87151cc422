/// HTTP/1.1 message framing (RFC 9112) as pure values: feed bytes, get `.needMore`, a whole
/// `.message` or an `.error`. No socket inside: the server (`HTTPServer`) and the client
/// (`HTTPConnection`) only move bytes, so every framing rule, limit and hostile size is
/// unit-tested without a network. The shape follows swift-nio's HTTP decoder.
public enum HTTPMessage {
    /// Header fields in the order received, names as sent.
    public typealias Fields = [(name: String, value: String)]

    /// A request as received: the body is complete (de-chunked).
    public struct Request: Sendable {
        public var method: String
        public var target: String
        /// `HTTP/1.1` or `HTTP/1.0`.
        public var version: String
        public var headers: Fields
        public var body: [UInt8]

        public init(method: String, target: String, version: String = "HTTP/1.1", headers: Fields = [], body: [UInt8] = []) {
            self.method = method
            self.target = target
            self.version = version
            self.headers = headers
            self.body = body
        }

        /// The first value of a header (case-insensitive).
        public func header(_ name: String) -> String? { HTTPMessage.first(name, in: headers) }
    }

    /// A final response as received (interim 1xx responses are skipped).
    public struct Response: Sendable {
        public var status: Int
        public var reason: String
        public var version: String
        public var headers: Fields
        public var body: [UInt8]
        /// The connection cannot carry another request: `Connection: close`, HTTP/1.0, or a
        /// body delimited by the end of the connection.
        public var closesConnection: Bool
        /// Interim (1xx) responses skipped before this one.
        public var interimResponses: Int

        /// The first value of a header (case-insensitive).
        public func header(_ name: String) -> String? { HTTPMessage.first(name, in: headers) }
    }

    /// Why bytes are not an acceptable message. The decoder stops at the first failure.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The start line and header fields (or the trailer section) exceed the limit.
        case headerTooLarge(limit: Int)
        /// The body (declared or received) exceeds the limit; reported as soon as it is known,
        /// before the body is read.
        case bodyTooLarge(limit: Int)
        /// Not HTTP/1.x, or framing that could be read two ways (request smuggling).
        case malformed(String)
        /// The connection ended before the message was complete.
        case truncated(String)

        public var description: String {
            switch self {
            case .headerTooLarge(let limit): return "header larger than \(HTTPMessage.size(limit))"
            case .bodyTooLarge(let limit): return "body larger than \(HTTPMessage.size(limit))"
            case .malformed(let detail): return detail
            case .truncated(let detail): return detail
            }
        }
    }

    /// What feeding bytes produced.
    public enum Step<Message: Sendable>: Sendable {
        case needMore
        case message(Message)
        case error(Failure)
    }

    public static let defaultMaximumHeaderSize = 64 << 10
    public static let defaultMaximumBodySize = 64 << 20

    // MARK: Requests

    /// Decodes requests (what a Consul agent POSTs to an http watch handler).
    public struct RequestDecoder: Sendable {
        private var core: Core
        /// The head of the request whose body is being read (to answer `Expect: 100-continue`).
        public private(set) var pendingHead: Request?

        public init(maximumHeaderSize: Int = HTTPMessage.defaultMaximumHeaderSize, maximumBodySize: Int = HTTPMessage.defaultMaximumBodySize) {
            core = Core(maximumHeader: maximumHeaderSize, maximumBody: maximumBodySize)
        }

        public mutating func feed(_ bytes: some Collection<UInt8>) { core.feed(bytes) }

        /// The peer closed its side: a request in progress is truncated.
        public mutating func finish() { core.ended = true }

        public mutating func next() -> Step<Request> {
            if let failure = core.failure { return .error(failure) }
            do throws(Failure) {
                if pendingHead == nil {
                    guard let head = try core.takeHead() else {
                        if core.ended {
                            throw .truncated(core.buffered == 0 ? "connection closed before a request" : "connection closed inside the request header")
                        }
                        return .needMore
                    }
                    let (request, mode) = try HTTPMessage.requestHead(head, maximumBody: core.maximumBody)
                    pendingHead = request
                    core.begin(mode)
                }
                guard try core.readBody() else { return .needMore }
                var request = pendingHead!
                request.body = core.takeBody()
                pendingHead = nil
                return .message(request)
            } catch {
                core.failure = error
                return .error(error)
            }
        }
    }

    // MARK: Responses

    /// Decodes responses on a client connection, one per request sent, keeping bytes that
    /// arrived early for the next.
    public struct ResponseDecoder: Sendable {
        private var core: Core
        private var pendingHead: Response?
        private var interim = 0
        /// The method of the request being answered (a response to HEAD has no body).
        public var requestMethod = "GET"

        public init(maximumHeaderSize: Int = HTTPMessage.defaultMaximumHeaderSize, maximumBodySize: Int = HTTPMessage.defaultMaximumBodySize) {
            core = Core(maximumHeader: maximumHeaderSize, maximumBody: maximumBodySize)
        }

        public mutating func feed(_ bytes: some Collection<UInt8>) { core.feed(bytes) }

        /// The peer closed the connection: ends a body delimited by it, or truncates the response.
        public mutating func finish() { core.ended = true }

        /// Bytes received and not yet part of a message.
        public var buffered: Int { core.buffered }

        public mutating func next() -> Step<Response> {
            if let failure = core.failure { return .error(failure) }
            do throws(Failure) {
                while pendingHead == nil {
                    guard let head = try core.takeHead() else {
                        if core.ended {
                            throw .truncated(
                                core.buffered == 0 && interim == 0 ? "connection closed before a response" : "connection closed inside the response header")
                        }
                        return .needMore
                    }
                    let (response, mode) = try HTTPMessage.responseHead(head, method: requestMethod, maximumBody: core.maximumBody)
                    if (100..<200).contains(response.status) {
                        interim += 1  // 100 Continue, 103 Early Hints: the final response follows
                        continue
                    }
                    pendingHead = response
                    core.begin(mode)
                }
                guard try core.readBody() else { return .needMore }
                var response = pendingHead!
                response.body = core.takeBody()
                response.interimResponses = interim
                pendingHead = nil
                interim = 0
                return .message(response)
            } catch {
                core.failure = error
                return .error(error)
            }
        }
    }

    // MARK: Heads

    static func requestHead(_ head: ArraySlice<UInt8>, maximumBody: Int) throws(Failure) -> (Request, BodyMode) {
        let (startLine, headers) = try lines(head)
        let parts = startLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isToken), !parts[1].isEmpty, isVersion(parts[2]) else {
            throw .malformed("not an HTTP/1.x request line")
        }
        let request = Request(method: String(parts[0]), target: String(parts[1]), version: String(parts[2]), headers: headers)
        if let coding = try transferCoding(headers) {
            if request.version == "HTTP/1.0" { throw .malformed("Transfer-Encoding in an HTTP/1.0 request") }
            guard coding == "chunked" else { throw .malformed("unsupported Transfer-Encoding \(coding)") }
            return (request, .chunkSize)
        }
        let length = try contentLength(headers, maximumBody: maximumBody) ?? 0
        return (request, length == 0 ? .none : .length(length))
    }

    static func responseHead(_ head: ArraySlice<UInt8>, method: String, maximumBody: Int) throws(Failure) -> (Response, BodyMode) {
        let (startLine, headers) = try lines(head)
        let parts = startLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, isVersion(parts[0]), parts[1].count == 3, parts[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let status = Int(parts[1]),
            status >= 100
        else {
            throw .malformed("not an HTTP response")
        }
        if status == 101 { throw .malformed("unexpected 101 Switching Protocols") }
        let tokens = connectionTokens(headers)
        var response = Response(
            status: status, reason: parts.count > 2 ? String(parts[2]) : "", version: String(parts[0]), headers: headers, body: [],
            closesConnection: tokens.contains("close") || (parts[0] == "HTTP/1.0" && !tokens.contains("keep-alive")), interimResponses: 0)
        if (100..<200).contains(status) || method == "HEAD" || status == 204 || status == 304 { return (response, .none) }
        if let coding = try transferCoding(headers) {
            guard coding == "chunked" else { throw .malformed("unsupported Transfer-Encoding \(coding)") }
            return (response, .chunkSize)
        }
        if let length = try contentLength(headers, maximumBody: maximumBody) { return (response, length == 0 ? .none : .length(length)) }
        response.closesConnection = true
        return (response, .untilClose)
    }

    /// The start line and the header fields of a head (without its final empty line).
    static func lines(_ head: ArraySlice<UInt8>) throws(Failure) -> (Substring, Fields) {
        // Bare CR, bare LF and NUL are how responses get split and requests smuggled.
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = head.startIndex
        var index = head.startIndex
        while index < head.endIndex {
            let byte = head[index]
            if byte == 13 {
                guard index + 1 < head.endIndex, head[index + 1] == 10 else { throw .malformed("bare CR in the header") }
                lines.append(head[lineStart..<index])
                index += 2
                lineStart = index
                continue
            }
            if byte == 10 { throw .malformed("bare LF in the header") }
            if byte == 0 { throw .malformed("NUL in the header") }
            index += 1
        }
        lines.append(head[lineStart..<head.endIndex])
        let startLine = Substring(String(decoding: lines[0], as: UTF8.self))
        var fields: Fields = []
        for line in lines.dropFirst() { fields.append(try field(line)) }
        return (startLine, fields)
    }

    /// One `name: value` line (also used for trailer fields).
    static func field(_ line: ArraySlice<UInt8>) throws(Failure) -> (name: String, value: String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .malformed("a header line without a colon") }
        let name = line[line.startIndex..<colon]
        // Also refuses obs-fold (a line starting with white space) and "Name :" (RFC 9112 §5.1).
        guard !name.isEmpty, name.allSatisfy({ isToken(Character(UnicodeScalar($0))) }) else { throw .malformed("an invalid header name") }
        var value = line[(colon + 1)...]
        while let first = value.first, first == 32 || first == 9 { value = value.dropFirst() }
        while let last = value.last, last == 32 || last == 9 { value = value.dropLast() }
        guard !value.contains(where: { ($0 < 32 && $0 != 9) || $0 == 127 }) else { throw .malformed("a control character in a header value") }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// The transfer coding, lowercased, or nil without `Transfer-Encoding`. Only `chunked` is
    /// understood (nothing here asks for compression); with `Content-Length` too the message
    /// could be framed two ways, which is refused (RFC 9112 §6.3).
    static func transferCoding(_ headers: Fields) throws(Failure) -> String? {
        let values = all("transfer-encoding", in: headers)
        guard !values.isEmpty else { return nil }
        if !all("content-length", in: headers).isEmpty { throw .malformed("both Transfer-Encoding and Content-Length") }
        let codings = values.flatMap { $0.split(separator: ",") }.map { String($0).trimmingSpaces().lowercased() }.filter { !$0.isEmpty }
        return codings.isEmpty ? "(empty)" : codings.joined(separator: ", ")
    }

    /// The declared body length; every `Content-Length` (fields and list members) must agree.
    static func contentLength(_ headers: Fields, maximumBody: Int) throws(Failure) -> Int? {
        let values = all("content-length", in: headers).flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard !values.isEmpty else { return nil }
        var length: Int?
        for text in values {
            let digits = String(text).trimmingSpaces()
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { throw .malformed("bad Content-Length \(digits.prefix(40))") }
            // Overflow-safe: any value past the limit is too large, however many digits it has.
            var value = 0
            for digit in digits.utf8 {
                value = value * 10 + Int(digit - 48)
                if value > maximumBody { throw .bodyTooLarge(limit: maximumBody) }
            }
            if let length, length != value { throw .malformed("conflicting Content-Length values") }
            length = value
        }
        return length
    }

    static func connectionTokens(_ headers: Fields) -> [String] {
        all("connection", in: headers).flatMap { $0.split(separator: ",") }.map { String($0).trimmingSpaces().lowercased() }
    }

    static func first(_ name: String, in headers: Fields) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    static func all(_ name: String, in headers: Fields) -> [String] {
        headers.filter { $0.name.lowercased() == name }.map(\.value)
    }

    static func isVersion(_ text: Substring) -> Bool {
        text.count == 8 && text.hasPrefix("HTTP/1.") && text.utf8.last!.isDecimalDigit
    }

    /// RFC 9110 §5.6.2 tchar.
    static func isToken(_ character: Character) -> Bool {
        guard let ascii = character.asciiValue else { return false }
        if ascii >= 48 && ascii <= 57 || ascii >= 65 && ascii <= 90 || ascii >= 97 && ascii <= 122 { return true }
        return Array("!#$%&'*+-.^_`|~".utf8).contains(ascii)
    }

    static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    // MARK: Framing

    enum BodyMode: Equatable, Sendable {
        case none
        case length(Int)
        case chunkSize
        case chunkData(Int)
        case chunkEnd
        case trailers
        case untilClose
    }

    /// The byte buffer and body state shared by both decoders.
    struct Core: Sendable {
        let maximumHeader: Int
        let maximumBody: Int
        var buffer: [UInt8] = []
        /// First byte not yet consumed.
        var start = 0
        /// Where the search for the end of the head resumes (dripped bytes are not rescanned).
        var scanned = 0
        var ended = false
        var failure: Failure?
        var mode: BodyMode = .none
        var body: [UInt8] = []
        var trailerBytes = 0

        init(maximumHeader: Int, maximumBody: Int) {
            self.maximumHeader = maximumHeader
            self.maximumBody = maximumBody
        }

        var buffered: Int { buffer.count - start }

        mutating func feed(_ bytes: some Collection<UInt8>) {
            if start > 0, start == buffer.count || start >= 64 << 10 {
                buffer.removeSubrange(..<start)
                scanned = max(0, scanned - start)
                start = 0
            }
            buffer.append(contentsOf: bytes)
        }

        /// The head up to (not including) its empty line, or nil until it is complete.
        mutating func takeHead() throws(Failure) -> ArraySlice<UInt8>? {
            // Empty lines before a start line are ignored (RFC 9112 §2.2).
            while buffered >= 2, buffer[start] == 13, buffer[start + 1] == 10 { start += 2 }
            var index = max(start, scanned)
            while index + 3 < buffer.count {
                if buffer[index] == 13, buffer[index + 1] == 10, buffer[index + 2] == 13, buffer[index + 3] == 10 {
                    guard index - start <= maximumHeader else { throw .headerTooLarge(limit: maximumHeader) }
                    let head = buffer[start..<index]
                    start = index + 4
                    scanned = start
                    return head
                }
                index += 1
            }
            scanned = max(start, buffer.count - 3)
            if buffered > maximumHeader + 3 { throw .headerTooLarge(limit: maximumHeader) }
            return nil
        }

        mutating func begin(_ mode: BodyMode) {
            self.mode = mode
            body = []
            trailerBytes = 0
            if case .length(let length) = mode { body.reserveCapacity(length) }  // bounded by the limit; pages are touched as they fill
        }

        /// Moves buffered body bytes into `body`; true once the body is complete.
        mutating func readBody() throws(Failure) -> Bool {
            while true {
                switch mode {
                case .none:
                    return true
                case .length(let remaining):
                    let count = min(remaining, buffered)
                    body.append(contentsOf: buffer[start..<(start + count)])
                    start += count
                    if count == remaining {
                        mode = .none
                        return true
                    }
                    mode = .length(remaining - count)
                    if ended { throw .truncated("connection closed inside the body") }
                    return false
                case .untilClose:
                    guard body.count + buffered <= maximumBody else { throw .bodyTooLarge(limit: maximumBody) }
                    body.append(contentsOf: buffer[start...])
                    start = buffer.count
                    if ended {
                        mode = .none
                        return true
                    }
                    return false
                case .chunkSize:
                    guard let line = try takeLine(limit: 4096, what: "chunk size line") else { return false }
                    let size = try chunkSize(line)
                    mode = size == 0 ? .trailers : .chunkData(size)
                case .chunkData(let remaining):
                    let count = min(remaining, buffered)
                    body.append(contentsOf: buffer[start..<(start + count)])
                    start += count
                    if count < remaining {
                        mode = .chunkData(remaining - count)
                        if ended { throw .truncated("connection closed inside a chunk") }
                        return false
                    }
                    mode = .chunkEnd
                case .chunkEnd:
                    guard buffered >= 2 else {
                        if ended { throw .truncated("connection closed inside a chunk") }
                        return false
                    }
                    guard buffer[start] == 13, buffer[start + 1] == 10 else { throw .malformed("chunk data not followed by CRLF") }
                    start += 2
                    mode = .chunkSize
                case .trailers:
                    // Trailer fields are checked and dropped: nothing here needs them.
                    guard let line = try takeLine(limit: maximumHeader - trailerBytes, what: "trailer section") else { return false }
                    if line.isEmpty {
                        mode = .none
                        return true
                    }
                    trailerBytes += line.count + 2
                    _ = try HTTPMessage.field(line)
                }
            }
        }

        /// Takes the body, leaving the buffer for the next message.
        mutating func takeBody() -> [UInt8] {
            defer { body = [] }
            return body
        }

        /// One CRLF-terminated line without its CRLF, or nil until it is complete.
        private mutating func takeLine(limit: Int, what: String) throws(Failure) -> ArraySlice<UInt8>? {
            var index = start
            while index < buffer.count {
                if buffer[index] == 10 {
                    guard index > start, buffer[index - 1] == 13 else { throw .malformed("bare LF in the \(what)") }
                    let line = buffer[start..<(index - 1)]
                    start = index + 1
                    return line
                }
                index += 1
                if index - start > limit {
                    if what == "trailer section" { throw .headerTooLarge(limit: maximumHeader) }
                    throw .malformed("\(what) too long")
                }
            }
            if ended { throw .truncated("connection closed inside the \(what)") }
            return nil
        }

        /// `1*HEXDIG [BWS] [; extensions]`, overflow-safe: a size past what the body may still
        /// grow by is too large, however many digits it has.
        private func chunkSize(_ line: ArraySlice<UInt8>) throws(Failure) -> Int {
            var size = 0
            var digits = 0
            var index = line.startIndex
            while index < line.endIndex, let digit = Self.hexValue(line[index]) {
                size = size * 16 + digit
                if size > maximumBody - body.count { throw .bodyTooLarge(limit: maximumBody) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw .malformed("bad chunk size") }
            while index < line.endIndex, line[index] == 32 || line[index] == 9 { index += 1 }
            guard index == line.endIndex || line[index] == UInt8(ascii: ";") else { throw .malformed("bad chunk size") }
            guard !line[index...].contains(where: { ($0 < 32 && $0 != 9) || $0 == 127 }) else { throw .malformed("a control character in a chunk extension") }
            return size
        }

        private static func hexValue(_ byte: UInt8) -> Int? {
            switch byte {
            case 48...57: return Int(byte - 48)
            case 65...70: return Int(byte - 55)
            case 97...102: return Int(byte - 87)
            default: return nil
            }
        }
    }
}

extension UInt8 {
    /// `0`–`9` in ASCII.
    var isDecimalDigit: Bool { self >= 48 && self <= 57 }
}

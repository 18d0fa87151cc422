import Foundation

extension LoopbackHTTPServer {
    /// An ordered list of HTTP header fields with case-insensitive lookup.
    public struct Headers: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
        /// One header field as it appeared on the wire (name case preserved).
        public struct Field: Sendable, Equatable {
            public var name: String
            public var value: String
            public init(name: String, value: String) {
                self.name = name
                self.value = value
            }
        }

        public private(set) var fields: [Field] = []

        public init() {}

        public init(_ pairs: [(String, String)]) {
            fields = pairs.map { Field(name: $0.0, value: $0.1) }
        }

        public init(dictionaryLiteral elements: (String, String)...) {
            self.init(elements)
        }

        /// The first value of `name` (case-insensitive), or nil.
        public subscript(_ name: String) -> String? {
            fields.first { $0.name.caseInsensitiveEquals(name) }?.value
        }

        /// Every value of `name` (case-insensitive), in order.
        public func values(for name: String) -> [String] {
            fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
        }

        public func contains(_ name: String) -> Bool { self[name] != nil }

        /// Appends a field (keeps existing fields of the same name).
        public mutating func add(_ name: String, _ value: String) {
            fields.append(Field(name: name, value: value))
        }

        /// Replaces every field named `name` with a single one.
        public mutating func set(_ name: String, _ value: String) {
            remove(name)
            add(name, value)
        }

        /// Removes every field named `name`.
        public mutating func remove(_ name: String) {
            fields.removeAll { $0.name.caseInsensitiveEquals(name) }
        }

        public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

        public var count: Int { fields.count }
    }

    /// A parsed HTTP/1.x request as received by `LoopbackHTTPServer`.
    public struct Request: Sendable {
        /// Request method, as sent (for example `POST`).
        public var method: String
        /// The raw request-target, for example `/job/a/build?delay=0sec` (not decoded).
        public var target: String
        /// `HTTP/1.1` or `HTTP/1.0`.
        public var version: String
        public var headers: Headers
        /// The body (de-chunked if it was sent with `Transfer-Encoding: chunked`).
        public var body: Data
        /// The peer's IP address (always `127.0.0.1` for loopback clients).
        public var remoteAddress: String
        /// Identifies the TCP connection the request arrived on (unique per server).
        public var connectionID: Int

        public init(
            method: String, target: String, version: String = "HTTP/1.1", headers: Headers = Headers(),
            body: Data = Data(), remoteAddress: String = "127.0.0.1", connectionID: Int = 0
        ) {
            self.method = method
            self.target = target
            self.version = version
            self.headers = headers
            self.body = body
            self.remoteAddress = remoteAddress
            self.connectionID = connectionID
        }

        /// The raw path: the target up to (excluding) `?`.
        public var path: String {
            if let q = target.firstIndex(of: "?") { return String(target[..<q]) }
            return target
        }

        /// The raw query string after `?`, or nil if there is none.
        public var query: String? {
            guard let q = target.firstIndex(of: "?") else { return nil }
            return String(target[target.index(after: q)...])
        }
    }

    /// A response for `LoopbackHTTPServer` to send (or a request to drop the connection instead).
    public struct Response: Sendable {
        /// What the server does with the response.
        public enum Disposition: Sendable, Equatable {
            /// Send the response (keep the connection alive if the request allows it).
            case send
            /// Send the response, then close the connection.
            case sendAndClose
            /// Close the connection without sending anything.
            case drop
        }

        public var status: Int
        /// Reason phrase for the status line; the standard one when nil.
        public var reason: String?
        /// Headers to send. `Content-Length` and `Connection` are added by the server.
        public var headers: Headers
        public var body: Data
        public var disposition: Disposition

        public init(
            status: Int, reason: String? = nil, headers: Headers = Headers(), body: Data = Data(),
            disposition: Disposition = .send
        ) {
            self.status = status
            self.reason = reason
            self.headers = headers
            self.body = body
            self.disposition = disposition
        }

        /// A response with a UTF-8 text body and the given content type.
        public init(status: Int, contentType: String, text: String, headers: Headers = Headers()) {
            var h = headers
            h.set("Content-Type", contentType)
            self.init(status: status, headers: h, body: Data(text.utf8))
        }

        /// Close the connection without answering.
        public static var drop: Response { Response(status: 0, disposition: .drop) }

        /// Standard reason phrases for the statuses the fake uses.
        public static func standardReason(_ status: Int) -> String {
            switch status {
            case 100: "Continue"
            case 200: "OK"
            case 201: "Created"
            case 202: "Accepted"
            case 204: "No Content"
            case 301: "Moved Permanently"
            case 302: "Found"
            case 303: "See Other"
            case 304: "Not Modified"
            case 307: "Temporary Redirect"
            case 400: "Bad Request"
            case 401: "Unauthorized"
            case 403: "Forbidden"
            case 404: "Not Found"
            case 405: "Method Not Allowed"
            case 408: "Request Timeout"
            case 409: "Conflict"
            case 411: "Length Required"
            case 413: "Payload Too Large"
            case 422: "Unprocessable Entity"
            case 429: "Too Many Requests"
            case 431: "Request Header Fields Too Large"
            case 500: "Server Error"
            case 501: "Not Implemented"
            case 502: "Bad Gateway"
            case 503: "Service Unavailable"
            case 504: "Gateway Timeout"
            case 505: "HTTP Version Not Supported"
            default: "Status \(status)"
            }
        }
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && lowercased() == other.lowercased()
    }
}

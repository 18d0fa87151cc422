#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening TCP socket that reads one HTTP/1.1 request per connection: what a Consul agent
/// sends to a watch with `handler_type: "http"` (a POST of the payload, `X-Consul-Index`, then
/// the connection is done with).
public final class HTTPListener {
    /// A request as received.
    public struct Request: Sendable {
        public var method: String
        public var target: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        /// The first value of a header (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    private let fd: Int32
    /// The port bound (useful with port 0).
    public let port: Int

    /// Binds and listens on `host:port` (an IPv4 address; port 0 picks a free one).
    public init(host: String, port: Int) throws(SystemError) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("create a socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            Glibc.close(fd)
            throw SystemError("listen on", path: "\(host):\(port)", errno: EINVAL, detail: "not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let error = SystemError("listen on", path: "\(host):\(port)")
            Glibc.close(fd)
            throw error
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    deinit { Glibc.close(fd) }

    /// Waits for a connection and reads its request. Returns the request and a function that
    /// sends the response and closes the connection; a malformed request is answered 400 here
    /// and nil is returned.
    public func next(maximumBody: Int, timeout: Double) throws(SystemError) -> (Request, (Int, String, [UInt8]) -> Void)? {
        var client: Int32 = -1
        while client < 0 {
            client = accept(fd, nil, nil)  // accept4 needs _GNU_SOURCE, which the Glibc module lacks
            if client < 0 && errno != EINTR && errno != ECONNABORTED { throw SystemError("accept a connection") }
        }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // no child of an action may inherit the connection
        var seconds = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        let respond: (Int, String, [UInt8]) -> Void = { status, reason, body in
            var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            if status == 405 { head = head.replacingFirst("\r\n\r\n", with: "\r\nAllow: POST, PUT\r\n\r\n") }
            let bytes = Array(head.utf8) + body
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                offset += n
            }
            Glibc.close(client)
        }
        guard let request = Self.read(client, maximumBody: maximumBody) else {
            respond(400, "Bad Request", Array(#"{"error":"malformed or oversized HTTP request"}"#.utf8))
            return nil
        }
        return (request, respond)
    }

    private static func read(_ fd: Int32, maximumBody: Int) -> Request? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        func fill() -> Bool {
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                if n > 0 { buffer += chunk[..<n]; return true }
                if n < 0 && errno == EINTR { continue }
                return false
            }
        }
        var end: Int? = nil
        while end == nil {
            end = HTTPConnection.find([13, 10, 13, 10], in: buffer)
            if end == nil { guard buffer.count < 64 * 1024, fill() else { return nil } }
        }
        let head = String(decoding: buffer[..<end!], as: UTF8.self)
        buffer.removeSubrange(..<(end! + 4))
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        var request = Request(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: [])
        if request.header("Transfer-Encoding") != nil { return nil }  // Consul's client sends Content-Length
        let length = Int(request.header("Content-Length") ?? "0") ?? -1
        guard length >= 0, length <= maximumBody else { return nil }
        if request.header("Expect")?.lowercased() == "100-continue" {
            let cont = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            _ = cont.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        while buffer.count < length { guard fill() else { return nil } }
        request.body = Array(buffer[..<length])
        return request
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }

    /// The range of the first occurrence of `target` (no Foundation in this module).
    func range(of target: String) -> Range<String.Index>? {
        guard !target.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

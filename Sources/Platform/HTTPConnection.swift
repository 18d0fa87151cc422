import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One HTTP/1.1 connection over a TCP socket or a unix-domain socket, optionally TLS (the
/// system's OpenSSL, loaded when first needed). A handler makes a handful of requests and exits,
/// so it does not pay at start-up for a general HTTP stack; the bytes are framed by the pure
/// decoders of ``HTTPMessage``, this type only moves them.
///
/// Not thread-safe: one request at a time; pools hand connections to one thread at a time.
public final class HTTPConnection {
    /// A response: status, header fields in order, body (framing decoded by `HTTPMessage`).
    public typealias Response = HTTPMessage.Response

    /// Why a request got no response.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case resolve(String)
        case connect(String)
        case tls(String)
        /// The peer's certificate did not verify (untrusted issuer, expired, another name):
        /// trying again cannot help, unlike a failed handshake or a broken connection.
        case untrustedCertificate(host: String, reason: String)
        case timedOut
        /// The peer closed the connection, or sent something that is not HTTP.
        case broken(String)

        public var description: String {
            switch self {
            case .resolve(let detail): return "cannot resolve \(detail)"
            case .connect(let detail): return detail
            case .tls(let detail): return "TLS: \(detail)"
            case .untrustedCertificate(let host, let reason): return "TLS: certificate verification failed for \(host) (\(reason))"
            case .timedOut: return "timed out"
            case .broken(let detail): return detail
            }
        }
    }

    /// An HTTP proxy to go through (`HTTPS_PROXY`, `http_proxy`): plain http requests are sent
    /// to it in absolute form, https is tunnelled with `CONNECT` and TLS runs end to end.
    public struct Proxy: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// The `Proxy-Authorization` value (`Basic …`), from the proxy URL's user and password.
        public var authorization: String?

        public init(host: String, port: Int, authorization: String? = nil) {
            self.host = host
            self.port = port
            self.authorization = authorization
        }

        /// `proxy.example:3128`: how messages name it (never with its credentials).
        public var authority: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
    }

    public let host: String
    public let port: Int
    public let tls: Bool
    /// Plain http through a proxy: the request line carries the absolute URL, and the
    /// proxy's credentials go with each request.
    private let viaProxy: Proxy?
    private var fd: Int32 = -1
    private var ssl: OpaquePointer?
    private var decoder: HTTPMessage.ResponseDecoder
    private var scratch = [UInt8](repeating: 0, count: 16 << 10)
    /// False once the peer said `Connection: close` or the body was delimited by EOF.
    public private(set) var reusable = true
    /// Requests answered on this connection.
    public private(set) var requests = 0

    /// Opens a connection (TCP connect, then the TLS handshake with certificate and host name
    /// verification against the system's roots, or `caFile`). A response body over
    /// `maximumResponseSize` is an error, whatever its framing.
    /// `unixSocket` connects to that unix-domain socket instead of `host:port` (`host` then only
    /// names the `Host` header); `serverName` replaces `host` for SNI and certificate verification.
    /// `proxy` connects to that HTTP proxy instead (not with `unixSocket`), the host's name
    /// resolved by the proxy.
    public init(
        host: String, port: Int, tls: Bool, caFile: String? = nil, deadline: Double, unixSocket: String? = nil, serverName: String? = nil,
        maximumResponseSize: Int = HTTPMessage.defaultMaximumBodySize, proxy: Proxy? = nil
    ) throws(Failure) {
        decoder = HTTPMessage.ResponseDecoder(maximumBodySize: maximumResponseSize)
        self.host = host
        self.port = port
        self.tls = tls
        let proxy = unixSocket == nil ? proxy : nil
        viaProxy = tls ? nil : proxy
        if let unixSocket {
            fd = try UnixSocket.connect(path: unixSocket, deadline: deadline)
        } else if let proxy {
            do { fd = try Self.connect(host: proxy.host, port: proxy.port, deadline: deadline) } catch {
                switch error {
                case .resolve(let detail): throw .resolve("proxy \(detail)")
                case .connect(let detail): throw .connect("proxy \(proxy.authority): \(detail)")
                default: throw error
                }
            }
            if tls {
                do { try tunnel(through: proxy, deadline: deadline) } catch {
                    LibC.close(fd)
                    fd = -1
                    throw error
                }
            }
        } else {
            fd = try Self.connect(host: host, port: port, deadline: deadline)
        }
        if tls {
            do {
                ssl = try TLS.shared().handshake(fd: fd, host: serverName ?? host, caFile: caFile, deadline: deadline)
            } catch {
                LibC.close(fd)
                fd = -1
                throw error
            }
        }
    }

    deinit { close() }

    /// Closes the connection.
    public func close() {
        if let ssl { TLS.loaded?.free(ssl) }
        ssl = nil
        if fd >= 0 { LibC.close(fd) }
        fd = -1
        reusable = false
    }

    /// Sends a request (`method`, `target`, header fields in order, `body`; `Host` and
    /// `Content-Length` are added) and reads its response by `deadline`.
    public func send(method: String, target: String, headers: [(String, String)], body: [UInt8], deadline: Double) throws(Failure) -> Response {
        guard fd >= 0, reusable else { throw .broken("connection closed") }
        var head: String
        if let viaProxy {
            head = "\(method) http://\(hostHeader)\(target) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
            if let authorization = viaProxy.authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        } else {
            head = "\(method) \(target) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try write(Array(head.utf8) + body, deadline: deadline)
        let response = try readResponse(method: method, deadline: deadline)
        requests += 1
        return response
    }

    private var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return (tls && port == 443) || (!tls && port == 80) ? name : "\(name):\(port)"
    }

    // MARK: Proxy tunnel

    /// Asks the proxy for a tunnel to `host:port` (`CONNECT`) and reads its answer's head: any
    /// 2xx opens it; 407 and the rest are errors that name the proxy, never its credentials.
    private func tunnel(through proxy: Proxy, deadline: Double) throws(Failure) {
        let authority = hostHeaderWithPort
        var head = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let authorization = proxy.authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        head += "\r\n"
        try write(Array(head.utf8), deadline: deadline)
        var answer: [UInt8] = []
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while !answer.suffix(4).elementsEqual(end) {
            guard answer.count < 16 << 10 else { throw .broken("proxy \(proxy.authority): answer to CONNECT too long") }
            try wait(for: Int16(POLLIN), deadline: deadline)
            var byte: UInt8 = 0
            // One byte at a time: nothing of the tunnelled stream may be read here.
            let n = LibC.recv(fd, &byte, 1, 0)
            if n == 1 {
                answer.append(byte)
            } else if n == 0 {
                throw .connect("proxy \(proxy.authority) closed the connection instead of answering CONNECT")
            } else if errno != EINTR && errno != EAGAIN {
                throw .connect("proxy \(proxy.authority): \(String(cString: strerror(errno)))")
            }
        }
        let statusLine = String(decoding: answer.prefix { $0 != 13 }, as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .connect("proxy \(proxy.authority) did not answer CONNECT in HTTP")
        }
        switch status {
        case 200..<300: return
        case 407:
            throw .connect(
                "proxy \(proxy.authority) requires authentication (407)"
                    + (proxy.authorization == nil
                        ? ": give its user and password in the proxy URL (http://user:password@host:port)" : ": check the user and password in the proxy URL"))
        default:
            throw .connect("proxy \(proxy.authority) refused CONNECT to \(authority) (\(status))")
        }
    }

    /// `host:port` with the port always given (the CONNECT target).
    private var hostHeaderWithPort: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }

    // MARK: Reading

    /// Moves bytes from the socket to the decoder until it has the final response (interim
    /// 1xx responses are skipped by the decoder).
    private func readResponse(method: String, deadline: Double) throws(Failure) -> Response {
        decoder.requestMethod = method
        while true {
            switch decoder.next() {
            case .message(let response):
                if response.closesConnection { reusable = false }
                return response
            case .error(let failure):
                reusable = false
                switch failure {
                case .truncated: throw .broken(failure.description)
                case .malformed: throw .broken("not a valid HTTP response: \(failure.description)")
                case .headerTooLarge, .bodyTooLarge: throw .broken("response \(failure.description)")
                }
            case .needMore:
                if try !fill(deadline: deadline) { decoder.finish() }
            }
        }
    }

    /// Feeds the decoder what the socket has; false at end of file.
    private func fill(deadline: Double) throws(Failure) -> Bool {
        while true {
            if ssl == nil || TLS.loaded?.pending(ssl!) == 0 { try wait(for: Int16(POLLIN), deadline: deadline) }
            let n: Int = scratch.withUnsafeMutableBytes { raw in
                if let ssl { return TLS.loaded!.read(ssl, raw.baseAddress!, Int32(raw.count)) }
                return LibC.recv(fd, raw.baseAddress!, raw.count, 0)
            }
            if n > 0 {
                decoder.feed(scratch[..<n])
                return true
            }
            if n == 0 { return false }
            if let ssl {
                switch TLS.loaded!.error(ssl, Int32(n)) {
                case 2, 3: continue  // WANT_READ / WANT_WRITE
                case 6: return false  // ZERO_RETURN: clean close
                default: throw .broken("TLS read failed")
                }
            }
            if errno == EINTR || errno == EAGAIN { continue }
            if errno == ECONNRESET { return false }
            throw .broken("read failed: \(String(cString: strerror(errno)))")
        }
    }

    private func write(_ bytes: [UInt8], deadline: Double) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            try wait(for: Int16(POLLOUT), deadline: deadline)
            let n: Int = bytes.withUnsafeBytes { raw in
                if let ssl { return TLS.loaded!.write(ssl, raw.baseAddress! + offset, Int32(raw.count - offset)) }
                return LibC.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            if let ssl {
                let code = TLS.loaded!.error(ssl, Int32(n))
                if code == 2 || code == 3 { continue }
                throw .broken("TLS write failed")
            }
            if errno == EINTR || errno == EAGAIN { continue }
            throw .broken("write failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Waits until the socket is ready or the deadline passes.
    private func wait(for events: Int16, deadline: Double) throws(Failure) {
        while true {
            let remaining = deadline - SystemTime.monotonicSeconds()
            if remaining <= 0 { throw .timedOut }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&descriptor, 1, Int32(min(remaining * 1000, 60_000).rounded(.up)))
            if result > 0 { return }
            if result < 0 && errno != EINTR { throw .broken("poll failed: \(String(cString: strerror(errno)))") }
        }
    }

    // MARK: Connecting

    private static func connect(host: String, port: Int, deadline: Double) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = LibC.streamSocket
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .resolve("\(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "connection refused"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | LibC.closeOnExecSocket | LibC.nonBlockingSocket, info.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if LibC.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            if errno == EINPROGRESS {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let remaining = deadline - SystemTime.monotonicSeconds()
                if remaining > 0, poll(&descriptor, 1, Int32((remaining * 1000).rounded(.up))) > 0 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == 0 { return fd }
                    lastError = error == ECONNREFUSED ? "connection refused" : String(cString: strerror(error))
                } else {
                    LibC.close(fd)
                    throw .timedOut
                }
            } else {
                lastError = String(cString: strerror(errno))
            }
            LibC.close(fd)
        }
        throw .connect(lastError)
    }
}

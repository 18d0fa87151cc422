import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Errors from setting up the listening socket.
public struct LoopbackHTTPServerError: Error, CustomStringConvertible {
    public let operation: String
    public let errno: Int32
    public var description: String { "\(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// A small HTTP/1.1 server on `127.0.0.1` for tests: one thread per TCP connection, keep-alive,
/// `Content-Length` and chunked request bodies, `Expect: 100-continue`; responses framed by
/// `Content-Length`, or chunked when asked (to exercise a client's chunked decoding).
///
/// The handler runs on the connection's own thread, so a slow handler (for example a simulated
/// latency) never delays other connections. Connection counters are exact with respect to the
/// *client's* view: a connection stops counting as soon as the peer has closed it (detected when
/// the next connection is accepted) or as soon as the server decides to close it.
public final class LoopbackHTTPServer: Sendable {
    /// The TCP port the server listens on (chosen by the kernel when `port: 0` was requested).
    public let port: Int
    private let core: ServerCore

    /// Binds `127.0.0.1:port` (0 = ephemeral) and starts accepting.
    /// - Parameters:
    ///   - idleTimeout: a keep-alive connection with no request for this long is closed (Jetty's default is 30 s).
    ///   - chunkedResponses: send bodies with `Transfer-Encoding: chunked` instead of `Content-Length`.
    ///   - handler: called once per request, on the connection's thread.
    public init(
        port: Int = 0, idleTimeout: Duration = .seconds(30), chunkedResponses: Bool = false,
        handler: @escaping @Sendable (LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response
    ) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LoopbackHTTPServerError(operation: "socket", errno: errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
        addr.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw LoopbackHTTPServerError(operation: "bind", errno: e)
        }
        guard listen(fd, 1024) == 0 else {
            let e = errno
            close(fd)
            throw LoopbackHTTPServerError(operation: "listen", errno: e)
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        let ms = idleTimeout.components.seconds * 1000 + idleTimeout.components.attoseconds / 1_000_000_000_000_000
        core = ServerCore(listenFD: fd, idleTimeoutMs: Int32(clamping: max(1, ms)), chunkedResponses: chunkedResponses, handler: handler)
        core.startAccepting()
    }

    deinit { core.stop() }

    /// Closes the listener and every open connection. Idempotent.
    public func stop() { core.stop() }

    /// TCP connections open right now.
    public var currentConnections: Int { core.state.withLock { $0.current } }
    /// The largest number of TCP connections that were open at the same time.
    public var maxConcurrentConnections: Int { core.state.withLock { $0.maxConcurrent } }
    /// TCP connections accepted since start.
    public var acceptedConnections: Int { core.state.withLock { $0.accepted } }
    /// HTTP requests parsed since start.
    public var requestCount: Int { core.state.withLock { $0.requests } }

    /// Resets `maxConcurrentConnections` to the current number of open connections.
    public func resetConnectionStatistics() {
        core.state.withLock { $0.maxConcurrent = $0.current }
    }
}

// MARK: - Implementation

final class ServerCore: Sendable {
    struct Connection {
        var fd: Int32
        /// Still counted in `current` (false once the peer or the server closed it).
        var counted: Bool
    }

    struct State {
        var listenFD: Int32
        var stopped = false
        var connections: [Int: Connection] = [:]
        var nextID = 0
        var current = 0
        var maxConcurrent = 0
        var accepted = 0
        var requests = 0
    }

    let state: Mutex<State>
    let handler: @Sendable (LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response
    let idleTimeoutMs: Int32
    let chunkedResponses: Bool
    let acceptLoopDone = DispatchSemaphore(value: 0)

    init(
        listenFD: Int32, idleTimeoutMs: Int32, chunkedResponses: Bool = false,
        handler: @escaping @Sendable (LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response
    ) {
        state = Mutex(State(listenFD: listenFD))
        self.idleTimeoutMs = idleTimeoutMs
        self.chunkedResponses = chunkedResponses
        self.handler = handler
    }

    func startAccepting() {
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "LoopbackHTTPServer.accept"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    func stop() {
        let wait = state.withLock { s -> Bool in
            if s.stopped { return false }
            s.stopped = true
            if s.listenFD >= 0 { _ = shutdown(s.listenFD, Int32(SHUT_RDWR)) }
            for c in s.connections.values { _ = shutdown(c.fd, Int32(SHUT_RDWR)) }
            return true
        }
        if wait { _ = acceptLoopDone.wait(timeout: .now() + 2) }
    }

    private func acceptLoop() {
        defer {
            state.withLock { s in
                if s.listenFD >= 0 {
                    close(s.listenFD)
                    s.listenFD = -1
                }
            }
            acceptLoopDone.signal()
        }
        while true {
            // Only this thread closes the listener, so the descriptor stays valid while we use it.
            let lfd = state.withLock { $0.stopped ? Int32(-1) : $0.listenFD }
            if lfd < 0 { return }
            var pfd = pollfd(fd: lfd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 100)
            if ready <= 0 { continue }
            var peer = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let cfd = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Self.acceptCloseOnExec(lfd, $0, &len) }
            }
            if cfd < 0 {
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000) }
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(cfd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let remote = Self.ipString(peer.sin_addr)
            let id: Int? = state.withLock { s in
                if s.stopped { return nil }
                // A peer that already closed its end no longer counts as an open connection.
                for (key, c) in s.connections where c.counted && Self.peerHasClosed(c.fd) {
                    s.connections[key]?.counted = false
                    s.current -= 1
                }
                s.nextID += 1
                s.connections[s.nextID] = Connection(fd: cfd, counted: true)
                s.current += 1
                s.accepted += 1
                s.maxConcurrent = max(s.maxConcurrent, s.current)
                return s.nextID
            }
            guard let id else {
                close(cfd)
                return
            }
            let thread = Thread { [self] in serve(fd: cfd, id: id, remote: remote) }
            thread.name = "LoopbackHTTPServer.conn\(id)"
            thread.stackSize = 512 * 1024
            thread.start()
        }
    }

    private typealias Accept4 =
        @convention(c) (
            Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32
        ) -> Int32

    /// `accept4(SOCK_CLOEXEC)` (not imported by Glibc without _GNU_SOURCE), so that processes the tests spawn
    /// never inherit a connection; falls back to accept + FD_CLOEXEC.
    private static let accept4Function: Accept4? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "accept4") else { return nil }
        return unsafeBitCast(symbol, to: Accept4.self)
    }()

    static func acceptCloseOnExec(
        _ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>, _ len: UnsafeMutablePointer<socklen_t>
    ) -> Int32 {
        if let accept4 = accept4Function { return accept4(fd, addr, len, Int32(SOCK_CLOEXEC.rawValue)) }
        let cfd = accept(fd, addr, len)
        if cfd >= 0 { _ = fcntl(cfd, F_SETFD, FD_CLOEXEC) }
        return cfd
    }

    static func ipString(_ addr: in_addr) -> String {
        let v = UInt32(bigEndian: addr.s_addr)
        return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
    }

    /// True if the peer has sent FIN (or RST) and no unread data precedes it.
    static func peerHasClosed(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if n == 0 { return true }
        if n < 0 { return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) }
        return false
    }

    /// Stops counting a connection that the server is about to close.
    private func uncount(_ id: Int) {
        state.withLock { s in
            if let c = s.connections[id], c.counted {
                s.connections[id]?.counted = false
                s.current -= 1
            }
        }
    }

    private func finish(_ id: Int, fd: Int32) {
        state.withLock { s in
            if let c = s.connections.removeValue(forKey: id), c.counted { s.current -= 1 }
            close(fd)
        }
    }

    private func serve(fd: Int32, id: Int, remote: String) {
        defer { finish(id, fd: fd) }
        let reader = SocketReader(fd: fd, timeoutMs: idleTimeoutMs)
        while true {
            let head: [UInt8]
            switch reader.readHead(limit: 64 * 1024) {
            case .ok(let bytes): head = bytes
            case .closed: return
            case .tooLarge:
                uncount(id)
                _ = Self.sendAll(fd, Self.serialize(LoopbackHTTPServer.Response(status: 431), head: false, close: true))
                return
            }
            guard var request = Self.parseHead(head) else {
                uncount(id)
                _ = Self.sendAll(fd, Self.serialize(LoopbackHTTPServer.Response(status: 400), head: false, close: true))
                return
            }
            request.remoteAddress = remote
            request.connectionID = id
            // Body.
            let chunked = request.headers.values(for: "Transfer-Encoding")
                .contains { $0.lowercased().contains("chunked") }
            let lengthHeader = request.headers["Content-Length"]?.trimmingCharacters(in: .whitespaces)
            var contentLength = 0
            if !chunked, let lengthHeader {
                guard let n = Int(lengthHeader), n >= 0 else {
                    uncount(id)
                    _ = Self.sendAll(fd, Self.serialize(LoopbackHTTPServer.Response(status: 400), head: false, close: true))
                    return
                }
                contentLength = n
            }
            let expectsContinue = request.headers["Expect"]?.lowercased() == "100-continue"
            if expectsContinue, chunked || contentLength > 0, reader.buffered < max(contentLength, 1) {
                guard Self.sendAll(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else { return }
            }
            if chunked {
                guard let body = reader.readChunkedBody(limit: 64 * 1024 * 1024) else { return }
                request.body = Data(body)
            } else if contentLength > 0 {
                guard let body = reader.readExactly(contentLength) else { return }
                request.body = Data(body)
            }
            let stopping = state.withLock { s -> Bool in
                s.requests += 1
                return s.stopped
            }
            if stopping { return }

            let response = handler(request)
            if response.disposition == .drop {
                uncount(id)
                return
            }
            let connectionTokens = request.headers.values(for: "Connection")
                .flatMap { $0.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            var keepAlive: Bool
            if request.version == "HTTP/1.0" {
                keepAlive = connectionTokens.contains("keep-alive")
            } else {
                keepAlive = !connectionTokens.contains("close")
            }
            if response.disposition == .sendAndClose { keepAlive = false }
            if !keepAlive { uncount(id) }
            let bytes = Self.serialize(
                response, head: request.method == "HEAD", close: !keepAlive,
                keepAliveHeader: keepAlive && request.version == "HTTP/1.0",
                chunked: chunkedResponses && request.version == "HTTP/1.1")
            guard Self.sendAll(fd, bytes), keepAlive else { return }
        }
    }

    static func parseHead(_ bytes: [UInt8]) -> LoopbackHTTPServer.Request? {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return nil }
        var headers = LoopbackHTTPServer.Headers()
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { return nil }
            headers.add(name, value)
        }
        return LoopbackHTTPServer.Request(
            method: String(parts[0]), target: String(parts[1]), version: String(parts[2]), headers: headers)
    }

    static func serialize(
        _ r: LoopbackHTTPServer.Response, head: Bool, close: Bool, keepAliveHeader: Bool = false, chunked: Bool = false
    ) -> [UInt8] {
        var text = "HTTP/1.1 \(r.status) \(r.reason ?? LoopbackHTTPServer.Response.standardReason(r.status))\r\n"
        for f in r.headers {
            let lower = f.name.lowercased()
            if lower == "content-length" || lower == "connection" || lower == "transfer-encoding" { continue }
            text += "\(f.name): \(f.value)\r\n"
        }
        let bodyless = r.status == 204 || r.status == 304 || (100..<200).contains(r.status)
        let chunked = chunked && !bodyless
        if chunked {
            text += "Transfer-Encoding: chunked\r\n"
        } else if !bodyless {
            text += "Content-Length: \(r.body.count)\r\n"
        }
        if close {
            text += "Connection: close\r\n"
        } else if keepAliveHeader {
            text += "Connection: keep-alive\r\n"
        }
        text += "\r\n"
        var out = Array(text.utf8)
        if chunked && !head {
            out.append(contentsOf: chunk(Array(r.body)))
        } else if !head && !bodyless {
            out.append(contentsOf: r.body)
        }
        return out
    }

    /// `body` as chunks of at most 7 bytes (so that any JSON spans several), in lowercase and
    /// uppercase hex with a leading zero, one with an extension, then a trailer field.
    static func chunk(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        var index = 0
        while offset < body.count {
            let size = min(index % 2 == 0 ? 7 : 0xA, body.count - offset)
            let hex = String(size, radix: 16)
            let line = index % 3 == 0 ? "0\(hex.uppercased());note=\"fake\"\r\n" : "\(hex)\r\n"
            out += Array(line.utf8) + body[offset..<(offset + size)] + [13, 10]
            offset += size
            index += 1
        }
        out += Array("0\r\nX-Fake-Trailer: done\r\n\r\n".utf8)
        return out
    }

    /// Sends every byte; false on error (peer gone). Never raises SIGPIPE.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }
}

/// Buffered reads from a connected socket with an inactivity timeout. Used by one thread only.
final class SocketReader {
    enum HeadResult {
        case ok([UInt8])
        case closed
        case tooLarge
    }

    let fd: Int32
    let timeoutMs: Int32
    private var buffer: [UInt8] = []
    private var start = 0

    init(fd: Int32, timeoutMs: Int32) {
        self.fd = fd
        self.timeoutMs = timeoutMs
    }

    var buffered: Int { buffer.count - start }

    /// Reads more bytes into the buffer; false on EOF, error or timeout.
    private func fill() -> Bool {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 64 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, timeoutMs)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return false }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    func readHead(limit: Int) -> HeadResult {
        var scanFrom = start
        while true {
            // Tolerate empty lines before a request line (RFC 9112 §2.2).
            while buffered >= 2 && buffer[start] == 13 && buffer[start + 1] == 10 {
                start += 2
                scanFrom = max(scanFrom, start)
            }
            if buffered >= 4 {
                var i = max(scanFrom, start)
                while i + 3 < buffer.count {
                    if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                        if i - start > limit { return .tooLarge }
                        let head = Array(buffer[start..<i])
                        start = i + 4
                        return .ok(head)
                    }
                    i += 1
                }
                scanFrom = max(start, buffer.count - 3)
            }
            if buffered > limit { return .tooLarge }
            let offsetBefore = scanFrom - start
            guard fill() else { return .closed }
            scanFrom = start + offsetBefore
        }
    }

    func readExactly(_ count: Int) -> [UInt8]? {
        while buffered < count {
            guard fill() else { return nil }
        }
        let out = Array(buffer[start..<(start + count)])
        start += count
        return out
    }

    func readLine(limit: Int) -> [UInt8]? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 10) {
                var end = nl
                if end > start && buffer[end - 1] == 13 { end -= 1 }
                let line = Array(buffer[start..<end])
                start = nl + 1
                return line
            }
            if buffered > limit { return nil }
            guard fill() else { return nil }
        }
    }

    func readChunkedBody(limit: Int) -> [UInt8]? {
        var body: [UInt8] = []
        while true {
            guard let line = readLine(limit: 4096) else { return nil }
            let sizeText =
                String(decoding: line, as: UTF8.self)
                .split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                return nil
            }
            if size == 0 {
                // Trailer section, up to an empty line.
                while true {
                    guard let trailer = readLine(limit: 8192) else { return nil }
                    if trailer.isEmpty { return body }
                }
            }
            guard body.count + size <= limit, let data = readExactly(size), readLine(limit: 2) != nil else {
                return nil
            }
            body.append(contentsOf: data)
        }
    }
}

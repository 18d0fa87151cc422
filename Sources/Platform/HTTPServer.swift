import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A listening TCP socket that reads one HTTP/1.1 request per connection: what a Consul agent
/// sends to a watch with `handler_type: "http"` (a POST of the payload with `X-Consul-Index`,
/// then the connection is done with).
///
/// Connections are accepted and read concurrently, each on a thread of its own (at most
/// ``Limits/connections`` at once), and each request must arrive whole within
/// ``Limits/readTimeout`` of its connection being accepted: an idle or dripping client costs a
/// slot for that long and never delays another delivery. Requests are handed to the handler
/// one at a time. A body over ``Limits/bodySize`` is answered 413 as soon as its header says
/// so (or, chunked, as soon as it grows past it), without being kept. What all connections hold
/// at once is bounded too (``Limits/bufferedBytes``): past it a request is answered 503, so that
/// many large requests together cannot exhaust memory.
public final class HTTPServer: Sendable {
    public struct Limits: Sendable {
        /// Connections read at the same time; further ones wait in the kernel's backlog.
        public var connections = 64
        public var headerSize = HTTPMessage.defaultMaximumHeaderSize
        public var bodySize = HTTPMessage.defaultMaximumBodySize
        /// Request bytes held by all connections together; nil: 4 × ``bodySize`` (256 MiB by
        /// default: four largest deliveries at once; Consul sends one at a time per watch).
        public var bufferedBytes: Int?
        var bufferBudget: Int { bufferedBytes ?? 4 * bodySize }
        /// Seconds from accepting a connection to having its whole request (Consul gives each
        /// POST 10 s by default), however slowly the bytes come.
        public var readTimeout: Double = 10
        /// Seconds to send an answer.
        public var writeTimeout: Double = 10

        public init() {}
    }

    /// An answer: always `Connection: close`, with `Content-Type: application/json` unless
    /// `headers` says otherwise.
    public struct Reply: Sendable {
        public var status: Int
        public var reason: String
        public var headers: HTTPMessage.Fields
        public var body: [UInt8]

        public init(status: Int, reason: String, headers: HTTPMessage.Fields = [], body: [UInt8]) {
            self.status = status
            self.reason = reason
            self.headers = headers
            self.body = body
        }

        /// `{"error":"…"}` with the message escaped for JSON.
        public static func error(_ status: Int, _ reason: String, _ message: String) -> Reply {
            var text = #"{"error":""#
            for scalar in message.unicodeScalars {
                switch scalar {
                case "\"": text += "\\\""
                case "\\": text += "\\\\"
                case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: text.unicodeScalars.append(scalar)
                }
            }
            return Reply(status: status, reason: reason, body: Array((text + "\"}\n").utf8))
        }
    }

    /// The port bound (useful with port 0).
    public let port: Int
    public let limits: Limits
    private let listenFD: Int32
    private let stopped = Atomic<Bool>(false)
    private let slots: DispatchSemaphore
    /// Deliveries are decided one at a time.
    private let deliveries = Mutex<Void>(())
    /// Request bytes held by all connections now (``Limits/bufferedBytes``).
    private let buffered = Atomic<Int>(0)

    /// Binds and listens on `host:port` (an IPv4 address; port 0 picks a free one).
    public init(host: String, port: Int, limits: Limits = Limits()) throws(SystemError) {
        let fd = socket(AF_INET, LibC.streamSocket | LibC.closeOnExecSocket, 0)
        guard fd >= 0 else { throw SystemError("create a socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            LibC.close(fd)
            throw SystemError("listen on", path: "\(host):\(port)", errno: EINVAL, detail: "not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let error = SystemError("listen on", path: "\(host):\(port)")
            LibC.close(fd)
            throw error
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listenFD = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.limits = limits
        slots = DispatchSemaphore(value: max(1, limits.connections))
    }

    deinit { LibC.close(listenFD) }

    /// Makes ``serve(log:_:)`` return; connections being read are finished.
    public func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        shutdown(listenFD, Int32(SHUT_RDWR))  // wakes the blocked accept
    }

    /// Accepts connections until ``stop()``. `handle` gets each complete request, one at a
    /// time, on the connection's thread; `log` hears of requests refused before that (413,
    /// 431, 400, 408), in one line each.
    public func serve(log: @escaping @Sendable (String) -> Void = { _ in }, _ handle: @escaping @Sendable (HTTPMessage.Request) -> Reply) throws(SystemError) {
        while true {
            slots.wait()
            let client = Self.accept(listenFD)
            if stopped.load(ordering: .sequentiallyConsistent) {
                if client >= 0 { LibC.close(client) }
                slots.signal()
                return
            }
            if client < 0 {
                let error = LibC.errorNumber
                slots.signal()
                switch error {
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    SystemTime.sleep(seconds: 0.05)
                    continue  // until a connection closes
                default: throw SystemError("accept a connection", errno: error)
                }
            }
            let accepted = SystemTime.monotonicSeconds()
            let started = detachThread { [self] in
                defer { slots.signal() }
                connection(client, accepted: accepted, log: log, handle: handle)
            }
            if !started {
                LibC.close(client)
                slots.signal()
                SystemTime.sleep(seconds: 0.05)
            }
        }
    }

    // MARK: One connection

    private func connection(_ fd: Int32, accepted: Double, log: @Sendable (String) -> Void, handle: @Sendable (HTTPMessage.Request) -> Reply) {
        defer { LibC.close(fd) }
        // Bytes of this request counted against the shared budget, given back when it is done.
        var held = 0
        defer { buffered.subtract(held, ordering: .relaxed) }
        let deadline = accepted + limits.readTimeout
        var decoder = HTTPMessage.RequestDecoder(maximumHeaderSize: limits.headerSize, maximumBodySize: limits.bodySize)
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        var continued = false
        while true {
            switch decoder.next() {
            case .message(let request):
                let reply = deliveries.withLock { _ in handle(request) }
                send(reply, to: fd)
                return
            case .error(.truncated):
                return  // the client went away: nobody to answer
            case .error(let failure):
                let reply: Reply
                switch failure {
                case .bodyTooLarge: reply = .error(413, "Content Too Large", "request \(failure.description)")
                case .headerTooLarge: reply = .error(431, "Request Header Fields Too Large", failure.description)
                default: reply = .error(400, "Bad Request", "malformed HTTP request: \(failure.description)")
                }
                log("refused a request: \(reply.status) \(reply.reason): \(failure.description)")
                send(reply, to: fd)
                linger(fd)
                return
            case .needMore:
                if !continued, let head = decoder.pendingHead, head.header("Expect")?.lowercased() == "100-continue" {
                    continued = true
                    guard write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), to: fd, deadline: SystemTime.monotonicSeconds() + limits.writeTimeout) else {
                        return
                    }
                }
                let count = receive(fd, into: &scratch, deadline: deadline)
                if count > 0 {
                    let total = buffered.add(count, ordering: .relaxed).newValue
                    held += count
                    if total > limits.bufferBudget {
                        // Given back now, not after the linger: a refused request holds nothing.
                        buffered.subtract(held, ordering: .relaxed)
                        held = 0
                        let message = "the server holds \(limits.bufferBudget) bytes of requests at most, and others are being read; try again"
                        log("refused a request: 503 Service Unavailable: \(message)")
                        var reply = Reply.error(503, "Service Unavailable", message)
                        reply.headers.append((name: "Retry-After", value: "1"))
                        send(reply, to: fd)
                        linger(fd)
                        return
                    }
                    decoder.feed(scratch[..<count])
                } else if count == 0 {
                    decoder.finish()
                } else if count == -2 {
                    // "10 s", not "10.0 s".
                    let seconds = limits.readTimeout == limits.readTimeout.rounded() ? String(Int(limits.readTimeout)) : String(limits.readTimeout)
                    log("refused a request: 408 Request Timeout: not received whole within \(seconds) s")
                    send(.error(408, "Request Timeout", "request not received whole within \(seconds) s"), to: fd)
                    return
                } else {
                    return
                }
            }
        }
    }

    /// Reads what has arrived: the count, 0 at end of file, -1 on error, -2 past the deadline.
    private func receive(_ fd: Int32, into scratch: inout [UInt8], deadline: Double) -> Int {
        while true {
            let remaining = deadline - SystemTime.monotonicSeconds()
            if remaining <= 0 { return -2 }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(remaining * 1000, 60_000).rounded(.up)))
            if ready < 0 && LibC.errorNumber != EINTR { return -1 }
            if ready <= 0 { continue }
            let count = scratch.withUnsafeMutableBytes { LibC.recv(fd, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return count }
            let error = LibC.errorNumber
            if error == EINTR || error == EAGAIN || error == EWOULDBLOCK { continue }
            return -1
        }
    }

    private func send(_ reply: Reply, to fd: Int32) {
        var head = "HTTP/1.1 \(reply.status) \(reply.reason)\r\n"
        if !reply.headers.contains(where: { $0.name.lowercased() == "content-type" }) { head += "Content-Type: application/json\r\n" }
        for (name, value) in reply.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(reply.body.count)\r\nConnection: close\r\n\r\n"
        _ = write(Array(head.utf8) + reply.body, to: fd, deadline: SystemTime.monotonicSeconds() + limits.writeTimeout)
    }

    private func write(_ bytes: [UInt8], to fd: Int32, deadline: Double) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let remaining = deadline - SystemTime.monotonicSeconds()
            if remaining <= 0 { return false }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(remaining * 1000, 60_000).rounded(.up)))
            if ready < 0 && LibC.errorNumber != EINTR { return false }
            if ready <= 0 { continue }
            let sent = bytes.withUnsafeBytes { LibC.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent > 0 {
                offset += sent
                continue
            }
            let error = LibC.errorNumber
            if sent < 0 && (error == EINTR || error == EAGAIN || error == EWOULDBLOCK) { continue }
            return false
        }
        return true
    }

    /// After refusing a request whose body is still coming: stop sending, and read and drop
    /// what arrives for a moment, so that closing does not reset the connection before the
    /// client has read the answer. Nothing read is kept.
    private func linger(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_WR))
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        let deadline = SystemTime.monotonicSeconds() + 1
        while receive(fd, into: &scratch, deadline: deadline) > 0 {}
    }

    // MARK: Accepting

    private typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32

    /// `accept4` (which the Glibc module does not declare without _GNU_SOURCE), so that a
    /// connection is close-on-exec from the start: an action's child never inherits it.
    private static func accept(_ listener: Int32) -> Int32 {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "accept4") {
            return unsafeBitCast(symbol, to: Accept4.self)(listener, nil, nil, LibC.closeOnExecSocket | LibC.nonBlockingSocket)
        }
        let client = LibC.accept(listener)
        if client >= 0 {
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        }
        return client
    }
}

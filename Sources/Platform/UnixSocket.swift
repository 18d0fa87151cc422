#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Connecting to a unix-domain stream socket, for agents that serve their HTTP API on one
/// (`CONSUL_HTTP_ADDR=unix:///run/consul/http.sock`). Kept apart from ``HTTPConnection`` so
/// that the TCP path stays as it is; the connection only swaps how it gets its descriptor.
public enum UnixSocket {
    /// The longest path `sockaddr_un` holds (108 bytes on Linux, the terminating zero included).
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Opens a non-blocking, close-on-exec stream socket connected to `path`.
    public static func connect(path: String, deadline: Double) throws(HTTPConnection.Failure) -> Int32 {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumPathLength, !bytes.contains(0) else {
            throw .connect("unix socket path \(path) is empty, too long (over \(maximumPathLength) bytes) or contains a NUL byte")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .connect("cannot create a unix socket: \(String(cString: strerror(errno)))") }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        var result: Int32
        repeat {
            result = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { LibC.connect(fd, $0, length) }
            }
        } while result != 0 && errno == EINTR
        if result == 0 { return fd }
        // A unix socket whose backlog is full answers EAGAIN; wait for it like a TCP connect.
        if errno == EINPROGRESS || errno == EAGAIN {
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let remaining = deadline - SystemTime.monotonicSeconds()
            if remaining > 0, poll(&descriptor, 1, Int32((remaining * 1000).rounded(.up))) > 0 {
                var error: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
                if error == 0 { return fd }
                LibC.close(fd)
                throw .connect("\(path): \(String(cString: strerror(error)))")
            }
            LibC.close(fd)
            throw .timedOut
        }
        let error = errno
        LibC.close(fd)
        throw .connect("\(path): \(String(cString: strerror(error)))")
    }
}

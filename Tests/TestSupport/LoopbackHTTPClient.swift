import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A raw TCP client on loopback for tests that must control every byte and its timing (idle,
/// dripping and oversized requests), which no HTTP client library lets a test do.
public final class LoopbackHTTPClient: @unchecked Sendable {
    // @unchecked: the descriptor is used by one thread at a time; `close` is idempotent.
    public private(set) var fd: Int32

    /// Connects to 127.0.0.1:port.
    public init(port: Int) throws {
        do { fd = try LoopbackSocket.connect(port: port) } catch {
            throw LoopbackHTTPServerError(operation: error.operation, errno: error.errno)
        }
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sends every byte; false once the peer has closed or reset the connection.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool { LoopbackSocket.send(fd, bytes) }

    /// True when something (or the end) can be read within `seconds`.
    public func readable(within seconds: Double) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, Int32(seconds * 1000)) > 0
    }

    /// Reads until the peer closes, or `timeout` passes: the bytes as text.
    public func readToEnd(timeout: Double) -> String { LoopbackSocket.readToEnd(fd, timeout: timeout) }

    /// Sends `bytes` on a fresh connection and reads the whole answer.
    public static func exchange(_ bytes: [UInt8], port: Int, timeout: Double = 30) throws -> String {
        let client = try LoopbackHTTPClient(port: port)
        client.send(bytes)
        return client.readToEnd(timeout: timeout)
    }
}

import Foundation
import Glibc
import TestSupport

/// Raw loopback sockets for the HTTP tests: a client that writes exactly the bytes given, and
/// a one-shot server that answers exactly the bytes given.
enum RawSocket {
    /// A connected TCP socket to 127.0.0.1:port.
    static func connect(port: Int) throws -> Int32 {
        do { return try LoopbackSocket.connect(port: port) } catch { throw POSIXError(.ECONNREFUSED) }
    }

    /// Sends every byte; false when the peer is gone.
    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool { LoopbackSocket.send(fd, bytes) }

    /// Reads until the peer closes or `timeout` passes; what arrived.
    static func readAll(_ fd: Int32, timeout: Double) -> String { LoopbackSocket.readToEnd(fd, timeout: timeout) }

    /// One request, one answer: `exchange` over a fresh connection.
    static func exchange(_ bytes: [UInt8], port: Int, timeout: Double = 20) throws -> String {
        let fd = try connect(port: port)
        defer { Glibc.close(fd) }
        send(fd, bytes)
        return readAll(fd, timeout: timeout)
    }

    /// Listens on 127.0.0.1:0 and answers one connection with `answer` (after reading the
    /// request's head), then closes it. Returns the port.
    static func oneShotServer(answer: [UInt8]) throws -> Int {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 4)
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        Thread.detachNewThread {
            let client = accept(listener, nil, nil)
            Glibc.close(listener)
            guard client >= 0 else { return }
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual([13, 10, 13, 10]), recv(client, &byte, 1, 0) == 1 { head.append(byte) }
            _ = send(client, answer)
            shutdown(client, Int32(SHUT_WR))
            usleep(200_000)
            Glibc.close(client)
        }
        return Int(UInt16(bigEndian: actual.sin_port))
    }
}

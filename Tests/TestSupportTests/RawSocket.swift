import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A bare TCP client for tests that need exact control over bytes and connection lifetime.
final class RawSocket {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(port: Int) throws {
        do { fd = try LoopbackSocket.connect(port: port) } catch {
            throw Failure(description: "\(error.operation): errno \(error.errno)")
        }
    }

    deinit { close() }

    /// Closes the socket (FIN).
    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    func send(_ text: String) { LoopbackSocket.send(fd, Array(text.utf8)) }

    /// Reads more bytes; false on EOF, error or timeout.
    private func fill(timeoutMs: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMs) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    struct Response {
        var statusLine: String
        var headers: [String: String]
        var body: String
        var status: Int { Int(statusLine.split(separator: " ")[1]) ?? 0 }
        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    /// Reads one response (Content-Length framed).
    func readResponse(timeoutMs: Int32 = 5000) -> Response? {
        while true {
            if let end = findHeaderEnd() {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = head.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst()
                var headers: [String: String] = [:]
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                while buffer.count < end + 4 + length {
                    guard fill(timeoutMs: timeoutMs) else { return nil }
                }
                let body = String(decoding: buffer[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                buffer.removeFirst(end + 4 + length)
                return Response(statusLine: statusLine, headers: headers, body: body)
            }
            guard fill(timeoutMs: timeoutMs) else { return nil }
        }
    }

    /// True if the server closes the connection (EOF) within the timeout.
    func waitForEOF(timeoutMs: Int32 = 5000) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMs) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) <= 0
    }

    /// Closes with RST instead of FIN (SO_LINGER 0).
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    private func findHeaderEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

/// Polls `condition` every 5 ms for up to `timeout` seconds.
func eventually(timeout: Double = 3, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(5000)
    }
    return condition()
}

import Foundation
import Glibc
import Synchronization
import Testing

@testable import HandlerKit

/// `CONSUL_HTTP_ADDR=unix:///path`: the real socket transport over a real unix-domain socket.
@Suite struct ConsulUnixSocketTests {
    /// A one-connection HTTP server on a unix socket: answers each request with `body` and
    /// records the request heads it saw.
    final class UnixServer: @unchecked Sendable {
        let path: String
        let fd: Int32
        let heads = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)

        init(body: String) throws {
            path = NSTemporaryDirectory() + "consul-\(UInt32.random(in: 0...UInt32.max)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0, listen(fd, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
            let response = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
            Thread.detachNewThread { [self] in
                let client = accept(fd, nil, nil)
                defer {
                    close(client)
                    done.signal()
                }
                var buffer = [UInt8](repeating: 0, count: 8192)
                var received: [UInt8] = []
                // Keep-alive: answer every request on this connection until the client closes it.
                while true {
                    let n = read(client, &buffer, buffer.count)
                    if n <= 0 { return }
                    received += buffer[..<n]
                    while let end = received.firstRange(of: Array("\r\n\r\n".utf8)) {
                        heads.withLock { $0.append(String(decoding: received[..<end.lowerBound], as: UTF8.self)) }
                        received.removeSubrange(..<end.upperBound)
                        _ = response.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                    }
                }
            }
        }

        deinit {
            close(fd)
            unlink(path)
        }
    }

    @Test func agentSelfOverAUnixSocket() throws {
        let server = try UnixServer(body: #"{"Config":{"Datacenter":"dc1","NodeName":"web-02"}}"#)
        let settings = try ConsulSettings.resolve(environment: ["CONSUL_HTTP_ADDR": "unix://\(server.path)", "CONSUL_HTTP_TOKEN": "tok-1"].get)
        let client = ConsulClient.live(settings)
        #expect(try client.agentSelf() == ConsulAgentInfo(nodeName: "web-02", datacenter: "dc1"))
        #expect(try client.agentSelf().nodeName == "web-02")  // the kept-alive connection is reused
        let heads = server.heads.withLock { $0 }
        #expect(heads.count == 2)
        #expect(heads.first?.hasPrefix("GET /v1/agent/self HTTP/1.1\r\nHost: localhost\r\n") == true)
        #expect(heads.first?.contains("X-Consul-Token: tok-1") == true)
    }

    @Test func missingSocketIsUnreachableNamingIt() throws {
        let path = NSTemporaryDirectory() + "absent-\(UInt32.random(in: 0...UInt32.max)).sock"
        let client = ConsulClient.live(ConsulSettings(address: .unix(path: path), timeout: 2, retry: .none))
        do {
            _ = try client.agentSelf()
            Issue.record("no error")
        } catch {
            guard case .unreachable = error else {
                Issue.record("\(error)")
                return
            }
            #expect(error.description.contains(path))
        }
    }
}

extension Dictionary where Key == String, Value == String {
    /// A lookup closure over the dictionary.
    fileprivate func get(_ name: String) -> String? { self[name] }
}

import Foundation
import Synchronization
import Testing

@testable import TestSupport

@Suite("Fake Consul: HTTP watch POST emulator (consul-api.md §6, F.8)")
struct FakeConsulWatchTests {
    /// A handler that records what it received.
    final class Received: Sendable {
        let list = Mutex<[LoopbackHTTPServer.Request]>([])
        func withLock<T>(_ body: (inout [LoopbackHTTPServer.Request]) -> T) -> T { list.withLock { body(&$0) } }
    }

    final class Handler: Sendable {
        let received = Received()
        let server: LoopbackHTTPServer

        init() throws {
            let received = received
            server = try LoopbackHTTPServer { request in
                received.withLock { $0.append(request) }
                switch request.path {
                case "/fail": return LoopbackHTTPServer.Response(status: 500, contentType: "text/plain", text: "boom")
                case "/slow":
                    Thread.sleep(forTimeInterval: 2)
                    return LoopbackHTTPServer.Response(status: 200)
                case "/moved": return LoopbackHTTPServer.Response(status: 301, headers: ["Location": "/target"])
                case "/kept": return LoopbackHTTPServer.Response(status: 307, headers: ["Location": "/target"])
                default: return LoopbackHTTPServer.Response(status: 200, contentType: "text/plain", text: "ok")
                }
            }
        }

        func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(server.port)\(path)")! }
    }

    @Test("† F.9.25: 500 is an error and not retried; a slow handler is abandoned at the timeout; 301 turns POST into GET")
    func emulator() throws {
        let handler = try Handler()
        let payload = Array(#"[{"Node":"web-02","CheckID":"serfHealth"}]"#.utf8)
        let failed = ConsulWatchPoster.post(url: handler.url("/fail"), index: 42, payload: payload)
        #expect(failed.outcome == .errorStatus(status: 500, bodyTail: "boom"))
        #expect(handler.received.withLock { $0.count } == 1, "never retried")
        let head = try #require(failed.sent.first?.head)
        #expect(
            head.hasPrefix(
                "POST /fail HTTP/1.1\r\nHost: 127.0.0.1:\(handler.server.port)\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: \(payload.count + 1)\r\n"))
        #expect(head.hasSuffix("Content-Type: application/json\r\nX-Consul-Index: 42\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"))
        #expect(handler.received.withLock { $0.first?.body } == Data(payload + [10]))

        let slow = ConsulWatchPoster.post(url: handler.url("/slow"), timeout: 0.5, index: 42, payload: payload)
        #expect(slow.outcome == .failedToInvoke(reason: "context deadline exceeded"))

        let moved = ConsulWatchPoster.post(url: handler.url("/moved"), index: 42, payload: payload)
        #expect(moved.outcome == .ok(status: 200))
        #expect(moved.sent.map(\.method) == ["POST", "GET"])
        let redirected = try #require(handler.received.withLock { $0.last })
        #expect(redirected.method == "GET")
        #expect(redirected.body.isEmpty)
        let kept = ConsulWatchPoster.post(url: handler.url("/kept"), index: 42, payload: payload)
        #expect(kept.sent.map(\.method) == ["POST", "POST"])
        #expect(handler.received.withLock { $0.last?.body } == Data(payload + [10]))

        let refused = ConsulWatchPoster.post(url: URL(string: "http://127.0.0.1:1/")!, index: 1, payload: payload)
        guard case .failedToInvoke = refused.outcome else {
            Issue.record("expected a failure, got \(refused.outcome)")
            return
        }
    }

    @Test("fireChecksWatch: one POST per agent with the cluster's critical checks, Go-escaped, and the checks index")
    func fire() throws {
        let handler = try Handler()
        let consul = FakeConsul()
        consul.addNode("web-02")
        consul.setCheck(node: "web-02", checkID: "disk", status: "critical", output: "<full> & more")
        consul.failNode("web-02")
        let results = ConsulWatchPoster.fireChecksWatch(consul, state: "critical", url: handler.url("/ok"), agents: 3)
        #expect(results.map(\.outcome) == Array(repeating: .ok(status: 200), count: 3))
        let bodies = handler.received.withLock { $0.map { String(decoding: $0.body, as: UTF8.self) } }
        #expect(Set(bodies).count == 1)
        let body = try #require(bodies.first)
        #expect(body.hasSuffix("]\n"))
        #expect(body.contains(#""Output":"\u003cfull\u003e \u0026 more""#))
        #expect(body.contains(#""Type":"","ExposedPort":0,"Definition":{"Interval":"0s""#), "no top-level Interval/Timeout")
        let checks = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]])
        #expect(checks.map { $0["CheckID"] as? String } == ["disk", "serfHealth"])
        let index = handler.received.withLock { $0.first?.headers["X-Consul-Index"] }
        #expect(index == consul.check(node: "web-02", id: "serfHealth").map { String($0.modifyIndex) })
    }
}

import Foundation
import Glibc
import Synchronization
import Testing

@testable import Platform

/// The serve side: concurrent reads with a total deadline, 413 before the body, deliveries one
/// at a time.
@Suite struct HTTPServerTests {
    final class Running: Sendable {
        let server: HTTPServer
        let done = DispatchSemaphore(value: 0)
        init(_ limits: HTTPServer.Limits, handle: @escaping @Sendable (HTTPMessage.Request) -> HTTPServer.Reply) throws {
            server = try HTTPServer(host: "127.0.0.1", port: 0, limits: limits)
            Thread.detachNewThread { [server, done] in
                try? server.serve(handle)
                done.signal()
            }
        }
        func stop() {
            server.stop()
            _ = done.wait(timeout: .now() + 5)
        }
    }

    static func post(_ body: String, extra: String = "") -> [UInt8] {
        Array("POST /hook HTTP/1.1\r\nHost: x\r\n\(extra)Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    static let echo: @Sendable (HTTPMessage.Request) -> HTTPServer.Reply = { request in
        HTTPServer.Reply(status: 200, reason: "OK", body: request.body)
    }

    @Test func idleAndDrippingClientsDoNotHoldUpARequest() throws {
        var limits = HTTPServer.Limits()
        limits.readTimeout = 30
        let running = try Running(limits, handle: Self.echo)
        defer { running.stop() }
        let idle = try RawSocket.connect(port: running.server.port)
        defer { close(idle) }
        let drip = try RawSocket.connect(port: running.server.port)
        defer { close(drip) }
        RawSocket.send(drip, Array("POST / HTTP/1.1\r\nContent-Len".utf8))
        let started = Date()
        let answer = try RawSocket.exchange(Self.post("[]"), port: running.server.port)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer)")
        #expect(answer.hasSuffix("\r\n\r\n[]"))
        #expect(Date().timeIntervalSince(started) < 10)  // one at a time, this waited 30 s
    }

    @Test func aDrippingClientMeetsTheTotalDeadline() throws {
        var limits = HTTPServer.Limits()
        limits.readTimeout = 1
        let running = try Running(limits, handle: Self.echo)
        defer { running.stop() }
        let drip = try RawSocket.connect(port: running.server.port)
        defer { close(drip) }
        let head = Array("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n".utf8)
        let started = Date()
        var answer = ""
        // One byte every 100 ms: a receive timeout that restarts on every byte never fires.
        for byte in head + [UInt8](repeating: 120, count: 100) {
            guard RawSocket.send(drip, [byte]) else { break }
            var descriptor = pollfd(fd: drip, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 100) > 0 {
                answer = RawSocket.readAll(drip, timeout: 5)
                break
            }
            if Date().timeIntervalSince(started) > 15 { break }
        }
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(answer)")
        #expect(answer.contains(#"{"error":"request not received whole within 1 s"}"#))
    }

    @Test func aTooLargeBodyIs413WithoutBeingRead() throws {
        var limits = HTTPServer.Limits()
        limits.bodySize = 1000
        let handled = Atomic<Int>(0)
        let running = try Running(limits) { request in
            handled.add(1, ordering: .relaxed)
            return Self.echo(request)
        }
        defer { running.stop() }
        // The header claims 1 GiB; no body byte is sent, and the answer comes anyway.
        let answer = try RawSocket.exchange(Array("POST / HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n".utf8), port: running.server.port, timeout: 5)
        #expect(answer.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(answer)")
        #expect(answer.contains(#"{"error":"request body larger than 1000 bytes"}"#))
        let chunked = try RawSocket.exchange(Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n".utf8), port: running.server.port, timeout: 5)
        #expect(chunked.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(chunked)")
        #expect(try RawSocket.exchange(Self.post(String(repeating: "a", count: 1000)), port: running.server.port).hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(handled.load(ordering: .relaxed) == 1)
    }

    /// Connections together hold at most `bufferedBytes`: many large requests at once are answered
    /// 503 (with Retry-After) past it instead of growing memory; the budget comes back when a
    /// request is done.
    @Test func requestsTogetherHoldAtMostTheBufferBudget() throws {
        var limits = HTTPServer.Limits()
        limits.bodySize = 100_000
        limits.bufferedBytes = 150_000
        let running = try Running(limits, handle: Self.echo)
        defer { running.stop() }
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 100_000)
        let head = Array("POST / HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        // A holds 90 kB of its request, unfinished.
        let first = try RawSocket.connect(port: running.server.port)
        defer { close(first) }
        #expect(RawSocket.send(first, head + body[..<90_000]))
        Thread.sleep(forTimeInterval: 0.3)
        // B's whole request would make 190 kB: refused, and told when to come back.
        let refused = try RawSocket.exchange(head + body, port: running.server.port, timeout: 5)
        #expect(refused.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(refused.prefix(200))")
        #expect(refused.contains("Retry-After: 1\r\n"))
        #expect(refused.contains("holds 150000 bytes of requests at most"))
        // A finishes and is answered; its bytes are given back, so B's retry goes through.
        #expect(RawSocket.send(first, Array(body[90_000...])))
        let answer = RawSocket.readAll(first, timeout: 5)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer.prefix(200))")
        let retried = try RawSocket.exchange(head + body, port: running.server.port, timeout: 5)
        #expect(retried.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(retried.prefix(200))")
    }

    @Test func malformedRequestsAre400AndTheServerGoesOn() throws {
        let running = try Running(HTTPServer.Limits(), handle: Self.echo)
        defer { running.stop() }
        let smuggled = try RawSocket.exchange(
            Array("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8), port: running.server.port)
        #expect(smuggled.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(smuggled)")
        #expect(smuggled.contains("both Transfer-Encoding and Content-Length"))
        let quoted = try RawSocket.exchange(Array("POST / HTTP/1.1\r\nContent-Length: \"1\\\r\n\r\n".utf8), port: running.server.port)
        #expect(quoted.contains(#"{"error":"malformed HTTP request: bad Content-Length \"1\\"}"#), "\(quoted)")
        #expect(try RawSocket.exchange(Self.post("{}"), port: running.server.port).hasSuffix("\r\n\r\n{}"))
    }

    @Test func expectContinueIsAnswered() throws {
        let running = try Running(HTTPServer.Limits(), handle: Self.echo)
        defer { running.stop() }
        let fd = try RawSocket.connect(port: running.server.port)
        defer { close(fd) }
        RawSocket.send(fd, Array("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        var buffer = [UInt8](repeating: 0, count: 100)
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&descriptor, 1, 5000) == 1)
        let n = recv(fd, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer[..<max(0, n)], as: UTF8.self) == "HTTP/1.1 100 Continue\r\n\r\n")
        RawSocket.send(fd, Array("ok".utf8))
        #expect(RawSocket.readAll(fd, timeout: 5).hasSuffix("\r\n\r\nok"))
    }

    @Test func deliveriesAreHandledOneAtATime() throws {
        let inside = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let running = try Running(HTTPServer.Limits()) { request in
            let now = inside.add(1, ordering: .sequentiallyConsistent).newValue
            _ = most.max(now, ordering: .sequentiallyConsistent)
            usleep(20_000)
            inside.subtract(1, ordering: .sequentiallyConsistent)
            return Self.echo(request)
        }
        defer { running.stop() }
        let answers = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            let answer = (try? RawSocket.exchange(Self.post("\(index)"), port: running.server.port)) ?? ""
            answers.withLock { $0.append(answer) }
        }
        #expect(answers.withLock { $0.filter { $0.hasPrefix("HTTP/1.1 200 OK\r\n") }.count } == 8)
        #expect(most.load(ordering: .sequentiallyConsistent) == 1)
    }
}

/// The client side: the decoder's limits on a real connection.
@Suite struct HTTPConnectionTests {
    static func get(_ port: Int) throws(HTTPConnection.Failure) -> HTTPConnection.Response {
        let connection = try HTTPConnection(host: "127.0.0.1", port: port, tls: false, deadline: SystemTime.monotonicSeconds() + 20)
        return try connection.send(method: "GET", target: "/", headers: [], body: [], deadline: SystemTime.monotonicSeconds() + 20)
    }

    @Test func aChunkSizeNearIntMaxIsAnErrorNotATrap() throws {
        let port = try RawSocket.oneShotServer(answer: Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nabc".utf8))
        #expect(throws: HTTPConnection.Failure.broken("response body larger than 64 MiB")) { try Self.get(port) }
    }

    @Test func anEndlessBodyStopsAtTheLimit() throws {
        var answer = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".utf8)
        answer += [UInt8](repeating: 120, count: (64 << 20) + 1)
        let port = try RawSocket.oneShotServer(answer: answer)
        #expect(throws: HTTPConnection.Failure.broken("response body larger than 64 MiB")) { try Self.get(port) }
    }

    @Test func chunkedAndInterimResponsesAreRead() throws {
        let port = try RawSocket.oneShotServer(
            answer: Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n0\r\n\r\n".utf8))
        let response = try Self.get(port)
        #expect(response.status == 200)
        #expect(response.body == Array("{}".utf8))
    }
}

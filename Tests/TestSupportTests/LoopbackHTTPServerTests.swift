import Foundation
import Synchronization
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Echoes method, target and body; `/slow` sleeps 200 ms first.
private func echoServer(idleTimeout: Duration = .seconds(30)) throws -> LoopbackHTTPServer {
    try LoopbackHTTPServer(idleTimeout: idleTimeout) { request in
        if request.path == "/slow" { usleep(200_000) }
        let text = "\(request.method) \(request.target) \(String(decoding: request.body, as: UTF8.self))"
        var headers = LoopbackHTTPServer.Headers()
        headers.add("X-Connection-ID", "\(request.connectionID)")
        if request.path == "/close" { return LoopbackHTTPServer.Response(status: 200, headers: headers, body: Data(text.utf8), disposition: .sendAndClose) }
        if request.path == "/drop" { return .drop }
        return LoopbackHTTPServer.Response(status: 200, contentType: "text/plain", text: text, headers: headers)
    }
}

@Suite("LoopbackHTTPServer")
struct LoopbackHTTPServerTests {
    @Test func bindsAnEphemeralLoopbackPort() throws {
        let server = try echoServer()
        #expect(server.port > 0)
        let socket = try RawSocket(port: server.port)
        socket.send("GET /hello?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try #require(socket.readResponse())
        #expect(response.statusLine == "HTTP/1.1 200 OK")
        #expect(response.body == "GET /hello?x=1 ")
        #expect(server.requestCount == 1)
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        let server = try echoServer()
        let socket = try RawSocket(port: server.port)
        // Two pipelined requests, one with a body, headers in odd case.
        socket.send("POST /a HTTP/1.1\r\nhOsT: x\r\ncontent-LENGTH: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(socket.readResponse()?.body == "POST /a hello")
        #expect(socket.readResponse()?.body == "GET /b ")
        socket.send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(socket.readResponse()?.body == "GET /c ")
        #expect(server.acceptedConnections == 1)
        #expect(server.currentConnections == 1)
    }

    @Test func connectionCloseIsHonoured() throws {
        let server = try echoServer()
        let socket = try RawSocket(port: server.port)
        socket.send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let response = try #require(socket.readResponse())
        #expect(response.header("Connection") == "close")
        #expect(socket.waitForEOF())
        #expect(eventually { server.currentConnections == 0 })

        // HTTP/1.0 closes by default; the handler may also ask to close.
        let old = try RawSocket(port: server.port)
        old.send("GET /a HTTP/1.0\r\n\r\n")
        #expect(old.readResponse()?.status == 200)
        #expect(old.waitForEOF())
        let asked = try RawSocket(port: server.port)
        asked.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(asked.readResponse()?.header("Connection") == "close")
        #expect(asked.waitForEOF())
    }

    @Test func chunkedBodyAndExpectContinue() throws {
        let server = try echoServer()
        let socket = try RawSocket(port: server.port)
        socket.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        #expect(socket.readResponse()?.body == "POST /c hello world")
        socket.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        #expect(socket.readResponse()?.status == 100)
        socket.send("abc")
        #expect(socket.readResponse()?.body == "POST /e abc")
    }

    @Test func malformedAndOversizedRequestsAreRejected() throws {
        let server = try echoServer()
        let garbage = try RawSocket(port: server.port)
        garbage.send("this is not http\r\n\r\n")
        #expect(garbage.readResponse()?.status == 400)
        #expect(garbage.waitForEOF())
        let huge = try RawSocket(port: server.port)
        huge.send("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 70_000) + "\r\n\r\n")
        #expect(huge.readResponse()?.status == 431)
    }

    @Test func clientsThatVanishMidRequestDoNotHurtTheServer() throws {
        let server = try echoServer()
        // Partial head, then FIN.
        let partialHead = try RawSocket(port: server.port)
        partialHead.send("GET /a HTTP/1.1\r\nHo")
        partialHead.close()
        // Partial body, then RST.
        let partialBody = try RawSocket(port: server.port)
        partialBody.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        partialBody.reset()
        // Request sent, connection reset before the (slow) answer: the server's send fails with EPIPE/ECONNRESET,
        // which must not raise SIGPIPE.
        let impatient = try RawSocket(port: server.port)
        impatient.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(20_000)
        impatient.reset()
        usleep(300_000)
        // A dropped answer closes without a response.
        let dropped = try RawSocket(port: server.port)
        dropped.send("GET /drop HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(dropped.waitForEOF())

        let fine = try RawSocket(port: server.port)
        fine.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(fine.readResponse()?.body == "GET /ok ")
        #expect(eventually { server.currentConnections == 1 })
    }

    @Test func connectionCountersFollowTheClientsView() throws {
        let server = try echoServer()
        var sockets: [RawSocket] = []
        for _ in 0..<5 { sockets.append(try RawSocket(port: server.port)) }
        #expect(eventually { server.acceptedConnections == 5 })
        #expect(server.currentConnections == 5)
        #expect(server.maxConcurrentConnections == 5)
        sockets.removeAll()  // closes all five
        #expect(eventually { server.currentConnections == 0 })
        #expect(server.maxConcurrentConnections == 5)
        server.resetConnectionStatistics()
        #expect(server.maxConcurrentConnections == 0)

        // Strictly sequential clients (connect, request, answer, close, next) never count as concurrent,
        // even though the server may not have noticed the previous FIN yet when the next connection arrives.
        for i in 0..<30 {
            let socket = try RawSocket(port: server.port)
            socket.send("GET /\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(socket.readResponse()?.status == 200)
            socket.close()
        }
        #expect(server.maxConcurrentConnections == 1)
        #expect(server.acceptedConnections == 35)
    }

    @Test func slowHandlersDoNotSerializeConnections() throws {
        let server = try echoServer()
        let statuses = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        // Real threads (not the cooperative pool), so the clients themselves run in parallel.
        for _ in 0..<8 {
            Thread {
                let status = (try? RawSocket(port: server.port)).flatMap { socket -> Int? in
                    socket.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                    return socket.readResponse(timeoutMs: 5000)?.status
                }
                statuses.withLock { $0.append(status ?? 0) }
                done.signal()
            }.start()
        }
        for _ in 0..<8 { #expect(done.wait(timeout: .now() + 10) == .success) }
        #expect(statuses.withLock { $0 } == Array(repeating: 200, count: 8))
        // Parallelism is shown by the connection counter (tests are not timed): all 8 were open at once.
        #expect(server.maxConcurrentConnections == 8)
    }

    @Test func idleKeepAliveConnectionsTimeOut() throws {
        let server = try echoServer(idleTimeout: .milliseconds(100))
        let socket = try RawSocket(port: server.port)
        socket.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(socket.readResponse()?.status == 200)
        #expect(socket.waitForEOF(timeoutMs: 2000))
        #expect(eventually { server.currentConnections == 0 })
    }

    @Test func stopClosesListenerAndConnections() throws {
        let server = try echoServer()
        let port = server.port
        let open = try RawSocket(port: port)
        open.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(open.readResponse()?.status == 200)
        server.stop()
        #expect(open.waitForEOF())
        #expect(throws: (any Error).self) { try RawSocket(port: port) }
        server.stop()  // idempotent
    }

    @Test func deinitReleasesThePort() throws {
        var port = 0
        do {
            let server = try echoServer()
            port = server.port
            let socket = try RawSocket(port: port)
            socket.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(socket.readResponse()?.status == 200)
        }
        #expect(throws: (any Error).self) { try RawSocket(port: port) }
    }

    @Test func worksWithURLSession() async throws {
        let server = try echoServer()
        let client = TestClient()
        let url = URL(string: "http://127.0.0.1:\(server.port)/path%20x?q=1")!
        for _ in 0..<3 {
            let reply = try await client.send("POST", url, body: Data("body".utf8))
            #expect(reply.status == 200)
            #expect(reply.text == "POST /path%20x?q=1 body")
        }
        // URLSession keeps the connection alive between sequential requests.
        #expect(server.acceptedConnections == 1)
    }
}

@Suite("SHA256")
struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hex(String(repeating: "a", count: 1000))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        #expect(SHA256.hex("déploy") == SHA256.hex(bytes: Array("déploy".utf8)))
    }
}

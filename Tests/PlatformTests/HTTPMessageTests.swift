import Testing

@testable import Platform

/// HTTP/1.1 framing without a socket: bytes in, message out.
@Suite struct HTTPMessageTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Feeds `input` in pieces of `step` bytes and returns the first non-`needMore` step.
    static func request(_ input: [UInt8], step: Int = .max, limit: Int = 1 << 20, finish: Bool = false) -> HTTPMessage.Step<HTTPMessage.Request> {
        var decoder = HTTPMessage.RequestDecoder(maximumHeaderSize: 1024, maximumBodySize: limit)
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + min(step, input.count))
            decoder.feed(input[offset..<end])
            offset = end
            let step = decoder.next()
            if case .needMore = step { continue }
            return step
        }
        if finish { decoder.finish() }
        return decoder.next()
    }

    static func response(_ input: [UInt8], method: String = "GET", step: Int = .max, limit: Int = 1 << 20, finish: Bool = false)
        -> HTTPMessage.Step<HTTPMessage.Response>
    {
        var decoder = HTTPMessage.ResponseDecoder(maximumHeaderSize: 1024, maximumBodySize: limit)
        decoder.requestMethod = method
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + min(step, input.count))
            decoder.feed(input[offset..<end])
            offset = end
            let step = decoder.next()
            if case .needMore = step { continue }
            return step
        }
        if finish { decoder.finish() }
        return decoder.next()
    }

    static func failure<M>(_ step: HTTPMessage.Step<M>) -> HTTPMessage.Failure? {
        if case .error(let failure) = step { return failure }
        return nil
    }

    static func isMalformed<M>(_ step: HTTPMessage.Step<M>) -> Bool {
        if case .error(.malformed) = step { return true }
        return false
    }

    // MARK: Requests

    @Test(arguments: [1, 7, 1000])
    func aContentLengthRequestFedInPieces(step: Int) throws {
        let input = Self.bytes("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nX-Consul-Index: 42\r\n\r\n[{\"a\":1}]\r\n")
        guard case .message(let request) = Self.request(input, step: step) else {
            Issue.record("no message")
            return
        }
        #expect(request.method == "POST")
        #expect(request.target == "/hook")
        #expect(request.header("x-consul-index") == "42")
        #expect(request.body == Self.bytes("[{\"a\":1}]\r\n"))
    }

    @Test func aChunkedRequestWithExtensionsAndTrailers() {
        let input = Self.bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1 ; x\r\n!\r\n0\r\nExpires: never\r\n\r\n")
        for step in [1, 3, input.count] {
            guard case .message(let request) = Self.request(input, step: step) else {
                Issue.record("no message at step \(step)")
                continue
            }
            #expect(request.body == Self.bytes("hello!"))
        }
    }

    @Test func noBodyWithoutFraming() {
        guard case .message(let request) = Self.request(Self.bytes("GET / HTTP/1.1\r\n\r\n")) else {
            Issue.record("no message")
            return
        }
        #expect(request.body.isEmpty)
    }

    @Test func aTooLargeBodyIsRefusedFromItsHeaderBeforeAnyBodyByte() {
        var decoder = HTTPMessage.RequestDecoder(maximumBodySize: 1000)
        decoder.feed(Self.bytes("POST / HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n"))
        #expect(Self.failure(decoder.next()) == .bodyTooLarge(limit: 1000))
        // Sticky: nothing after it is read.
        decoder.feed([UInt8](repeating: 65, count: 10))
        #expect(Self.failure(decoder.next()) == .bodyTooLarge(limit: 1000))
    }

    @Test func aChunkedBodyIsRefusedAsSoonAsItGrowsPastTheLimit() {
        let input = Self.bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n")
        #expect(Self.failure(Self.request(input, limit: 10)) == .bodyTooLarge(limit: 10))
    }

    @Test(arguments: [
        "99999999999999999999999999999", "9223372036854775807", "9223372036854775808",
    ])
    func hugeContentLengthsAreTooLargeNotATrap(length: String) {
        let input = Self.bytes("POST / HTTP/1.1\r\nContent-Length: \(length)\r\n\r\n")
        #expect(Self.failure(Self.request(input)) == .bodyTooLarge(limit: 1 << 20))
    }

    @Test(arguments: [
        "Content-Length: -1", "Content-Length: +5", "Content-Length: 0x10", "Content-Length: 5 5", "Content-Length:",
        "Content-Length: 5\r\nContent-Length: 6", "Content-Length: 5, 6",
        "Content-Length: 5\r\nTransfer-Encoding: chunked", "Transfer-Encoding: chunked\r\nContent-Length: 5",
        "Transfer-Encoding: gzip", "Transfer-Encoding: chunked, gzip", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
    ])
    func ambiguousOrInvalidFramingIsRefused(fields: String) {
        let input = Self.bytes("POST / HTTP/1.1\r\n\(fields)\r\n\r\n12345")
        #expect(Self.isMalformed(Self.request(input)), "\(fields)")
    }

    @Test func duplicateIdenticalContentLengthsAreOneLength() {
        let input = Self.bytes("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc")
        guard case .message(let request) = Self.request(input) else {
            Issue.record("no message")
            return
        }
        #expect(request.body == Self.bytes("abc"))
    }

    @Test(arguments: [
        "POST / HTTP/1.1\r\nHost : x\r\n\r\n",  // white space before the colon
        "POST / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",  // obs-fold
        "POST / HTTP/1.1\r\nHost: x\nEvil: y\r\n\r\n",  // bare LF
        "POST / HTTP/1.1\r\nHost: x\ry\r\n\r\n",  // bare CR
        "POST / HTTP/1.1\r\nHost: a\u{1}b\r\n\r\n",  // control character
        "POST / HTTP/1.1\r\nNo colon here\r\n\r\n",
        "POST /  HTTP/1.1\r\n\r\n", "POST / HTTP/2.0\r\n\r\n", "POST /\r\n\r\n", "P(ST / HTTP/1.1\r\n\r\n",
    ])
    func malformedHeadsAreRefused(head: String) {
        #expect(Self.isMalformed(Self.request(Self.bytes(head))), "\(head.debugDescription)")
    }

    @Test func anOversizedHeaderIsRefusedWithoutItsEnd() {
        var decoder = HTTPMessage.RequestDecoder(maximumHeaderSize: 1024, maximumBodySize: 1 << 20)
        decoder.feed(Self.bytes("POST / HTTP/1.1\r\nX: "))
        #expect(
            {
                if case .needMore = decoder.next() { return true }
                return false
            }())
        decoder.feed([UInt8](repeating: 97, count: 2000))
        #expect(Self.failure(decoder.next()) == .headerTooLarge(limit: 1024))
    }

    @Test func theHeadIsAvailableForExpectContinue() {
        var decoder = HTTPMessage.RequestDecoder()
        decoder.feed(Self.bytes("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"))
        #expect(
            {
                if case .needMore = decoder.next() { return true }
                return false
            }())
        #expect(decoder.pendingHead?.header("Expect") == "100-continue")
        decoder.feed(Self.bytes("{}"))
        guard case .message(let request) = decoder.next() else {
            Issue.record("no message")
            return
        }
        #expect(request.body == Self.bytes("{}"))
        #expect(decoder.pendingHead == nil)
    }

    @Test func aClosedConnectionTruncatesARequest() {
        #expect(
            Self.failure(Self.request(Self.bytes("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), finish: true))
                == .truncated("connection closed inside the body"))
        #expect(Self.failure(Self.request([], finish: true)) == .truncated("connection closed before a request"))
        #expect(Self.failure(Self.request(Self.bytes("POST / HT"), finish: true)) == .truncated("connection closed inside the request header"))
    }

    // MARK: Responses

    @Test func aContentLengthResponseAndTheNextOnTheSameConnection() {
        var decoder = HTTPMessage.ResponseDecoder()
        decoder.feed(Self.bytes("HTTP/1.1 201 Created\r\nLocation: /queue/item/7/\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        guard case .message(let first) = decoder.next() else {
            Issue.record("no first")
            return
        }
        #expect(first.status == 201 && first.reason == "Created" && first.body == Self.bytes("ok") && !first.closesConnection)
        #expect(first.header("location") == "/queue/item/7/")
        guard case .message(let second) = decoder.next() else {
            Issue.record("no second")
            return
        }
        #expect(second.status == 200 && second.body.isEmpty)
        #expect(decoder.buffered == 0)
    }

    @Test(arguments: [1, 2, 5, 1000])
    func aChunkedResponseWithExtensionsAndTrailers(step: Int) {
        let input = Self.bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a;ext=\"q\"\r\nabcdefghijklmnopqrstuvwxyz\r\n00A\r\n0123456789\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n"
        )
        guard case .message(let response) = Self.response(input, step: step) else {
            Issue.record("no message")
            return
        }
        #expect(response.body == Self.bytes("abcdefghijklmnopqrstuvwxyz0123456789"))
        #expect(!response.closesConnection)
    }

    @Test func anEOFDelimitedResponseEndsWithTheConnection() {
        let input = Self.bytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        var decoder = HTTPMessage.ResponseDecoder()
        decoder.feed(input)
        #expect(
            {
                if case .needMore = decoder.next() { return true }
                return false
            }())
        decoder.finish()
        guard case .message(let response) = decoder.next() else {
            Issue.record("no message")
            return
        }
        #expect(response.body == Self.bytes("all of it"))
        #expect(response.closesConnection)
    }

    @Test func anEOFDelimitedResponseHasALimit() {
        let input = Self.bytes("HTTP/1.1 200 OK\r\n\r\n") + [UInt8](repeating: 120, count: 2000)
        #expect(Self.failure(Self.response(input, limit: 1000)) == .bodyTooLarge(limit: 1000))
    }

    @Test func interimResponsesAreSkipped() {
        let input = Self.bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
        for step in [1, input.count] {
            guard case .message(let response) = Self.response(input, step: step) else {
                Issue.record("no message")
                continue
            }
            #expect(response.status == 200 && response.body == [120] && response.interimResponses == 2)
        }
    }

    @Test func responsesWithoutABody() {
        guard case .message(let head) = Self.response(Self.bytes("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"), method: "HEAD") else {
            Issue.record("HEAD")
            return
        }
        #expect(head.body.isEmpty)
        guard case .message(let noContent) = Self.response(Self.bytes("HTTP/1.1 204 No Content\r\n\r\n")) else {
            Issue.record("204")
            return
        }
        #expect(noContent.status == 204 && !noContent.closesConnection)
    }

    @Test func connectionCloseAndHTTP10EndTheConnection() {
        guard case .message(let close) = Self.response(Self.bytes("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n")) else {
            Issue.record("close")
            return
        }
        #expect(close.closesConnection)
        guard case .message(let old) = Self.response(Self.bytes("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")) else {
            Issue.record("1.0")
            return
        }
        #expect(old.closesConnection)
    }

    @Test(arguments: ["ffffffffffffffffffff", "7fffffffffffffff", "8000000000000000", "000000000000000000000000000000000000000000000000100001"])
    func hugeChunkSizesAreTooLargeNotATrap(size: String) {
        let input = Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\nabc")
        #expect(Self.failure(Self.response(input, limit: 1 << 16)) == .bodyTooLarge(limit: 1 << 16))
    }

    @Test(arguments: [
        "-1\r\n", "0x10\r\n", "\r\n", " 5\r\nhello\r\n", "g\r\n", "5\r\nhelloX\r\n", "5\r\nhello\n0\r\n\r\n", "5\nhello\r\n",
        "5;a\u{1}b\r\nhello\r\n",
    ])
    func badChunkFramingIsRefused(chunks: String) {
        let input = Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(chunks)0\r\n\r\n")
        #expect(Self.isMalformed(Self.response(input)), "\(chunks.debugDescription)")
    }

    @Test func aChunkedBodyPastTheLimitIsRefused() {
        let chunk = "400\r\n" + String(repeating: "z", count: 1024) + "\r\n"
        let input = Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: chunk, count: 5) + "0\r\n\r\n")
        #expect(Self.failure(Self.response(input, limit: 4096)) == .bodyTooLarge(limit: 4096))
        guard case .message(let fits) = Self.response(input, limit: 5120) else {
            Issue.record("exactly the limit")
            return
        }
        #expect(fits.body.count == 5120)
    }

    @Test func oversizedTrailersAreRefused() {
        let input = Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X-T: 0123456789\r\n", count: 100) + "\r\n")
        #expect(Self.failure(Self.response(input)) == .headerTooLarge(limit: 1024))
    }

    @Test(arguments: [
        "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 OK\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\nabc",
    ])
    func malformedResponsesAreRefused(input: String) {
        #expect(Self.isMalformed(Self.response(Self.bytes(input), finish: true)), "\(input.debugDescription)")
    }

    @Test func aResponseCutShortIsTruncated() {
        #expect(
            Self.failure(Self.response(Self.bytes("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"), finish: true))
                == .truncated("connection closed inside the body"))
        #expect(
            Self.failure(Self.response(Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), finish: true))
                == .truncated("connection closed inside a chunk"))
        #expect(Self.failure(Self.response([], finish: true)) == .truncated("connection closed before a response"))
    }
}

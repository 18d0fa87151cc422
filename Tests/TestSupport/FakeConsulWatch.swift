import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP watch handler of a Consul agent (`makeHTTPWatchHandler`, consul-api.md §6 and F.8), as a test-side
/// driver: one fresh connection per POST, Go's header order with `Connection: close`, redirects as Go follows
/// them, the whole exchange under one deadline, and never a retry. Plain `http://` to loopback only.
public enum ConsulWatchPoster {
    /// What the agent would log.
    public enum Outcome: Sendable, Equatable {
        /// 2xx (logged at TRACE with the body).
        case ok(status: Int)
        /// Any other status: logged as an error with the status and the last 4 KiB of the body.
        case errorStatus(status: Int, bodyTail: String)
        /// Connection refused or reset, timeout, malformed answer, too many redirects: "Failed to invoke http
        /// watch handler".
        case failedToInvoke(reason: String)
    }

    /// One request as it went on the wire.
    public struct SentRequest: Sendable {
        public var method: String
        public var target: String
        /// The request head (request line and headers, CRLF-separated), exactly as sent.
        public var head: String
        public var body: [UInt8]
    }

    public struct Delivery: Sendable {
        public var outcome: Outcome
        /// Every request sent (more than one after redirects).
        public var sent: [SentRequest]
    }

    /// POSTs (or `method`s) `payload` to `url` as the agent does for a watch with `handler_type: "http"`.
    /// - Parameters:
    ///   - payload: the watch result; a newline is added when missing (the agent sends compact JSON + `\n`).
    ///   - headers: `http_handler_config.header` (names are canonicalised, list values repeated).
    public static func post(
        url: URL, method: String = "POST", headers: [String: [String]] = [:], timeout: Double = 10, index: UInt64,
        payload: [UInt8]
    ) -> Delivery {
        var body = payload
        if body.last != 10 { body.append(10) }
        let deadline = Date().addingTimeInterval(timeout)
        var sent: [SentRequest] = []
        var current = url
        var currentMethod = method
        var currentBody: [UInt8]? = body
        for _ in 0...10 {
            guard current.scheme == "http", let host = current.host, let port = current.port ?? 80 as Int? else {
                return Delivery(outcome: .failedToInvoke(reason: "unsupported URL \(current)"), sent: sent)
            }
            var target = current.path.isEmpty ? "/" : current.path
            if let q = current.query { target += "?" + q }
            var lines = ["\(currentMethod) \(target) HTTP/1.1", "Host: \(host):\(port)", "User-Agent: Go-http-client/1.1"]
            if let currentBody { lines.append("Content-Length: \(currentBody.count)") }
            var fields: [(String, String)] = []
            if currentBody != nil { fields.append(("Content-Type", "application/json")) }
            fields.append(("X-Consul-Index", String(index)))
            for (name, values) in headers {
                for v in values { fields.append((canonical(name), v)) }
            }
            for (name, value) in fields.sorted(by: { $0.0 < $1.0 }) { lines.append("\(name): \(value)") }
            lines += ["Accept-Encoding: gzip", "Connection: close"]
            let head = lines.joined(separator: "\r\n") + "\r\n\r\n"
            sent.append(SentRequest(method: currentMethod, target: target, head: head, body: currentBody ?? []))
            let answer: (status: Int, headers: [(String, String)], body: [UInt8])
            switch exchange(host: host, port: port, bytes: Array(head.utf8) + (currentBody ?? []), deadline: deadline) {
            case .success(let a): answer = a
            case .failure(let e): return Delivery(outcome: .failedToInvoke(reason: e.reason), sent: sent)
            }
            if [301, 302, 303, 307, 308].contains(answer.status),
                let location = answer.headers.first(where: { $0.0.lowercased() == "location" })?.1,
                let next = URL(string: location, relativeTo: current)?.absoluteURL
            {
                current = next
                if answer.status != 307 && answer.status != 308 {
                    currentMethod = currentMethod == "HEAD" ? "HEAD" : "GET"
                    currentBody = nil
                }
                continue
            }
            if (200..<300).contains(answer.status) { return Delivery(outcome: .ok(status: answer.status), sent: sent) }
            let tail = String(decoding: answer.body.suffix(4096), as: UTF8.self)
            return Delivery(outcome: .errorStatus(status: answer.status, bodyTail: tail), sent: sent)
        }
        return Delivery(outcome: .failedToInvoke(reason: "stopped after 10 redirects"), sent: sent)
    }

    /// The payload of a `checks` watch with `state`, as the agent encodes it: the api package's HealthCheck
    /// (no top-level Interval/Timeout), compact, HTML-escaped like Go's `json.Marshal`, plus `\n`.
    public static func checksPayload(_ consul: FakeConsul, state: String) -> (index: UInt64, payload: [UInt8]) {
        consul.engine.withState { e in
            let checks = e.state.allChecks().filter { state == "any" || $0.status == state }
            let values: [JSONValue] = checks.map { c in
                guard case .object(let members) = ConsulJSON.check(c) else { return .null }
                return .object(members.filter { $0.0 != "Interval" && $0.0 != "Timeout" })
            }
            return (max(e.state.checksTableIndex, 1), Array((goEscaped(JSONValue.array(values).serialized) + "\n").utf8))
        }
    }

    /// Fires a `checks` watch at `url` once per agent (each agent's watch fires on its own), as at start-up.
    public static func fireChecksWatch(
        _ consul: FakeConsul, state: String, url: URL, agents: Int, headers: [String: [String]] = [:],
        timeout: Double = 10
    ) -> [Delivery] {
        let (index, payload) = checksPayload(consul, state: state)
        return (0..<agents).map { _ in post(url: url, headers: headers, timeout: timeout, index: index, payload: payload) }
    }

    /// Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 (they can only occur inside strings).
    static func goEscaped(_ json: String) -> String {
        json.replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "&", with: "\\u0026").replacingOccurrences(of: "\u{2028}", with: "\\u2028")
            .replacingOccurrences(of: "\u{2029}", with: "\\u2029")
    }

    /// `textproto.CanonicalMIMEHeaderKey`: `x-custom-header` → `X-Custom-Header`.
    static func canonical(_ name: String) -> String {
        name.split(separator: "-", omittingEmptySubsequences: false).map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }
            .joined(separator: "-")
    }

    struct ExchangeError: Error {
        var reason: String
    }

    /// One connection: send, read the whole answer (Content-Length, chunked, or until close) before `deadline`.
    static func exchange(host: String, port: Int, bytes: [UInt8], deadline: Date) -> Result<
        (status: Int, headers: [(String, String)], body: [UInt8]), ExchangeError
    > {
        guard host == "127.0.0.1" || host == "localhost" else { return .failure(ExchangeError(reason: "not loopback: \(host)")) }
        let fd: Int32
        do { fd = try LoopbackSocket.connect(port: port) } catch {
            return .failure(ExchangeError(reason: error.operation == "connect" ? "dial tcp: connection refused" : "socket: errno \(error.errno)"))
        }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return .failure(ExchangeError(reason: "write: broken pipe")) }
            offset += n
        }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headEnd: Int?
        while true {
            if let parsed = parse(data, headEnd: &headEnd, closed: false) { return .success(parsed) }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return .failure(ExchangeError(reason: "context deadline exceeded")) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(remaining * 1000, 1000)))
            if ready < 0 && errno != EINTR { return .failure(ExchangeError(reason: "poll: errno \(errno)")) }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { return .failure(ExchangeError(reason: "read: connection reset by peer")) }
            if n == 0 {
                if let parsed = parse(data, headEnd: &headEnd, closed: true) { return .success(parsed) }
                return .failure(ExchangeError(reason: data.isEmpty ? "EOF" : "unexpected EOF"))
            }
            data.append(contentsOf: chunk[0..<n])
        }
    }

    /// A complete response in `data`, or nil when more bytes are needed.
    static func parse(_ data: [UInt8], headEnd: inout Int?, closed: Bool) -> (status: Int, headers: [(String, String)], body: [UInt8])? {
        if headEnd == nil {
            guard data.count >= 4 else { return nil }
            for i in 0...(data.count - 4) where data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10 {
                headEnd = i
                break
            }
        }
        guard let end = headEnd else { return nil }
        let lines = String(decoding: data[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return (0, [], []) }
        let headers: [(String, String)] = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let body = Array(data[(end + 4)...])
        if let length = headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }) {
            return body.count >= length ? (status, headers, Array(body.prefix(length))) : nil
        }
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }) {
            return dechunk(body).map { (status, headers, $0) }
        }
        return closed ? (status, headers, body) : nil
    }

    static func dechunk(_ body: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var i = 0
        while true {
            guard let nl = body[i...].firstIndex(of: 10) else { return nil }
            let sizeText = String(decoding: body[i..<nl], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
            i = nl + 1
            if size == 0 { return out }
            guard body.count >= i + size + 2 else { return nil }
            out.append(contentsOf: body[i..<(i + size)])
            i += size + 2
        }
    }
}

import Dispatch
import Platform
import Synchronization

/// The real transport: HTTP/1.1 over the platform's sockets (TLS through the system's OpenSSL
/// for https), with keep-alive and never more than `maximumConnections` connections open.
///
/// Not Foundation's URL loading: it costs a short-lived handler more than the request itself,
/// corelibs' implementation hangs on a 401 with `WWW-Authenticate` (which
/// Jenkins always sends), and it follows redirects and keeps cookies unless told not to. This
/// transport follows no redirects and keeps no cookies: the Jenkins client decides.
public final class SocketHTTPTransport: HTTPTransport, Sendable {
    public let maximumConnections: Int
    /// CA certificates (PEM) to trust for https instead of the system's.
    public let caFile: String?
    /// Every connection goes to this unix-domain socket, whatever the URL's host (Go's
    /// `DialContext` override, as the consul CLI does for `unix://`).
    public let unixSocket: String?
    /// The name TLS sends (SNI) and verifies instead of the URL's host.
    public let serverName: String?
    /// Where this command's operator sets the CA to trust (`--ca-file FILE`, `"caFile" in the
    /// jenkins object`), named when a certificate does not verify.
    public let caHint: String?
    /// HTTP proxies (from the environment: ``ProxySettings``); never used with `unixSocket`.
    public let proxies: ProxySettings
    private let slots: DispatchSemaphore
    private let pool = Mutex<Pool>(Pool())

    private struct Key: Hashable {
        var host: String
        var port: Int
        var tls: Bool
    }

    /// A connection handed between threads, one thread at a time.
    private final class Box: @unchecked Sendable {
        let connection: HTTPConnection
        init(_ connection: HTTPConnection) { self.connection = connection }
    }

    private struct Pool {
        var idle: [Key: [Box]] = [:]
        var open = 0
    }

    public init(
        maximumConnections: Int, caFile: String? = nil, unixSocket: String? = nil, serverName: String? = nil, caHint: String? = nil,
        proxies: ProxySettings = .none
    ) {
        self.maximumConnections = max(1, maximumConnections)
        self.caFile = caFile
        self.unixSocket = unixSocket
        self.serverName = serverName
        self.caHint = caHint
        self.proxies = proxies
        slots = DispatchSemaphore(value: max(1, maximumConnections))
    }

    deinit {
        pool.withLock { pool in
            for boxes in pool.idle.values { for box in boxes { box.connection.close() } }
            pool.idle = [:]
        }
    }

    public func send(_ request: HTTPRequest, timeout: Double) -> Result<HTTPResponse, TransportError> {
        guard let url = ParsedURL(request.url) else { return .failure(.invalidURL(request.url)) }
        let deadline = SystemTime.monotonicSeconds() + timeout
        guard slots.wait(timeout: .now() + max(0, timeout)) == .success else { return .failure(.timedOut(timeout)) }
        defer { slots.signal() }
        let key = Key(host: url.host, port: url.port, tls: url.tls)
        var headers = request.headers.map { ($0.name, $0.value) }
        if request.header("User-Agent") == nil { headers.append(("User-Agent", "consul-handlers/\(toolkitVersion)")) }
        if request.header("Accept") == nil { headers.append(("Accept", "*/*")) }

        var attempt = 0
        while true {
            attempt += 1
            let box: Box
            switch checkOut(key, deadline: deadline) {
            case .success(let value): box = value
            case .failure(let error): return .failure(error)
            }
            let reused = box.connection.requests > 0
            do {
                let response = try box.connection.send(method: request.method, target: url.target, headers: headers, body: request.body, deadline: deadline)
                checkIn(box, key: key)
                var fields: [String: [String]] = [:]
                for (name, value) in response.headers { fields[name.lowercased(), default: []].append(value) }
                return .success(HTTPResponse(status: response.status, headers: fields, body: response.body))
            } catch {
                discard(box)
                // A kept-alive connection the server closed meanwhile: once more on a new one.
                if reused, attempt == 1, case .broken = error { continue }
                return .failure(map(error, timeout: timeout))
            }
        }
    }

    private func checkOut(_ key: Key, deadline: Double) -> Result<Box, TransportError> {
        let reusable: Box? = pool.withLock { pool in
            if let box = pool.idle[key]?.popLast() { return box }
            // At the bound, make room by closing an idle connection to another host.
            if pool.open >= maximumConnections, let other = pool.idle.first(where: { !$0.value.isEmpty })?.key,
                let victim = pool.idle[other]?.popLast()
            {
                victim.connection.close()
                pool.open -= 1
            }
            pool.open += 1
            return nil
        }
        if let reusable { return .success(reusable) }
        do {
            return .success(
                Box(
                    try HTTPConnection(
                        host: key.host, port: key.port, tls: key.tls, caFile: caFile, deadline: deadline, unixSocket: unixSocket, serverName: serverName,
                        proxy: unixSocket == nil ? proxies.proxy(forHost: key.host, tls: key.tls) : nil)))
        } catch {
            pool.withLock { $0.open -= 1 }
            return .failure(map(error, timeout: deadline - SystemTime.monotonicSeconds()))
        }
    }

    private func checkIn(_ box: Box, key: Key) {
        if box.connection.reusable {
            pool.withLock { $0.idle[key, default: []].append(box) }
        } else {
            discard(box)
        }
    }

    private func discard(_ box: Box) {
        box.connection.close()
        pool.withLock { $0.open -= 1 }
    }

    private func map(_ error: HTTPConnection.Failure, timeout: Double) -> TransportError {
        switch error {
        case .resolve(let detail): return .cannotConnect("cannot resolve \(detail)")
        case .connect(let detail): return .cannotConnect(detail)
        case .tls(let detail): return .failed("TLS: \(detail)")
        case .untrustedCertificate: return .untrustedCertificate(error.description, hint: caHint)
        case .timedOut: return .timedOut(timeout)
        case .broken(let detail): return .failed(detail)
        }
    }
}

/// The parts of an http(s) URL a request needs.
struct ParsedURL: Equatable {
    var tls: Bool
    var host: String
    var port: Int
    /// Path and query, as sent in the request line (`/job/a/build?token=x`).
    var target: String

    init?(_ text: String) {
        let rest: Substring
        if text.hasPrefix("http://") {
            tls = false
            rest = text.dropFirst(7)
        } else if text.hasPrefix("https://") {
            tls = true
            rest = text.dropFirst(8)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }  // never send URL credentials
        var target = String(rest[authorityEnd...])
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if target.isEmpty || target.first == "?" { target = "/" + target }
        self.target = target
        var port = tls ? 443 : 80
        var host: Substring
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.first == ":" {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else { return nil }
        self.host = String(host)
        self.port = port
    }
}

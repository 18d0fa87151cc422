/// An HTTP request, as the Jenkins client builds it.
public struct HTTPRequest: Sendable, Hashable {
    public var method: String
    public var url: String
    /// Header fields in order (names as sent).
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(method: String, url: String, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The first value of a header (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// One header field.
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// An HTTP response. Redirects are never followed: a 303 from Jenkins means "merged into an
/// existing queue item" and its `Location` is the answer.
public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    /// Header fields with lower-cased names; repeated fields (`Set-Cookie`) keep every value.
    public var headers: [String: [String]]
    public var body: [UInt8]

    public init(status: Int, headers: [String: [String]] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) })
        self.body = body
    }

    /// The first value of a header (case-insensitive).
    public func header(_ name: String) -> String? { headers[name.lowercased()]?.first }

    /// The body as text (lossy), for messages.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why a request got no response.
public enum TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No connection could be made (refused, unreachable, DNS).
    case cannotConnect(String)
    /// The request did not complete in time.
    case timedOut(Double)
    /// The URL cannot be used.
    case invalidURL(String)
    /// The connection broke, or another failure below HTTP.
    case failed(String)
    /// The server's certificate did not verify. Not worth retrying: only trusting its CA
    /// (`hint` says where, for the command at hand) or fixing the certificate helps.
    case untrustedCertificate(String, hint: String?)

    /// False when trying again cannot succeed (a bad URL, a certificate that does not verify):
    /// the Jenkins client, the webhook action and the Consul client fail at once on these.
    public var isRetryable: Bool {
        switch self {
        case .cannotConnect, .timedOut, .failed: return true
        case .invalidURL, .untrustedCertificate: return false
        }
    }

    public var description: String {
        switch self {
        case .cannotConnect(let detail): return "cannot connect: \(detail)"
        case .timedOut(let seconds): return "no response within \(seconds)s"
        case .invalidURL(let url): return "invalid URL \(JenkinsURL.redacted(url))"  // never echo userinfo or a token=
        case .failed(let detail): return detail
        case .untrustedCertificate(let detail, let hint):
            return detail + "; not retried" + (hint.map { ": trust its CA with \($0)" } ?? "")
        }
    }
}

/// Sends one HTTP request and waits for its response. The seam between the Jenkins client and
/// the network: the real one is ``SocketHTTPTransport``; unit tests use ``ClosureTransport``.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest, timeout: Double) -> Result<HTTPResponse, TransportError>
}

/// A transport backed by a closure, for unit tests.
public struct ClosureTransport: HTTPTransport {
    let handler: @Sendable (HTTPRequest, Double) -> Result<HTTPResponse, TransportError>

    public init(_ handler: @escaping @Sendable (HTTPRequest, Double) -> Result<HTTPResponse, TransportError>) {
        self.handler = handler
    }

    public func send(_ request: HTTPRequest, timeout: Double) -> Result<HTTPResponse, TransportError> {
        handler(request, timeout)
    }
}

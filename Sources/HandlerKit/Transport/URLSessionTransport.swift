import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// The real transport: one ephemeral `URLSession` with no cookie storage (the Jenkins client
/// keeps the session cookie itself), redirects refused, and at most `maximumConnections`
/// connections to a host.
public final class URLSessionTransport: HTTPTransport, @unchecked Sendable {
    // @unchecked: URLSession is thread-safe but not annotated Sendable in corelibs-foundation.
    private let session: URLSession
    private let delegate: RedirectRefuser

    public init(maximumConnections: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(1, maximumConnections)
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let delegate = RedirectRefuser()
        self.delegate = delegate
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    public func send(_ request: HTTPRequest, timeout: Double) -> Result<HTTPResponse, TransportError> {
        guard let url = URL(string: request.url), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            return .failure(.invalidURL(request.url))
        }
        var urlRequest = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: max(0.001, timeout))
        urlRequest.httpMethod = request.method
        urlRequest.httpShouldHandleCookies = false
        for header in request.headers { urlRequest.addValue(header.value, forHTTPHeaderField: header.name) }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }

        let result = Mutex<Result<HTTPResponse, TransportError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let delegate = self.delegate
        let taskBox = Mutex<URLSessionTask?>(nil)
        let task = session.dataTask(with: urlRequest) { data, response, error in
            let outcome: Result<HTTPResponse, TransportError>
            let challenge = taskBox.withLock { $0 }.flatMap { delegate.takeChallengeResponse($0) }
            if let http = (response as? HTTPURLResponse) ?? challenge {
                var headers: [String: [String]] = [:]
                for (key, value) in http.allHeaderFields {
                    guard let name = key as? String, let value = value as? String else { continue }
                    headers[name.lowercased(), default: []].append(value)
                }
                outcome = .success(HTTPResponse(status: http.statusCode, headers: headers, body: data.map { [UInt8]($0) } ?? []))
            } else if let error = error as? URLError {
                switch error.code {
                case .timedOut: outcome = .failure(.timedOut(timeout))
                case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet, .networkConnectionLost:
                    outcome = .failure(.cannotConnect(Self.describe(error)))
                default: outcome = .failure(.failed(Self.describe(error)))
                }
            } else {
                outcome = .failure(.failed(error.map { "\($0)" } ?? "no response"))
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        taskBox.withLock { $0 = task }
        task.resume()
        // URLSession's own timeout is per idle period; enforce the whole request's bound too.
        if done.wait(timeout: .now() + timeout + 0.5) == .timedOut {
            task.cancel()
            _ = done.wait(timeout: .now() + 1)
            return .failure(.timedOut(timeout))
        }
        return result.withLock { $0 } ?? .failure(.failed("no response"))
    }

    private static func describe(_ error: URLError) -> String {
        switch error.code {
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .networkConnectionLost: return "connection lost"
        case .timedOut: return "timed out"
        default: return error.localizedDescription
        }
    }
}

/// Refuses every redirect so that a 303 (a merged Jenkins trigger) reaches the client as is, and
/// every authentication challenge: Jenkins answers bad credentials with 401 and
/// `WWW-Authenticate`, and on Swift 6.3's corelibs a task that gets such a challenge otherwise
/// hangs forever, past its timeout (swift-corelibs-foundation#5456). The 401 is kept so that the
/// client still sees it.
private final class RedirectRefuser: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    private let challenged = Mutex<[Int: HTTPURLResponse]>([:])

    /// The 401 (or 407) a cancelled challenge carried, for the task's completion to report.
    func takeChallengeResponse(_ task: URLSessionTask) -> HTTPURLResponse? {
        challenged.withLock { $0.removeValue(forKey: task.taskIdentifier) }
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
        completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
    ) {
        if let response = challenge.failureResponse as? HTTPURLResponse {
            challenged.withLock { $0[task.taskIdentifier] = response }
        }
        completionHandler(.cancelAuthenticationChallenge, nil)
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}

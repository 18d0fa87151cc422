import Foundation
import Synchronization
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The session delegate of `TestClient`.
///
/// * Optionally refuses redirects, so a 303 is seen raw (jenkins.md §7).
/// * Cancels HTTP authentication challenges and keeps the 401 response. On Swift 6.3.1 / Linux a 401 that carries
///   `WWW-Authenticate` (which Jenkins always sends) makes a URLSession task without this delegate method hang
///   forever (swift-corelibs-foundation#5456); with it, the task fails with `cancelled` and the 401 is only
///   available as `challenge.failureResponse`.
final class ClientDelegate: NSObject, URLSessionTaskDelegate, Sendable {
    let followRedirects: Bool
    private let challenges = Mutex<[Int: Reply]>([:])

    init(followRedirects: Bool) {
        self.followRedirects = followRedirects
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(followRedirects ? request : nil)
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
        completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
    ) {
        if let response = challenge.failureResponse as? HTTPURLResponse {
            let reply = Reply(
                status: response.statusCode, headers: Reply.headers(of: response), body: Data(), url: response.url,
                viaAuthChallenge: true)
            challenges.withLock { $0[task.taskIdentifier] = reply }
        }
        completionHandler(.cancelAuthenticationChallenge, nil)
    }

    func takeChallenge(_ taskIdentifier: Int) -> Reply? {
        challenges.withLock { $0.removeValue(forKey: taskIdentifier) }
    }
}

/// Holds a task identifier for the task's own completion handler.
final class TaskIdentifierBox: Sendable {
    let value = Mutex(-1)
}

/// A response as the tests see it.
struct Reply: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data
    /// The final URL (after redirects).
    var url: URL?
    /// The reply is the 401 of an authentication challenge that URLSession cancelled (body not available).
    var viaAuthChallenge = false

    static func headers(of response: HTTPURLResponse) -> [String: String] {
        var headers: [String: String] = [:]
        for (key, value) in response.allHeaderFields {
            headers["\(key)"] = "\(value)"
        }
        return headers
    }

    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as a JSON object.
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any], "not a JSON object: \(text)")
    }
    /// The id at the end of a `/queue/item/N/` Location.
    var queueId: Int? { header("Location").flatMap(queueIdFrom) }
}

func queueIdFrom(_ location: String) -> Int? {
    guard let range = location.range(of: "/queue/item/") else { return nil }
    return Int(location[range.upperBound...].prefix { $0.isNumber })
}

/// One isolated URLSession (`.ephemeral`, so cookies never leak between clients) with optional preemptive Basic auth.
final class TestClient: Sendable {
    let session: URLSession
    let delegate: ClientDelegate
    let authorization: String?

    init(user: String? = nil, secret: String? = nil, followRedirects: Bool = true, maxConnections: Int = 6) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 15
        configuration.httpMaximumConnectionsPerHost = maxConnections
        delegate = ClientDelegate(followRedirects: followRedirects)
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
        if let user, let secret {
            authorization = "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
    }

    deinit { session.finishTasksAndInvalidate() }

    func send(
        _ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil, authorization: String? = nil
    ) async throws -> Reply {
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let auth = authorization ?? self.authorization { request.setValue(auth, forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let delegate = delegate
        return try await withCheckedThrowingContinuation { continuation in
            let id = TaskIdentifierBox()
            let task = session.dataTask(with: request) { data, response, error in
                if let error {
                    if let challenged = delegate.takeChallenge(id.value.withLock { $0 }) {
                        continuation.resume(returning: challenged)
                    } else {
                        continuation.resume(throwing: error)
                    }
                    return
                }
                guard let http = response as? HTTPURLResponse else {
                    continuation.resume(throwing: URLError(.badServerResponse))
                    return
                }
                continuation.resume(
                    returning: Reply(
                        status: http.statusCode, headers: Reply.headers(of: http), body: data ?? Data(), url: http.url))
            }
            id.value.withLock { $0 = task.taskIdentifier }
            task.resume()
        }
    }

    func get(_ url: URL, headers: [String: String] = [:]) async throws -> Reply {
        try await send("GET", url, headers: headers)
    }

    func post(_ url: URL, headers: [String: String] = [:], form: String? = nil) async throws -> Reply {
        var h = headers
        if form != nil { h["Content-Type"] = "application/x-www-form-urlencoded" }
        return try await send("POST", url, headers: h, body: form.map { Data($0.utf8) } ?? Data())
    }

    /// GET `/crumbIssuer/api/json` and return (field, crumb).
    func crumb(_ fake: FakeJenkins) async throws -> (field: String, value: String) {
        let reply = try await get(fake.url("crumbIssuer/api/json"))
        try #require(reply.status == 200, "crumb: \(reply.status) \(reply.text)")
        let json = try reply.json()
        return (try #require(json["crumbRequestField"] as? String), try #require(json["crumb"] as? String))
    }
}

/// Percent-encodes one path segment (everything but unreserved characters), as a careful client would.
func encodeSegment(_ name: String) -> String {
    name.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"))!
}

/// `job/A/job/B/` for the full name `A/B`, each segment percent-encoded.
func jobPath(_ fullName: String) -> String {
    fullName.split(separator: "/", omittingEmptySubsequences: false).map { "job/" + encodeSegment(String($0)) + "/" }
        .joined()
}

/// The standard set-up of most tests: a user `bot` with API token `tok` and password `pw`.
func makeFake(_ edit: (inout FakeJenkins.Configuration) -> Void = { _ in }) throws -> FakeJenkins {
    var config = FakeJenkins.Configuration()
    config.users = [FakeJenkins.User("bot", password: "pw", apiTokens: ["tok"])]
    edit(&config)
    return try FakeJenkins(config)
}

extension Dictionary where Key == String, Value == Any {
    subscript(path path: String) -> Any? {
        var current: Any? = self
        for key in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(key)]
        }
        return current
    }
}

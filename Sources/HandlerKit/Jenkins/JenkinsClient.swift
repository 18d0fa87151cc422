import ConsulWatch
import FoundationEssentials
import Platform
import Synchronization

/// How the client proves who it is (jenkins.md §5.1). Secrets come from the environment or
/// from 0600 files, never from the command line, and are never printed.
public enum JenkinsCredentials: Sendable, Hashable {
    /// No user: the job must allow anonymous builds, or a build token must be given.
    case anonymous
    /// User + API token, sent preemptively as Basic auth. Needs no CSRF crumb and no cookie.
    case apiToken(user: String, token: String)
    /// User + password: Basic auth plus a CSRF crumb bound to the session cookie.
    case password(user: String, password: String)

    /// Words for dry runs and audit lines, with no secret in them.
    public var summary: String {
        switch self {
        case .anonymous: return "anonymous"
        case .apiToken(let user, _): return "API token of \(user)"
        case .password(let user, _): return "password of \(user) + CSRF crumb"
        }
    }

    var authorization: String? {
        switch self {
        case .anonymous: return nil
        case .apiToken(let user, let secret), .password(let user, let secret):
            return "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString()
        }
    }
}

/// Settings of a Jenkins client.
public struct JenkinsConfiguration: Sendable {
    /// `http://jenkins:8080` or `https://ci.example.com/jenkins` (a context path is kept).
    public var baseURL: String
    public var credentials: JenkinsCredentials
    /// The job's "Trigger builds remotely" token (`token=`), if used.
    public var buildToken: String?
    /// The longest a single request may take.
    public var requestTimeout: Double
    public var retry: RetryPolicy
    /// First interval between polls of a queue item or build; it grows to ``maximumPollInterval``.
    public var pollInterval: Double
    public var maximumPollInterval: Double

    public init(
        baseURL: String, credentials: JenkinsCredentials = .anonymous, buildToken: String? = nil,
        requestTimeout: Double = 10, retry: RetryPolicy = RetryPolicy(), pollInterval: Double = 1, maximumPollInterval: Double = 10
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.credentials = credentials
        self.buildToken = buildToken
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.pollInterval = pollInterval
        self.maximumPollInterval = maximumPollInterval
    }
}

/// A Jenkins answer that is not what was hoped for.
public enum JenkinsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No response (after retries).
    case transport(TransportError, attempts: Int)
    /// An HTTP status that means failure, with the likely cause in words.
    case http(status: Int, explanation: String, retryable: Bool)
    /// A response that does not follow Jenkins' API (a 201 with no `Location`).
    case unexpected(String)
    /// The deadline passed first.
    case deadline(String)

    public var retryable: Bool {
        switch self {
        case .transport(let error, _): return error.isRetryable
        case .deadline: return true
        case .http(_, _, let retryable): return retryable
        case .unexpected: return false
        }
    }

    public var description: String {
        switch self {
        case .transport(let error, let attempts):
            return attempts > 1 ? "\(error) (after \(attempts) attempts)" : error.description
        case .http(_, let explanation, _): return explanation
        case .unexpected(let detail): return detail
        case .deadline(let detail): return "deadline reached \(detail)"
        }
    }
}

/// What a trigger achieved.
public struct TriggerResult: Sendable, Hashable {
    /// The queue item's number, when Jenkins said it.
    public var queueItem: Int?
    /// True when Jenkins merged the request into an item already queued (303).
    public var merged: Bool
}

/// How a build ended (`Result` in Jenkins), or that it never started.
public enum BuildResult: String, Sendable, Hashable {
    case success = "SUCCESS"
    case unstable = "UNSTABLE"
    case failure = "FAILURE"
    case aborted = "ABORTED"
    case notBuilt = "NOT_BUILT"
    /// The queue item was cancelled before a build started.
    case cancelled = "CANCELLED"
}

/// Talks to Jenkins' remote API: triggers a job, follows the queue item to its build and the
/// build to its result (jenkins.md §1–§4). Thread-safe; one crumb is shared by all workers.
public final class JenkinsClient: Sendable {
    public let configuration: JenkinsConfiguration
    let transport: any HTTPTransport
    private let crumb = Mutex<CrumbState>(.unknown)

    enum CrumbState: Sendable {
        case unknown
        case notNeeded
        case issued(field: String, value: String, cookies: [String])
    }

    public init(configuration: JenkinsConfiguration, transport: any HTTPTransport) {
        self.configuration = configuration
        self.transport = transport
    }

    // MARK: Trigger

    /// The request a trigger sends (without a crumb), for dry runs and tests.
    public func triggerRequest(job: JenkinsJobPath, parameters: [(String, String)]?) -> HTTPRequest {
        let endpoint = parameters == nil ? "build" : "buildWithParameters"
        var url = configuration.baseURL + job.urlPath + "/" + endpoint
        var query: [(String, String)] = []
        if let token = configuration.buildToken { query.append(("token", token)) }
        // Anonymous with a build token: GET, which needs no crumb (jenkins.md §5.1 item 3).
        let method = (configuration.credentials == .anonymous && configuration.buildToken != nil) ? "GET" : "POST"
        var body: [UInt8] = []
        var headers: [HTTPHeader] = []
        if let parameters {
            if method == "GET" {
                query += parameters
            } else {
                body = Array(PercentEncoding.form(parameters).utf8)
                headers.append(HTTPHeader("Content-Type", "application/x-www-form-urlencoded"))
            }
        }
        if !query.isEmpty { url += "?" + PercentEncoding.form(query) }
        if let authorization = configuration.credentials.authorization { headers.append(HTTPHeader("Authorization", authorization)) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body)
    }

    /// Triggers `job` (with `parameters` → `buildWithParameters`, without → `build`).
    public func trigger(job: JenkinsJobPath, parameters: [(String, String)]?, context: ActionContext) -> Result<TriggerResult, JenkinsError> {
        var request = triggerRequest(job: job, parameters: parameters)
        var refreshedCrumb = false
        while true {
            if request.method == "POST", needsCrumb {
                switch crumbHeaders(context: context) {
                case .success(let headers): request.headers = withoutCrumb(request.headers) + headers
                case .failure(let error): return .failure(error)
                }
            }
            let response: HTTPResponse
            switch sendWithRetries(request, context: context) {
            case .success(let value): response = value
            case .failure(let error): return .failure(error)
            }
            switch response.status {
            case 201:
                guard let location = response.header("Location") else {
                    return .success(TriggerResult(queueItem: nil, merged: false))
                }
                return .success(TriggerResult(queueItem: Self.queueItemNumber(location), merged: false))
            case 303:
                // Merged into an item already in the queue: success, not a redirect to follow.
                return .success(TriggerResult(queueItem: response.header("Location").flatMap(Self.queueItemNumber), merged: true))
            case 302:
                return .failure(
                    .http(
                        status: 302,
                        explanation:
                            "Jenkins did not queue a build (302 to the job page): a queue decision handler refused it, or the job needs parameters sent another way",
                        retryable: false))
            case 403 where response.text.contains("No valid crumb") && needsCrumb && !refreshedCrumb:
                // The session behind the crumb expired: fetch a new crumb once.
                refreshedCrumb = true
                crumb.withLock { $0 = .unknown }
                continue
            default:
                return .failure(explain(response, job: job, parameters: parameters))
            }
        }
    }

    private var needsCrumb: Bool {
        if case .apiToken = configuration.credentials { return false }
        return true
    }

    private func withoutCrumb(_ headers: [HTTPHeader]) -> [HTTPHeader] {
        let field: String? = crumb.withLock { state in
            if case .issued(let field, _, _) = state { return field }
            return nil
        }
        return headers.filter { $0.name != "Cookie" && $0.name != field }
    }

    /// The `Jenkins-Crumb` and `Cookie` headers for a POST, fetching a crumb if none is held.
    func crumbHeaders(context: ActionContext) -> Result<[HTTPHeader], JenkinsError> {
        // Hold the lock while fetching so concurrent workers fetch once.
        crumb.withLock { state -> Result<[HTTPHeader], JenkinsError> in
            if case .unknown = state {
                var request = HTTPRequest(method: "GET", url: configuration.baseURL + "/crumbIssuer/api/json")
                if let authorization = configuration.credentials.authorization {
                    request.headers.append(HTTPHeader("Authorization", authorization))
                }
                switch sendWithRetries(request, context: context) {
                case .failure(let error): return .failure(error)
                case .success(let response):
                    switch response.status {
                    case 200:
                        guard let (field, value) = Self.parseCrumb(response.body) else {
                            return .failure(.unexpected("the crumb issuer's answer has no crumb"))
                        }
                        let cookies = (response.headers["set-cookie"] ?? []).flatMap(Self.cookiePairs)
                        state = .issued(field: field, value: value, cookies: cookies)
                    case 404:
                        state = .notNeeded  // CSRF protection is off.
                    default:
                        return .failure(explain(response, job: nil, parameters: nil, fetchingCrumb: true))
                    }
                }
            }
            switch state {
            case .issued(let field, let value, let cookies):
                var headers = [HTTPHeader(field, value)]
                if !cookies.isEmpty { headers.append(HTTPHeader("Cookie", cookies.joined(separator: "; "))) }
                return .success(headers)
            default:
                return .success([])
            }
        }
    }

    static func parseCrumb(_ body: [UInt8]) -> (String, String)? {
        guard case .object(let members)? = try? JSONReader.read(body, { (reader) throws(JSONError) in try JSONValue(reading: &reader) }),
            case .string(let crumb)? = members["crumb"], case .string(let field)? = members["crumbRequestField"], !field.isEmpty
        else { return nil }
        return (field, crumb)
    }

    /// `name=value` pairs from `Set-Cookie` values (attributes dropped). The cookie name is
    /// never assumed: Jenkins picks `JSESSIONID.<random>` at each start.
    static func cookiePairs(_ header: String) -> [String] {
        // Some stacks join repeated Set-Cookie fields with ", ": split where a new name=value starts.
        var pairs: [String] = []
        for piece in header.components(separatedBy: ", ") {
            let pair = piece.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingSpaces() } ?? ""
            guard let equals = pair.firstIndex(of: "="), !pair[..<equals].contains(" "), !pair[..<equals].isEmpty else { continue }
            let name = pair[..<equals].lowercased()
            if ["expires", "max-age", "path", "domain", "samesite"].contains(name) { continue }
            pairs.append(pair)
        }
        return pairs
    }

    /// The number in `…/queue/item/17/` (the host is not trusted: it may be an internal name).
    public static func queueItemNumber(_ location: String) -> Int? {
        guard let range = location.firstRange(of: "/queue/item/") else { return nil }
        let digits = location[range.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }

    // MARK: Sending

    /// Sends with retries on connection errors, timeouts, 5xx and 429 (honouring `Retry-After`),
    /// never past the deadline. Other statuses are returned for the caller to judge.
    func sendWithRetries(_ request: HTTPRequest, context: ActionContext) -> Result<HTTPResponse, JenkinsError> {
        var attempt = 0
        while true {
            attempt += 1
            let remaining = context.remaining
            if remaining <= 0 { return .failure(.deadline("before \(request.method) \(redacted(request.url)) could be sent")) }
            let result = transport.send(request, timeout: min(configuration.requestTimeout, remaining))
            var retryAfter: Double? = nil
            switch result {
            case .success(let response):
                guard response.status >= 500 || response.status == 429 else { return .success(response) }
                if attempt >= configuration.retry.attempts { return .success(response) }
                retryAfter = RetryPolicy.retryAfter(response.header("Retry-After"))
            case .failure(let error):
                if attempt >= configuration.retry.attempts || !error.isRetryable { return .failure(.transport(error, attempts: attempt)) }
            }
            let delay = retryAfter ?? configuration.retry.delay(after: attempt)
            if delay >= context.remaining {
                switch result {
                case .success(let response): return .success(response)
                case .failure(let error): return .failure(.transport(error, attempts: attempt))
                }
            }
            context.clock.sleep(delay)
        }
    }

    /// The URL with the build token's value hidden.
    public func redacted(_ url: String) -> String {
        guard let token = configuration.buildToken, !token.isEmpty else { return url }
        return url.replacing("token=" + PercentEncoding.encode(token), with: "token=REDACTED")
    }

    /// A one-line explanation of a failing status, with the likely cause (jenkins.md §5.3).
    func explain(_ response: HTTPResponse, job: JenkinsJobPath?, parameters: [(String, String)]?, fetchingCrumb: Bool = false) -> JenkinsError {
        let status = response.status
        let body = response.text
        let name = job.map { "job '\($0)'" } ?? "Jenkins"
        let explanation: String
        var retryable = false
        switch status {
        case 400 where body.contains("is not parameterized"):
            explanation = "\(name) is not parameterized (400): drop --param so that /build is used"
        case 400 where body.contains("Nothing is submitted") || body.contains("expects a form submission"):
            explanation = "\(name) takes parameters (400 \"Nothing is submitted\"): give them with --param NAME=VALUE so that /buildWithParameters is used"
        case 400:
            explanation = "\(name) rejected the request (400)"
        case 401:
            explanation = "Jenkins rejected the credentials (401): check JENKINS_USER and JENKINS_API_TOKEN (or the password)"
        case 403 where body.contains("No valid crumb"):
            explanation = "Jenkins refused the CSRF crumb (403 \"No valid crumb\"): use an API token (JENKINS_API_TOKEN), which needs no crumb"
        case 403 where body.contains("Invalid token"):
            explanation = "the build token was rejected for \(name) (403 \"Invalid token provided\")"
        case 403 where fetchingCrumb:
            explanation = "Jenkins refused the crumb request (403): anonymous access is off; set JENKINS_USER and JENKINS_API_TOKEN"
        case 403:
            explanation =
                configuration.credentials == .anonymous
                ? "Jenkins denied anonymous access (403): set JENKINS_USER and JENKINS_API_TOKEN, or a build token"
                : "Jenkins denied access to \(name) (403): the user lacks Job/Build permission"
        case 404:
            explanation = job.map { _ in "\(name) not found (404): check --job; a '/' means a folder (a/b is job b in folder a)" } ?? "not found (404)"
        case 405:
            explanation = "\(name) answered 405 Method Not Allowed: Jenkins wants a POST (or the build token is missing)"
        case 409:
            explanation = "\(name) is disabled or not buildable (409)"
        case 429:
            explanation = "Jenkins (or a proxy) is rate-limiting requests (429)"
            retryable = true
        case 500...599:
            explanation = "Jenkins failed with \(status)"
            retryable = true
        default:
            explanation = "unexpected answer \(status) from \(name)"
        }
        return .http(status: status, explanation: explanation, retryable: retryable)
    }
}

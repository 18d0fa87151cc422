import Foundation

extension FakeJenkins {
    /// A Jenkins user (jenkins.md §9.1).
    public struct User: Sendable {
        public var name: String
        /// The real password (Basic auth with it needs crumb + session for POSTs).
        public var password: String?
        /// API tokens; Basic auth with any of them is exempt from CSRF.
        public var apiTokens: [String]
        /// Overall/Read + Job/Read. Without it, job, queue and build URLs answer 404.
        public var canRead: Bool
        /// Job/Build (also used as Job/Cancel for `/queue/cancelItem`).
        public var canBuild: Bool

        public init(
            _ name: String, password: String? = nil, apiTokens: [String] = [], canRead: Bool = true,
            canBuild: Bool = true
        ) {
            self.name = name
            self.password = password
            self.apiTokens = apiTokens
            self.canRead = canRead
            self.canBuild = canBuild
        }
    }

    /// What the anonymous user may do (both false by default, like a secured Jenkins).
    public struct Permissions: Sendable {
        public var canRead: Bool
        public var canBuild: Bool
        public init(canRead: Bool = false, canBuild: Bool = false) {
            self.canRead = canRead
            self.canBuild = canBuild
        }
    }

    /// `hudson.model.Result` names.
    public enum BuildResult: String, Sendable, CaseIterable {
        case success = "SUCCESS"
        case unstable = "UNSTABLE"
        case failure = "FAILURE"
        case notBuilt = "NOT_BUILT"
        case aborted = "ABORTED"
    }

    /// The scripted outcome of one build: its result and how long (virtual ms) it runs.
    public struct Outcome: Sendable, Equatable {
        public var result: BuildResult
        public var durationMs: Int64
        public init(_ result: BuildResult, durationMs: Int64 = 0) {
            self.result = result
            self.durationMs = durationMs
        }
    }

    /// A string parameter definition with its default value.
    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var defaultValue: String
        public init(_ name: String, default defaultValue: String = "") {
            self.name = name
            self.defaultValue = defaultValue
        }
    }

    /// A job (freestyle project), keyed by its full name (`"ops/restart-redis"`; folders are implied by `/`).
    public struct Job: Sendable {
        public var fullName: String
        /// Empty = not parameterized.
        public var parameters: [Parameter]
        public var disabled: Bool
        /// "Trigger builds remotely" token (`?token=`), not a user API token.
        public var buildToken: String?
        /// Allows concurrent builds; otherwise a queued item waits (Blocked) while a build runs.
        public var concurrent: Bool
        /// Quiet period in seconds used when a trigger has no `delay`.
        public var quietPeriod: Int
        /// Outcomes of the next builds, consumed in order; `SUCCESS` in 0 ms once empty.
        public var script: [Outcome]
        public var nextBuildNumber: Int

        public init(
            _ fullName: String, parameters: [Parameter] = [], disabled: Bool = false, buildToken: String? = nil,
            concurrent: Bool = false, quietPeriod: Int = 5, script: [Outcome] = [], nextBuildNumber: Int = 1
        ) {
            self.fullName = fullName
            self.parameters = parameters
            self.disabled = disabled
            self.buildToken = buildToken
            self.concurrent = concurrent
            self.quietPeriod = quietPeriod
            self.script = script
            self.nextBuildNumber = nextBuildNumber
        }

        public var isParameterized: Bool { !parameters.isEmpty }
        /// The last path component of `fullName`.
        public var name: String { String(fullName.split(separator: "/").last ?? Substring(fullName)) }
    }

    /// How the virtual clock moves.
    public enum ClockMode: Sendable, Equatable {
        /// Only `advance(ms:)` moves time (unit tests).
        case manual
        /// Virtual time also follows real time times `factor` (`.scaled(1000)`: 1 real ms = 1 virtual s),
        /// for end-to-end tests where a real client polls with real sleeps.
        case scaled(Double)
    }

    /// Everything configurable about the fake (jenkins.md §9.1).
    public struct Configuration: Sendable {
        /// Context path, for example `/jenkins` (empty = root).
        public var contextPath: String = ""
        /// `X-Jenkins` header value.
        public var version: String = "2.479.3"
        /// `X-Jenkins-Session` header value (8 hex).
        public var sessionHash: String = FakeJenkins.randomHex(8)
        public var csrfEnabled: Bool = true
        public var crumbField: String = "Jenkins-Crumb"
        /// Session cookie name; random per instance like `java -jar jenkins.war`.
        public var cookieName: String = "JSESSIONID." + FakeJenkins.randomHex(8)
        /// Salt appended to `principal;sessionId` before hashing the crumb.
        public var crumbSalt: String = FakeJenkins.randomHex(16)
        public var users: [User] = []
        public var anonymous: Permissions = Permissions()
        public var jobs: [Job] = []
        public var executors: Int = 1
        public var clock: ClockMode = .manual
        /// Virtual epoch ms at start (2026-01-01T00:00:00Z).
        public var startTimeMs: Int64 = 1_767_225_600_000
        /// Create a job on the first trigger of an unknown name: `/build` creates a plain job, `/buildWithParameters`
        /// a parameterized one whose parameters are the non-reserved keys sent (default `""`).
        public var autoCreateJobs: Bool = false
        /// Quiet period (seconds) of auto-created jobs.
        public var autoCreateQuietPeriod: Int = 5
        /// Real milliseconds added before answering every request (simulated server latency).
        public var latencyMs: Int = 0
        /// Root URL used inside JSON (`task.url`, `executable.url`, build `url`); defaults to
        /// `http://127.0.0.1:<port><contextPath>/`. Set it to imitate a proxy whose URLs differ from the client's.
        public var rootURL: String? = nil
        /// Serve a started item once as `LeftItem` with `executable: null` (the start race of §4.1).
        public var startingWindow: Bool = false
        /// `GET /queue/item/N/` answers 404 as on Jenkins 2.308–2.468.
        public var legacyQueueItemIndex404: Bool = false
        /// Optional fidelity (§3 caution): when the request's session already belongs to the Basic-auth user,
        /// skip re-authentication and treat the request as *not* API-token authenticated (so it needs a crumb).
        public var sessionSkipsReauthentication: Bool = false
        /// Answer with `Transfer-Encoding: chunked` (several chunks, a chunk extension and a
        /// trailer), as Jetty does for streamed output, instead of `Content-Length`.
        public var chunkedResponses: Bool = false

        public init() {}

        public init(
            users: [User] = [], anonymous: Permissions = Permissions(), jobs: [Job] = [], csrfEnabled: Bool = true,
            contextPath: String = "", executors: Int = 1, clock: ClockMode = .manual
        ) {
            self.users = users
            self.anonymous = anonymous
            self.jobs = jobs
            self.csrfEnabled = csrfEnabled
            self.contextPath = contextPath
            self.executors = executors
            self.clock = clock
        }
    }

    /// A request as the fake received it (for assertions).
    public struct RecordedRequest: Sendable {
        /// Unique per fake (survives `resetRequestLog`), used to attach the answer to the entry.
        var sequence: Int
        /// Position in the log (0-based, arrival order).
        public var index: Int
        public var method: String
        /// The raw request-target (`/job/a%20b/build?X=1`).
        public var target: String
        /// The raw path (no query).
        public var path: String
        /// Decoded path segments below the context path (`["job", "a b", "build"]`).
        public var pathSegments: [String]
        /// Decoded query items.
        public var queryItems: [QueryItem]
        public var headers: LoopbackHTTPServer.Headers
        public var body: Data
        /// The request carried the cookie of a session the fake issued.
        public var hadValidSession: Bool
        /// The authenticated user, nil for anonymous or when authentication failed.
        public var principal: String?
        /// Authenticated with an API token.
        public var viaApiToken: Bool
        /// The status answered; nil while in flight or when the connection was dropped.
        public var status: Int?
        /// Virtual time when the request was processed.
        public var virtualTimeMs: Int64
        public var connectionID: Int

        /// The first query item called `name`.
        public func query(_ name: String) -> String? { queryItems.first { $0.name == name }?.value }
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// The state of a queue item, for assertions.
    public struct QueueItemSnapshot: Sendable {
        public enum State: String, Sendable {
            case waiting, blocked, buildable, left
        }
        public var id: Int
        public var jobName: String
        public var state: State
        public var cancelled: Bool
        /// Set once the item started a build.
        public var buildNumber: Int?
        /// Parameter values (nil for a job without parameters).
        public var parameters: [QueryItem]?
        /// Short descriptions of the causes, one per trigger folded into the item.
        public var causes: [String]
        public var inQueueSince: Int64
        /// Due time while waiting.
        public var dueAt: Int64?
        public var leftAt: Int64?
    }

    /// A build, for assertions.
    public struct BuildSnapshot: Sendable {
        public var jobName: String
        public var number: Int
        public var queueId: Int
        public var building: Bool
        /// nil while running.
        public var result: BuildResult?
        public var startedAt: Int64
        /// The scripted duration.
        public var durationMs: Int64
        public var parameters: [QueryItem]?
        public var causes: [String]
    }

    /// Random lowercase hex digits.
    public static func randomHex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String((0..<count).map { _ in digits[Int.random(in: 0..<16)] })
    }
}

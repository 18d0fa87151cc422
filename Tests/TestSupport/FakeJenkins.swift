import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An in-process fake Jenkins on `127.0.0.1:<ephemeral port>` that follows the documented behaviour of real
/// Jenkins (≥ 2.469) for triggering builds and following them: jenkins.md §9.
///
/// * Pipeline per request: session cookie → Basic auth (401) → CSRF crumb for POST (403, before routing; API-token
///   requests exempt) → routing (`(/job/<seg>)+`, per-segment `%XX` decoding) → read access (403 anonymous / 404 user).
/// * Endpoints: `/crumbIssuer/api/json|xml`, `/job/…/build`, `/job/…/buildWithParameters`, `/job/…/api/json`,
///   `/job/…/<n>/api/json`, `/queue/item/<n>/api/json`, `/queue/item/<n>/`, `POST /queue/cancelItem?id=`.
/// * A virtual clock (manual by default, or scaled real time) drives quiet periods, executors, scripted build
///   durations and the 300 s lifetime of left queue items; it is ticked at the start of every request.
/// * Test hooks: request log, connection counters, fault injection (forced status, dropped connections,
///   missing `Location`, delays, latency).
public final class FakeJenkins: Sendable {
    /// The listening port.
    public let port: Int
    /// `http://127.0.0.1:<port><contextPath>/` (with a trailing slash).
    public let baseURL: URL
    /// The session cookie name (`JSESSIONID.<8 hex>`).
    public let cookieName: String
    /// The crumb request field (`Jenkins-Crumb`).
    public let crumbField: String

    private let engine: FakeJenkinsEngine
    private let server: LoopbackHTTPServer

    /// Starts the fake. `port: 0` picks an ephemeral port.
    public init(_ configuration: Configuration = Configuration(), port: Int = 0) throws {
        let engine = FakeJenkinsEngine(configuration)
        let server = try LoopbackHTTPServer(port: port, chunkedResponses: configuration.chunkedResponses) { [engine] request in engine.respond(to: request) }
        engine.model.withLock { $0.port = server.port }
        self.engine = engine
        self.server = server
        self.port = server.port
        let ctx = engine.model.withLock { $0.contextPath }
        baseURL = URL(string: "http://127.0.0.1:\(server.port)\(ctx)/")!
        cookieName = configuration.cookieName
        crumbField = configuration.crumbField
    }

    deinit { server.stop() }

    /// Stops listening and closes every connection.
    public func stop() { server.stop() }

    /// `baseURL` + a path relative to the context path (`"job/a/api/json"`).
    public func url(_ relativePath: String) -> URL {
        URL(string: baseURL.absoluteString + (relativePath.hasPrefix("/") ? String(relativePath.dropFirst()) : relativePath))!
    }

    /// The job's URL as Jenkins writes it (each name `Util.rawEncode`d, `/job/` between levels).
    public func jobURL(_ fullName: String) -> URL { url(Renderer.jobPath(fullName)) }

    // MARK: Clock

    /// The virtual time (epoch ms).
    public var now: Int64 {
        engine.model.withLock { m in
            m.run(until: engine.virtualNow(m))
            return m.now
        }
    }

    /// Moves the virtual clock forward and runs the scheduler (quiet periods, starts, finishes, expiry).
    public func advance(ms: Int64) {
        engine.model.withLock { m in
            m.manualOffsetMs += max(0, ms)
            m.run(until: engine.virtualNow(m))
        }
    }

    /// `advance(ms:)` in seconds.
    public func advance(seconds: Double) { advance(ms: Int64((seconds * 1000).rounded())) }

    /// Runs the scheduler up to the current virtual time (done automatically at the start of every request).
    public func tick() {
        engine.model.withLock { m in m.run(until: engine.virtualNow(m)) }
    }

    // MARK: Configuration at run time

    /// Adds or replaces a job.
    public func setJob(_ job: Job) {
        engine.model.withLock { m in
            if var record = m.jobs[job.fullName] {
                record.config = job
                m.jobs[job.fullName] = record
            } else {
                m.jobs[job.fullName] = JobRecord(config: job)
            }
            m.settle()
        }
    }

    /// Edits a job in place (for example `disabled = true`, or more `script` outcomes). False if unknown.
    @discardableResult
    public func updateJob(_ fullName: String, _ body: (inout Job) -> Void) -> Bool {
        engine.model.withLock { m in
            guard var record = m.jobs[fullName] else { return false }
            body(&record.config)
            m.jobs[fullName] = record
            m.settle()
            return true
        }
    }

    /// The job's current configuration (its `nextBuildNumber` and remaining `script` included).
    public func job(_ fullName: String) -> Job? { engine.model.withLock { $0.jobs[fullName]?.config } }

    /// Every job's full name, sorted.
    public var jobNames: [String] { engine.model.withLock { $0.jobs.keys.sorted() } }

    /// Adds or replaces a user.
    public func setUser(_ user: User) {
        engine.model.withLock { m in
            m.config.users.removeAll { $0.name == user.name }
            m.config.users.append(user)
        }
    }

    /// Changes what anonymous may do.
    public func setAnonymous(_ permissions: Permissions) {
        engine.model.withLock { $0.config.anonymous = permissions }
    }

    /// Number of executors.
    public var executors: Int {
        get { engine.model.withLock { $0.config.executors } }
        set {
            engine.model.withLock { m in
                m.config.executors = max(0, newValue)
                m.settle()
            }
        }
    }

    /// Real milliseconds added before every answer (simulated server latency; other connections are not held up).
    public var latencyMs: Int {
        get { engine.model.withLock { $0.config.latencyMs } }
        set { engine.model.withLock { $0.config.latencyMs = max(0, newValue) } }
    }

    /// Forgets every web session (like a restart or session expiry); crumbs issued before stop working.
    public func invalidateSessions() { engine.model.withLock { $0.sessions.removeAll() } }

    /// The crumb the fake expects from `principal` (`"anonymous"` or a user name) in the session with this id.
    public func expectedCrumb(principal: String, sessionId: String) -> String {
        engine.model.withLock { $0.crumb(principal: principal, sessionId: sessionId) }
    }

    /// Number of live web sessions (each crumb request without a session creates one).
    public var sessionCount: Int { engine.model.withLock { $0.sessions.count } }

    // MARK: Inspection

    /// Builds of a job, ascending by number.
    public func builds(of fullName: String) -> [BuildSnapshot] {
        engine.model.withLock { m in (m.jobs[fullName]?.builds ?? []).map { m.snapshot(of: $0) } }
    }

    /// One build, or nil.
    public func build(of fullName: String, number: Int) -> BuildSnapshot? {
        engine.model.withLock { m in m.jobs[fullName]?.build(number).map { m.snapshot(of: $0) } }
    }

    /// A queue item (queued, or left less than 300 virtual seconds ago), or nil.
    public func queueItem(_ id: Int) -> QueueItemSnapshot? {
        engine.model.withLock { m in m.queue[id].map { m.snapshot(of: $0) } }
    }

    /// Every known queue item, by id.
    public var queueItems: [QueueItemSnapshot] {
        engine.model.withLock { m in m.queue.values.sorted { $0.id < $1.id }.map { m.snapshot(of: $0) } }
    }

    /// Requests received, in arrival order (since the last `resetRequestLog()`).
    public var requests: [RecordedRequest] { engine.model.withLock { $0.log } }

    /// Clears the request log.
    public func resetRequestLog() { engine.model.withLock { $0.log.removeAll() } }

    /// Trigger requests that scheduled or merged a build (answered 201, 302 or 303).
    public var triggerCount: Int { engine.model.withLock { $0.triggers } }

    /// HTTP requests received (never reset).
    public var requestCount: Int { server.requestCount }

    /// TCP connections open right now.
    public var currentConnections: Int { server.currentConnections }
    /// The most TCP connections that were open at once.
    public var maxConcurrentConnections: Int { server.maxConcurrentConnections }
    /// TCP connections accepted since start.
    public var acceptedConnections: Int { server.acceptedConnections }
    /// Resets `maxConcurrentConnections` to the number open now.
    public func resetConnectionStatistics() { server.resetConnectionStatistics() }

    // MARK: Fault injection
    //
    // `pathPrefix` is matched against the raw (still percent-encoded) request path below the context path,
    // for example "/job/a/" or "/queue/item/"; nil matches every path. `method` (nil = any) is case-insensitive.
    // Each rule fires for the next `count` matching requests. Faulted requests are still logged.

    /// Answer the next `count` matching requests with `status` (plus headers/body) without processing them.
    public func failNext(
        _ count: Int = 1, status: Int, headers: LoopbackHTTPServer.Headers = LoopbackHTTPServer.Headers(), body: String = "",
        pathPrefix: String? = nil, method: String? = nil
    ) {
        addFault(.status(status, headers, Data(body.utf8)), count: count, pathPrefix: pathPrefix, method: method)
    }

    /// Close the connection without answering for the next `count` matching requests (not processed).
    public func dropNext(_ count: Int = 1, pathPrefix: String? = nil, method: String? = nil) {
        addFault(.drop, count: count, pathPrefix: pathPrefix, method: method)
    }

    /// Process the next `count` matching requests normally but remove `Location` from the answer.
    public func omitLocationNext(_ count: Int = 1, pathPrefix: String? = nil, method: String? = nil) {
        addFault(.omitLocation, count: count, pathPrefix: pathPrefix, method: method)
    }

    /// Wait `ms` real milliseconds before processing the next `count` matching requests.
    public func delayNext(_ count: Int = 1, ms: Int, pathPrefix: String? = nil, method: String? = nil) {
        addFault(.delay(ms), count: count, pathPrefix: pathPrefix, method: method)
    }

    /// Removes every pending fault rule.
    public func clearFaults() { engine.model.withLock { $0.faults.removeAll() } }

    private func addFault(_ kind: FaultRule.Kind, count: Int, pathPrefix: String?, method: String?) {
        guard count > 0 else { return }
        engine.model.withLock {
            $0.faults.append(FaultRule(kind: kind, remaining: count, pathPrefix: pathPrefix, method: method))
        }
    }
}

/// The part of the fake the server's handler holds (so the server does not keep `FakeJenkins` alive).
final class FakeJenkinsEngine: Sendable {
    let model: Mutex<Model>
    private let clockStart = ContinuousClock.now
    private let scale: Double?

    init(_ configuration: FakeJenkins.Configuration) {
        model = Mutex(Model(config: configuration))
        if case .scaled(let factor) = configuration.clock { scale = factor } else { scale = nil }
    }

    /// The virtual time now: start + manual advances (+ scaled real time in auto-advance mode).
    func virtualNow(_ m: Model) -> Int64 {
        var t = m.config.startTimeMs + m.manualOffsetMs
        if let scale {
            let elapsed = ContinuousClock.now - clockStart
            let realMs = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            t += Int64(realMs * scale)
        }
        return t
    }

    private struct FaultPlan {
        var drop = false
        var delayMs = 0
        var forced: LoopbackHTTPServer.Response?
        var omitLocation = false
    }

    func respond(to request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response {
        // Phase 1: log the arrival and pick the faults that apply.
        let (sequence, plan) = model.withLock { m -> (Int, FaultPlan) in
            let sequence = m.nextSequence
            m.nextSequence += 1
            let relative = Self.relativePath(request.path, contextPath: m.contextPath)
            m.log.append(
                FakeJenkins.RecordedRequest(
                    sequence: sequence, index: m.log.count, method: request.method, target: request.target,
                    path: request.path, pathSegments: m.segments(of: request.path) ?? [],
                    queryItems: request.query.map(URLCoding.parseForm) ?? [], headers: request.headers,
                    body: request.body, hadValidSession: m.sessionFromCookies(request.headers) != nil, principal: nil,
                    viaApiToken: false, status: nil, virtualTimeMs: m.now, connectionID: request.connectionID))
            var plan = FaultPlan()
            plan.delayMs = m.config.latencyMs
            let matching = m.faults.indices.filter {
                m.faults[$0].remaining > 0
                    && m.faults[$0].matches(method: request.method, path: relative)
            }
            if let drop = matching.first(where: { if case .drop = m.faults[$0].kind { true } else { false } }) {
                m.faults[drop].remaining -= 1
                plan.drop = true
            } else {
                for i in matching {
                    switch m.faults[i].kind {
                    case .drop: break
                    case .delay(let ms):
                        plan.delayMs += ms
                        m.faults[i].remaining -= 1
                    case .status(let status, let headers, let body):
                        guard plan.forced == nil else { continue }
                        plan.forced = LoopbackHTTPServer.Response(status: status, headers: headers, body: body)
                        m.faults[i].remaining -= 1
                    case .omitLocation:
                        guard !plan.omitLocation else { continue }
                        plan.omitLocation = true
                        m.faults[i].remaining -= 1
                    }
                }
            }
            m.faults.removeAll { $0.remaining <= 0 }
            return (sequence, plan)
        }
        if plan.drop { return .drop }
        if plan.delayMs > 0 { usleep(useconds_t(min(plan.delayMs, 3_600_000)) * 1000) }

        // Phase 2: tick the clock and run the pipeline.
        return model.withLock { m in
            m.run(until: virtualNow(m))
            var response: LoopbackHTTPServer.Response
            var audit = RequestAudit()
            if var forced = plan.forced {
                if forced.headers["Content-Type"] == nil && !forced.body.isEmpty {
                    forced.headers.add("Content-Type", "text/html;charset=utf-8")
                }
                response = forced
            } else {
                (response, audit) = m.handle(request)
            }
            if plan.omitLocation { response.headers.remove("Location") }
            if let i = m.log.lastIndex(where: { $0.sequence == sequence }) {
                m.log[i].status = response.status
                m.log[i].principal = audit.principal
                m.log[i].viaApiToken = audit.viaApiToken
                m.log[i].virtualTimeMs = m.now
            }
            return response
        }
    }

    static func relativePath(_ path: String, contextPath: String) -> String {
        if !contextPath.isEmpty && (path == contextPath || path.hasPrefix(contextPath + "/")) {
            let rest = String(path.dropFirst(contextPath.count))
            return rest.isEmpty ? "/" : rest
        }
        return path
    }
}

import Foundation

typealias ServerRequest = LoopbackHTTPServer.Request
typealias ServerResponse = LoopbackHTTPServer.Response
typealias ServerHeaders = LoopbackHTTPServer.Headers

// The fake's state and its queue/executor scheduler (jenkins.md §4.1, §4.3, §9.4). Everything here
// runs under the engine's mutex; nothing here does I/O.

/// A build cause (`hudson.model.Cause`).
enum Cause: Hashable {
    /// `Cause$UserIdCause`; nil user = anonymous.
    case user(String?)
    /// `Cause$RemoteCause` (build token with `token=`).
    case remote(addr: String, note: String?)

    var shortDescription: String {
        switch self {
        case .user(let name): "Started by user \(name ?? "anonymous")"
        case .remote(let addr, let note):
            if let note { "Started by remote host \(addr) with note: \(note)" } else { "Started by remote host \(addr)" }
        }
    }

    var json: JSONValue {
        switch self {
        case .user(let name):
            .object([
                ("_class", .string("hudson.model.Cause$UserIdCause")),
                ("shortDescription", .string(shortDescription)),
                ("userId", .optionalString(name)),
                ("userName", .string(name ?? "anonymous")),
            ])
        case .remote(let addr, let note):
            .object([
                ("_class", .string("hudson.model.Cause$RemoteCause")),
                ("shortDescription", .string(shortDescription)),
                ("addr", .string(addr)),
                ("note", .optionalString(note)),
            ])
        }
    }
}

/// `CauseAction`'s bag: each distinct cause with how many triggers were folded in.
struct CauseBag {
    struct Entry {
        var cause: Cause
        var count: Int
    }
    var entries: [Entry] = []

    init(_ cause: Cause) { add(cause) }

    mutating func add(_ cause: Cause) {
        if let i = entries.firstIndex(where: { $0.cause == cause }) {
            entries[i].count += 1
        } else {
            entries.append(Entry(cause: cause, count: 1))
        }
    }

    /// `CauseAction.getCauses()`: every cause repeated `count` times.
    var expanded: [Cause] { entries.flatMap { Array(repeating: $0.cause, count: $0.count) } }
}

struct QueueEntry {
    enum Phase {
        /// In the quiet period until `due`.
        case waiting(due: Int64)
        /// Past the quiet period: Buildable, or Blocked while a non-concurrent job has a build running.
        case ready(since: Int64)
        /// Left the queue (started or cancelled).
        case left(at: Int64, cancelled: Bool, build: Int?)
    }

    let id: Int
    let job: String
    /// nil = no ParametersAction (job without parameters).
    let parameters: [FakeJenkins.QueryItem]?
    var causes: CauseBag
    let inQueueSince: Int64
    var phase: Phase
    /// Polls left that see `LeftItem` with `executable: null` (the start race).
    var startingPollsRemaining = 0

    var isQueued: Bool {
        if case .left = phase { return false }
        return true
    }
}

struct BuildRecord {
    let job: String
    let number: Int
    let queueId: Int
    let parameters: [FakeJenkins.QueryItem]?
    let causes: CauseBag
    let startedAt: Int64
    let outcome: FakeJenkins.Outcome
    var building: Bool

    var endsAt: Int64 { startedAt + max(0, outcome.durationMs) }
    var result: FakeJenkins.BuildResult? { building ? nil : outcome.result }
}

struct JobRecord {
    var config: FakeJenkins.Job
    /// Ascending build numbers.
    var builds: [BuildRecord] = []
    /// Builds with `building == true`.
    var runningCount = 0

    var runningBuild: BuildRecord? { runningCount == 0 ? nil : builds.last { $0.building } }
    var lastCompleted: BuildRecord? { builds.last { !$0.building } }
    func build(_ number: Int) -> BuildRecord? { builds.first { $0.number == number } }
}

struct Session {
    let id: String
    /// The principal that obtained the crumb (and so created the session).
    let principal: String
}

struct FaultRule {
    enum Kind {
        case status(Int, ServerHeaders, Data)
        case drop
        case omitLocation
        case delay(Int)
    }
    var kind: Kind
    var remaining: Int
    var pathPrefix: String?
    var method: String?

    func matches(method requestMethod: String, path: String) -> Bool {
        if let method, method.uppercased() != requestMethod.uppercased() { return false }
        if let pathPrefix, !path.hasPrefix(pathPrefix) { return false }
        return true
    }
}

struct Model {
    var config: FakeJenkins.Configuration
    var port = 0
    var jobs: [String: JobRecord] = [:]
    var queue: [Int: QueueEntry] = [:]
    var nextQueueId = 0
    var sessions: [String: Session] = [:]
    /// Virtual ms added by `advance`.
    var manualOffsetMs: Int64 = 0
    /// The virtual time the scheduler has been settled to.
    var now: Int64
    var log: [FakeJenkins.RecordedRequest] = []
    var nextSequence = 0
    var faults: [FaultRule] = []
    var triggers = 0

    /// Left items expire this long after leaving (Guava `expireAfterWrite(5 min)` in `Queue.leftItems`).
    static let leftItemLifetimeMs: Int64 = 300_000

    init(config: FakeJenkins.Configuration) {
        self.config = config
        now = config.startTimeMs
        for job in config.jobs { jobs[job.fullName] = JobRecord(config: job) }
        self.config.jobs = []
    }

    // MARK: Scheduling

    /// `Queue.schedule2`: coalesces with a queued item of the same job (same parameter set), else queues a new
    /// `WaitingItem`. Returns the item id and whether it was created.
    mutating func schedule(job: String, delaySeconds: Int, parameters: [FakeJenkins.QueryItem]?, cause: Cause) -> (
        id: Int, created: Bool
    ) {
        let delayMs = Int64(delaySeconds) * 1000
        let duplicates = queue.values
            .filter { $0.job == job && $0.isQueued && Self.sameParameters($0.parameters, parameters) }
            .map(\.id).sorted()
        if let first = duplicates.first {
            for id in duplicates {
                queue[id]?.causes.add(cause)
                if case .waiting(let due) = queue[id]?.phase {
                    queue[id]?.phase = .waiting(due: min(due, now + delayMs))
                }
            }
            settle()
            return (first, false)
        }
        nextQueueId += 1
        queue[nextQueueId] = QueueEntry(
            id: nextQueueId, job: job, parameters: parameters, causes: CauseBag(cause), inQueueSince: now,
            phase: .waiting(due: now + delayMs))
        settle()
        return (nextQueueId, true)
    }

    /// Two parameter lists are the same trigger iff they are equal as sets of (name, value).
    static func sameParameters(_ a: [FakeJenkins.QueryItem]?, _ b: [FakeJenkins.QueryItem]?) -> Bool {
        Set(a ?? []) == Set(b ?? [])
    }

    enum CancelResult { case cancelled, notFound, alreadyLeft }

    /// `Queue.cancel(item)`: a queued item leaves with `cancelled = true`.
    mutating func cancel(_ id: Int) -> CancelResult {
        guard let item = queue[id] else { return .notFound }
        guard item.isQueued else { return .alreadyLeft }
        queue[id]?.phase = .left(at: now, cancelled: true, build: nil)
        settle()
        return .cancelled
    }

    /// Runs the scheduler as a discrete-event simulation up to `target`, so builds start and finish at the
    /// virtual times they would have, however far the clock jumps.
    mutating func run(until target: Int64) {
        settle()
        while let next = nextEvent(), next <= target {
            now = max(now, next)
            settle()
        }
        now = max(now, target)
        settle()
    }

    private func nextEvent() -> Int64? {
        var times: [Int64] = []
        for item in queue.values {
            if case .waiting(let due) = item.phase, due > now { times.append(due) }
        }
        for job in jobs.values where job.runningCount > 0 {
            for build in job.builds where build.building && build.endsAt > now { times.append(build.endsAt) }
        }
        return times.min()
    }

    func isBlocked(_ item: QueueEntry) -> Bool {
        guard let job = jobs[item.job] else { return false }
        return !job.config.concurrent && job.runningBuild != nil
    }

    var runningBuilds: Int { jobs.values.reduce(0) { $0 + $1.runningCount } }

    /// Applies everything that is due at `now`: finished builds, expired quiet periods, starts.
    mutating func settle() {
        var changed = true
        while changed {
            changed = false
            for name in jobs.keys where jobs[name]!.runningCount > 0 {
                for i in jobs[name]!.builds.indices.reversed()
                where jobs[name]!.builds[i].building && jobs[name]!.builds[i].endsAt <= now {
                    jobs[name]!.builds[i].building = false
                    jobs[name]!.runningCount -= 1
                    changed = true
                }
            }
            for id in queue.keys {
                if case .waiting(let due) = queue[id]!.phase, due <= now {
                    queue[id]!.phase = .ready(since: now)
                    changed = true
                }
            }
            let ready = queue.values.compactMap { item -> (Int64, Int)? in
                if case .ready(let since) = item.phase { return (since, item.id) }
                return nil
            }.sorted { $0 < $1 }
            var running = runningBuilds
            for (_, id) in ready where running < config.executors {
                guard let item = queue[id], !isBlocked(item) else { continue }
                start(id)
                running += 1
                changed = true
            }
        }
        queue = queue.filter { _, item in
            if case .left(let at, _, _) = item.phase { return now - at < Self.leftItemLifetimeMs }
            return true
        }
    }

    /// The item leaves the queue and its build starts (consuming the next scripted outcome).
    private mutating func start(_ id: Int) {
        guard let item = queue[id], var job = jobs[item.job] else { return }
        let outcome = job.config.script.isEmpty ? FakeJenkins.Outcome(.success) : job.config.script.removeFirst()
        let number = job.config.nextBuildNumber
        job.config.nextBuildNumber += 1
        job.builds.append(
            BuildRecord(
                job: item.job, number: number, queueId: id, parameters: item.parameters, causes: item.causes,
                startedAt: now, outcome: outcome, building: true))
        job.runningCount += 1
        jobs[item.job] = job
        queue[id]?.phase = .left(at: now, cancelled: false, build: number)
        if config.startingWindow { queue[id]?.startingPollsRemaining = 1 }
    }

    // MARK: Lookups

    /// A job name is a folder if some job lives below it (and it is not itself a job).
    func isFolder(_ name: String) -> Bool {
        jobs[name] == nil && jobs.keys.contains { $0.hasPrefix(name + "/") }
    }

    func snapshot(of item: QueueEntry) -> FakeJenkins.QueueItemSnapshot {
        var state: FakeJenkins.QueueItemSnapshot.State
        var cancelled = false
        var build: Int?
        var due: Int64?
        var leftAt: Int64?
        switch item.phase {
        case .waiting(let d):
            state = .waiting
            due = d
        case .ready: state = isBlocked(item) ? .blocked : .buildable
        case .left(let at, let c, let b):
            state = .left
            cancelled = c
            build = b
            leftAt = at
        }
        return FakeJenkins.QueueItemSnapshot(
            id: item.id, jobName: item.job, state: state, cancelled: cancelled, buildNumber: build,
            parameters: item.parameters, causes: item.causes.expanded.map(\.shortDescription),
            inQueueSince: item.inQueueSince, dueAt: due, leftAt: leftAt)
    }

    func snapshot(of build: BuildRecord) -> FakeJenkins.BuildSnapshot {
        FakeJenkins.BuildSnapshot(
            jobName: build.job, number: build.number, queueId: build.queueId, building: build.building,
            result: build.result, startedAt: build.startedAt, durationMs: build.outcome.durationMs,
            parameters: build.parameters, causes: build.causes.expanded.map(\.shortDescription))
    }
}

import ConsulWatch

/// What became of one action on one incident.
public enum Outcome: Sendable, Hashable {
    /// Done; `detail` says what was done (`queued as item 17`, `exit 0`).
    case done(detail: String)
    /// Failed. `retryable` failures (a peer down, a timeout, a 5xx) are worth spooling and
    /// trying again later; others (a 404 job, a 401) need a person.
    case failed(reason: String, retryable: Bool)
    /// Deliberately not attempted (dry run, policy).
    case skipped(reason: String)

    public var isFailure: Bool {
        if case .failed = self { return true }
        return false
    }

    /// `done`, `failed` or `skipped`.
    public var label: String {
        switch self {
        case .done: return "done"
        case .failed: return "failed"
        case .skipped: return "skipped"
        }
    }

    /// The detail or reason.
    public var detail: String {
        switch self {
        case .done(let detail): return detail
        case .failed(let reason, _): return reason
        case .skipped(let reason): return reason
        }
    }
}

/// An action taken for incidents: a Jenkins build, a redeploy command, a log record, an
/// external program. A new action is one type conforming to this and a thin executable.
///
/// `perform` is called from several threads at once (bounded by `--concurrency`), so an action
/// holds only immutable configuration and `Sendable` collaborators.
public protocol Action: Sendable {
    /// A short name for audit lines and the journal (`jenkins`, `redeploy`, `log`, `external`).
    var name: String { get }
    /// Acts on one incident. Never throws: every failure is an ``Outcome``.
    func perform(_ incident: Incident, context: ActionContext) -> Outcome
}

/// What an action may use besides its configuration.
public struct ActionContext: Sendable {
    /// Time and sleeping.
    public var clock: any TimeSource
    /// The moment (per ``clock``) by which everything must be finished.
    public var deadline: Double
    /// When true, describe what would be done and do nothing.
    public var dryRun: Bool
    /// Writes a line of diagnostics (stderr in the executables).
    public var log: @Sendable (String) -> Void
    /// The run's Consul KV values for `{kv:…}` placeholders (nil: no agent configured).
    public var kv: KVValues?

    public init(clock: any TimeSource, deadline: Double, dryRun: Bool = false, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.clock = clock
        self.deadline = deadline
        self.dryRun = dryRun
        self.log = log
    }

    /// Seconds left before the deadline (never negative).
    public var remaining: Double { max(0, deadline - clock.now()) }
}

/// What happened to one incident under one action, with timing: what the audit line, the
/// journal and the spool record.
public struct ActionReport: Sendable, Hashable {
    public var incident: Incident
    public var action: String
    public var outcome: Outcome
    /// Seconds the action took.
    public var duration: Double

    public init(incident: Incident, action: String, outcome: Outcome, duration: Double) {
        self.incident = incident
        self.action = action
        self.outcome = outcome
        self.duration = duration
    }

    /// The one-line audit record written to stderr for every incident:
    /// `web: jenkins done: queued as item 17 (0.031s)`.
    public var auditLine: String {
        "\(incident.target): \(action) \(outcome.label): \(outcome.detail) (\(Self.format(duration)))"
    }

    static func format(_ seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        return "\(milliseconds / 1000).\(String(milliseconds % 1000).leftPadded(to: 3))s"
    }
}

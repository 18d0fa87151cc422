import ConsulWatch
import Platform
import Synchronization

/// The handler's own health as a TTL check in Consul (`"selfCheck"` in the config): after each
/// run, `passing` when everything was handled, `warning` when something was spooled or kept as a
/// dead letter, `critical` when an incident stayed unhandled or an escalation failed. Its TTL
/// also catches a handler that stopped running at all.
public struct SelfCheck: Sendable {
    public var id: String
    public var name: String
    public var ttl: Double
    public var reporter: any HealthReporter

    public init(id: String, name: String? = nil, ttl: Double, reporter: any HealthReporter) {
        self.id = id
        self.name = name ?? "consul-heal handler (\(id))"
        self.ttl = ttl
        self.reporter = reporter
    }

    /// What a run came to, summed over its deliveries.
    public struct Summary: Sendable, Equatable {
        public var deliveries = 0
        public var actions = 0
        public var spooled = 0
        public var deadLetters = 0
        /// Targets not handled (every rung failed and nothing was spooled), with why.
        public var unhandled: [String] = []
        public var failedEscalations: [String] = []
        public var pendingNodes: [String] = []

        public init() {}

        /// Adds one delivery's report.
        public mutating func add(_ report: Healer.Report) {
            deliveries += 1
            actions += report.actions.count
            spooled += report.spooled
            pendingNodes += report.pendingNodes
            var failedTargets: [String] = []
            for action in report.actions where action.outcome.isFailure {
                if action.incident.alert != nil {
                    failedEscalations.append(action.incident.target)
                } else if !failedTargets.contains(action.incident.target) {
                    failedTargets.append(action.incident.target)
                }
            }
            // Spooled failures are retried: a warning. The rest stayed unhandled.
            let notSpooled = max(0, report.unresolved - report.spooled)
            unhandled += failedTargets.prefix(notSpooled)
            if notSpooled > failedTargets.count { unhandled += Array(repeating: "an incident", count: notSpooled - failedTargets.count) }
        }

        /// The check's status and its one-line output.
        public var status: (CheckStatus, String) {
            var critical: [String] = []
            if !unhandled.isEmpty { critical.append("\(unhandled.count) incident(s) not handled (\(unhandled.joined(separator: ", ")))") }
            if !failedEscalations.isEmpty { critical.append("escalation failed for \(failedEscalations.joined(separator: ", "))") }
            if !pendingNodes.isEmpty { critical.append("services of down node(s) \(pendingNodes.joined(separator: ", ")) could not be looked up") }
            if !critical.isEmpty { return (.critical, critical.joined(separator: "; ")) }
            var warning: [String] = []
            if spooled > 0 { warning.append("\(spooled) action(s) spooled for retry") }
            if deadLetters > 0 { warning.append("\(deadLetters) payload(s) kept as dead letters") }
            if !warning.isEmpty { return (.warning, warning.joined(separator: "; ")) }
            return (.passing, "all handled: \(deliveries) deliver\(deliveries == 1 ? "y" : "ies"), \(actions) action(s)")
        }
    }

    /// Reports `summary`; returns the line to print (`self check ID: STATUS: what`).
    public func update(_ summary: Summary) -> (line: String, failed: Bool) {
        let (status, output) = summary.status
        do {
            try reporter.report(checkID: id, name: name, ttl: ttl, status: status, output: output)
            return ("self check \(id): \(status): \(output)", false)
        } catch {
            return ("self check \(id): could not be updated (\(status): \(output)): \(error.description)", true)
        }
    }
}

/// Keeps a ``SelfCheck`` current in a long-running `serve`: each delivery reports its summary,
/// and while none comes the last status is re-sent before half the TTL has passed, so the
/// check turns critical only when the handler itself stops.
public final class SelfCheckKeeper: Sendable {
    public let check: SelfCheck
    private let log: @Sendable (String) -> Void
    private let last = Mutex<(summary: SelfCheck.Summary, at: Double)>((SelfCheck.Summary(), -Double.infinity))

    public init(_ check: SelfCheck, log: @escaping @Sendable (String) -> Void) {
        self.check = check
        self.log = log
    }

    /// Reports one delivery's summary now.
    public func report(_ summary: SelfCheck.Summary) {
        last.withLock { $0 = (summary, SystemTime.monotonicSeconds()) }
        log(check.update(summary).line)
    }

    /// Re-sends the last status when half the TTL has passed since the last update.
    public func refreshIfDue() {
        let (summary, at) = last.withLock { $0 }
        guard SystemTime.monotonicSeconds() - at >= check.ttl / 2 else { return }
        report(summary)
    }

    /// Reports now, then refreshes from a background thread for as long as the process lives.
    public func start() {
        report(SelfCheck.Summary())
        let interval = max(1, min(check.ttl / 4, 60))
        detachThread { [self] in
            while true {
                SystemTime.sleep(seconds: interval)
                refreshIfDue()
            }
        }
    }
}

import ConsulWatch
import Platform

/// Runs the whole pipeline for one delivery: decide (with state) → act → record, and the spool.
///
/// Acting happens outside the state lock in three phases, so that concurrent handlers neither
/// wait on each other's Jenkins calls nor act twice: (1) under the lock, decide and *claim* the
/// targets to act on; (2) act; (3) under the lock, record outcomes, release claims, spool what
/// failed and can be retried.
public struct Healer: Sendable {
    public var routing: RoutingTable
    public var groupBy: GroupBy
    /// The watch's name in the state (several watches may share a state directory).
    public var watch: String
    public var blastRadius: BlastRadius
    /// nil: stateless (`--no-state`): every failing target is acted on, every time.
    public var store: StateStore?
    public var journal: LogSink?
    public var clock: any Clock
    public var concurrency: Int
    public var timeout: Double
    public var dryRun: Bool
    /// Diagnostics (audit lines) go here.
    public var log: @Sendable (String) -> Void
    public var claimant: String
    /// What a down node's failure turns into (`services`: its services are redeployed elsewhere).
    public var nodeFailures: NodeFailureMode = .services
    /// Asks the agent which services ran on a down node (nil: none; the node stays pending).
    public var nodeServices: (any NodeServicesLookup)?
    /// Reads the values of `{kv:…}` placeholders, once per key per run.
    public var kv: (any KVReader)?

    public init(
        routing: RoutingTable, groupBy: GroupBy = .service, watch: String = "default", blastRadius: BlastRadius = BlastRadius(),
        store: StateStore?, journal: LogSink?, clock: any Clock = SystemClock(), concurrency: Int = 4, timeout: Double = 120,
        dryRun: Bool = false, log: @escaping @Sendable (String) -> Void, claimant: String = "pid \(ProcessID.current)"
    ) {
        self.routing = routing
        self.groupBy = groupBy
        self.watch = watch
        self.blastRadius = blastRadius
        self.store = store
        self.journal = journal
        self.clock = clock
        self.concurrency = concurrency
        self.timeout = timeout
        self.dryRun = dryRun
        self.log = log
        self.claimant = claimant
    }

    /// What a delivery came to.
    public struct Report: Sendable {
        public var decisions: [Decision] = []
        public var actions: [ActionReport] = []
        public var spooled = 0
        /// Incidents whose remediation (or escalation) did not succeed, fallbacks included.
        public var unresolved = 0
        /// True when the delivery only established the baseline.
        public var baseline = false
        /// Down nodes whose services could not be looked up: nothing of theirs was handled.
        public var pendingNodes: [String] = []
        /// True when some incident was not handled: every rung of its ladder failed (a rung that
        /// failed before a fallback succeeded does not count), or its escalation failed.
        public var failed: Bool { unresolved > 0 || !pendingNodes.isEmpty }
    }

    /// One piece of work for phase 2.
    private struct Work: Sendable {
        enum Kind: Sendable { case remediate, escalate, retry(StateStore.SpoolEntry) }
        var kind: Kind
        var incident: Incident
        var route: Route
    }

    private struct WorkResult: Sendable {
        var work: Work
        var reports: [ActionReport]
        var succeeded: Bool
        var retryable: Bool
        /// The last failure of the ladder (not of the escalation that may have followed).
        var ladderError: String? = nil
    }

    /// The policy engine this healer decides with.
    public var engine: PolicyEngine {
        PolicyEngine(routing: routing, blastRadius: blastRadius, claimant: claimant, claimDuration: timeout + 60)
    }

    /// Retries the spool alone (`consul-heal flush`): no delivery, no decisions.
    public func flush() throws(SystemError) -> Report {
        try handle(nil, consulIndex: nil, digest: "")
    }

    /// Handles one delivery's selection (nil: only retry the spool).
    public func handle(_ selection: Selection?, consulIndex: UInt64?, digest: String) throws(SystemError) -> Report {
        let now = clock.now()
        let isFlush = selection == nil
        let (selection, down) = try downNodes(selection)

        var (delivery, nodeFailures) = Self.delivery(
            selection, groupBy: groupBy, watch: watch, consulIndex: consulIndex, time: now, nodeFailures: nodeFailures, down: down)
        delivery.isRetry = isFlush
        let unrouted = delivery.incidents.filter { routing.route(for: $0) == nil }
        delivery.incidents.removeAll { routing.route(for: $0) == nil }
        for incident in unrouted {
            log("\(incident.target): no route matches it; nothing is done (add a route without \"match\" as the default)")
            journalRecord(event: "no-route", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("incident", incident.id)
                record.add("target", incident.target)
            }
        }
        let incidents = delivery.incidents
        for node in down.nodes { log(down.describe(node)) }
        for incident in nodeFailures {
            log("\(incident.target): not remediated: \(Self.describeNodeFailure(incident))")
            journalRecord(event: "node-failure", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("incident", incident.id)
                record.add("target", incident.target)
                record.add("check", incident.checks[0].checkID)
            }
        }
        let silenced = delivery.silenced

        var report = Report()
        report.pendingNodes = down.pending.map(\.name)
        var work: [Work] = []
        var alertTargets: [String]?

        // Phase 1: decide and claim.
        if let store {
            let engine = self.engine
            let routing = self.routing
            let claimant = self.claimant
            let claimUntil = now + timeout + 60
            let watch = self.watch
            let (result, retries) = try store.update(persist: !dryRun) { (state) throws(SystemError) in
                let result = isFlush && delivery.incidents.isEmpty
                    ? PolicyEngine.Result(decisions: [], baseline: false, breakerTripped: nil) : engine.decide(delivery, state: &state)
                if !dryRun { Self.remember(down, in: &state, watch: watch, isFlush: isFlush, time: now) }
                var retries: [Work] = []
                if !dryRun {
                    for entry in try store.spool() where entry.watch == watch {
                        guard var record = state.targets[entry.incidentID], record.failing else {
                            try store.removeSpool(key: entry.key)
                            continue
                        }
                        if let until = record.claimedUntil, until > now, let by = record.claimedBy, by != claimant { continue }
                        guard let incident = Incident(json: entry.incidentJSON), let route = routing.route(named: entry.route) else { continue }
                        record.claimedBy = claimant
                        record.claimedUntil = claimUntil
                        state.targets[entry.incidentID] = record
                        retries.append(Work(kind: .retry(entry), incident: incident, route: route))
                    }
                }
                return (result, retries)
            }
            report.decisions = result.decisions
            report.baseline = result.baseline
            alertTargets = result.breakerTripped
            work += retries
        } else {
            report.decisions = incidents.map { Decision(id: $0.id, target: $0.target, verdict: .act, incident: $0) }
                + silenced.map { Decision(id: $0.incident.id, target: $0.incident.target, verdict: .skip(.silenced($0.reason)), incident: $0.incident) }
        }
        // Spooled retries of targets that are acted on anew in this delivery are not also retried.
        for decision in report.decisions {
            guard let incident = decision.incident, let route = routing.route(for: incident) else { continue }
            switch decision.verdict {
            case .act: work.append(Work(kind: .remediate, incident: incident, route: route))
            case .escalate:
                var alerted = incident
                alerted.alert = "remediation budget exhausted: \(route.policy.budget.maximum) remediations within \(Int(route.policy.budget.window))s"
                work.append(Work(kind: .escalate, incident: alerted, route: route))
            default: break
            }
        }
        if !isFlush {
            journalRecord(event: "delivery", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("digest", digest)
                record.add("type", selection.type.rawValue)
                record.add("checks", selection.population.checkCount)
                record.add("selected", selection.checks.count)
                record.add("incidents", incidents.count)
                record.add("baseline", report.baseline)
            }
        }
        for decision in report.decisions {
            log("\(decision.target): \(decision.reason)")
            if case .act = decision.verdict { continue }
            if case .escalate = decision.verdict { continue }
            journalDecision(decision, consulIndex: consulIndex, digest: digest, time: now, action: nil, outcome: nil, duration: nil)
        }
        if let alertTargets {
            let message = "blast radius: \(alertTargets.count) targets turned critical within \(Int(blastRadius.window))s (\(alertTargets.joined(separator: ", "))); remediation suspended"
            log("ALERT: \(message)")
            journalRecord(event: "alert", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("reason", message)
                record.add("targets", alertTargets)
            }
            if let first = incidents.first(where: { alertTargets.contains($0.id) }), let route = routing.route(for: first), !route.escalation.isEmpty {
                var alerted = first
                alerted.alert = message
                work.append(Work(kind: .escalate, incident: alerted, route: route))
            }
        }

        // Phase 2: act.
        let context = {
            var context = ActionContext(clock: clock, deadline: now + timeout, dryRun: dryRun, log: log)
            context.kv = kv.map { KVValues(reader: $0) }
            return context
        }()
        let items = work
        let results = Dispatcher(concurrency: concurrency).run(items.count, context: context) { index in
            Self.perform(items[index], context: context)
        }
        for result in results {
            var retryAttempt: Int?
            if case .retry(let entry) = result.work.kind { retryAttempt = entry.attempts + 1 }
            for action in result.reports {
                log(retryAttempt.map { "\(action.auditLine) [spooled retry, attempt \($0)]" } ?? action.auditLine)
                let verdict: Decision.Verdict
                if case .escalate = result.work.kind { verdict = .escalate } else { verdict = .act }
                let decision = Decision(id: result.work.incident.id, target: result.work.incident.target, verdict: verdict, incident: result.work.incident)
                journalDecision(decision, consulIndex: consulIndex, digest: digest, time: clock.now(), action: action.action, outcome: action.outcome,
                                duration: action.duration, retryAttempt: retryAttempt)
            }
            report.actions += result.reports
            if !result.succeeded { report.unresolved += 1 }
        }

        // Phase 3: record.
        if let store, !work.isEmpty, !dryRun {
            let claimant = self.claimant
            let watch = self.watch
            report.spooled = try store.update { (state) throws(SystemError) -> Int in
                var spooled = 0
                for result in results {
                    let id = result.work.incident.id
                    if var record = state.targets[id], record.claimedBy == claimant {
                        record.claimedBy = nil
                        record.claimedUntil = nil
                        if !result.succeeded, case .remediate = result.work.kind, !result.retryable {
                            record.lastDecision = "failed"
                        }
                        state.targets[id] = record
                    }
                    switch result.work.kind {
                    case .retry(var entry):
                        if result.succeeded {
                            try store.removeSpool(key: entry.key)
                        } else {
                            entry.attempts += 1
                            entry.lastError = result.ladderError ?? entry.lastError
                            try store.writeSpool(entry)
                            spooled += 1
                        }
                    case .remediate where !result.succeeded && result.retryable && !dryRun:
                        let since = state.targets[id]?.failingSince ?? now
                        try store.writeSpool(StateStore.SpoolEntry(
                            key: "\(watch)/\(id)@\(Int(since * 1000))", watch: watch, route: result.work.route.name, incidentID: id,
                            incidentJSON: result.work.incident.json, attempts: 1, firstFailure: now,
                            lastError: result.ladderError ?? ""))
                        spooled += 1
                    default:
                        break
                    }
                }
                return spooled
            }
        }
        if report.spooled > 0 { log("\(report.spooled) action(s) spooled: retried on this watch's next delivery (or consul-heal flush with the same watch)") }
        return report
    }

    /// Runs one piece of work: recorders, then the ladder until a rung succeeds, then escalation
    /// if the ladder is exhausted; or the escalation alone.
    private static func perform(_ work: Work, context: ActionContext) -> WorkResult {
        var reports: [ActionReport] = []
        func run(_ action: any Action, on incident: Incident = work.incident) -> Outcome {
            let started = context.clock.now()
            let outcome = action.perform(incident, context: context)
            reports.append(ActionReport(incident: incident, action: action.name, outcome: outcome, duration: context.clock.now() - started))
            return outcome
        }
        func escalate(_ work: Work) -> Bool {
            if work.route.escalation.isEmpty {
                // Journaled all the same: the decision must be on record even with nothing to run.
                reports.append(ActionReport(incident: work.incident, action: "escalation", outcome: .skipped(reason: "no escalation action configured"), duration: 0))
                return true
            }
            var ok = true
            for action in work.route.escalation where run(action, on: work.incident).isFailure { ok = false }
            return ok
        }
        switch work.kind {
        case .escalate:
            let succeeded = escalate(work)  // before `reports` is read: escalate appends to it
            return WorkResult(work: work, reports: reports, succeeded: succeeded, retryable: false)
        case .remediate, .retry:
            if case .remediate = work.kind { for action in work.route.recorders { _ = run(action) } }
            var retryable = false
            var ladderError: String?
            for action in work.route.ladder {
                let outcome = run(action)
                switch outcome {
                case .done, .skipped: return WorkResult(work: work, reports: reports, succeeded: true, retryable: false)
                case .failed(let reason, let canRetry):
                    retryable = retryable || canRetry
                    ladderError = "\(action.name): \(reason)"
                }
            }
            // Escalate an exhausted ladder only where an escalation is configured (a single-action
            // executable has none, and saying so on every failure is noise).
            if case .remediate = work.kind, !work.route.ladder.isEmpty, !work.route.escalation.isEmpty {
                var alerted = work
                alerted.incident.alert = "every remediation failed; last: \(ladderError ?? "unknown")"
                _ = escalate(alerted)
            }
            return WorkResult(work: work, reports: reports, succeeded: work.route.ladder.isEmpty, retryable: retryable, ladderError: ladderError)
        }
    }

    /// The delivery the policy sees for a selection: incidents grouped, maintenance-silenced
    /// incidents with their reason, and node failures (which, unless grouping by node, are
    /// reported but never remediated). A down node (serfHealth critical) found in `down` has its
    /// service instances joined to their service incidents (cause `node-down`); one whose
    /// services are not known yet holds its checks back (silenced) and holds recoveries. In
    /// `node` mode, or for a down node not in `down`, its service checks are stale and silenced.
    public static func delivery(
        _ selection: Selection, groupBy: GroupBy, watch: String, consulIndex: UInt64?, time: Double,
        nodeFailures mode: NodeFailureMode = .services, down: DownNodes = DownNodes()
    ) -> (delivery: Delivery, nodeFailures: [Incident]) {
        var selected = selection.checks
        var held: [SelectedCheck] = []
        if mode == .services, groupBy != .node, !down.isEmpty { (selected, held) = down.expand(selected) }
        var incidents = Incident.group(selected, by: groupBy).map(Self.nodeDownFirst)
        var nodeFailures: [Incident] = []
        var stale: [Incident] = []
        if groupBy != .node {
            nodeFailures = incidents.filter { $0.isNodeFailure && $0.service == nil }
            incidents.removeAll { $0.isNodeFailure && $0.service == nil }
            // A node whose services are redeployed (or pending) is not also a node incident.
            nodeFailures.removeAll { down.node($0.node) != nil }
            // On a node whose agent is gone (serfHealth critical) the service checks are stale:
            // a service failing only there is the node's failure, not something to redeploy.
            let downNodes = Set(selection.checks.filter(\.showsNodeDown).map(\.node)).subtracting(down.nodes.map(\.name))
            if !downNodes.isEmpty {
                stale = incidents.filter { incident in incident.checks.allSatisfy { downNodes.contains($0.node) } }
                incidents.removeAll { incident in incident.checks.allSatisfy { downNodes.contains($0.node) } }
            }
        }
        let reasons = Dictionary(grouping: selection.silenced, by: { Incident.id(of: $0.check, groupBy: groupBy) })
        var silenced = Incident.group(selection.silenced.map { $0.check }, by: groupBy).map { incident in
            (incident: incident, reason: reasons[incident.id].map { describe($0[0]) } ?? "maintenance")
        }
        // Silenced, not resolved: the target stays failing in the state and is not acted on
        // again merely because its node comes back.
        silenced += stale.map { (incident: $0, reason: "its node \($0.node) is down (serfHealth critical), so the check is stale") }
        silenced += Incident.group(held, by: groupBy).filter { held in !incidents.contains { $0.id == held.id } }.map {
            (incident: $0, reason: "its node \($0.node) is down and which services ran there is not known yet; decided once the lookup succeeds")
        }
        // Only a payload that also shows healthy checks (a `state: any` or `service` watch) tells
        // how many services there are; a `state: critical` payload shows only the failing ones.
        let broadView = selection.population.checkCount > selection.checks.count + selection.silenced.count
        var delivery = Delivery(watch: watch, consulIndex: consulIndex, time: time, incidents: incidents, silenced: silenced, services: broadView ? selection.population.services : [])
        delivery.holdRecoveries = !down.pending.isEmpty
        return (delivery, nodeFailures)
    }

    /// A `node-down` incident names its dead node (`{node}`): the lost instances' checks come first.
    static func nodeDownFirst(_ incident: Incident) -> Incident {
        guard incident.cause == .nodeDown, !incident.checks[0].isNodeDown else { return incident }
        var rebuilt = Incident(groupBy: incident.groupBy, checks: incident.checks.filter(\.isNodeDown) + incident.checks.filter { !$0.isNodeDown })
        rebuilt.alert = incident.alert
        return rebuilt
    }

    /// Why a check is silenced, in words.
    public static func describe(_ silenced: Selection.Silenced) -> String {
        let scope: String
        switch silenced.maintenance {
        case .node(let node): scope = "node \(node) is in maintenance"
        case .service(let node, let serviceID): scope = "service \(serviceID) on \(node) is in maintenance"
        }
        return silenced.reason.isEmpty ? scope : "\(scope) (\(silenced.reason))"
    }

    // MARK: Journal

    private func journalRecord(event: String, time: Double, _ fill: (inout LogRecord) -> Void) {
        guard let journal else { return }
        var record = LogRecord(time: time, event: event)
        record.add("watch", watch)
        if dryRun { record.add("dryRun", true) }
        fill(&record)
        do { try journal.write(record) } catch { log("journal: \(error.description)") }
    }

    private func journalDecision(_ decision: Decision, consulIndex: UInt64?, digest: String, time: Double, action: String?, outcome: Outcome?, duration: Double?, retryAttempt: Int? = nil) {
        journalRecord(event: "decision", time: time) { record in
            record.add("consulIndex", consulIndex)
            record.add("digest", digest)
            record.add("incident", decision.id)
            record.add("target", decision.target)
            record.add("decision", decision.name)
            if let retryAttempt {
                record.add("reason", "retrying a spooled action (attempt \(retryAttempt))")
                record.add("retry", true)
            } else {
                record.add("reason", decision.reason)
            }
            if let action { record.add("action", action) }
            if let outcome {
                record.add("outcome", outcome.label)
                record.add("detail", outcome.detail)
            }
            if let duration { record.add("duration", (duration * 1000).rounded() / 1000) }
        }
    }
}

import ConsulWatch
import Platform

/// Runs the whole pipeline for one delivery: decide (with state) → act → record, and the spool.
///
/// Acting happens outside the state lock in three phases, so that concurrent handlers neither
/// wait on each other's Jenkins calls nor act twice:
/// 1. ``claim(_:isFlush:now:)`` (Healer+Claim.swift): under the lock, decide and *claim* the
///    targets to act on, pick up spooled retries, spool each remediation as running;
/// 2. ``act(_:now:)`` (Healer+Act.swift): run the ladders, outside any lock;
/// 3. ``record(_:now:)`` (Healer+Record.swift): under the lock, record outcomes, release claims,
///    spool what failed and can be retried.
/// `handle` strings them together and journals each step (``Journal``).
public struct Healer: Sendable {
    public var routing: RoutingTable
    public var groupBy: GroupBy
    /// The watch's name in the state (several watches may share a state directory).
    public var watch: String
    public var blastRadius: BlastRadius
    /// nil: stateless (`--no-state`): every failing target is acted on, every time.
    public var store: StateStore?
    public var journal: LogSink?
    public var clock: any TimeSource
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
    /// Count decisions and actions in the state for the Prometheus metrics (docs/metrics.md).
    public var countsMetrics = false
    /// Where the policy state lives when not in ``store`` (Consul KV, docs/cluster.md); the
    /// spool and dead letters stay in ``store``.
    public var policyState: (any PolicyStateBackend)?
    /// How long a claim holds (`consulState.claimLease`); nil: ``claimDuration``'s default.
    public var claimLease: Double?
    /// `onConsulUnavailable: act-locally`: decide on the local state when the shared one cannot
    /// be used, instead of keeping the delivery for later. Logged loudly every time.
    public var actLocallyWhenUnavailable = false

    public init(
        routing: RoutingTable, groupBy: GroupBy = .service, watch: String = "default", blastRadius: BlastRadius = BlastRadius(),
        store: StateStore?, journal: LogSink?, clock: any TimeSource = SystemClock(), concurrency: Int = 4, timeout: Double = 120,
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
        /// Why the shared policy state could not be used: nothing was acted on, the delivery
        /// is kept locally and decided again on the next delivery or flush (exit 75).
        public var stateUnavailable: String?
        /// The first journal write that failed (the rest of the delivery's records were not
        /// attempted). Everything else was done and recorded in the state; the caller reports
        /// it (exit 74).
        public var journalError: SystemError?
        /// True when some incident was not handled: every rung of its ladder failed (a rung that
        /// failed before a fallback succeeded does not count), or its escalation failed.
        public var failed: Bool { unresolved > 0 || !pendingNodes.isEmpty || stateUnavailable != nil }
    }

    /// The policy engine this healer decides with.
    public var engine: PolicyEngine {
        PolicyEngine(routing: routing, blastRadius: blastRadius, claimant: claimant, claimDuration: claimDuration)
    }

    /// How long a claim holds: the run's deadline plus time to stop its children and record
    /// the outcome (up to 60 s more). Past it, an actor that recorded nothing is taken to be
    /// dead and the target is acted on again.
    public var claimDuration: Double { claimLease ?? (timeout + min(60, 15 + timeout)) }

    /// The backend the policy state is read and changed through (nil: stateless).
    var backend: (any PolicyStateBackend)? { store == nil ? nil : (policyState ?? store) }

    /// Retries the spool alone (`consul-heal flush`): no delivery, no decisions.
    public func flush() throws(SystemError) -> Report {
        try handle(nil, consulIndex: nil, digest: "")
    }

    /// Handles one delivery's selection (nil: only retry the spool).
    public func handle(_ selection: Selection?, consulIndex: UInt64?, digest: String) throws(SystemError) -> Report {
        let now = clock.now()
        let isFlush = selection == nil
        let journal = Journal(sink: self.journal, watch: watch, dryRun: dryRun)
        let (selection, down) = try downNodes(selection)

        var (delivery, nodeFailures) = Self.delivery(
            selection, groupBy: groupBy, watch: watch, consulIndex: consulIndex, time: now, nodeFailures: nodeFailures, down: down)
        delivery.isRetry = isFlush
        // A delivery kept while the shared state was unavailable: a new delivery supersedes it
        // (Consul sends the whole current view); a flush decides it.
        var decidesPending = false
        if policyState != nil, let store, isFlush {
            switch store.pending(watch: watch) {
            case .none: break
            case .kept(var pending):
                pending.time = now
                delivery = pending
                decidesPending = true
            case .unreadable(let reason) where !dryRun:
                // Neither decided nor silently dropped: kept aside and said. The next delivery
                // carries Consul's whole current view anyway.
                let moved = try store.quarantinePending(watch: watch)
                log(
                    "the delivery kept in \(store.pendingDirectory) cannot be read (\(reason)); moved to \(moved), not decided; the next delivery decides the current view"
                )
            case .unreadable(let reason):
                log("the delivery kept in \(store.pendingDirectory) cannot be read (\(reason)); a run that is not a dry run moves it aside")
            }
        }
        for incident in delivery.incidents where routing.route(for: incident) == nil {
            log("\(incident.target): no route matches it; nothing is done (add a route without \"match\" as the default)")
            journal.record("no-route", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("incident", incident.id)
                record.add("target", incident.target)
            }
        }
        delivery.incidents.removeAll { routing.route(for: $0) == nil }
        for node in down.nodes {
            log(down.describe(node))
            journal.record("node-down", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("node", node.name)
                if let services = node.services { record.add("services", services.map(\.serviceID)) }
                if let source = node.source { record.add("source", source.rawValue) }
                if let pending = node.pending { record.add("pending", pending) }
            }
        }
        for incident in nodeFailures {
            log("\(incident.target): not remediated: \(Self.describeNodeFailure(incident))")
            journal.record("node-failure", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("incident", incident.id)
                record.add("target", incident.target)
                record.add("check", incident.checks[0].checkID)
            }
        }

        // Phase 1: decide and claim.
        let claim = try self.claim(delivery, isFlush: isFlush && !decidesPending, now: now, down: down)
        var report = Report()
        report.pendingNodes = down.pending.map(\.name)
        if let reason = claim.unavailable {
            report.stateUnavailable = reason
            if let store, !dryRun, !isFlush || decidesPending { try store.writePending(delivery) }
            journal.record("state-unavailable", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("digest", digest)
                record.add("incidents", delivery.incidents.count)
                record.add("reason", reason)
            }
            report.journalError = journal.error
            return report
        }
        if policyState != nil, let store, !dryRun, !isFlush || decidesPending { try store.removePending(watch: watch) }
        report.decisions = claim.decisions
        report.baseline = claim.baseline
        if !isFlush {
            journal.record("delivery", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("digest", digest)
                record.add("type", selection.type.rawValue)
                record.add("checks", selection.population.checkCount)
                record.add("selected", selection.checks.count)
                record.add("incidents", delivery.incidents.count)
                record.add("baseline", report.baseline)
            }
        }
        for expired in claim.expiredSilences {
            journal.record(expired.pause ? "pause-expired" : "silence-expired", time: now) { record in
                record.add(expired.pause ? "pausedWatch" : "target", expired.key)
                record.add("by", expired.silence.by)
                record.add("reason", expired.silence.reason)
            }
        }
        for decision in report.decisions {
            log("\(decision.target): \(decision.reason)")
            if case .act = decision.verdict { continue }
            if case .escalate = decision.verdict { continue }
            journal.decision(decision, consulIndex: consulIndex, digest: digest, time: now)
        }
        var work = claim.retries + claim.resolving.map { Work(kind: .resolve, incident: $0.incident, route: $0.route) } + self.work(for: claim)
        if let tripped = claim.breakerTripped {
            let message =
                "blast radius: \(tripped.count) targets turned critical within \(Int(blastRadius.window))s (\(tripped.joined(separator: ", "))); remediation suspended"
            log("ALERT: \(message)")
            journal.record("alert", time: now) { record in
                record.add("consulIndex", consulIndex)
                record.add("reason", message)
                record.add("targets", tripped)
            }
            if let first = delivery.incidents.first(where: { tripped.contains($0.id) }), let route = routing.route(for: first), !route.escalation.isEmpty {
                var alerted = first
                alerted.alert = message
                work.append(Work(kind: .escalate, incident: alerted, route: route))
            }
        }

        // Phase 2: act.
        let results = act(work, now: now)
        for result in results {
            var retryAttempt: Int?
            if case .retry(let entry) = result.work.kind { retryAttempt = entry.attempts + 1 }
            if let note = result.work.note { log("\(result.work.incident.target): \(note)") }
            let verdict: Decision.Verdict
            switch result.work.kind {
            case .escalate: verdict = .escalate
            case .resolve: verdict = .resolved
            case .remediate, .retry: verdict = .act
            }
            var decision = Decision(id: result.work.incident.id, target: result.work.incident.target, verdict: verdict, incident: result.work.incident)
            decision.note = result.work.reason
            for action in result.reports {
                log(retryAttempt.map { "\(action.auditLine) [spooled retry, attempt \($0)]" } ?? action.auditLine)
                journal.decision(
                    decision, consulIndex: consulIndex, digest: digest, time: clock.now(), action: action, retryAttempt: retryAttempt, note: result.work.note)
            }
            report.actions += result.reports
            if !result.succeeded { report.unresolved += 1 }
        }

        // Phase 3: record.
        report.spooled = try record(results, claim: claim, now: now)
        if report.spooled > 0 { log("\(report.spooled) action(s) spooled: retried on this watch's next delivery (or consul-heal flush with the same watch)") }
        try recordNotifiedAndMetrics(report, isFlush: isFlush, time: now)
        report.journalError = journal.error
        return report
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
        if mode == .services, groupBy != .node, !down.isEmpty { (selected, held) = down.expand(selected, criteria: selection.criteria) }
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
        var delivery = Delivery(
            watch: watch, consulIndex: consulIndex, time: time, incidents: incidents, silenced: silenced,
            services: broadView ? selection.population.services : [])
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
}

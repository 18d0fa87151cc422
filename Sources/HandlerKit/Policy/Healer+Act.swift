import ConsulWatch
import Platform

extension Healer {
    /// One piece of work for phase 2.
    struct Work: Sendable {
        enum Kind: Sendable {
            case remediate, escalate
            case retry(StateStore.SpoolEntry)
            case resolve
        }
        var kind: Kind
        var incident: Incident
        var route: Route
        /// The spool entry written before a remediation runs (removed once its outcome is
        /// recorded), so that an actor killed meanwhile leaves something to run again.
        var spoolKey: String? = nil
        /// Why this run repeats one whose outcome is unknown (journaled as its reason).
        var note: String? = nil
        /// The engine's reason when it says more than the verdict's words (an `escalate` says
        /// when its circuit closes), journaled with each action's outcome.
        var reason: String? = nil
    }

    /// What became of one piece of work.
    struct WorkResult: Sendable {
        var work: Work
        var reports: [ActionReport]
        var succeeded: Bool
        var retryable: Bool
        /// The last failure of the ladder (not of the escalation that may have followed).
        var ladderError: String? = nil
    }

    /// The work the claimed decisions call for: a remediation per `act`, an escalation per `escalate`.
    func work(for claim: Claim) -> [Work] {
        var work: [Work] = []
        for decision in claim.decisions {
            guard let incident = decision.incident, let route = routing.route(for: incident) else { continue }
            switch decision.verdict {
            case .act:
                var remediation = Work(kind: .remediate, incident: incident, route: route, note: decision.note)
                remediation.spoolKey = claim.spoolKeys[decision.id]  // where phase 1 spooled it as running
                work.append(remediation)
            case .escalate:
                var alerted = incident
                alerted.alert = "remediation budget exhausted: \(route.policy.budget.maximum) remediations within \(Int(route.policy.budget.window))s"
                work.append(Work(kind: .escalate, incident: alerted, route: route, reason: decision.note))
            default: break
            }
        }
        return work
    }

    /// Phase 2, outside any lock: runs every piece of work, at most ``concurrency`` at once,
    /// all within the run's deadline.
    func act(_ work: [Work], now: Double) -> [WorkResult] {
        var run = ActionContext(clock: clock, deadline: now + timeout, dryRun: dryRun, log: log)
        run.kv = kv.map { KVValues(reader: $0) }  // one cache per run: each key is read once
        let context = run
        return Dispatcher(concurrency: concurrency).run(work.count) { index in
            Self.perform(work[index], context: context)
        }
    }

    /// Runs one piece of work: recorders, then the ladder until a rung succeeds, then escalation
    /// if the ladder is exhausted; or the escalation alone.
    static func perform(_ work: Work, context: ActionContext) -> WorkResult {
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
                reports.append(
                    ActionReport(incident: work.incident, action: "escalation", outcome: .skipped(reason: "no escalation action configured"), duration: 0))
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
        case .resolve:
            var ok = true
            for action in work.route.resolved where run(action).isFailure { ok = false }
            return WorkResult(work: work, reports: reports, succeeded: ok, retryable: false)
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
}

import ConsulWatch

/// One delivery, as the policy sees it.
public struct Delivery: Sendable {
    /// The watch it came from (`--watch`; several watches can share one state directory).
    public var watch: String
    public var consulIndex: UInt64?
    public var time: Double
    /// Incidents of failing targets (maintenance already applied).
    public var incidents: [Incident]
    /// Incidents of targets silenced by maintenance, with the reason.
    public var silenced: [(incident: Incident, reason: String)]
    /// Every service name the payload showed, healthy ones included (empty when the payload
    /// shows only failing checks): the denominator of the blast-radius percentage.
    public var services: Set<String>
    /// True when the delivery may not show every failing target of its watch (a down node's
    /// services are not known yet): nothing is resolved because it is absent.
    public var holdRecoveries = false
    /// True for incidents decided again outside a delivery (`flush` after a failed node lookup):
    /// no delivery is counted, nothing is a baseline, nothing is resolved.
    public var isRetry = false

    public init(
        watch: String, consulIndex: UInt64?, time: Double, incidents: [Incident], silenced: [(incident: Incident, reason: String)] = [],
        services: Set<String> = []
    ) {
        self.watch = watch
        self.consulIndex = consulIndex
        self.time = time
        self.incidents = incidents
        self.silenced = silenced
        self.services = services
    }
}

/// The policy: from a delivery and the remembered state, decide per target, and update the
/// state. Pure (no I/O, no clock but the delivery's time), so `explain` and `replay` use it as is.
public struct PolicyEngine: Sendable {
    public var settings: @Sendable (Incident) -> PolicySettings
    public var blastRadius: BlastRadius
    /// Identifies this handler in claims (`pid@host`).
    public var claimant: String
    /// How long a claim holds before another handler may take over (the run's deadline).
    public var claimDuration: Double
    /// Treat a live claim already held by ``claimant`` as this decision's own (a shared-state
    /// backend re-decides after a CAS conflict; its claimant carries a per-run nonce). Off for
    /// explain and replay, whose fixed claimant never releases its claims.
    public var keepsOwnClaims = false

    public init(
        settings: @escaping @Sendable (Incident) -> PolicySettings, blastRadius: BlastRadius = BlastRadius(), claimant: String = "", claimDuration: Double = 300
    ) {
        self.settings = settings
        self.blastRadius = blastRadius
        self.claimant = claimant
        self.claimDuration = claimDuration
    }

    /// The outcome of deciding one delivery.
    public struct Decisions: Sendable {
        public var decisions: [Decision]
        /// True when the delivery only established the baseline.
        public var baseline: Bool
        /// Set when the blast-radius breaker tripped in this delivery (alert once).
        public var breakerTripped: [String]?
        /// Operators' silences and pauses that ended by this delivery's time (journaled).
        public var expiredSilences: [(key: String, silence: Silence, pause: Bool)] = []
    }

    /// Decides every target of `delivery`, updating `state` (claims included: targets decided
    /// `act` or `escalate` are claimed for this handler until ``claimDuration`` passes).
    public func decide(_ delivery: Delivery, state: inout HealState) -> Decisions {
        let now = delivery.time
        let watch = delivery.watch
        let previous = state.watches[watch]
        var baseline = previous == nil
        if let index = delivery.consulIndex, let last = previous?.lastIndex, index <= last { baseline = true }
        if delivery.isRetry {
            baseline = false
        } else {
            state.watches[watch] = HealState.WatchRecord(
                lastIndex: delivery.consulIndex ?? previous?.lastIndex, deliveries: (previous?.deliveries ?? 0) + 1, lastDelivery: now)
        }
        state.knownServices.formUnion(delivery.services)
        let expiredSilences = state.expireSilences(now: now)
        // Operators' silences and pauses (docs/operations.md): the failures they cover are
        // tracked but neither acted on, nor counted against the budget or the blast radius.
        var silencedBy: [String: String] = [:]
        for incident in delivery.incidents where silencedBy[incident.id] == nil {
            if let detail = state.silence(of: incident, watch: watch, now: now) { silencedBy[incident.id] = detail }
        }

        var decisions: [Decision] = []
        let failingIDs = Set(delivery.incidents.map(\.id))
        let silencedIDs = Set(delivery.silenced.map(\.incident.id))

        // Recoveries first: targets of this watch that are no longer failing.
        for id in state.targets.keys.sorted() {
            guard !delivery.holdRecoveries, !delivery.isRetry, var record = state.targets[id], record.failing, record.watch == watch,
                !failingIDs.contains(id), !silencedIDs.contains(id)
            else { continue }
            record.failing = false
            record.passingSince = now
            record.failingSince = nil
            record.deliveriesFailing = 0
            record.baseline = false
            record.silenced = false
            record.acted = false
            record.claimedBy = nil
            record.claimedUntil = nil
            record.lastDecision = "resolved"
            record.lastDecisionAt = now
            state.targets[id] = record
            decisions.append(Decision(id: id, target: record.target, verdict: .resolved, incident: nil))
        }

        // Maintenance: record, never act.
        for (incident, reason) in delivery.silenced {
            var record = state.targets[incident.id] ?? HealState.TargetRecord(id: incident.id, target: incident.target, watch: watch, now: now)
            record.lastDecision = "silenced"
            record.lastDecisionAt = now
            state.targets[incident.id] = record
            decisions.append(Decision(id: incident.id, target: incident.target, verdict: .skip(.silenced(reason)), incident: incident))
        }

        // Update failing targets, noting which started failing now.
        var newlyFailing: [String] = []
        for incident in delivery.incidents {
            let policy = settings(incident)
            var record = state.targets[incident.id] ?? HealState.TargetRecord(id: incident.id, target: incident.target, watch: watch, now: now)
            record.target = incident.target
            record.watch = watch
            if !record.failing {
                _ = Self.closeCircuitIfRested(&record, now: now)
                record.failing = true
                record.failingSince = now
                record.deliveriesFailing = 0
                record.acted = false
                record.baseline = baseline && policy.onStart == .wait
                if !record.baseline && silencedBy[incident.id] == nil { newlyFailing.append(incident.id) }
            }
            if silencedBy[incident.id] != nil { record.silenced = true }
            record.deliveriesFailing += 1
            record.passingSince = nil
            state.targets[incident.id] = record
        }
        // Circuits close once their target has been passing for the reset period.
        for id in state.targets.keys {
            guard var record = state.targets[id], !record.failing else { continue }
            if Self.closeCircuitIfRested(&record, now: now) { state.targets[id] = record }
        }

        // Blast radius.
        var tripped: [String]? = nil
        if blastRadius.enabled {
            state.recentFailures.removeAll { now - $0.time > blastRadius.window }
            for id in newlyFailing where !state.recentFailures.contains(where: { $0.id == id }) {
                state.recentFailures.append((id, now))
            }
            let recent = Set(state.recentFailures.map(\.id))
            let known = max(state.knownServices.count, 1)
            let percent = Double(recent.count) * 100 / Double(known)
            let overCount = recent.count > blastRadius.maximumTargets
            let overPercent = state.knownServices.count >= blastRadius.minimumKnownServices && percent > blastRadius.maximumPercent && recent.count > 1
            if state.breaker == nil, overCount || overPercent {
                state.breaker = HealState.Breaker(trippedAt: now, targets: recent.sorted())
                tripped = recent.sorted()
            } else if let breaker = state.breaker {
                let failingNow = state.targets.values.filter { $0.failing && !$0.baseline && !$0.silenced }.count
                let percentNow = Double(failingNow) * 100 / Double(known)
                let calm =
                    failingNow <= blastRadius.maximumTargets
                    && !(state.knownServices.count >= blastRadius.minimumKnownServices && percentNow > blastRadius.maximumPercent && failingNow > 1)
                if calm && now - breaker.trippedAt >= blastRadius.window { state.breaker = nil }
            }
        }

        // Decide each failing target.
        for incident in delivery.incidents {
            let policy = settings(incident)
            var record = state.targets[incident.id]!
            if silencedBy[incident.id] == nil, let verdict = ownClaim(record, now: now) {
                // Claimed by this very decision in an earlier round (a shared-state backend
                // re-decides after a CAS conflict, some keys already written): still ours to act on.
                decisions.append(Decision(id: incident.id, target: incident.target, verdict: verdict, incident: incident))
                continue
            }
            let silence = silencedBy[incident.id]
            let unknown = silence == nil ? Self.releaseExpiredClaim(&record, now: now) : nil
            let verdict =
                silence.map { .skip(.silenced($0)) } ?? verdict(for: &record, policy: policy, breaker: state.breaker, now: now, outcomeUnknown: unknown != nil)
            switch verdict {
            case .act:
                record.acted = true
                record.lastActionAt = now
                record.remediations.append(now)
                record.claimedBy = claimant
                record.claimedUntil = now + claimDuration
            case .escalate:
                record.acted = true
                record.circuitOpenSince = now
                record.circuitReset = policy.budget.reset
                record.claimedBy = claimant
                record.claimedUntil = now + claimDuration
            default:
                break
            }
            record.lastDecision = Decision(id: incident.id, target: incident.target, verdict: verdict, incident: nil).name
            record.lastDecisionAt = now
            state.targets[incident.id] = record
            var decision = Decision(id: incident.id, target: incident.target, verdict: verdict, incident: incident)
            if let unknown, case .act = verdict { decision.note = unknown }
            // Say when the circuit closes, in the journal and the audit line (issue 11).
            if let closing = record.circuitClosing {
                switch verdict {
                case .escalate: decision.note = "remediation budget exhausted: escalating once, no more remediation; \(closing.summary)"
                case .skip(.budgetExhausted): decision.note = decision.reason + "; " + closing.summary
                default: break
                }
            }
            decisions.append(decision)
        }
        state.pruneResolved(now: now)
        return Decisions(decisions: decisions, baseline: baseline, breakerTripped: tripped, expiredSilences: expiredSilences)
    }

    /// The verdict of a live claim this claimant already holds (nil when it holds none): a
    /// claimant carries a per-run nonce, so only a retry of the same decision matches.
    func ownClaim(_ record: HealState.TargetRecord, now: Double) -> Decision.Verdict? {
        guard keepsOwnClaims, !claimant.isEmpty, record.acted, record.claimedBy == claimant, let until = record.claimedUntil, until > now else { return nil }
        return record.lastDecision == "escalate" ? .escalate : .act
    }

    /// A claim that expired while the target was still marked acted on means its actor died
    /// (SIGKILL, an agent restart) before recording an outcome: the outcome is unknown, so the
    /// target is decided afresh (threshold and budget, as any failure) instead of being
    /// a duplicate for ever. Returns the reason to journal when it is.
    static func releaseExpiredClaim(_ record: inout HealState.TargetRecord, now: Double) -> String? {
        guard record.acted, let by = record.claimedBy, let until = record.claimedUntil, until <= now else { return nil }
        record.acted = false
        record.claimedBy = nil
        record.claimedUntil = nil
        return unknownOutcomeReason(by: by, expiredAt: until)
    }

    /// The journal's reason for acting again after an actor vanished.
    public static func unknownOutcomeReason(by: String, expiredAt: Double) -> String {
        "previous actor \(by) did not record an outcome before its claim expired at \(Timestamp.iso8601(expiredAt)); acting again"
    }

    /// Why a failure seen under a silence is still not acted on once the silence ended.
    public static let heldAfterSilence =
        "the current failure began or went on under a silence or pause that has ended; acting only once it recovers and fails again (docs/operations.md)"

    /// Closes an open circuit when the target has been passing for its reset period.
    static func closeCircuitIfRested(_ record: inout HealState.TargetRecord, now: Double) -> Bool {
        guard let open = record.circuitOpenSince, let passing = record.passingSince, passing >= open,
            now - passing >= record.circuitReset ?? 0
        else { return false }
        record.circuitOpenSince = nil
        record.circuitReset = nil
        record.remediations = []
        return true
    }

    /// `outcomeUnknown`: the last action's actor vanished; its claim already waited longer than
    /// a cooldown is meant to, so the cooldown does not apply (the budget does).
    private func verdict(
        for record: inout HealState.TargetRecord, policy: PolicySettings, breaker: HealState.Breaker?, now: Double, outcomeUnknown: Bool = false
    ) -> Decision.Verdict {
        if record.baseline { return .skip(.baseline) }
        if record.acted {
            if let by = record.claimedBy, by != claimant, let until = record.claimedUntil, until > now { return .skip(.inFlight(by: by)) }
            return .skip(.duplicate(actedAt: record.lastActionAt))
        }
        if record.silenced { return .skip(.silenced(Self.heldAfterSilence)) }
        if breaker != nil { return .skip(.blastRadius(targets: breaker!.targets.count)) }
        let elapsed = now - (record.failingSince ?? now)
        let threshold = policy.threshold
        let byCount = threshold.deliveries > 1 && record.deliveriesFailing >= threshold.deliveries
        let byTime = threshold.seconds > 0 && elapsed >= threshold.seconds
        let unconstrained = threshold.deliveries <= 1 && threshold.seconds <= 0
        if !(unconstrained || byCount || byTime) {
            return .skip(
                .belowThreshold(deliveries: record.deliveriesFailing, needed: threshold.deliveries, seconds: elapsed, neededSeconds: threshold.seconds))
        }
        if record.circuitOpenSince != nil {
            return .skip(.budgetExhausted(remediations: record.remediations.count, window: policy.budget.window))
        }
        record.remediations.removeAll { now - $0 > policy.budget.window }
        if record.remediations.count >= policy.budget.maximum { return .escalate }
        if !outcomeUnknown, let last = record.lastActionAt, now - last < policy.cooldown {
            return .skip(.cooldown(remaining: policy.cooldown - (now - last)))
        }
        return .act
    }
}

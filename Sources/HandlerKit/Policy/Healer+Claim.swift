import ConsulWatch
import Platform

extension Healer {
    /// What phase 1 decided and claimed for one delivery.
    struct Claim: Sendable {
        var decisions: [Decision]
        /// True when the delivery only established the baseline.
        var baseline = false
        /// The targets that tripped the blast-radius breaker in this delivery (alert once).
        var breakerTripped: [String]?
        /// Spooled actions claimed for a retry in this run.
        var retries: [Work] = []
        /// Where each remediation decided now was spooled as running, by incident ID.
        var spoolKeys: [String: String] = [:]
        /// Recovered incidents that were notified: their route's `resolved` actions run once.
        var resolving: [(incident: Incident, route: Route)] = []
        /// Operators' silences and pauses that ended by now (journaled).
        var expiredSilences: [(key: String, silence: Silence, pause: Bool)] = []
        /// Who claimed (the backend's claimant, with its nonce, or the healer's).
        var claimant = ""
        /// True when the claim was made on the local state although a shared one is configured
        /// (`onConsulUnavailable: act-locally`): the outcome is recorded there too.
        var local = false
        /// Why the shared state could not be used (nothing decided, nothing claimed).
        var unavailable: String?
        /// Spool entries to write once the claims are recorded (shared state only).
        var unspooled: [StateStore.SpoolEntry] = []
    }

    /// Phase 1, under the state lock: decides the delivery, claims the targets to act on, picks
    /// up this watch's spooled retries (and runs whose actor died), and spools each remediation as
    /// running before it starts, so that a handler killed while acting leaves it behind.
    /// Without a state (`--no-state`) every failing target is acted on.
    func claim(_ delivery: Delivery, isFlush: Bool, now: Double, down: DownNodes = DownNodes()) throws(SystemError) -> Claim {
        guard let store, let backend else {
            return Claim(
                decisions: delivery.incidents.map { Decision(id: $0.id, target: $0.target, verdict: .act, incident: $0) }
                    + delivery.silenced.map {
                        Decision(id: $0.incident.id, target: $0.incident.target, verdict: .skip(.silenced($0.reason)), incident: $0.incident)
                    })
        }
        let reason: String
        do {
            let shared = try backend.claimant()
            return try claim(
                delivery, isFlush: isFlush, now: now, down: down, on: backend, store: store, claimant: shared ?? claimant, keepsOwnClaims: shared != nil)
        } catch {
            switch error {
            case .local(let error): throw error
            case .unavailable(let why): reason = why
            }
        }
        guard actLocallyWhenUnavailable else { return Claim(decisions: [], unavailable: reason) }
        log(
            "WARNING: shared policy state unavailable (\(reason)); onConsulUnavailable is act-locally, so this agent decides ALONE on its local state: other agents may act on the same incidents"
        )
        do {
            var claim = try self.claim(delivery, isFlush: isFlush, now: now, down: down, on: store, store: store, claimant: claimant)
            claim.local = true
            return claim
        } catch {
            switch error {
            case .local(let error): throw error
            case .unavailable(let why): throw SystemError("decide", path: store.statePath, errno: Errno.invalid, detail: why)
            }
        }
    }

    private func claim(
        _ delivery: Delivery, isFlush: Bool, now: Double, down: DownNodes, on backend: any PolicyStateBackend, store: StateStore, claimant: String,
        keepsOwnClaims: Bool = false
    ) throws(PolicyStateError) -> Claim {
        var engine = self.engine
        engine.claimant = claimant
        engine.keepsOwnClaims = keepsOwnClaims
        let routing = self.routing
        let claimUntil = now + claimDuration
        let watch = self.watch
        let dryRun = self.dryRun
        // On the shared state the body may run again after a CAS conflict, and an agent that
        // loses the race acts on nothing: its spool entries are written once its claims are
        // recorded (before any action starts), not by every attempt of every agent. A handler
        // killed between the two leaves a claim with no outcome, which the next delivery on any
        // agent takes over when its lease ends, as when its host dies.
        let spoolsAfterClaim = keepsOwnClaims
        var claim = try backend.modify(persist: !dryRun) { (state) throws(SystemError) -> Claim in
            // A flush decides only the down nodes whose services are known at last.
            let result =
                isFlush && delivery.incidents.isEmpty
                ? PolicyEngine.Decisions(decisions: [], baseline: false, breakerTripped: nil) : engine.decide(delivery, state: &state)
            if !dryRun { Self.remember(down, in: &state, watch: watch, isFlush: isFlush, time: now) }
            var claim = Claim(decisions: result.decisions, baseline: result.baseline, breakerTripped: result.breakerTripped)
            claim.expiredSilences = result.expiredSilences
            claim.claimant = claimant
            claim.resolving = Self.takeNotified(result.decisions, state: &state, routing: routing)  // docs/notifications.md
            guard !dryRun else { return claim }
            // Targets acted on anew in this delivery are not also retried from the spool.
            let decidedNow = Set(result.decisions.filter(\.verdict.runsActions).map(\.id))
            for entry in try store.spool() where entry.watch == watch {
                guard var record = state.targets[entry.incidentID], record.failing else {
                    try store.removeSpool(key: entry.key)
                    continue
                }
                if decidedNow.contains(entry.incidentID) { continue }
                if record.silenced { continue }  // not acted on; dropped when the target recovers
                var note: String?
                if entry.attempts == 0 {
                    // Written before a remediation ran: ours to run only once its actor's claim
                    // expired with no outcome (the actor was killed).
                    guard record.acted, let by = record.claimedBy, let until = record.claimedUntil, until <= now else { continue }
                    note = PolicyEngine.unknownOutcomeReason(by: by, expiredAt: until)
                    record.remediations.append(now)  // it counts against the budget
                    record.lastActionAt = now
                } else if let until = record.claimedUntil, until > now, let by = record.claimedBy, by != claimant {
                    continue
                }
                guard let incident = Incident(json: entry.incidentJSON), let route = routing.route(named: entry.route) else { continue }
                record.claimedBy = claimant
                record.claimedUntil = claimUntil
                state.targets[entry.incidentID] = record
                claim.retries.append(Work(kind: .retry(entry), incident: incident, route: route, note: note))
            }
            for decision in result.decisions {
                guard case .act = decision.verdict, let incident = decision.incident, let route = routing.route(for: incident) else { continue }
                let key = Self.spoolKey(watch: watch, id: decision.id, failingSince: state.targets[decision.id]?.failingSince ?? now)
                let entry = StateStore.SpoolEntry(
                    key: key, watch: watch, route: route.name, incidentID: decision.id, incidentJSON: incident.json,
                    attempts: 0, firstFailure: now, lastError: "")
                if spoolsAfterClaim { claim.unspooled.append(entry) } else { try store.writeSpool(entry) }
                claim.spoolKeys[decision.id] = key
            }
            return claim
        }
        do { for entry in claim.unspooled { try store.writeSpool(entry) } } catch { throw .local(error) }
        claim.unspooled = []
        return claim
    }

    /// The spool key of one failure of one target (a later failure gets another).
    static func spoolKey(watch: String, id: String, failingSince: Double) -> String {
        "\(watch)/\(id)@\(Int(failingSince * 1000))"
    }
}

extension Decision.Verdict {
    /// True for the verdicts that run a route's actions (`act`, `escalate`).
    public var runsActions: Bool {
        switch self {
        case .act, .escalate: return true
        case .skip, .resolved: return false
        }
    }
}

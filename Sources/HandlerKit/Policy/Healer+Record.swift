import ConsulWatch
import Platform

extension Healer {
    /// Phase 3, under the state lock: releases this handler's claims, marks remediations that
    /// failed beyond retrying, and settles the spool: a successful retry or remediation leaves
    /// it, a retryable failure (re)enters it. Returns how many actions are spooled. Nothing is
    /// recorded in a dry run or without a state.
    func record(_ results: [WorkResult], claim: Claim, now: Double) throws(SystemError) -> Int {
        guard let store, let shared = backend, !results.isEmpty, !dryRun else { return 0 }
        let backend: any PolicyStateBackend = claim.local ? store : shared
        let claimant = claim.claimant.isEmpty ? self.claimant : claim.claimant
        let watch = self.watch
        let reason: String
        do {
            return try backend.modify(persist: true) { (state) throws(SystemError) -> Int in
                try Self.settle(results, state: &state, store: store, claimant: claimant, watch: watch, now: now)
            }
        } catch {
            switch error {
            case .local(let error): throw error
            case .unavailable(let why): reason = why
            }
        }
        // Acted, but the outcome is not in the shared state: the claim lapses at its lease and
        // the target may be acted on again then (docs/cluster.md). The spool still settles.
        log("outcome not recorded in the shared policy state (\(reason)); claims lapse at their lease")
        var scratch = HealState()
        return try Self.settle(results, state: &scratch, store: store, claimant: claimant, watch: watch, now: now)
    }

    private static func settle(_ results: [WorkResult], state: inout HealState, store: StateStore, claimant: String, watch: String, now: Double)
        throws(SystemError) -> Int
    {
        do {
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
                case .remediate where !result.succeeded && result.retryable:
                    let since = state.targets[id]?.failingSince ?? now
                    try store.writeSpool(
                        StateStore.SpoolEntry(
                            key: result.work.spoolKey ?? Self.spoolKey(watch: watch, id: id, failingSince: since), watch: watch,
                            route: result.work.route.name, incidentID: id, incidentJSON: result.work.incident.json, attempts: 1,
                            firstFailure: now, lastError: result.ladderError ?? ""))
                    spooled += 1
                case .remediate:
                    // Done, or failed beyond retrying: the running entry has served its purpose.
                    if let key = result.work.spoolKey { try store.removeSpool(key: key) }
                case .escalate, .resolve:
                    break
                }
            }
            return spooled
        }
    }
}

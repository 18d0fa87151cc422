import ConsulWatch
import Platform

extension Healer {
    /// Phase 3, under the state lock: releases this handler's claims, marks remediations that
    /// failed beyond retrying, and settles the spool: a successful retry or remediation leaves
    /// it, a retryable failure (re)enters it. Returns how many actions are spooled. Nothing is
    /// recorded in a dry run or without a state.
    func record(_ results: [WorkResult], now: Double) throws(SystemError) -> Int {
        guard let store, !results.isEmpty, !dryRun else { return 0 }
        let claimant = self.claimant
        let watch = self.watch
        return try store.update { (state) throws(SystemError) -> Int in
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
                    try store.writeSpool(StateStore.SpoolEntry(
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

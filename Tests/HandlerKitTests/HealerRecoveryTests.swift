import ConsulWatch
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import HandlerKit

/// An actor killed mid-action (simulated: it never returns) leaves an incident that `flush`
/// runs again once its claim has expired, counted against the budget and journaled with why.
@Suite struct HealerRecoveryTests {

    /// Runs until released (the actor's death, as far as the state can tell), or counts a run.
    final class Rung: Action, Sendable {
        let name = "redeploy"
        let runs = Mutex(0)
        let hang = DispatchSemaphore(value: 0)
        let hangFirst: Bool
        init(hangFirst: Bool) { self.hangFirst = hangFirst }
        func perform(_ incident: Incident, context: ActionContext) -> Outcome {
            let first = runs.withLock { count in
                count += 1
                return count == 1
            }
            if first && hangFirst { hang.wait() }
            return .done(detail: "redeployed")
        }
    }

    @Test func flushRunsTheLadderAgainForAnActorThatDiedBeforeRecordingAnOutcome() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("healer-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try StateStore(directory: directory, warn: { _ in })
        let clock = VirtualClock(start: 1_800_000_000)
        let rung = Rung(hangFirst: true)
        let journal = LogSink(destination: .memory, format: .jsonl)
        @Sendable func healer(_ claimant: String) -> Healer {
            Healer(
                routing: RoutingTable(routes: [Route(name: "default", match: nil, ladder: [rung])]), watch: "w", store: store, journal: journal,
                clock: clock, timeout: 10, log: { _ in }, claimant: claimant)
        }
        let web = SelectedCheck(
            kind: .service, service: "web", serviceID: "web", node: "n1", checkID: "service:web", checkName: "web",
            status: .critical, output: "503")
        _ = try healer("pid 1").handle(Selection(type: .checks, checks: []), consulIndex: 1, digest: "")
        // The first actor decides, claims, spools the running entry, then hangs in its rung.
        let dying = DispatchGroup()
        DispatchQueue.global().async(group: dying) {
            _ = try? healer("pid 1").handle(Selection(type: .checks, checks: [web]), consulIndex: 2, digest: "")
        }
        while rung.runs.withLock({ $0 }) == 0 { Thread.sleep(forTimeInterval: 0.005) }
        #expect(try store.spool().map(\.attempts) == [0])

        // Before the claim expires, flush leaves it alone.
        #expect(try healer("pid 2").flush().actions.isEmpty)
        // After, it runs the ladder again.
        clock.sleep(healer("pid 2").claimDuration + 1)
        let report = try healer("pid 2").flush()
        #expect(report.actions.map(\.outcome) == [.done(detail: "redeployed")])
        #expect(rung.runs.withLock { $0 } == 2)
        #expect(try store.spool().isEmpty)
        let record = try #require(try store.snapshot().targets["service:web"])
        #expect(record.remediations.count == 2)
        #expect(record.claimedBy == nil)
        let reasons = journal.records.compactMap { record -> String? in
            guard case .string(let reason)? = record.fields.first(where: { $0.0 == "reason" })?.1 else { return nil }
            return reason
        }
        #expect(reasons.contains { $0.hasPrefix("previous actor pid 1 did not record an outcome before its claim expired at") })
        // A second flush does nothing more.
        #expect(try healer("pid 2").flush().actions.isEmpty)
        rung.hang.signal()
        dying.wait()
    }
}

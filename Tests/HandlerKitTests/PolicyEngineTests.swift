import ConsulWatch
import Foundation
import Testing

@testable import HandlerKit

/// The policy, one rule at a time, on a virtual clock: no I/O.
@Suite struct PolicyEngineTests {
    static func check(_ service: String, node: String = "n1", output: String = "HTTP 503") -> SelectedCheck {
        SelectedCheck(
            kind: .service, service: service, serviceID: service, node: node, checkID: "service:\(service)",
            checkName: "Service '\(service)' check", status: .critical, output: output)
    }

    static func incidents(_ services: [String], output: String = "HTTP 503") -> [Incident] {
        Incident.group(services.map { check($0, output: output) }, by: .service)
    }

    struct Harness {
        var engine: PolicyEngine
        var state = HealState()
        var index: UInt64 = 100
        var time: Double = 1_000_000

        init(_ settings: PolicySettings = PolicySettings(), blastRadius: BlastRadius = BlastRadius(), watch: String = "w") {
            engine = PolicyEngine(settings: { _ in settings }, blastRadius: blastRadius, claimant: "me")
            self.watch = watch
        }

        var watch: String

        /// Delivers the failing services; returns decision names by target.
        @discardableResult
        mutating func deliver(
            _ services: [String], output: String = "HTTP 503", advance: Double = 10, indexStep: UInt64 = 1, watch: String? = nil,
            silenced: [String] = []
        ) -> [String: String] {
            time += advance
            index += indexStep
            let delivery = Delivery(
                watch: watch ?? self.watch, consulIndex: index, time: time, incidents: PolicyEngineTests.incidents(services, output: output),
                silenced: PolicyEngineTests.incidents(silenced).map { ($0, "node n1 is in maintenance") })
            let result = engine.decide(delivery, state: &state)
            // Actions finish at once in these tests: release the claims as the healer does.
            for id in state.targets.keys {
                state.targets[id]?.claimedBy = nil
                state.targets[id]?.claimedUntil = nil
            }
            return Dictionary(result.decisions.map { ($0.target, $0.name) }, uniquingKeysWith: { $1 })
        }
    }

    @Test func firstDeliveryIsABaselineAndOnlyLaterFailuresAreActedOn() {
        var h = Harness()
        #expect(h.deliver(["web"]) == ["web": "baseline"])
        #expect(h.deliver(["web"]) == ["web": "baseline"])
        #expect(h.deliver([]) == ["web": "resolved"])
        #expect(h.deliver(["web"]) == ["web": "act"])
    }

    @Test func onStartActTreatsTheBaselineAsNewFailures() {
        var h = Harness(PolicySettings(onStart: .act))
        #expect(h.deliver(["web"]) == ["web": "act"])
    }

    @Test func aServiceThatFailsOnceIsActedOnOnceAcrossTenRedeliveries() {
        var h = Harness()
        h.deliver([])
        var acts = 0
        for round in 0..<10 {
            let decisions = h.deliver(["web"], output: "HTTP 503 at \(round)")  // output text changes every time
            if decisions["web"] == "act" { acts += 1 } else { #expect(decisions["web"] == "duplicate") }
        }
        #expect(acts == 1)
    }

    @Test func aDeliveryWhoseIndexDidNotAdvanceIsABaseline() {
        var h = Harness()
        h.deliver([])
        // An agent reload re-fires the watch with the same index: what fails then is not new.
        #expect(h.deliver(["web"], indexStep: 0) == ["web": "baseline"])
        #expect(h.deliver(["api"], indexStep: 1)["api"] == "act")
    }

    @Test func thresholdByDeliveries() {
        var h = Harness(PolicySettings(threshold: .init(deliveries: 3)))
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "below-threshold"])
        #expect(h.deliver(["web"]) == ["web": "below-threshold"])
        #expect(h.deliver(["web"]) == ["web": "act"])
        #expect(h.deliver(["web"]) == ["web": "duplicate"])
    }

    @Test func thresholdBySeconds() {
        var h = Harness(PolicySettings(threshold: .init(seconds: 60)))
        h.deliver([])
        #expect(h.deliver(["web"], advance: 10) == ["web": "below-threshold"])
        #expect(h.deliver(["web"], advance: 30) == ["web": "below-threshold"])
        #expect(h.deliver(["web"], advance: 31) == ["web": "act"])
    }

    @Test func cooldownHoldsARefailureAndReleasesItLater() {
        var h = Harness(PolicySettings(cooldown: 300))
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "act"])
        #expect(h.deliver([], advance: 30) == ["web": "resolved"])
        #expect(h.deliver(["web"], advance: 30) == ["web": "cooldown"])
        #expect(h.deliver(["web"], advance: 250) == ["web": "act"])
    }

    @Test func budgetOpensTheCircuitEscalatesOnceAndResetsAfterPassing() {
        var h = Harness(PolicySettings(cooldown: 0, budget: .init(maximum: 2, window: 3600, reset: 600)))
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "act"])
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "act"])
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "escalate"])
        #expect(h.deliver(["web"]) == ["web": "duplicate"])
        h.deliver([], advance: 60)
        // Passing for only 60 s: the circuit stays open.
        #expect(h.deliver(["web"], advance: 60) == ["web": "budget-exhausted"])
        h.deliver([], advance: 10)
        // Passing for the whole reset period: the budget starts afresh.
        #expect(h.deliver(["web"], advance: 700) == ["web": "act"])
    }

    @Test func budgetWindowSlides() {
        var h = Harness(PolicySettings(cooldown: 0, budget: .init(maximum: 2, window: 100, reset: 600)))
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "act"])
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "act"])
        h.deliver([], advance: 200)
        // Both earlier remediations are outside the 100 s window now.
        #expect(h.deliver(["web"]) == ["web": "act"])
    }

    @Test func blastRadiusSuspendsRemediationOnAMassFailureAndClears() {
        var h = Harness(blastRadius: BlastRadius(maximumTargets: 5, maximumPercent: 100, window: 120))
        h.deliver([])
        let many = (1...6).map { "svc\($0)" }
        let decisions = h.deliver(many)
        #expect(decisions.count == 6)
        #expect(decisions.values.allSatisfy { $0 == "blast-radius" })
        #expect(h.state.breaker != nil)
        // Still suppressed while it lasts.
        #expect(h.deliver(many)["svc1"] == "blast-radius")
        // Most recover; after the window the breaker clears and what still fails is handled.
        let after = h.deliver(["svc1"], advance: 200)
        #expect(h.state.breaker == nil)
        #expect(after["svc1"] == "act")
        #expect(after["svc2"] == "resolved")
        #expect(h.deliver(["svc1"])["svc1"] == "duplicate")
    }

    @Test func blastRadiusCountsSeparateDeliveriesInsideTheWindow() {
        var h = Harness(blastRadius: BlastRadius(maximumTargets: 3, maximumPercent: 100, window: 120))
        h.deliver([])
        #expect(h.deliver(["a"], advance: 5)["a"] == "act")
        #expect(h.deliver(["a", "b"], advance: 5)["b"] == "act")
        #expect(h.deliver(["a", "b", "c"], advance: 5)["c"] == "act")
        #expect(h.deliver(["a", "b", "c", "d"], advance: 5)["d"] == "blast-radius")
    }

    @Test func blastRadiusPercentageOfKnownServices() {
        var h = Harness(blastRadius: BlastRadius(maximumTargets: 100, maximumPercent: 50, window: 120, minimumKnownServices: 4))
        h.state.knownServices = ["a", "b", "c", "d", "e", "f"]
        h.deliver([])
        let decisions = h.deliver(["a", "b", "c", "d"])  // 4 of 6 = 67 % > 50 %
        #expect(decisions.values.allSatisfy { $0 == "blast-radius" })
    }

    @Test func maintenanceSilencesAndIsNeverActedOn() {
        var h = Harness()
        h.deliver([])
        #expect(h.deliver([], silenced: ["web"]) == ["web": "silenced"])
        #expect(h.state.targets["service:web"]?.failing == false)
    }

    @Test func recoveryIsDecidedOnlyByTheWatchThatSawTheFailure() {
        var h = Harness()
        h.deliver([], watch: "critical")
        h.deliver([], watch: "warning")
        #expect(h.deliver(["web"], watch: "critical") == ["web": "act"])
        // The warning watch's empty delivery says nothing about critical checks.
        #expect(h.deliver([], watch: "warning") == [:])
        #expect(h.deliver(["web"], watch: "critical") == ["web": "duplicate"])
    }

    @Test func aClaimByAnotherHandlerIsInFlight() {
        var h = Harness()
        h.deliver([])
        var other = h
        other.engine.claimant = "other"
        #expect(other.deliver(["web"]) == ["web": "act"])
        // Put the other handler's claim back (the harness releases claims), as if it were still acting.
        other.state.targets["service:web"]?.claimedBy = "other"
        other.state.targets["service:web"]?.claimedUntil = other.time + 100
        h.state = other.state
        h.time = other.time
        h.index = other.index
        #expect(h.deliver(["web"], advance: 1) == ["web": "in-flight"])
    }

    @Test func stateRoundTripsThroughItsFileFormat() throws {
        var h = Harness(PolicySettings(cooldown: 0, budget: .init(maximum: 1, window: 3600, reset: 600)))
        h.deliver([])
        h.deliver(["web", "api"])
        h.deliver(["web"])
        h.deliver(["web", "api"])
        let decoded = try HealState(decoding: h.state.encoded())
        #expect(decoded == h.state)
    }

    @Test func corruptOrNewerStateIsRefusedNotMisread() {
        #expect(throws: HealState.DecodeError.self) { try HealState(decoding: Array("{\"version\":1,\"targets\":".utf8)) }
        #expect(throws: HealState.DecodeError.newerVersion(99)) { try HealState(decoding: Array("{\"version\":99}".utf8)) }
        #expect(throws: HealState.DecodeError.self) { try HealState(decoding: Array("[]".utf8)) }
    }

    @Test func everyDecisionHasAReasonThatNamesIt() {
        let reasons: [Decision.Verdict] = [
            .act, .escalate, .resolved, .skip(.baseline), .skip(.duplicate(actedAt: 0)), .skip(.inFlight(by: "pid 7")),
            .skip(.belowThreshold(deliveries: 1, needed: 3, seconds: 0, neededSeconds: 0)), .skip(.cooldown(remaining: 12)),
            .skip(.budgetExhausted(remediations: 3, window: 3600)), .skip(.silenced("node n1 is in maintenance")), .skip(.blastRadius(targets: 7)),
        ]
        for verdict in reasons {
            let decision = Decision(id: "service:web", target: "web", verdict: verdict, incident: nil)
            #expect(!decision.reason.isEmpty)
            if case .skip = verdict {
                #expect(decision.reason.hasPrefix(decision.name.replacingOccurrences(of: "-", with: " ").components(separatedBy: " ")[0]))
            }
        }
    }
}

/// The state stays small: targets resolved long ago are forgotten.
@Suite struct StatePruningTests {
    @Test func aHundredTargetsThatRecoverLeaveASmallStateAfterTheRetention() {
        var state = HealState()
        let engine = PolicyEngine(settings: { _ in PolicySettings(cooldown: 0) }, claimant: "me")
        let names = (0..<100).map { "service-\($0)" }
        let t0 = 1_800_000_000.0
        _ = engine.decide(Delivery(watch: "w", consulIndex: 1, time: t0, incidents: []), state: &state)
        _ = engine.decide(Delivery(watch: "w", consulIndex: 2, time: t0 + 10, incidents: PolicyEngineTests.incidents(names)), state: &state)
        for id in state.targets.keys {
            state.targets[id]?.claimedBy = nil
            state.targets[id]?.claimedUntil = nil
        }
        _ = engine.decide(Delivery(watch: "w", consulIndex: 3, time: t0 + 20, incidents: []), state: &state)
        #expect(state.targets.count == 100)
        let large = state.encoded().count
        // A day later they are still remembered (a budget window may still hold them).
        _ = engine.decide(Delivery(watch: "w", consulIndex: 4, time: t0 + 86_400, incidents: []), state: &state)
        #expect(state.targets.count == 100)
        // After the retention, gone; a target still failing is kept.
        _ = engine.decide(Delivery(watch: "w", consulIndex: 5, time: t0 + 8 * 86_400, incidents: PolicyEngineTests.incidents(["other"])), state: &state)
        #expect(Array(state.targets.keys) == ["service:other"])
        #expect(state.encoded().count < 1024)
        #expect(large > 20_000)
    }

    @Test func anOpenCircuitIsNeverForgotten() {
        var state = HealState()
        var record = HealState.TargetRecord(id: "service:web", target: "web", watch: "w", now: 0)
        record.passingSince = 0
        record.circuitOpenSince = 0
        state.targets[record.id] = record
        #expect(state.pruneResolved(now: 30 * 86_400) == 0)
        state.targets[record.id]?.circuitOpenSince = nil
        #expect(state.pruneResolved(now: 30 * 86_400) == 1)
    }
}

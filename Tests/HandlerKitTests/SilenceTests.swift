import ConsulWatch
import Foundation
import Testing

@testable import HandlerKit

/// Operators' silences and pauses in the policy, on the virtual clock of PolicyEngineTests.
@Suite struct SilenceTests {
    typealias Harness = PolicyEngineTests.Harness

    static func silence(_ h: Harness, for seconds: Double?, by: String = "alice", reason: String = "upgrade") -> Silence {
        Silence(since: h.time, until: seconds.map { h.time + $0 }, by: by, reason: reason)
    }

    @Test func aSilencedServiceIsNotActedOnNorCountedAndStaysHeldAfterTheSilenceEnds() throws {
        var h = Harness(PolicySettings(cooldown: 0, budget: .init(maximum: 1, window: 3600, reset: 0)))
        h.deliver([])  // baseline
        h.state.silences["service:web"] = Self.silence(h, for: 60)
        #expect(h.deliver(["web"]) == ["web": "silenced"])
        let record = try #require(h.state.targets["service:web"])
        #expect(record.failing && record.silenced && record.remediations.isEmpty && !record.acted)
        // Expired: the same failure is still left alone, and the silence is gone from the state.
        #expect(h.deliver(["web"], advance: 61) == ["web": "silenced"])
        #expect(h.state.silences.isEmpty)
        #expect(h.state.targets["service:web"]?.remediations.isEmpty == true)
        // A new failure after it recovers is acted on, within the whole budget.
        #expect(h.deliver([]) == ["web": "resolved"])
        #expect(h.deliver(["web"]) == ["web": "act"])
    }

    @Test func theReasonSaysWhoWhyAndUntilWhen() throws {
        var h = Harness()
        h.deliver([])
        let silence = Self.silence(h, for: 3600)
        h.state.silences["service:web"] = silence
        h.time += 10
        let delivery = Delivery(watch: "w", consulIndex: 200, time: h.time, incidents: PolicyEngineTests.incidents(["web", "api"]))
        let result = h.engine.decide(delivery, state: &h.state)
        let web = try #require(result.decisions.first { $0.target == "web" })
        #expect(web.reason == "silenced: service:web by alice until \(Timestamp.iso8601(silence.until!)): upgrade")
        #expect(result.decisions.first { $0.target == "api" }?.name == "act")
    }

    @Test func expiredSilencesAreReportedOnce() {
        var h = Harness()
        h.deliver([])
        h.state.silences["service:web"] = Self.silence(h, for: 5)
        h.time += 10
        var result = h.engine.decide(Delivery(watch: "w", consulIndex: 300, time: h.time, incidents: []), state: &h.state)
        #expect(result.expiredSilences.map(\.key) == ["service:web"])
        result = h.engine.decide(Delivery(watch: "w", consulIndex: 301, time: h.time + 1, incidents: []), state: &h.state)
        #expect(result.expiredSilences.isEmpty)
    }

    @Test func aPauseSilencesEveryTargetOfItsWatchOnly() {
        var h = Harness()
        h.deliver([])
        h.deliver([], watch: "other")
        h.state.pauses["w"] = Self.silence(h, for: nil, reason: "datacenter move")
        #expect(h.deliver(["web", "api"]) == ["web": "silenced", "api": "silenced"])
        #expect(h.deliver(["db"], watch: "other") == ["db": "act"])
        h.state.pauses["w"] = nil
        // Still the same failures: not acted on merely because the pause ended.
        #expect(h.deliver(["web", "api"]) == ["web": "silenced", "api": "silenced"])
    }

    @Test func aFailureActedOnBeforeTheSilenceIsADuplicateAfterIt() {
        var h = Harness()
        h.deliver([])
        #expect(h.deliver(["web"]) == ["web": "act"])
        h.state.silences["service:web"] = Self.silence(h, for: 30)
        #expect(h.deliver(["web"]) == ["web": "silenced"])
        #expect(h.deliver(["web"], advance: 60) == ["web": "duplicate"])
        #expect(h.state.targets["service:web"]?.remediations.count == 1)
    }

    @Test func silencedTargetsDoNotTripTheBlastRadius() {
        var h = Harness(blastRadius: BlastRadius(maximumTargets: 2))
        h.deliver([])
        h.state.pauses["w"] = Self.silence(h, for: nil)
        #expect(Set(h.deliver(["a", "b", "c", "d"]).values) == ["silenced"])
        #expect(h.state.breaker == nil)
    }

    @Test func aNodeSilenceCoversAnIncidentOnlyWhenEveryCheckIsOnThatNode() {
        var state = HealState()
        state.silences["node:web-02"] = Silence(since: 0, until: 100, by: "bob", reason: "")
        let onlyThere = Incident.group([PolicyEngineTests.check("web", node: "web-02")], by: .service)[0]
        let both = Incident.group([PolicyEngineTests.check("web", node: "web-02"), PolicyEngineTests.check("web", node: "web-01")], by: .service)[0]
        #expect(state.silence(of: onlyThere, watch: "w", now: 50) == "node:web-02 by bob until \(Timestamp.iso8601(100))")
        #expect(state.silence(of: both, watch: "w", now: 50) == nil)
        #expect(state.silence(of: onlyThere, watch: "w", now: 100) == nil)  // ended
        state.silences["instance:web-01/web"] = Silence(since: 0, until: nil, by: "bob", reason: "")
        #expect(state.silence(of: both, watch: "w", now: 50) != nil)
    }

    @Test func targetsAreReadAsOperatorsTypeThem() {
        #expect(SilenceTarget(operand: "books") == .service("books"))
        #expect(SilenceTarget(operand: "service:books") == .service("books"))
        #expect(SilenceTarget(operand: "node:web-02") == .node("web-02"))
        #expect(SilenceTarget(operand: "instance:web-02/books-1") == .instance(node: "web-02", serviceID: "books-1"))
        #expect(SilenceTarget(operand: "café")?.id == "service:caf%C3%A9")
        #expect(SilenceTarget(operand: "service:caf%C3%A9")?.id == "service:caf%C3%A9")
        for bad in ["", "nod:web-02", "service:", "instance:web-02", "instance:/x", "node:"] {
            #expect(SilenceTarget(operand: bad) == nil, "\(bad)")
        }
    }

    @Test func silencesAndPausesSurviveTheStateFileAndOldFilesStillLoad() throws {
        var state = HealState()
        state.silences["service:web"] = Silence(since: 10, until: 20, by: "alice", reason: "a \"quoted\"\nreason")
        state.pauses["w"] = Silence(since: 10, until: nil, by: "bob", reason: "")
        var record = HealState.TargetRecord(id: "service:web", target: "web", watch: "w", now: 10)
        record.silenced = true
        state.targets[record.id] = record
        #expect(try HealState(decoding: state.encoded()) == state)
        let old = try HealState(decoding: Array(#"{"version":1,"targets":{"service:web":{"target":"web","failing":true}}}"#.utf8))
        #expect(old.silences.isEmpty && old.pauses.isEmpty && old.targets["service:web"]?.silenced == false)
        #expect(!String(decoding: HealState().encoded(), as: UTF8.self).contains("silence"))
    }

    @Test func theMetricsCountSilencesInForceAndPausedWatches() throws {
        var state = HealState()
        state.watches["w"] = .init(lastIndex: 1, deliveries: 1, lastDelivery: 0)
        state.watches["v"] = .init(lastIndex: 1, deliveries: 1, lastDelivery: 0)
        state.silences["service:a"] = Silence(since: 0, until: 100, by: "a", reason: "")
        state.silences["service:b"] = Silence(since: 0, until: 10, by: "a", reason: "")  // ended
        state.pauses["w"] = Silence(since: 0, until: nil, by: "a", reason: "")
        let families = HealMetrics.families(state, spool: [:], deadLetters: 0, now: 50)
        #expect(families.first { $0.name == "consul_handlers_silences" }?.samples.map(\.value) == [1])
        let paused = try #require(families.first { $0.name == "consul_handlers_paused" })
        #expect(paused.samples.map(\.value) == [0, 1])  // v, w
    }
}

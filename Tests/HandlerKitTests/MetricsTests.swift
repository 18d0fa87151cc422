import ConsulWatch
import TestSupport
import Testing

@testable import HandlerKit

/// The exposition writer and consul-heal's metrics, read back by a strict exposition parser.
@Suite struct MetricsTests {
    @Test func writerEscapesAndParses() throws {
        let text = PrometheusText.render([
            .init("a_total", .counter, help: "help with \\ and\nnewline", samples: [.init([.init("watch", "q\"uote\\back\nline")], 3)]),
            .init("b_seconds", .gauge, help: "g", samples: [.init([], 1.5)]),
            .init("c", .gauge, help: "inf", samples: [.init([.init("x", "1")], .infinity), .init([.init("x", "0")], 0)]),
        ])
        #expect(text.contains(#"a_total{watch="q\"uote\\back\nline"} 3"#))
        #expect(text.contains("# HELP a_total help with \\\\ and\\nnewline\n"))
        let families = try PrometheusExpositionParser.parse(text)
        #expect(families["a_total"]?.samples.first?.labels["watch"] == "q\"uote\\back\nline")
        #expect(families["a_total"]?.help == "help with \\ and\nnewline")
        #expect(families["b_seconds"]?.samples.first?.value == 1.5)
        #expect(families["c"]?.samples.map(\.value) == [0, .infinity])  // sorted by labels
    }

    @Test func theParserIsStrict() {
        #expect(throws: (any Error).self) { try PrometheusExpositionParser.parse("a 1") }  // no final line feed
        #expect(throws: (any Error).self) { try PrometheusExpositionParser.parse("a{b=\"\\t\"} 1\n") }
        #expect(throws: (any Error).self) { try PrometheusExpositionParser.parse("a 1\nb 1\na 2\n") }
        #expect(throws: (any Error).self) { try PrometheusExpositionParser.parse("# TYPE a counter\na -1\n") }
        #expect(throws: (any Error).self) { try PrometheusExpositionParser.parse("a{b=\"1\",b=\"2\"} 1\n") }
        #expect(throws: (any Error).self) { try PrometheusExpositionParser.parse("1a 1\n") }
    }

    @Test func healMetricsFromAState() throws {
        var state = HealState()
        state.watches["web"] = .init(lastIndex: 5, deliveries: 7, lastDelivery: 1_700_000_000)
        var failing = HealState.TargetRecord(id: "service:web", target: "web", watch: "web", now: 0)
        failing.failing = true
        failing.circuitOpenSince = 1
        state.targets[failing.id] = failing
        state.targets["service:api"] = HealState.TargetRecord(id: "service:api", target: "api", watch: "web", now: 0)
        let incident = ActionTests.incident("web")
        var report = Healer.Report()
        report.decisions = [Decision(id: incident.id, target: "web", verdict: .act, incident: incident)]
        report.actions = [ActionReport(incident: incident, action: "jenkins", outcome: .done(detail: "ok"), duration: 0)]
        HealMetrics.count(report, watch: "web", time: 1_700_000_001, into: &state.metrics)
        HealMetrics.count(report, watch: "web", time: 1_700_000_002, into: &state.metrics)
        // The counters survive the state file.
        let reread = try HealState(decoding: state.encoded())
        #expect(reread == state)
        let families = try PrometheusExpositionParser.parse(PrometheusText.render(HealMetrics.families(reread, spool: ["web": 2], deadLetters: 1)))
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            families[name]?.samples.first { $0.labels == labels }?.value
        }
        #expect(families["consul_handlers_decisions_total"]?.type == "counter")
        #expect(value("consul_handlers_deliveries_total", ["watch": "web"]) == 7)
        #expect(value("consul_handlers_decisions_total", ["watch": "web", "decision": "act"]) == 2)
        #expect(value("consul_handlers_actions_total", ["watch": "web", "action": "jenkins", "outcome": "done"]) == 2)
        #expect(value("consul_handlers_open_incidents", ["watch": "web"]) == 1)
        #expect(value("consul_handlers_open_circuits", ["watch": "web"]) == 1)
        #expect(value("consul_handlers_spooled_actions", ["watch": "web"]) == 2)
        #expect(value("consul_handlers_dead_letters") == 1)
        #expect(value("consul_handlers_last_action_success_timestamp_seconds", ["watch": "web"]) == 1_700_000_002)
        #expect(value("consul_handlers_last_delivery_timestamp_seconds", ["watch": "web"]) == 1_700_000_000)
    }
}

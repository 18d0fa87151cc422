import Foundation
import Synchronization
import TestSupport
import Testing

/// Webhooks and metrics through the real consul-heal, against a loopback receiver, delivery
/// after delivery as a Consul agent runs it.
@Suite(.serialized) struct NotifyEndToEndTests {
    /// A receiver that records every request and answers with `status`.
    final class Receiver: Sendable {
        final class Log: Sendable {
            let list = Mutex<[LoopbackHTTPServer.Request]>([])
            func withLock<T>(_ body: (inout [LoopbackHTTPServer.Request]) -> T) -> T { list.withLock { body(&$0) } }
        }
        let requests = Log()
        let server: LoopbackHTTPServer

        init(port: Int = 0, status: Int = 202) throws {
            let requests = self.requests
            server = try LoopbackHTTPServer(port: port) { request in
                requests.withLock { $0.append(request) }
                return .init(status: status, contentType: "application/json", text: #"{"status":"success"}"#)
            }
        }

        var bodies: [[String: Any]] {
            requests.withLock { $0 }.map { (try? JSONSerialization.jsonObject(with: $0.body)) as? [String: Any] ?? [:] }
        }
        var url: String { "http://127.0.0.1:\(server.port)/hook" }
    }

    final class Scenario {
        let directory: URL
        var index: UInt64 = 1000
        var state: String { directory.appendingPathComponent("state").path }
        var metrics: String { directory.appendingPathComponent("consul_handlers.prom").path }
        var config: String { directory.appendingPathComponent("config.json").path }

        init(actions: String) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(
                #"{"watch": "web-critical", "stateDir": "\#(state)", "metrics": {"file": "\#(metrics)"}, "routes": [{"name": "all", "actions": \#(actions)}]}"#
                    .utf8
            )
            .write(to: URL(fileURLWithPath: config))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        /// A secret file with `mode`.
        func secret(_ name: String, _ value: String, mode: Int = 0o600) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: path))
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            return path
        }

        @discardableResult
        func deliver(_ payload: [UInt8], extra: [String] = []) throws -> ExecutableResult {
            index += 1
            return try ExecutableHarness.run(
                "consul-heal", arguments: ["--config", config] + extra, stdin: payload, environment: ["CONSUL_INDEX": String(index)])
        }

        /// The metrics file, parsed by our strict parser and, where it is installed (always in CI),
        /// by Prometheus' own: both must read the same samples.
        func parsedMetrics() throws -> [String: PrometheusExpositionParser.Family] {
            let text = try String(contentsOfFile: metrics, encoding: .utf8)
            let families = try PrometheusExpositionParser.parse(text)
            if let reference = try PrometheusReferenceParser.parse(text) {
                let ours = families.values.flatMap(\.samples)
                #expect(reference.count == ours.count, "reference parser: \(reference.count) samples, ours: \(ours.count)")
                for sample in ours {
                    // Values to 12 significant digits: the reference's floats reach us through JSON.
                    let same = reference.contains {
                        $0.name == sample.name && $0.labels == sample.labels && abs($0.value - sample.value) <= 1e-12 * max(1, abs(sample.value))
                    }
                    #expect(same, "the reference parser does not read \(sample) the same way")
                }
            }
            return families
        }

        func metric(_ name: String, _ labels: [String: String] = ["watch": "web-critical"]) throws -> Double? {
            try parsedMetrics()[name]?.samples.first { $0.labels == labels }?.value
        }
    }

    static let empty = Array("[]\n".utf8)
    static let webDown = Payloads.checks([Payloads.service("web")])

    @Test func pagerDutyIsTriggeredThenResolvedWithTheSameDedupKeyAndTheMetricsFollow() throws {
        let receiver = try Receiver()
        let probe = try Scenario(actions: "[]")
        let key = try probe.secret("pd-routing-key", "R0UTINGKEY0123456789")
        let s = try Scenario(
            actions: #"[{"type": "webhook", "preset": "pagerduty", "url": "\#(receiver.url)", "routingKeyFile": "\#(key)", "on": ["act", "resolved"]}]"#)
        var outputs: [ExecutableResult] = []
        outputs.append(try s.deliver(Self.empty))  // baseline
        #expect(try s.metric("consul_handlers_open_incidents") == 0)
        let deliveriesAfterBaseline = try #require(try s.metric("consul_handlers_deliveries_total"))

        outputs.append(try s.deliver(Self.webDown))  // open: trigger
        #expect(outputs.last?.exitCode == 0, "\(outputs.last?.stderr ?? "")")
        #expect(receiver.requests.withLock { $0.count } == 1)
        let trigger = try #require(receiver.bodies.first)
        #expect(trigger["event_action"] as? String == "trigger")
        #expect(trigger["routing_key"] as? String == "R0UTINGKEY0123456789")
        #expect(trigger["dedup_key"] as? String == "service:web")
        let payload = try #require(trigger["payload"] as? [String: Any])
        #expect(payload["severity"] as? String == "critical" && payload["source"] as? String == "web-02")
        #expect(try s.metric("consul_handlers_open_incidents") == 1)
        #expect(try s.metric("consul_handlers_decisions_total", ["watch": "web-critical", "decision": "act"]) == 1)
        #expect(try s.metric("consul_handlers_actions_total", ["watch": "web-critical", "action": "webhook", "outcome": "done"]) == 1)
        #expect(try s.metric("consul_handlers_last_action_success_timestamp_seconds") != nil)

        outputs.append(try s.deliver(Self.webDown))  // duplicate: nothing sent
        #expect(receiver.requests.withLock { $0.count } == 1)
        #expect(try s.metric("consul_handlers_decisions_total", ["watch": "web-critical", "decision": "duplicate"]) == 1)
        #expect(try s.metric("consul_handlers_open_incidents") == 1)

        outputs.append(try s.deliver(Self.empty))  // recovered: resolve, same dedup_key
        #expect(outputs.last?.exitCode == 0, "\(outputs.last?.stderr ?? "")")
        #expect(receiver.requests.withLock { $0.count } == 2)
        let resolve = try #require(receiver.bodies.last)
        #expect(resolve["event_action"] as? String == "resolve")
        #expect(resolve["dedup_key"] as? String == "service:web")
        #expect(try s.metric("consul_handlers_open_incidents") == 0)
        #expect(try s.metric("consul_handlers_decisions_total", ["watch": "web-critical", "decision": "resolved"]) == 1)
        #expect(try s.metric("consul_handlers_actions_total", ["watch": "web-critical", "action": "webhook", "outcome": "done"]) == 2)
        #expect(try s.metric("consul_handlers_deliveries_total") == deliveriesAfterBaseline + 3)

        // Recovering again sends nothing: the resolve went out once.
        outputs.append(try s.deliver(Self.empty))
        #expect(receiver.requests.withLock { $0.count } == 2)
        for output in outputs { #expect(!output.stderr.contains("R0UTINGKEY") && !output.stdout.contains("R0UTINGKEY")) }
        #expect(try s.parsedMetrics()["consul_handlers_actions_total"]?.type == "counter")
    }

    @Test func genericCarriesTheHeaderSecretAndSlackSaysResolved() throws {
        let receiver = try Receiver(status: 200)
        let probe = try Scenario(actions: "[]")
        let auth = try probe.secret("auth", "Bearer s3cr3t-t0ken")
        let s = try Scenario(
            actions: #"""
                [{"type": "webhook", "url": "\#(receiver.url)", "headerFiles": {"Authorization": "\#(auth)"}},
                 {"type": "webhook", "preset": "slack", "url": "\#(receiver.url)", "on": ["resolved"]}]
                """#)
        try s.deliver(Self.empty)
        let dry = try s.deliver(Self.webDown, extra: ["--dry-run"])
        #expect(dry.exitCode == 0)
        #expect(receiver.requests.withLock { $0.count } == 0)
        #expect(dry.stderr.contains("would POST generic") && !dry.stderr.contains("s3cr3t"))

        let open = try s.deliver(Self.webDown)
        #expect(open.exitCode == 0, "\(open.stderr)")
        let first = try #require(receiver.requests.withLock { $0.first })
        #expect(first.headers["Authorization"] == "Bearer s3cr3t-t0ken")
        #expect(first.headers["Content-Type"] == "application/json")
        let generic = try #require(receiver.bodies.first)
        #expect(generic["event"] as? String == "act")
        #expect((generic["incident"] as? [String: Any])?["id"] as? String == "service:web")
        #expect((generic["decision"] as? [String: Any])?["reason"] as? String == "became critical: remediating")
        #expect(!open.stderr.contains("s3cr3t"))

        try s.deliver(Self.empty)
        #expect(receiver.requests.withLock { $0.count } == 2)
        let slack = try #require(receiver.bodies.last)
        #expect(slack.keys.sorted() == ["text"])
        #expect(slack["text"] as? String == "consul-heal RESOLVED: web recovered: incident service:web closed")

        // A secret file others may read is refused before anything is done.
        let loose = try probe.secret("loose", "Bearer x", mode: 0o644)
        let bad = try Scenario(actions: #"[{"type": "webhook", "url": "\#(receiver.url)", "headerFiles": {"Authorization": "\#(loose)"}}]"#)
        let refused = try bad.deliver(Self.webDown)
        #expect(refused.exitCode == 78)  // named by the configuration: a configuration error
        #expect(refused.stderr.contains("must be 0600 or 0400"))
    }

    @Test func aReceiverThatIsDownIsRetriedThenSpooledThenFlushed() throws {
        var receiver: Receiver? = try Receiver()
        let port = receiver!.server.port
        receiver!.server.stop()
        receiver = nil
        let s = try Scenario(actions: #"[{"type": "webhook", "url": "http://127.0.0.1:\#(port)/hook", "retries": 2, "timeout": "2s"}]"#)
        try s.deliver(Self.empty)
        let down = try s.deliver(Self.webDown)
        #expect(down.exitCode == 75)
        #expect(down.stderr.contains("cannot connect") && down.stderr.contains("after 3 attempts"))
        #expect(down.stderr.contains("1 action(s) spooled"))
        #expect(try s.metric("consul_handlers_spooled_actions") == 1)
        #expect(try s.metric("consul_handlers_actions_total", ["watch": "web-critical", "action": "webhook", "outcome": "failed"]) == 1)

        let back = try Receiver(port: port)
        let flush = try ExecutableHarness.run("consul-heal", arguments: ["flush", "--config", s.config], stdin: [])
        #expect(flush.exitCode == 0, "\(flush.stderr)")
        #expect(back.requests.withLock { $0.count } == 1)
        #expect((back.bodies.first?["incident"] as? [String: Any])?["id"] as? String == "service:web")
        #expect(try s.metric("consul_handlers_spooled_actions") == 0)
        #expect(try s.metric("consul_handlers_actions_total", ["watch": "web-critical", "action": "webhook", "outcome": "done"]) == 1)
    }

    @Test func checkConfigAcceptsTheNotifyExampleAndRefusesBadWebhooks() throws {
        let example = HealEndToEndTests.handlers.appendingPathComponent("consul-heal-notify.json").path
        let ok = try ExecutableHarness.run("consul-heal", arguments: ["check-config", "--config", example], stdin: [])
        #expect(ok.exitCode == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("books (match: log → jenkins → redeploy → webhook[escalate,resolved] → webhook[escalate,resolved])"))
        let cases: [(String, String)] = [
            (#"{"type": "webhook", "preset": "pagerduty"}"#, "$.routes[0].actions[0].routingKeyFile: required by the pagerduty preset"),
            (#"{"type": "webhook", "url": "http://x", "on": ["paged"]}"#, "$.routes[0].actions[0].on[0]: expected act, escalate or resolved"),
            (#"{"type": "webhook", "url": "http://x", "on": ["act"], "escalation": true}"#, "$.routes[0].actions[0].escalation: give either escalation or on"),
            (#"{"type": "webhook", "url": "http://u:p@x/"}"#, "$.routes[0].actions[0].url: must not carry credentials"),
            (#"{"type": "webhook", "url": "http://x", "body": {"a": "{password}"}}"#, "$.routes[0].actions[0].body: unknown placeholder {password}"),
            (
                #"{"type": "webhook", "url": "http://x", "headerFiles": {"Content-Length": "/f"}}"#,
                "$.routes[0].actions[0].headerFiles.Content-Length: consul-heal sets"
            ),
        ]
        for (action, message) in cases {
            let s = try Scenario(actions: "[\(action)]")
            let result = try ExecutableHarness.run("consul-heal", arguments: ["check-config", "--config", s.config], stdin: [])
            #expect(result.exitCode == 78)
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
    }
}

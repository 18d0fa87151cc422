import ConsulWatch
import Foundation
import Platform
import Synchronization
import Testing

@testable import HandlerKit

/// The webhook presets (pure functions of incident and event), body templates, and the webhook
/// action over a closure transport: retries, 4xx, redaction.
@Suite struct NotifyTests {
    static let incident = ActionTests.incident("web")
    static let time = 1_700_000_000.0

    static func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func pagerDutyTriggerAndResolveShareTheDedupKey() throws {
        var escalated = Self.incident
        escalated.alert = "every remediation failed; last: jenkins: 500"
        let trigger = try Self.json(WebhookPreset.pagerduty.body(escalated, event: .escalate, routingKey: "R0UTING", time: Self.time))
        #expect(trigger["routing_key"] as? String == "R0UTING")
        #expect(trigger["event_action"] as? String == "trigger")
        #expect(trigger["dedup_key"] as? String == "service:web")
        let payload = try #require(trigger["payload"] as? [String: Any])
        #expect(payload["severity"] as? String == "critical")
        #expect(payload["source"] as? String == "web-02")
        #expect((payload["summary"] as? String)?.contains("every remediation failed") == true)
        let resolve = try Self.json(
            WebhookPreset.pagerduty.body(Healer.recoveredIncident(id: "service:web"), event: .resolved, routingKey: "R0UTING", time: Self.time))
        #expect(resolve["event_action"] as? String == "resolve")
        #expect(resolve["dedup_key"] as? String == "service:web")
        #expect(resolve["payload"] == nil)
        #expect(WebhookPreset.pagerDutySeverity(.warning) == "warning")
        #expect(WebhookPreset.pagerDutySeverity(.passing) == "info")
    }

    @Test func slackTextIsOneLinkFreeLine() throws {
        var hostile = Self.incident
        hostile.checks[0].checkID = "<https://evil.example|click> & <!channel>\nsecond line"
        let body = try Self.json(WebhookPreset.slack.body(hostile, event: .act, time: Self.time))
        #expect(body.keys.sorted() == ["text"])
        let text = try #require(body["text"] as? String)
        #expect(!text.contains("<") && !text.contains(">") && !text.contains("\n"))
        #expect(text.contains("&lt;!channel&gt;") && text.contains("&amp;"))
        #expect(text.hasPrefix("consul-heal: web is critical (check "))
    }

    @Test func genericCarriesTheIncidentAndTheDecision() throws {
        let body = try Self.json(WebhookPreset.generic.body(Self.incident, event: .act, time: Self.time))
        #expect(body["event"] as? String == "act")
        let decision = try #require(body["decision"] as? [String: Any])
        #expect(decision["reason"] as? String == "became critical: remediating")
        let incident = try #require(body["incident"] as? [String: Any])
        #expect(incident["id"] as? String == "service:web")
        #expect((incident["checks"] as? [Any])?.count == 1)
    }

    @Test func bodyTemplateEscapesValuesAsJSONStrings() throws {
        var hostile = Self.incident
        hostile.checks[0].checkName = "quote \" brace } newline \n backslash \\"
        let template = try BodyTemplate(
            .object(["msg": .string("{checkName} is {status} ({event})"), "n": .number("3"), "list": .array([.string("{{literal}}")])]))
        let body = try Self.json(template.render(hostile, event: .escalate))
        #expect(body["msg"] as? String == "quote \" brace } newline \n backslash \\ is critical (escalate)")
        #expect(body["n"] as? Int == 3)
        #expect(body["list"] as? [String] == ["{literal}"])
        #expect(throws: TemplateError.self) { try BodyTemplate(.string("{password}")) }
        #expect(throws: TemplateError.self) { try BodyTemplate(.string("lone }")) }
    }

    final class Requests: Sendable {
        let list = Mutex<[HTTPRequest]>([])
        var count: Int { list.withLock { $0.count } }
    }

    func action(_ statuses: [Int], requests: Requests, headers: [HTTPHeader] = []) -> WebhookAction {
        WebhookAction(
            url: "https://hooks.example.com/services/T0/B0/SECRETPATH", shape: .preset(.slack), headers: headers, event: .act,
            transport: ClosureTransport { request, _ in
                let n = requests.list.withLock {
                    $0.append(request)
                    return $0.count
                }
                let status = statuses[min(n - 1, statuses.count - 1)]
                return status == 0 ? .failure(.cannotConnect("refused")) : .success(HTTPResponse(status: status, body: Array("oops Bearer s3cr3t".utf8)))
            }, retry: RetryPolicy(attempts: 3, baseDelay: 0.01, random: { 0 }))
    }

    @Test func retriesConnectionFailuresAnd5xxThenSucceeds() throws {
        let requests = Requests()
        let clock = VirtualClock(start: 1_700_000_000)
        let outcome = action([0, 503, 200], requests: requests, headers: [HTTPHeader("Authorization", "Bearer s3cr3t")])
            .perform(Self.incident, context: ActionContext(clock: clock, deadline: clock.now() + 60))
        #expect(outcome.label == "done")
        #expect(requests.count == 3)
        let sent = try #require(requests.list.withLock { $0.last })
        #expect(sent.header("Authorization") == "Bearer s3cr3t")
        #expect(sent.header("Content-Type") == "application/json")
        #expect(!outcome.detail.contains("SECRETPATH"))
    }

    @Test func aReceiverThatStaysDownIsARetryableFailureAnd4xxIsNot() throws {
        let clock = VirtualClock(start: 1_700_000_000)
        let context = ActionContext(clock: clock, deadline: clock.now() + 60)
        let down = action([0], requests: Requests()).perform(Self.incident, context: context)
        #expect(down == .failed(reason: "https://hooks.example.com/…: cannot connect: refused (after 3 attempts)", retryable: true))
        let requests = Requests()
        let rejected = action([403], requests: requests, headers: [HTTPHeader("Authorization", "Bearer s3cr3t")]).perform(Self.incident, context: context)
        guard case .failed(let reason, let retryable) = rejected else {
            Issue.record("not a failure")
            return
        }
        #expect(!retryable && requests.count == 1)
        #expect(reason.contains("403") && !reason.contains("s3cr3t"))
    }

    @Test func dryRunSendsNothingAndPrintsNoSecret() {
        let requests = Requests()
        let outcome = action([200], requests: requests, headers: [HTTPHeader("Authorization", "Bearer s3cr3t")])
            .perform(Self.incident, context: ActionContext(clock: SystemClock(), deadline: SystemClock().now() + 60, dryRun: true))
        #expect(requests.count == 0)
        #expect(outcome.label == "skipped")
        #expect(outcome.detail.contains("Authorization") && !outcome.detail.contains("s3cr3t") && !outcome.detail.contains("SECRETPATH"))
    }

    @Test func redactedURLKeepsSchemeAndHostOnly() {
        #expect(WebhookAction.redacted("https://hooks.slack.com/services/T/B/X") == "https://hooks.slack.com/…")
        #expect(WebhookAction.redacted("http://user:pw@127.0.0.1:8080") == "http://127.0.0.1:8080")
    }
}

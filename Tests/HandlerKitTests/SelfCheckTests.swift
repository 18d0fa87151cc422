import ConsulWatch
import Synchronization
import Testing

@testable import HandlerKit

/// The handler's own TTL check: passing when all was handled, warning for spooled actions and
/// dead letters, critical for unhandled incidents, failed escalations and unknown dead nodes.
@Suite struct SelfCheckTests {
    static func report(_ outcomes: [(String, Outcome, alert: String?)], unresolved: Int = 0, spooled: Int = 0, pending: [String] = []) -> Healer.Report {
        var report = Healer.Report()
        for (service, outcome, alert) in outcomes {
            var incident = ActionTests.incident(service)
            incident.alert = alert
            report.actions.append(ActionReport(incident: incident, action: "redeploy", outcome: outcome, duration: 0))
        }
        report.unresolved = unresolved
        report.spooled = spooled
        report.pendingNodes = pending
        return report
    }

    @Test func statusFollowsWhatTheRunCameTo() {
        var passing = SelfCheck.Summary()
        passing.add(Self.report([("web", .done(detail: "ok"), nil)]))
        #expect(passing.status.0 == .passing)
        #expect(passing.status.1 == "all handled: 1 delivery, 1 action(s)")

        var spooled = SelfCheck.Summary()
        spooled.add(Self.report([("web", .failed(reason: "503", retryable: true), nil)], unresolved: 1, spooled: 1))
        #expect(spooled.status == (.warning, "1 action(s) spooled for retry"))

        var dead = SelfCheck.Summary()
        dead.deadLetters = 1
        #expect(dead.status.0 == .warning)

        var unhandled = SelfCheck.Summary()
        unhandled.add(Self.report([("web", .failed(reason: "404", retryable: false), nil)], unresolved: 1))
        #expect(unhandled.status == (.critical, "1 incident(s) not handled (web)"))

        var escalation = SelfCheck.Summary()
        escalation.add(
            Self.report([("web", .done(detail: "ok"), nil), ("web", .failed(reason: "pager down", retryable: false), "budget exhausted")], unresolved: 1))
        #expect(escalation.status.0 == .critical)
        #expect(escalation.status.1.contains("escalation failed for web"))

        var pending = SelfCheck.Summary()
        pending.add(Self.report([], pending: ["web-02"]))
        #expect(pending.status.0 == .critical)
        #expect(pending.status.1.contains("web-02"))
    }

    @Test func theUpdateIsReportedAndAFailureToReportIsSaid() {
        let sent = Mutex<[(String, CheckStatus, String)]>([])
        let check = SelfCheck(
            id: "consul-heal-web", ttl: 3600,
            reporter: HealthReporterFunction { id, _, ttl, status, output in
                #expect(ttl == 3600)
                sent.withLock { $0.append((id, status, output)) }
            })
        let (line, failed) = check.update(SelfCheck.Summary())
        #expect(!failed)
        #expect(line == "self check consul-heal-web: passing: all handled: 0 deliveries, 0 action(s)")
        #expect(sent.withLock { $0.map(\.0) } == ["consul-heal-web"])
        let broken = SelfCheck(
            id: "c", ttl: 60, reporter: HealthReporterFunction { _, _, _, _, _ throws(ConsulLookupError) in throw ConsulLookupError("ACL denied") })
        #expect(broken.update(SelfCheck.Summary()).failed)
    }

    @Test func serveKeepsTheLastStatusFreshBeforeHalfTheTTLPasses() {
        let sent = Mutex<[CheckStatus]>([])
        let reporter = HealthReporterFunction { _, _, _, status, _ in sent.withLock { $0.append(status) } }
        let fresh = SelfCheckKeeper(SelfCheck(id: "c", ttl: 3600, reporter: reporter), log: { _ in })
        var spooled = SelfCheck.Summary()
        spooled.spooled = 1
        fresh.report(spooled)
        fresh.refreshIfDue()  // not due: reported a moment ago
        #expect(sent.withLock { $0 } == [.warning])
        let due = SelfCheckKeeper(SelfCheck(id: "c", ttl: 0, reporter: reporter), log: { _ in })
        due.report(spooled)
        due.refreshIfDue()  // due at once with a zero TTL: the last status again
        #expect(sent.withLock { $0 } == [.warning, .warning, .warning])
    }
}

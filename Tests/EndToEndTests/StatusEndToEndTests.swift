import Foundation
import TestSupport
import Testing

/// `consul-heal status` as an operator reads it (issue 11): `--json` is one complete document
/// with ISO 8601 times, and an open circuit says when it will close, in `status` and in the
/// `escalate` audit line.
@Suite(.serialized) struct StatusEndToEndTests {
    typealias Scenario = SilenceEndToEndTests.Scenario
    static let booksDown = SilenceEndToEndTests.booksDown
    static let empty = SilenceEndToEndTests.empty
    /// True for `2026-12-06T05:00:00.000Z`, the journal's form.
    static func isISO(_ value: Any?) -> Bool {
        guard let text = value as? String else { return false }
        return text.wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/#) != nil
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not one JSON object: \(text)")
    }

    @Test func statusJSONCountsTheSpoolAndDeadLettersAndWritesISOTimes() throws {
        let s = try Scenario(flaky: true)
        try s.deliver(Self.empty)
        let spooled = try s.deliver(Self.booksDown)  // the redeploy exits 75: spooled
        #expect(spooled.stderr.contains("spooled"), "\(spooled.stderr)")
        let bad = try s.deliver(Array("{not json".utf8))  // kept as a dead letter
        #expect(bad.exitCode == 65, "\(bad.stderr)")
        try s.heal(["pause", "--for", "1h", "--reason", "maintenance"])

        let status = try s.heal(["status", "--json"])
        #expect(status.exitCode == 0, "\(status.stderr)")
        let document = try Self.json(status.stdout)
        #expect(document["statusVersion"] as? Int == 1)
        let spool = try #require(document["spool"] as? [String: Any])
        #expect(spool["count"] as? Int == 1)
        let entry = try #require((spool["entries"] as? [[String: Any]])?.first)
        #expect(entry["incident"] as? String == "service:books" && entry["attempts"] as? Int == 1)
        let dead = try #require(document["deadLetters"] as? [String: Any])
        #expect(dead["count"] as? Int == 1)
        #expect((dead["directory"] as? String)?.hasSuffix("/dead-letter") == true)

        let watch = try #require((document["watches"] as? [String: Any])?["books-critical"] as? [String: Any])
        #expect(Self.isISO(watch["lastDelivery"]), "\(watch)")
        #expect(watch["paused"] as? Bool == true)
        let books = try #require((document["targets"] as? [String: Any])?["service:books"] as? [String: Any])
        #expect(Self.isISO(books["failingSince"]), "\(books)")
        #expect(Self.isISO(books["lastDecisionAt"]))
        #expect((books["remediations"] as? [String])?.count == 1)
        let pause = try #require((document["pauses"] as? [String: Any])?["books-critical"] as? [String: Any])
        #expect(Self.isISO(pause["until"]) && pause["by"] as? String == "alice" && pause["active"] as? Bool == true)
        #expect(document.keys.contains("breaker") && document["breaker"] is NSNull)
        // No epoch number anywhere: every time is a string.
        #expect(status.stdout.firstMatch(of: #/"[a-zA-Z]*(At|Since|Delivery|Until|until|since)":\d/#) == nil, "\(status.stdout)")
    }

    @Test func anOpenCircuitSaysWhenItCloses() throws {
        let s = try Scenario(budget: #"{"max": 1, "window": "1h", "reset": "30m"}"#)
        try s.deliver(Self.empty)
        try s.deliver(Self.booksDown)
        try s.deliver(Self.empty)
        let escalated = try s.deliver(Self.booksDown)
        #expect(s.redeploys == ["books"])
        #expect(
            escalated.stderr.contains("books: remediation budget exhausted: escalating once, no more remediation; circuit open since "),
            "\(escalated.stderr)")
        #expect(escalated.stderr.contains("; closes after 30m passing"))
        let escalate = try #require(s.journalRecords.last { $0["decision"] as? String == "escalate" })
        #expect((escalate["reason"] as? String)?.contains("closes after 30m passing") == true)

        let failing = try s.heal(["status"])
        #expect(failing.stdout.contains("open since "), "\(failing.stdout)")
        #expect(failing.stdout.contains("; closes after 30m passing"))

        try s.deliver(Self.empty)
        let passing = try s.heal(["status"])
        #expect(passing.stdout.contains("; closes after 30m passing (at "), "\(passing.stdout)")
        let document = try Self.json(try s.heal(["status", "--json"]).stdout)
        let books = try #require((document["targets"] as? [String: Any])?["service:books"] as? [String: Any])
        let circuit = try #require(books["circuit"] as? [String: Any])
        #expect(Self.isISO(circuit["openSince"]))
        #expect(Self.isISO(circuit["closesAt"]))
        #expect(circuit["resetSeconds"] as? Double == 1800)

        let again = try s.deliver(Self.booksDown)
        #expect(again.stderr.contains("budget exhausted") && again.stderr.contains("closes after 30m passing"), "\(again.stderr)")
    }

    /// With `consulState`, the same document: the cluster's targets with their last claim.
    @Test func clusterStatusJSONIsTheSameDocumentWithClaims() throws {
        let cluster = try ClusterEndToEndTests.Cluster(agents: 2)
        ClusterEndToEndTests.run(cluster)
        let result = try ExecutableHarness.run(
            "consul-heal", arguments: ["status", "--config", cluster.config(0).path, "--json"], stdin: [],
            environment: cluster.environment(0, index: nil), timeout: 60)
        #expect(result.exitCode == 0, "\(result.stderr)")
        let document = try Self.json(result.stdout)
        #expect(document["statusVersion"] as? Int == 1)
        let clusterInfo = try #require(document["cluster"] as? [String: Any])
        #expect(clusterInfo["base"] as? String == "consul-handlers/web-checks/")
        #expect((document["spool"] as? [String: Any])?["count"] as? Int == 0)
        let targets = try #require(document["targets"] as? [String: [String: Any]])
        #expect(!targets.isEmpty)
        for (id, target) in targets {
            #expect(Self.isISO(target["lastDecisionAt"]), "\(id): \(target)")
            if let claim = target["lastClaim"] as? [String: Any] { #expect(Self.isISO(claim["at"]), "\(id): \(claim)") }
        }
        #expect(targets.values.contains { $0["lastClaim"] != nil })
    }
}

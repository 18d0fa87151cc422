import Foundation
import TestSupport
import Testing

/// consul-heal through the real executable: configuration, explain, replay, ladders, status.
@Suite struct HealEndToEndTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let handlers = repository.appendingPathComponent("handlers")

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("heal-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func checkConfigAcceptsTheShippedConfigurationAndNamesThePathOfAnError() throws {
        let ok = try ExecutableHarness.run(
            "consul-heal", arguments: ["check-config", "--config", Self.handlers.appendingPathComponent("consul-heal.json").path], stdin: [])
        #expect(ok.exitCode == 0)
        #expect(ok.stdout.contains("OK, 2 route(s): books (match: log → jenkins → redeploy → external!)"))
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json")
        try Data(#"{"routes":[{"name":"x","actions":[{"type":"redeploy","command":["a"],"timeout":"forever"}]}]}"#.utf8).write(to: bad)
        let result = try ExecutableHarness.run("consul-heal", arguments: ["check-config", "--config", bad.path], stdin: [])
        #expect(result.exitCode == 78)
        #expect(result.stderr == "consul-heal: \(bad.path): $.routes[0].actions[0].timeout: expected a duration such as \"30s\", \"5m\" or \"1h\"\n")
    }

    /// What a person expects `explain` to say for each recorded fixture, check by check, on a
    /// fresh state: a failing check is a baseline there, as on a run's first delivery.
    static let expectations: [(fixture: String, node: String, check: String, decision: String)] = [
        ("checks-one-critical.json", "web-02", "service:web", "baseline"),
        ("checks-one-critical.json", "web-01", "service:web", "not selected"),
        ("checks-state-critical-one.json", "web-02", "service:web", "baseline"),
        ("checks-maintenance.json", "api-01", "_node_maintenance", "maintenance"),
        ("checks-maintenance.json", "web-01", "_service_maintenance:web", "maintenance"),
        // A down node's services are redeployed: from the payload when it shows them, else from
        // the agent's catalog (none here: not known, so held, never resolved or dropped).
        ("checks-node-down.json", "web-02", "serfHealth", "node-down"),
        ("checks-node-down.json", "web-02", "node-down:web", "baseline"),
        ("checks-node-down-state-critical.json", "web-02", "serfHealth", "node-down"),
        ("checks-node-down-services-critical.json", "web-02", "service:web", "silenced"),
        ("checks-node-down-services-critical.json", "web-02", "serfHealth", "node-down"),
        ("checks-state-warning.json", "web-02", "backup-heartbeat", "not selected"),
        ("checks-ttl-expired.json", "web-02", "backup-heartbeat", "node-failure"),
        ("checks-all-passing.json", "api-01", "service:api:1", "not selected"),
        ("service-health.json", "web-02", "service:web", "baseline"),
        ("service-health-passingonly.json", "web-01", "service:web", "not selected"),
    ]

    @Test func explainGivesTheExpectedDecisionForEveryFixture() throws {
        let fixtures = Set(Self.expectations.map(\.fixture)).sorted()
        let result = try ExecutableHarness.run(
            "consul-heal",
            arguments: ["explain", "--config", Self.handlers.appendingPathComponent("consul-heal.json").path, "--fresh"]
                + fixtures.map { Fixtures.url($0).path },
            stdin: [])
        #expect(result.exitCode == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        for expectation in Self.expectations {
            let row = rows.first { $0.count > 4 && $0[0] == expectation.fixture && $0[1] == expectation.node && $0[2] == expectation.check }
            let decision = row.map { Array($0[4...]).joined(separator: " ") } ?? "missing"
            #expect(decision.hasPrefix(expectation.decision), "\(expectation.fixture) \(expectation.node) \(expectation.check): \(decision)")
        }
        // Payloads without health checks are explained, not failed.
        let other = try ExecutableHarness.run(
            "consul-heal",
            arguments: ["explain", "--config", Self.handlers.appendingPathComponent("consul-heal.json").path, "--fresh"]
                + ["key.json", "event.json", "nodes.json", "services.json", "checks-empty.json", "service-empty.json"].map { Fixtures.url($0).path },
            stdin: [])
        #expect(other.exitCode == 0)
        #expect(other.stdout.contains("key.json") && other.stdout.contains("carries no health checks"))
        #expect(other.stdout.contains("checks-empty.json") && other.stdout.contains("no checks in this payload"))
    }

    @Test func replayOfTheRecordedDemoIncident() throws {
        let result = try ExecutableHarness.run(
            "consul-heal",
            arguments: [
                "replay", "--config", Self.handlers.appendingPathComponent("demo-config.json").path, Self.handlers.appendingPathComponent("demo").path,
            ],
            stdin: [])
        #expect(result.exitCode == 0, "\(result.stderr)")
        var lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "times: as recorded by --record (from the file names)")
        lines.removeFirst()
        #expect(lines.count == 9)
        #expect(lines[0].hasSuffix("0 selected (baseline)"))
        #expect(lines[2] == "  web: became critical: remediating")
        #expect(lines[4].hasPrefix("  web: duplicate: already acted on at"))
        #expect(lines[6].hasPrefix("  web: duplicate: already acted on at"))
        #expect(lines[8] == "  web: recovered: incident closed")
    }

    @Test func theLadderFallsBackAndEscalatesWhenEveryRungFails() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        let config = dir.appendingPathComponent("config.json")
        try Data(
            #"""
            {"watch":"t","timeout":"20s","defaults":{"onStart":"act"},
             "routes":[{"name":"web","match":{"service":["web"]},"actions":[
                {"type":"log","file":"\#(dir.path)/watchers.log"},
                {"type":"redeploy","command":["sh","-c","echo first $1 >> \"$OUT\"; exit 1","x","{service}"]},
                {"type":"redeploy","command":["sh","-c","echo second $1 >> \"$OUT\"; exit 0","x","{service}"]},
                {"type":"external","command":["sh","-c","echo page $1 >> \"$OUT\"","x","{service}"],"escalation":true}]},
              {"name":"rest","actions":[
                {"type":"redeploy","command":["sh","-c","echo only $1 >> \"$OUT\"; exit 2","x","{service}"]},
                {"type":"external","command":["sh","-c","echo \"page $1: $CONSUL_ALERT\" >> \"$OUT\"","x","{service}"],"escalation":true}]}]}
            """#.utf8
        ).write(to: config)
        let payload = Payloads.checks([Payloads.service("web"), Payloads.service("api", node: "api-01")])
        let result = try ExecutableHarness.run(
            "consul-heal",
            arguments: [
                "--config", config.path, "--state-dir", dir.appendingPathComponent("state").path, "--journal", dir.appendingPathComponent("journal.jsonl").path,
            ],
            stdin: payload, environment: ["CONSUL_INDEX": "10", "OUT": out])
        #expect(result.exitCode == 75, "api's only rung failed: \(result.stderr)")
        let lines = Set(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init))
        #expect(lines == ["first web", "second web", "only api", "page api: every remediation failed; last: redeploy: sh: exit 2"])
        let journal = try String(contentsOfFile: dir.appendingPathComponent("journal.jsonl").path, encoding: .utf8)
        #expect(journal.contains(#""event":"delivery""#))
        #expect(journal.contains(#""incident":"service:web","target":"web","decision":"act""#))
        #expect(try String(contentsOfFile: dir.appendingPathComponent("watchers.log").path, encoding: .utf8).contains(#""service":"web""#))
        let status = try ExecutableHarness.run(
            "consul-heal", arguments: ["status", "--config", config.path, "--state-dir", dir.appendingPathComponent("state").path], stdin: [])
        #expect(status.exitCode == 0)
        #expect(status.stdout.contains("watch t: 1 deliveries"))
        #expect(status.stdout.contains("failing (acted)"))
    }

    @Test func recordCapturesPayloadsForReplay() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let record = dir.appendingPathComponent("recorded").path
        for (index, fixture) in [(7, "checks-empty.json"), (8, "checks-state-critical-one.json")] {
            let result = try ExecutableHarness.run(
                "consul-heal",
                arguments: ["--config", Self.handlers.appendingPathComponent("demo-config.json").path, "--no-state", "--dry-run", "--record", record],
                stdin: Fixtures.bytes(fixture), environment: ["CONSUL_INDEX": String(index)])
            #expect(result.exitCode == 0, "\(result.stderr)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: record).sorted()
        #expect(files.count == 2)
        #expect(files[1].hasSuffix("-8.json"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: record + "/" + files[1])) == Data(Fixtures.bytes("checks-state-critical-one.json")))
        let replay = try ExecutableHarness.run(
            "consul-heal", arguments: ["replay", "--config", Self.handlers.appendingPathComponent("demo-config.json").path, record], stdin: [])
        #expect(replay.stdout.contains("index 8"))
        #expect(replay.stdout.contains("web: became critical: remediating"))
    }
}

import Foundation
import TestSupport
import Testing

/// A new operator's first hour (issue 11): each friction point, through the real executables.
@Suite struct FrictionEndToEndTests {
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("friction-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func config(in dir: URL, _ text: String = #"{"watch":"w","routes":[{"name":"all","actions":[{"type":"redeploy","command":["true"]}]}]}"#) throws
        -> String
    {
        let url = dir.appendingPathComponent("config.json")
        try Data(text.utf8).write(to: url)
        return url.path
    }

    @Test func aMistypedSubcommandIsAUsageErrorWithASuggestion() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try Self.config(in: dir)
        let typo = try ExecutableHarness.run("consul-heal", arguments: ["chek-config", "--config", config], stdin: [])
        #expect(typo.exitCode == 64)
        #expect(typo.stderr.contains("unknown subcommand 'chek-config' (did you mean check-config?)"), "\(typo.stderr)")
        let late = try ExecutableHarness.run("consul-heal", arguments: ["--config", config, "stauts"], stdin: [])
        #expect(late.exitCode == 64 && late.stderr.contains("did you mean status?"), "\(late.stderr)")
        // Options before the subcommand are fine.
        let ok = try ExecutableHarness.run("consul-heal", arguments: ["--config", config, "check-config"], stdin: [])
        #expect(ok.exitCode == 0, "\(ok.stderr)")
    }

    @Test(arguments: [["explain", "--json"], ["check-config", "--listen", "127.0.0.1:1"], ["status", "--dry-run"]])
    func anOptionTheSubcommandIgnoresIsAUsageError(words: [String]) throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let payload = Fixtures.url("checks-one-critical.json").path
        let arguments = [words[0], "--config", try Self.config(in: dir)] + words.dropFirst() + (words[0] == "explain" ? [payload] : [])
        let result = try ExecutableHarness.run("consul-heal", arguments: arguments, stdin: [])
        #expect(result.exitCode == 64, "\(result.stderr)")
        #expect(result.stderr.contains("\(words[0]) does not take \(words[1])"), "\(result.stderr)")
    }

    /// explain decides what a run decides: a baseline on a fresh state or an index that did not
    /// advance, an action once the watch is running and the index moved.
    @Test func explainAgreesWithARunAboutTheBaseline() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try Self.config(in: dir)
        let state = dir.appendingPathComponent("state").path
        let critical = Fixtures.url("checks-state-critical-one.json").path
        func decision(_ result: ExecutableResult) -> String? {
            result.stdout.split(separator: "\n").dropFirst().first.map { $0.split(separator: " ", omittingEmptySubsequences: true)[4] }.map(String.init)
        }
        let fresh = try ExecutableHarness.run(
            "consul-heal", arguments: ["explain", "--config", config, "--state-dir", state, critical], stdin: [], environment: ["CONSUL_INDEX": "10"])
        #expect(fresh.exitCode == 0, "\(fresh.stderr)")
        #expect(decision(fresh) == "baseline", "\(fresh.stdout)")
        #expect(fresh.stderr.contains("assuming an empty state"), "\(fresh.stderr)")
        // The first delivery, all passing: it sets the baseline.
        let first = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config, "--state-dir", state], stdin: Fixtures.bytes("checks-all-passing.json"),
            environment: ["CONSUL_INDEX": "10"])
        #expect(first.exitCode == 0, "\(first.stderr)")
        let same = try ExecutableHarness.run(
            "consul-heal", arguments: ["explain", "--config", config, "--state-dir", state, critical], stdin: [], environment: ["CONSUL_INDEX": "10"])
        #expect(decision(same) == "baseline", "index 10 did not advance: \(same.stdout)")
        #expect(same.stderr.contains("reading the state in"), "\(same.stderr)")
        let advanced = try ExecutableHarness.run(
            "consul-heal", arguments: ["explain", "--config", config, "--state-dir", state, critical], stdin: [], environment: ["CONSUL_INDEX": "11"])
        #expect(decision(advanced) == "act", "\(advanced.stdout)")
        // And the run decides the same.
        let journal = dir.appendingPathComponent("journal.jsonl").path
        let run = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config, "--state-dir", state, "--journal", journal], stdin: Fixtures.bytes("checks-state-critical-one.json"),
            environment: ["CONSUL_INDEX": "11"])
        #expect(run.exitCode == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: journal, encoding: .utf8).contains(#""decision":"act""#))
    }

    @Test func durationsAreGoDurationsAndABareNumberIsRefused() throws {
        let bare = try ExecutableHarness.run("consul-jenkins", arguments: ["--url", "http://127.0.0.1:1", "--no-state", "--request-timeout", "30"], stdin: [])
        #expect(bare.exitCode == 64)
        #expect(bare.stderr.contains("'30s' for seconds"), "\(bare.stderr)")
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try Self.config(
            in: dir,
            #"{"timeout":"1m30s","defaults":{"cooldown":"1h30m"},"routes":[{"name":"all","actions":[{"type":"redeploy","command":["true"],"timeout":"500ms"}]}]}"#
        )
        let check = try ExecutableHarness.run("consul-heal", arguments: ["check-config", "--config", config], stdin: [])
        #expect(check.exitCode == 0, "\(check.stderr)")
    }

    /// As jq: every good file printed, every bad one reported, the worst status.
    @Test func consulCriticalReportsEachFile() throws {
        let result = try ExecutableHarness.run(
            "consul-critical",
            arguments: ["--format", "names", Fixtures.url("checks-state-critical-one.json").path, Fixtures.url("key.json").path, "/nonexistent/x.json"],
            stdin: [])
        #expect(result.stdout == "web\n", "\(result.stdout)")
        #expect(result.stderr.contains("key.json"), "\(result.stderr)")
        #expect(result.stderr.contains("/nonexistent/x.json"), "\(result.stderr)")
        #expect(result.exitCode == 74)
        let help = try ExecutableHarness.run("consul-critical", arguments: ["--help"], stdin: [])
        #expect(!help.stdout.contains("(like grep)"))
    }

    /// A dry run writes nothing: no state directory, no lock.
    @Test func aDryRunWritesNothing() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state")
        let config = try Self.config(in: dir)
        let heal = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config, "--state-dir", state.path, "--dry-run"], stdin: Fixtures.bytes("checks-state-critical-one.json"),
            environment: ["CONSUL_INDEX": "5"])
        #expect(heal.exitCode == 0, "\(heal.stderr)")
        let redeploy = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--state-dir", state.path, "--dry-run", "--", "true"], stdin: Fixtures.bytes("checks-state-critical-one.json"),
            environment: ["CONSUL_INDEX": "5"])
        #expect(redeploy.exitCode == 0, "\(redeploy.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state.path))
        // With an existing state, the dry run reads it and leaves it byte for byte, lock included.
        let real = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config, "--state-dir", state.path], stdin: Fixtures.bytes("checks-all-passing.json"),
            environment: ["CONSUL_INDEX": "5"])
        #expect(real.exitCode == 0, "\(real.stderr)")
        try FileManager.default.removeItem(atPath: state.appendingPathComponent("state.lock").path)
        let before = try Data(contentsOf: state.appendingPathComponent("state.json"))
        let again = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config, "--state-dir", state.path, "--dry-run"], stdin: Fixtures.bytes("checks-state-critical-one.json"),
            environment: ["CONSUL_INDEX": "6"])
        #expect(again.exitCode == 0, "\(again.stderr)")
        #expect(again.stderr.contains("web"), "\(again.stderr)")
        #expect(try Data(contentsOf: state.appendingPathComponent("state.json")) == before)
        #expect(!FileManager.default.fileExists(atPath: state.appendingPathComponent("state.lock").path))
    }

    /// The README's quickstart configuration is valid as printed, and explain on a recorded
    /// payload without a state says it assumes one and decides a baseline, as the README says.
    @Test func theReadmeQuickstartConfigurationIsValid() throws {
        let readme = try String(contentsOf: HealEndToEndTests.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```json\n{\n  \"watch\": \"checks-critical\""))
        let end = try #require(readme.range(of: "```\n", range: start.upperBound..<readme.endIndex))
        let json = String(readme[readme.index(start.lowerBound, offsetBy: 8)..<end.lowerBound])
        #expect(json.split(separator: "\n").count <= 16)
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try Self.config(in: dir, json)
        let check = try ExecutableHarness.run("consul-heal", arguments: ["check-config", "--config", config], stdin: [])
        #expect(check.exitCode == 0, "\(check.stderr)")
        let explain = try ExecutableHarness.run(
            "consul-heal",
            arguments: [
                "explain", "--config", config, "--state-dir", dir.appendingPathComponent("none").path, Fixtures.url("checks-state-critical-one.json").path,
            ],
            stdin: [])
        #expect(explain.exitCode == 0, "\(explain.stderr)")
        #expect(explain.stdout.contains("baseline") && explain.stderr.contains("assuming an empty state"))
    }
}

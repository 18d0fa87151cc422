import Foundation
import TestSupport
import Testing

/// More of a new operator's first hour (issue 11), through the real executables: a Jenkins
/// user without a secret, and `replay` on a directory of hand-named payloads.
@Suite struct OperatorFrictionEndToEndTests {
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("friction2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    // MARK: A Jenkins user without a token

    /// Jenkins answers 403 to a user without a secret; a dry run used to say "as anonymous".
    @Test(arguments: [[], ["--dry-run"]])
    func aJenkinsUserWithoutATokenIsRefusedAtStartUp(extra: [String]) throws {
        let result = try ExecutableHarness.run(
            "consul-jenkins", arguments: ["--no-state", "--url", "http://127.0.0.1:9/", "--job", "deploy"] + extra,
            stdin: Fixtures.bytes("checks-state-critical-one.json"), environment: ["JENKINS_USER": "consul-bot"])
        #expect(result.exitCode == 64)
        #expect(
            result.stderr.hasPrefix(
                "consul-jenkins: Jenkins user consul-bot has no API token or password: set JENKINS_API_TOKEN (or JENKINS_PASSWORD) in the handler's environment, or --token-file or --password-file; for anonymous access, set no user (JENKINS_USER unset)\n"
            ),
            "\(result.stderr)")
        #expect(!result.stderr.contains("anonymous\n") && !result.stderr.contains("would POST"))
    }

    @Test func aConfiguredJenkinsUserWithoutATokenIsAConfigurationError() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json").path
        try Data(
            #"{"watch":"w","jenkins":{"url":"http://127.0.0.1:9","user":"consul-bot"},"routes":[{"name":"all","actions":[{"type":"jenkins","job":"deploy"}]}]}"#
                .utf8
        ).write(to: URL(fileURLWithPath: config))
        let check = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config, "--no-state"], stdin: Fixtures.bytes("checks-state-critical-one.json"), environment: [:])
        #expect(check.exitCode == 78, "\(check.stderr)")
        #expect(check.stderr.contains("Jenkins user consul-bot has no API token or password"))
        #expect(check.stderr.contains(#""tokenFile" or "passwordFile" in the config's jenkins object"#))
        let withToken = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config, "--no-state", "--dry-run"], stdin: Fixtures.bytes("checks-state-critical-one.json"),
            environment: ["JENKINS_API_TOKEN": "t0ken"])
        #expect(withToken.exitCode == 0, "\(withToken.stderr)")
        #expect(withToken.stderr.contains("as API token of consul-bot") || withToken.stderr.contains("consul-bot"), "\(withToken.stderr)")
    }

    // MARK: replay on an ordinary directory

    static func replayDirectory(_ dir: URL, times: [Date]) throws -> String {
        let payloads = dir.appendingPathComponent("payloads")
        try FileManager.default.createDirectory(at: payloads, withIntermediateDirectories: true)
        let files = [("01-empty.json", Array("[]\n".utf8)), ("02-web.json", Fixtures.bytes("checks-state-critical-one.json"))]
        for ((name, bytes), time) in zip(files, times) {
            let path = payloads.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            try FileManager.default.setAttributes([.modificationDate: time], ofItemAtPath: path)
        }
        return payloads.path
    }

    static let config = #"{"watch":"w","routes":[{"name":"all","actions":[{"type":"redeploy","command":["true"]}]}]}"#

    @Test func replayOfOrdinaryFilesUsesTheirModificationTimesAndSaysSo() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json").path
        try Data(Self.config.utf8).write(to: URL(fileURLWithPath: config))
        let start = Date(timeIntervalSince1970: 1_796_000_000)  // 2026-11-30T00:53:20Z
        let payloads = try Self.replayDirectory(dir, times: [start, start.addingTimeInterval(600)])

        let result = try ExecutableHarness.run("consul-heal", arguments: ["replay", "--config", config, payloads], stdin: [])
        #expect(result.exitCode == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "times: the files' modification times, in name order (--interval DURATION spaces them evenly instead)", "\(result.stdout)")
        #expect(lines.contains("#1 01-empty.json index - at 2026-11-30T00:53:20.000Z: 0 selected (baseline)"), "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("#2 02-web.json index - at 2026-11-30T01:03:20.000Z") }, "\(result.stdout)")
        #expect(!result.stdout.contains("1970"))

        let spaced = try ExecutableHarness.run("consul-heal", arguments: ["replay", "--config", config, "--interval", "30s", payloads], stdin: [])
        #expect(spaced.exitCode == 0, "\(spaced.stderr)")
        #expect(spaced.stdout.hasPrefix("times: every 30s (--interval) from 2026-11-30T00:53:20.000Z, the first file's time\n"), "\(spaced.stdout)")
        #expect(spaced.stdout.contains("#2 02-web.json index - at 2026-11-30T00:53:50.000Z"))

        let bare = try ExecutableHarness.run("consul-heal", arguments: ["replay", "--config", config, "--interval", "30", payloads], stdin: [])
        #expect(bare.exitCode == 64 && bare.stderr.contains("a number needs a unit"), "\(bare.stderr)")
    }

    @Test func replayWarnsWhenEveryFileHasTheSameTime() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json").path
        try Data(Self.config.utf8).write(to: URL(fileURLWithPath: config))
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let payloads = try Self.replayDirectory(dir, times: [now, now])
        let result = try ExecutableHarness.run("consul-heal", arguments: ["replay", "--config", config, payloads], stdin: [])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout.contains("warning: all 2 files have the same time"), "\(result.stdout)")
    }
}

/// Every command's `--help`, as the executable prints it (and as its man page is made from):
/// two to four examples, and no other command's defaults.
@Suite struct HelpExamplesEndToEndTests {
    static let commands = ["consul-critical", "consul-jenkins", "consul-redeploy", "consul-log", "consul-heal"]

    @Test(arguments: commands)
    func helpHasExamplesAndNamesNoOtherCommand(_ command: String) throws {
        let result = try ExecutableHarness.run(command, arguments: ["--help"], stdin: [])
        #expect(result.exitCode == 0)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex(of: "Examples:"), "\(command) --help has no Examples section")
        let examples = lines[(start + 1)...].prefix { !$0.isEmpty }
        #expect((2...4).contains(examples.count), "\(command): \(examples)")
        #expect(examples.allSatisfy { $0.hasPrefix("  \(command) ") }, "\(command): \(examples)")
        for other in Self.commands where other != command {
            #expect(!result.stdout.contains(other), "\(command) --help mentions \(other)")
        }
        #expect(lines.allSatisfy { $0.count <= 100 }, "\(command): \(lines.filter { $0.count > 100 })")
    }

    @Test func eachCommandStatesItsOwnTimeoutAndWatchDefaults() throws {
        let jenkins = try ExecutableHarness.run("consul-jenkins", arguments: ["--help"], stdin: [])
        let timeout = jenkins.stdout.split(separator: "\n").drop { !$0.contains("--timeout DURATION") }.prefix(3).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        #expect(timeout.last == "(default 120s)", "\(timeout)")
        #expect(jenkins.stdout.contains("this watch's name in the state (default: consul-jenkins)"))
        #expect(!jenkins.stdout.contains("--command-timeout"))
        let redeploy = try ExecutableHarness.run("consul-redeploy", arguments: ["--help"], stdin: [])
        #expect(redeploy.stdout.contains("(default --command-timeout + --kill-grace + 15s)"))
        #expect(redeploy.stdout.contains("(default: consul-redeploy)"))
    }
}

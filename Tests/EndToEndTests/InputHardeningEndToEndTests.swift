import Foundation
import TestSupport
import Testing

/// Issue 7, items 4, 7 and 9: secrets in URLs and in children's environments, malformed URLs at
/// start-up, and control characters from payloads, through the real executables.
@Suite struct InputHardeningEndToEndTests {
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("input-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let critical = Fixtures.bytes("checks-state-critical-one.json")

    // MARK: item 4 and 9: URLs

    @Test(arguments: [false, true])
    func credentialsInTheJenkinsURLAreRefusedAndNeverEchoed(viaShell: Bool) throws {
        for (arguments, environment) in [
            (["--url", "http://deployer:hunter2secret@127.0.0.1:9/", "--dry-run", "--no-state"], [String: String]()),
            (["--dry-run", "--no-state"], ["JENKINS_URL": "https://deployer:hunter2secret@ci.example.com/jenkins"]),
        ] {
            let result = try ExecutableHarness.run("consul-jenkins", arguments: arguments, stdin: Self.critical, environment: environment, viaShell: viaShell)
            #expect(result.exitCode == 64, "\(result.stderr)")
            #expect(result.stderr.contains("credentials in a URL are not accepted"))
            #expect(result.stderr.contains("JENKINS_USER"))
            #expect(!result.stderr.contains("hunter2secret") && !result.stdout.contains("hunter2secret"))
        }
    }

    @Test(arguments: ["http://127.0.0.1:99999/", "http://:8080/", "https://[::1/", "http://host:port/"])
    func aMalformedJenkinsURLFailsAtStartUp(url: String) throws {
        let result = try ExecutableHarness.run("consul-jenkins", arguments: ["--url", url, "--no-state"], stdin: Self.critical)
        #expect(result.exitCode == 64, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("consul-jenkins: the Jenkins URL (--url) '"), "\(result.stderr)")
        #expect(result.stderr.contains("is not a usable URL"))
    }

    @Test(arguments: [
        (#""jenkins":{"url":"http://u:hunter2secret@127.0.0.1:8080"},"#, #"{"type":"jenkins"}"#, "$.jenkins.url", "credentials in a URL"),
        ("", #"{"type":"jenkins","url":"https://u:hunter2secret@ci/"}"#, "$.routes[0].actions[0].url", "credentials in a URL"),
        ("", #"{"type":"jenkins","url":"http://127.0.0.1:99999/"}"#, "$.routes[0].actions[0].url", "not a usable URL"),
        (#""jenkins":{"url":"http://ci:0"},"#, #"{"type":"jenkins"}"#, "$.jenkins.url", "not a usable URL"),
    ])
    func aBadURLInTheConfigIsAConfigError(jenkins: String, action: String, path: String, message: String) throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json")
        try Data(#"{\#(jenkins)"routes":[{"name":"all","actions":[\#(action)]}]}"#.utf8).write(to: config)
        for subcommand in [["check-config"], [], ["--dry-run", "--no-state"]] {
            let result = try ExecutableHarness.run("consul-heal", arguments: subcommand + ["--config", config.path], stdin: Self.critical)
            #expect(result.exitCode == 78, "\(subcommand): \(result.stderr)")
            #expect(result.stderr.hasPrefix("consul-heal: \(config.path): \(path): "), "\(result.stderr)")
            #expect(result.stderr.contains(message))
            #expect(!result.stderr.contains("hunter2secret"))
        }
    }

    @Test func childrenOfRedeployAndExternalActionsDoNotInheritTheHandlersSecrets() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let secrets = [
            "JENKINS_API_TOKEN": "s1", "JENKINS_PASSWORD": "s2", "JENKINS_BUILD_TOKEN": "s3",
            "CONSUL_HTTP_TOKEN": "s4", "CONSUL_HTTP_TOKEN_FILE": "/s5", "CONSUL_HTTP_AUTH": "u:s6",
        ]
        let out = dir.appendingPathComponent("env").path
        let redeploy = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--no-state", "--", "/bin/sh", "-c", #"env > "$OUT"; cat > /dev/null"#],
            stdin: Self.critical, environment: secrets.merging(["OUT": out, "KEEP_ME": "yes"]) { a, _ in a })
        #expect(redeploy.exitCode == 0, "\(redeploy.stderr)")
        let environment = try String(contentsOfFile: out, encoding: .utf8)
        #expect(environment.contains("KEEP_ME=yes\n"), "the rest of the environment is inherited")
        #expect(environment.contains("CONSUL_SERVICE=web\n"))
        for name in secrets.keys { #expect(!environment.contains("\(name)="), "\(name) reached the child") }

        let config = dir.appendingPathComponent("config.json")
        let external = dir.appendingPathComponent("external-env").path
        try Data(
            #"""
            {"defaults":{"onStart":"act"},"routes":[{"name":"all","actions":[
              {"type":"redeploy","command":["sh","-c","env > \"$OUT\"; exit 1"]},
              {"type":"external","escalation":true,"command":["sh","-c","env > \"$OUT.x\""]}]}]}
            """#.utf8
        ).write(to: config)
        let heal = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config.path, "--no-state"], stdin: Self.critical,
            environment: secrets.merging(["OUT": external]) { a, _ in a })
        #expect(heal.exitCode == 75, "\(heal.stderr)")
        for file in [external, external + ".x"] {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.contains("CONSUL_SERVICE=web\n"))
            for name in secrets.keys { #expect(!text.contains("\(name)="), "\(name) reached \(file)") }
        }
    }

    // MARK: item 7: control characters

    static let hostile = "web\nconsul-critical: forged line \u{1B}[31mred\u{07}\r\u{9B}x\u{2028}y"

    @Test(arguments: [false, true])
    func namesPrintsOneEscapedNamePerLine(viaShell: Bool) throws {
        let payload = Payloads.checks([Payloads.service(Self.hostile), Payloads.service(#"back\slash"#, node: "n2"), Payloads.service("api", node: "n3")])
        let result = try ExecutableHarness.run("consul-critical", arguments: ["--format", "names"], stdin: payload, viaShell: viaShell)
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == #"web\nconsul-critical: forged line \u{1b}[31mred\u{7}\r\u{9b}x\u{2028}y"# + "\n" + #"back\\slash"# + "\napi\n")
    }

    @Test func tableEscapesControlCharacters() throws {
        let payload = Payloads.checks([Payloads.service(Self.hostile, output: "bad\u{1B}]0;title\u{07} output")])
        let result = try ExecutableHarness.run("consul-critical", arguments: ["--format", "table"], stdin: payload)
        #expect(result.exitCode == 0)
        #expect(result.stdout.split(separator: "\n").count == 2, "\(result.stdout)")
        #expect(!result.stdout.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 })
        #expect(result.stdout.contains(#"bad\u{1b}]0;title\u{7} output"#))
    }

    @Test(arguments: [false, true])
    func auditLinesOnStderrCannotBeForged(viaShell: Bool) throws {
        let payload = Payloads.checks([Payloads.service(Self.hostile)])
        let result = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--no-state", "--dry-run", "--", "redeploy", "{service}"], stdin: payload, viaShell: viaShell)
        #expect(result.exitCode == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count >= 1)
        for line in lines { #expect(line.hasPrefix("consul-redeploy: web\\n"), "\(line)") }
        #expect(!result.stderr.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 })
    }

    @Test func explainAndStatusEscapeControlCharacters() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json")
        try Data(#"{"defaults":{"onStart":"act"},"routes":[{"name":"all","actions":[{"type":"redeploy","command":["true"]}]}]}"#.utf8).write(to: config)
        let payloadFile = dir.appendingPathComponent("payload.json")
        try Data(Payloads.checks([Payloads.service(Self.hostile)])).write(to: payloadFile)
        let explain = try ExecutableHarness.run("consul-heal", arguments: ["explain", "--config", config.path, "--fresh", payloadFile.path], stdin: [])
        #expect(explain.exitCode == 0, "\(explain.stderr)")
        #expect(explain.stdout.split(separator: "\n").count == 2, "\(explain.stdout)")
        let state = dir.appendingPathComponent("state").path
        let run = try ExecutableHarness.run(
            "consul-heal", arguments: ["--config", config.path, "--state-dir", state], stdin: Data(contentsOf: payloadFile).map { $0 })
        #expect(run.exitCode == 0, "\(run.stderr)")
        let status = try ExecutableHarness.run("consul-heal", arguments: ["status", "--config", config.path, "--state-dir", state], stdin: [])
        #expect(status.exitCode == 0, "\(status.stderr)")
        for text in [explain.stdout, status.stdout] {
            #expect(!text.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 })
            #expect(text.contains(#"web\nconsul-critical: forged line"#))
        }
    }
}

import Foundation
import TestSupport
import Testing

/// Issue 7, item 11: a Go nil slice (`null`) from an old agent, and names that differ only in
/// Unicode normalization, through the real executables.
@Suite struct NamesAndNullEndToEndTests {
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("names-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// "café" precomposed (NFC) and decomposed (NFD): equal as Swift Strings, two services to Consul.
    static let nfc = "caf\u{E9}"
    static let nfd = "cafe\u{301}"

    @Test(arguments: [false, true])
    func nullMeansNothingAndTheOpenIncidentRecovers(viaShell: Bool) throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json")
        try Data(#"{"defaults":{"onStart":"act"},"routes":[{"name":"all","actions":[{"type":"redeploy","command":["true"]}]}]}"#.utf8).write(to: config)
        let state = dir.appendingPathComponent("state").path
        let arguments = ["--config", config.path, "--state-dir", state]
        let failing = try ExecutableHarness.run(
            "consul-heal", arguments: arguments, stdin: Payloads.checks([Payloads.service("web")]), environment: ["CONSUL_INDEX": "10"], viaShell: viaShell)
        #expect(failing.exitCode == 0, "\(failing.stderr)")
        #expect(failing.stderr.contains("web: redeploy done"))

        let null = try ExecutableHarness.run(
            "consul-heal", arguments: arguments, stdin: Array("null\n".utf8), environment: ["CONSUL_INDEX": "11"], viaShell: viaShell)
        #expect(null.exitCode == 0, "\(null.stderr)")
        #expect(null.stderr == "consul-heal: web: recovered: incident closed\n")
        let deadLetters = (try? FileManager.default.contentsOfDirectory(atPath: state + "/dead-letter")) ?? []
        #expect(deadLetters.isEmpty)
        let status = try ExecutableHarness.run("consul-heal", arguments: ["status"] + arguments, stdin: [])
        #expect(status.stdout.contains("\nweb     passing  "), "\(status.stdout)")
        #expect(status.stdout.contains("dead letters: 0"))

        for product in ["consul-critical", "consul-redeploy"] {
            let extra = product == "consul-redeploy" ? ["--no-state", "--", "false"] : ["--exit-status"]
            for type in [[], ["--type", "checks"], ["--type", "service"], ["--type", "event"]] {
                let result = try ExecutableHarness.run(product, arguments: type + extra, stdin: Array("null\n".utf8), viaShell: viaShell)
                #expect(result.exitCode == 0, "\(product) \(type): \(result.stderr)")
                #expect(result.stdout == "" && result.stderr == "", "\(product) \(type)")
            }
        }
        let key = try ExecutableHarness.run("consul-critical", arguments: ["--type", "key"], stdin: Array("null\n".utf8))
        #expect(key.exitCode == 65)
    }

    @Test func namesDifferingOnlyInNormalizationAreTwoServices() throws {
        #expect(Self.nfc == Self.nfd, "the premise: Swift calls them equal")
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let payload = Payloads.checks([Payloads.service(Self.nfc, node: "n1"), Payloads.service(Self.nfd, node: "n2")])

        let names = try ExecutableHarness.run("consul-critical", arguments: ["--format", "names"], stdin: payload)
        #expect(names.exitCode == 0)
        #expect(names.stdoutBytes == Array((Self.nfc + "\n" + Self.nfd + "\n").utf8))
        let filtered = try ExecutableHarness.run("consul-critical", arguments: ["--format", "names", "--service", Self.nfd], stdin: payload)
        #expect(filtered.stdoutBytes == Array((Self.nfd + "\n").utf8))

        // Two incidents, two actions: each child gets its own name, byte for byte.
        let out = dir.appendingPathComponent("argv").path
        let redeploy = try ExecutableHarness.run(
            "consul-redeploy",
            arguments: [
                "--state-dir", dir.appendingPathComponent("state").path, "--on-start", "act", "--blast-radius", "off", "--concurrency", "1", "--", "/bin/sh",
                "-c", #"printf '%s|%s\0' "$1" "$CONSUL_INCIDENT" >> "$OUT"; cat >/dev/null"#, "sh", "{service}",
            ],
            stdin: payload, environment: ["CONSUL_INDEX": "5", "OUT": out])
        #expect(redeploy.exitCode == 0, "\(redeploy.stderr)")
        let records = try Data(contentsOf: URL(fileURLWithPath: out)).split(separator: 0).map { Array($0) }
        #expect(Set(records) == [Array((Self.nfc + "|service:caf%C3%A9").utf8), Array((Self.nfd + "|service:cafe%CC%81").utf8)])

        // Routes match byte for byte: only the NFC spelling takes the "nfc" route.
        let config = dir.appendingPathComponent("config.json")
        try Data(
            #"""
            {"defaults":{"onStart":"act"},"blastRadius":{"enabled":false},"routes":[
              {"name":"nfc","match":{"service":["\#(Self.nfc)"]},"actions":[{"type":"redeploy","command":["sh","-c","printf 'nfc:%s\\0' \"$1\" >> \"$OUT\"","x","{service}"]}]},
              {"name":"rest","actions":[{"type":"redeploy","command":["sh","-c","printf 'rest:%s\\0' \"$1\" >> \"$OUT\"","x","{service}"]}]}]}
            """#.utf8
        ).write(to: config)
        let routed = dir.appendingPathComponent("routed").path
        let heal = try ExecutableHarness.run("consul-heal", arguments: ["--config", config.path, "--no-state"], stdin: payload, environment: ["OUT": routed])
        #expect(heal.exitCode == 0, "\(heal.stderr)")
        let routes = try Data(contentsOf: URL(fileURLWithPath: routed)).split(separator: 0).map { Array($0) }
        #expect(Set(routes) == [Array(("nfc:" + Self.nfc).utf8), Array(("rest:" + Self.nfd).utf8)])
    }
}

import Foundation
import TestSupport
import Testing

/// Issue 9 through the real executables against the fake Consul: argv, CONSUL_INDEX, the payload
/// on stdin through a pipe, CONSUL_HTTP_ADDR pointing at a fake agent's loopback port.
@Suite(.serialized) struct ConsulHealingEndToEndTests {
    /// A cluster where web-02 (web, books-service, and a consul server) has died, and a state
    /// directory and an output file the redeploy command appends to.
    final class Scenario {
        let consul = FakeConsul()
        let agent: FakeConsul.Agent
        let directory: URL
        var index: UInt64 = 2000
        var state: String { directory.appendingPathComponent("state").path }
        var output: String { directory.appendingPathComponent("redeploys.txt").path }

        init(withChecks: Bool = false) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("consul-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            agent = try consul.addAgent(node: "handler-01")
            consul.addService(node: "web-01", .init(id: "web", name: "web", port: 80))
            consul.addService(node: "web-02", .init(id: "web", name: "web", tags: ["v2"], port: 80))
            consul.addService(node: "web-02", .init(id: "books-1", name: "books-service", port: 8080))
            consul.addService(node: "web-02", .init(id: "consul", name: "consul", port: 8300))
            if withChecks {
                for (node, id, service) in [("web-01", "service:web", "web"), ("web-02", "service:web", "web"), ("web-02", "service:books-1", "books-1")] {
                    consul.setCheck(node: node, checkID: id, status: "passing", output: "HTTP 200", serviceID: service)
                }
            }
            consul.failNode("web-02")
        }

        deinit {
            consul.stop()
            try? FileManager.default.removeItem(at: directory)
        }

        /// The redeploy command: appends the service name (as $1, never in the script).
        var script: [String] { ["/bin/sh", "-c", #"echo "$1" >> "$OUT"; cat >/dev/null"#, "redeploy", "{service}"] }

        @discardableResult
        func redeploy(_ payload: [UInt8], extra: [String] = [], environment: [String: String] = [:]) throws -> ExecutableResult {
            index += 1
            var env = ["CONSUL_INDEX": String(index), "OUT": output, "CONSUL_HTTP_ADDR": agent.address]
            env.merge(environment) { $1 }
            return try ExecutableHarness.run("consul-redeploy", arguments: ["--state-dir", state] + extra + ["--"] + script, stdin: payload, environment: env)
        }

        /// consul-heal with `config` (written to a file) on `payload`.
        @discardableResult
        func heal(_ config: String, _ payload: [UInt8], arguments: [String] = [], environment: [String: String] = [:], viaShell: Bool = false) throws
            -> ExecutableResult
        {
            index += 1
            let path = directory.appendingPathComponent("heal.json")
            try Data(config.utf8).write(to: path)
            var env = ["CONSUL_INDEX": String(index), "OUT": output, "CONSUL_HTTP_ADDR": agent.address]
            env.merge(environment) { $1 }
            return try ExecutableHarness.run(
                "consul-heal", arguments: (arguments.isEmpty ? ["run"] : arguments) + ["--config", path.path, "--state-dir", state], stdin: payload,
                environment: env, viaShell: viaShell)
        }

        var redeploys: [String] {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        func payload(_ state: String) -> [UInt8] { ConsulWatchPoster.checksPayload(consul, state: state).payload }
    }

    static let empty = Array("[]\n".utf8)

    @Test func aDeadNodeOnAStateCriticalWatchRedeploysEachOfItsServicesOnceAndNeverConsul() throws {
        let s = try Scenario()
        let critical = s.payload("critical")
        #expect(String(decoding: critical, as: UTF8.self).contains("serfHealth"))
        try s.redeploy(Self.empty)  // baseline
        let first = try s.redeploy(critical)
        #expect(first.exitCode == 0, "\(first.stderr)")
        #expect(s.redeploys.sorted() == ["books-service", "web"])
        #expect(first.stderr.contains("node web-02 is down (serfHealth critical); its services are redeployed elsewhere"))
        #expect(s.consul.requestCount(.catalogNode) == 1)
        // Consul re-fires while the node stays down: no request, nothing twice.
        for _ in 0..<3 {
            let again = try s.redeploy(critical)
            #expect(again.exitCode == 0)
        }
        #expect(s.consul.requestCount(.catalogNode) == 1)
        #expect(s.redeploys.sorted() == ["books-service", "web"])
        // --node-failures node keeps the old behaviour: nothing redeployed, no lookup.
        let old = try Scenario()
        try old.redeploy(Self.empty, extra: ["--node-failures", "node"])
        let result = try old.redeploy(old.payload("critical"), extra: ["--node-failures", "node"])
        #expect(result.exitCode == 0)
        #expect(old.redeploys.isEmpty)
        #expect(old.consul.requestCount(.catalogNode) == 0)
        #expect(result.stderr.contains("not remediated: the node is down"))
    }

    @Test func aStateAnyWatchShowsTheServicesItselfAndNoCatalogRequestIsMade() throws {
        let s = try Scenario(withChecks: true)
        try s.redeploy(Self.empty)
        let result = try s.redeploy(s.payload("any"))
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(s.redeploys.sorted() == ["books-service", "web"])
        #expect(s.consul.requestCount(.catalogNode) == 0)
        #expect(result.stderr.contains("(per the payload)"))
    }

    @Test(arguments: [500, 403])
    func aFailedLookupLosesNothingAndIsActedOnOnceWhenItRecovers(_ status: Int) throws {
        let s = try Scenario()
        try s.redeploy(Self.empty)
        s.consul.inject(status == 500 ? .noLeader(endpoints: [.catalogNode]) : .permissionDenied(endpoints: [.catalogNode]))
        let failed = try s.redeploy(s.payload("critical"))
        #expect(failed.exitCode == 75)
        #expect(s.redeploys.isEmpty)
        let line = failed.stderr.split(separator: "\n").filter { $0.contains("node web-02 is down") }
        #expect(line.count == 1)
        #expect(line.first?.contains(status == 500 ? "500" : "ACL denied") == true, "\(failed.stderr)")
        #expect(s.consul.requestCount(.catalogNode) >= 1)
        // Still failing: asked again, still nothing done.
        #expect(try s.redeploy(s.payload("critical")).exitCode == 75)
        #expect(s.redeploys.isEmpty)
        s.consul.clearFaults()
        let recovered = try s.redeploy(s.payload("critical"))
        #expect(recovered.exitCode == 0, "\(recovered.stderr)")
        #expect(s.redeploys.sorted() == ["books-service", "web"])
        try s.redeploy(s.payload("critical"))
        #expect(s.redeploys.sorted() == ["books-service", "web"])
    }

    @Test func flushActsOnANodeWhoseLookupFailedOnceTheAgentAnswers() throws {
        let s = try Scenario()
        let config =
            #"{"watch":"nodes","routes":[{"actions":[{"type":"redeploy","command":["/bin/sh","-c","echo \"$1\" >> \"$OUT\"; cat >/dev/null","redeploy","{service}"]}]}]}"#
        try s.heal(config, Self.empty)
        s.consul.inject(.permissionDenied(endpoints: [.catalogNode]))
        #expect(try s.heal(config, s.payload("critical")).exitCode == 75)
        #expect(s.redeploys.isEmpty)
        s.consul.clearFaults()
        let flushed = try s.heal(config, [], arguments: ["flush"])
        #expect(flushed.exitCode == 0, "\(flushed.stderr)")
        #expect(s.redeploys.sorted() == ["books-service", "web"])
        #expect(try s.heal(config, s.payload("critical")).exitCode == 0)
        #expect(s.redeploys.sorted() == ["books-service", "web"])
    }

    static func kvConfig(_ template: String) -> String {
        #"{"routes":[{"actions":[{"type":"redeploy","command":["/bin/sh","-c","echo \"$1 $2\" >> \"$OUT\"; cat >/dev/null","redeploy","{service}","\#(template)"]}]}]}"#
    }

    @Test func kvPlaceholdersReachTheCommandOrFailItWithoutRunning() throws {
        let s = try Scenario()
        s.consul.putKey("services/books-service/color", "green\n")
        let books = Array(
            #"[{"Node":"web-01","CheckID":"service:books-1","Name":"books","Status":"critical","ServiceID":"books-1","ServiceName":"books-service"}]"#.utf8)
        let withDefault = Self.kvConfig("{kv:services/{service}/color|blue}")
        try s.heal(withDefault, Self.empty)
        let present = try s.heal(withDefault, books, arguments: ["run", "--no-state"])
        #expect(present.exitCode == 0, "\(present.stderr)")
        #expect(s.redeploys == ["books-service green"])

        s.consul.deleteKey("services/books-service/color")
        #expect(try s.heal(withDefault, books, arguments: ["run", "--no-state"]).exitCode == 0)
        #expect(s.redeploys.last == "books-service blue")

        let without = try s.heal(Self.kvConfig("{kv:services/{service}/color}"), books, arguments: ["run", "--no-state"])
        #expect(without.exitCode == 75)
        #expect(without.stderr.contains("Consul KV key 'services/books-service/color' does not exist"))
        #expect(s.redeploys.count == 2)  // never run with an empty value
        // Read once per key per run, with ?raw.
        let reads = s.consul.requests.filter { $0.endpoint == .kv }
        #expect(reads.count == 3)
        #expect(reads.allSatisfy { $0.target.hasSuffix("?raw") })
        // check-config validates the syntax.
        let badConfig = s.directory.appendingPathComponent("bad.json")
        try Data(Self.kvConfig("{kv:services/{service}/color").utf8).write(to: badConfig)
        let bad = try ExecutableHarness.run("consul-heal", arguments: ["check-config", "--config", badConfig.path], stdin: [])
        #expect(bad.exitCode == 78, "\(bad.stderr)")
        // --dry-run shows the resolved value.
        s.consul.putKey("services/books-service/color", "green")
        let dry = try s.heal(withDefault, books, arguments: ["run", "--no-state", "--dry-run"])
        #expect(dry.stderr.contains("books-service green"), "\(dry.stderr)")
        #expect(s.redeploys.count == 2)
    }

    @Test func theTokenFileIsUsedAndNeverPrintedNorGivenToChildren() throws {
        let s = try Scenario()
        let secret = "9d1c6b2e-token-\(UUID().uuidString)"
        s.consul.enableACL(defaultAllow: false)
        _ = s.consul.addToken(
            secret, rules: .init(keyPrefix: ["services/": .read], nodePrefix: ["": .read], servicePrefix: ["": .read], agentPrefix: ["": .write]))
        let tokenFile = s.directory.appendingPathComponent("consul.token")
        try Data((secret + "\n").utf8).write(to: tokenFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile.path)
        let envFile = s.directory.appendingPathComponent("child-env.txt").path
        let config =
            #"{"consul":{"tokenFile":"\#(tokenFile.path)"},"selfCheck":{"id":"consul-heal-e2e","ttl":"1h"},"routes":[{"actions":[{"type":"redeploy","command":["/bin/sh","-c","env >> \#(envFile); echo \"$1\" >> \"$OUT\"; cat >/dev/null","redeploy","{service}"]}]}]}"#
        try s.heal(config, Self.empty)
        let result = try s.heal(config, s.payload("critical"), environment: ["CONSUL_HTTP_TOKEN": secret])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(s.redeploys.sorted() == ["books-service", "web"])
        #expect(s.consul.requests.contains { $0.endpoint == .catalogNode && $0.tokenSource == "header" })
        #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret))
        let childEnvironment = try String(contentsOfFile: envFile, encoding: .utf8)
        #expect(!childEnvironment.contains(secret))
        let stateFiles = try FileManager.default.subpathsOfDirectory(atPath: s.state)
        for file in stateFiles {
            let text = (try? String(contentsOfFile: s.state + "/" + file, encoding: .utf8)) ?? ""
            #expect(!text.contains(secret), "\(file)")
        }
        // Without the token: a readable 403 cause, the token still nowhere.
        let denied = try s.heal(
            #"{"routes":[{"actions":[{"type":"log"}]}]}"#, s.payload("critical"), arguments: ["run", "--no-state"], environment: ["CONSUL_HTTP_TOKEN": ""])
        #expect(denied.exitCode == 75)
        #expect(denied.stderr.contains("node:read"), "\(denied.stderr)")
    }

    @Test func theSelfCheckSaysPassingWarningOrCritical() throws {
        let s = try Scenario()
        func config(_ exit: Int) -> String {
            #"{"selfCheck":{"id":"consul-heal-e2e","ttl":"1h"},"routes":[{"actions":[{"type":"redeploy","command":["/bin/sh","-c","cat >/dev/null; exit \#(exit)"]}]}]}"#
        }
        let web = Array(
            #"[{"Node":"web-01","CheckID":"service:web","Name":"web","Status":"critical","ServiceID":"web","ServiceName":"web"},{"Node":"handler-01","CheckID":"consul-heal-e2e","Name":"self","Status":"critical","ServiceID":"","ServiceName":""}]"#
                .utf8)
        let passing = try s.heal(config(0), web, arguments: ["run", "--no-state"])
        #expect(passing.exitCode == 0, "\(passing.stderr)")
        #expect(passing.stderr.contains("self check consul-heal-e2e: passing: all handled"))
        #expect(s.consul.agentCheck(node: "handler-01", id: "consul-heal-e2e")?.status == "passing")
        #expect(s.consul.agentCheck(node: "handler-01", id: "consul-heal-e2e")?.ttl == 3600)
        // Its own (critical) check in the payload was never a target: one action only.
        #expect(!passing.stderr.contains("node handler-01"))

        try s.heal(config(75), Self.empty)
        let spooled = try s.heal(config(75), web)
        #expect(spooled.exitCode == 75)
        #expect(s.consul.agentCheck(node: "handler-01", id: "consul-heal-e2e")?.status == "warning")
        #expect(spooled.stderr.contains("self check consul-heal-e2e: warning: 1 action(s) spooled for retry"))

        let critical = try s.heal(config(1), web, arguments: ["run", "--no-state"])
        #expect(critical.exitCode == 75)
        let check = s.consul.agentCheck(node: "handler-01", id: "consul-heal-e2e")
        #expect(check?.status == "critical")
        #expect(check?.output.contains("not handled (web)") == true)
    }

    @Test func explainShowsTheDeadNodesServicesAndTheResolvedKVValues() throws {
        let s = try Scenario()
        s.consul.putKey("services/books-service/color", "green")
        let payload = s.directory.appendingPathComponent("critical.json")
        try Data(s.payload("critical")).write(to: payload)
        let config =
            #"{"routes":[{"actions":[{"type":"jenkins","url":"http://127.0.0.1:9","job":"deploy/{service}","params":{"COLOR":"{kv:services/{service}/color|blue}","CAUSE":"{cause}"}}]}]}"#
        // A running watch (one delivery seen), so that explain decides `act` as the next run would.
        try s.heal(config, Self.empty)
        let result = try s.heal(config, [], arguments: ["explain", payload.path])
        #expect(result.exitCode == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.contains {
                $0.contains("serfHealth") && $0.contains("node-down") && $0.contains("its services are redeployed elsewhere: books-service (books-1), web")
            })
        #expect(
            lines.contains {
                $0.contains("node-down:books-service") && $0.contains("act") && $0.contains("jenkins deploy/books-service CAUSE=node-down COLOR=green")
            }, "\(result.stdout)")
        #expect(lines.contains { $0.contains("node-down:web") && $0.contains("COLOR=blue") })
        #expect(!lines.contains { $0.contains("node-down:consul") })
        #expect(s.redeploys.isEmpty)
    }
}

import Foundation
import TestSupport
import Testing

@testable import HandlerKit

/// The policy through the real executables, delivery after delivery, the way a Consul agent
/// runs them: argv, CONSUL_INDEX, payload on stdin, a state directory shared between runs.
@Suite(.serialized) struct PolicyEndToEndTests {
    /// A scratch state directory and an output file the redeploy command appends to.
    final class Scenario {
        let directory: URL
        var index: UInt64 = 1000
        var state: String { directory.appendingPathComponent("state").path }
        var output: String { directory.appendingPathComponent("redeploys.txt").path }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("policy-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        /// The redeploy command: appends the service name; the name arrives as $1, never in the script.
        func redeploy(_ extra: [String] = [], script: String? = nil) -> [String] {
            ["--state-dir", state] + extra + ["--", "/bin/sh", "-c", script ?? #"echo "$1" >> "$OUT"; cat >/dev/null"#, "redeploy", "{service}"]
        }

        @discardableResult
        func deliver(_ payload: [UInt8], indexStep: UInt64 = 1, arguments: [String]? = nil, extra: [String] = [], environment: [String: String] = [:]) throws
            -> ExecutableResult
        {
            index += indexStep
            var env = ["CONSUL_INDEX": String(index), "OUT": output]
            env.merge(environment) { $1 }
            return try ExecutableHarness.run("consul-redeploy", arguments: arguments ?? redeploy(extra), stdin: payload, environment: env)
        }

        var redeploys: [String] {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        func stateFile() throws -> HealState {
            try HealState(decoding: Array(try Data(contentsOf: URL(fileURLWithPath: state + "/state.json"))))
        }
    }

    static let empty = Array("[]\n".utf8)

    @Test func aServiceThatFailsOnceIsActedOnOnceAcrossTenRedeliveries() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)  // the watch's first delivery: the baseline
        for round in 0..<10 {
            // Consul re-fires on every output change; the status stays critical.
            let result = try s.deliver(Payloads.checks([Payloads.service("web", output: "HTTP GET /health: 503 after \(round * 100) ms")]))
            #expect(result.exitCode == 0)
            if round > 0 { #expect(result.stderr.contains("duplicate: already acted on")) }
        }
        #expect(s.redeploys == ["web"])
        #expect(try s.stateFile().targets["service:web"]?.acted == true)
    }

    @Test func agentStartAndReloadDoNotTrigger() throws {
        let s = try Scenario()
        let failing = Payloads.checks([Payloads.service("web")])
        // Agent start: the first delivery already shows web failing → baseline, no redeploy.
        let first = try s.deliver(failing)
        #expect(first.stderr.contains("baseline"))
        // A reload re-fires with an index that did not advance.
        try s.deliver(failing, indexStep: 0)
        #expect(s.redeploys.isEmpty)
        // Once it recovers and fails again, it is acted on.
        try s.deliver(Self.empty)
        try s.deliver(failing)
        #expect(s.redeploys == ["web"])
        // A reload now (same index) re-fires the same failing payload: nothing new.
        try s.deliver(failing, indexStep: 0)
        #expect(s.redeploys == ["web"])
    }

    @Test func maintenanceSilences() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let result = try s.deliver(Payloads.checks([Payloads.serviceMaintenance("web"), Payloads.service("web"), Payloads.service("api", node: "api-01")]))
        #expect(result.exitCode == 0)
        #expect(s.redeploys == ["api"])
        #expect(result.stderr.contains("maintenance"))
    }

    @Test func theBudgetOpensAndResets() throws {
        let s = try Scenario()
        let policy = ["--cooldown", "0", "--budget", "2/1h", "--budget-reset", "1s"]
        let failing = Payloads.checks([Payloads.service("web")])
        try s.deliver(Self.empty, extra: policy)
        for _ in 0..<2 {
            try s.deliver(failing, extra: policy)
            try s.deliver(Self.empty, extra: policy)
        }
        #expect(s.redeploys == ["web", "web"])
        let journal = s.directory.appendingPathComponent("journal.jsonl").path
        let third = try s.deliver(failing, extra: policy + ["--journal", journal])
        #expect(third.stderr.contains("budget exhausted"))
        // The escalation is on record even though this executable has no escalation action.
        #expect(try String(contentsOfFile: journal, encoding: .utf8).contains(#""decision":"escalate","reason":"remediation budget exhausted"#))
        #expect(s.redeploys.count == 2)
        try s.deliver(Self.empty, extra: policy)
        // Failing again right away: the circuit is still open.
        let early = try s.deliver(failing, extra: policy)
        #expect(early.stderr.contains("budget exhausted"))
        try s.deliver(Self.empty, extra: policy)
        Thread.sleep(forTimeInterval: 1.2)  // passing for longer than --budget-reset
        try s.deliver(failing, extra: policy)
        #expect(s.redeploys == ["web", "web", "web"])
    }

    @Test func aServiceOnADeadNodeIsSilencedNotResolvedAndNotRedeployedAgain() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let web = Payloads.checks([Payloads.service("web")])
        try s.deliver(web)
        // web-02 dies: its service check is stale now.
        let down = try s.deliver(
            Payloads.checks([Payloads.Check(node: "web-02", checkID: "serfHealth", output: "Agent not live or unreachable"), Payloads.service("web")]))
        #expect(down.stderr.contains("its node web-02 is down"))
        #expect(try s.stateFile().targets["service:web"]?.failing == true)
        // The node is back, the service still failing: the same incident, not a new one.
        let back = try s.deliver(web)
        #expect(back.stderr.contains("duplicate"))
        #expect(s.redeploys == ["web"])
    }

    @Test func aDryRunDecidesOnTheRealStateButLeavesItAlone() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let before = try Data(contentsOf: URL(fileURLWithPath: s.state + "/state.json"))
        let dry = try s.deliver(Payloads.checks([Payloads.service("web")]), extra: ["--dry-run"])
        #expect(dry.stderr.contains("would run"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.state + "/state.json")) == before)
        #expect(s.redeploys.isEmpty)
        try s.deliver(Payloads.checks([Payloads.service("web")]))
        #expect(s.redeploys == ["web"])
    }

    @Test func theBlastRadiusBreakerTripsOnAMassFailure() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let mass = Payloads.checks((1...8).map { Payloads.service("svc\($0)", node: "node-\($0)") })
        let result = try s.deliver(mass)
        #expect(result.exitCode == 0)
        #expect(s.redeploys.isEmpty)
        #expect(result.stderr.contains("ALERT: blast radius: 8 targets"))
        #expect(try s.stateFile().breaker?.targets.count == 8)
    }

    @Test func aFailedActionIsSpooledAndDeliveredExactlyOnceLater() throws {
        let s = try Scenario()
        let flag = s.directory.appendingPathComponent("peer-is-up").path
        // Exit 75 (EX_TEMPFAIL) while the peer is "down", success once it is up.
        let script = #"cat >/dev/null; if [ -e "$FLAG" ]; then echo "$1" >> "$OUT"; else echo "peer down" >&2; exit 75; fi"#
        let args = s.redeploy(script: script)
        let env = ["FLAG": flag]
        try s.deliver(Self.empty, arguments: args, environment: env)
        let failing = Payloads.checks([Payloads.service("web")])
        let down = try s.deliver(failing, arguments: args, environment: env)
        #expect(down.exitCode == 75)
        #expect(down.stderr.contains("spooled"))
        let spool = try FileManager.default.contentsOfDirectory(atPath: s.state + "/spool")
        #expect(spool.count == 1)
        FileManager.default.createFile(atPath: flag, contents: nil)
        // The next delivery (a mere output change) retries the spool, not a new action.
        let up = try s.deliver(Payloads.checks([Payloads.service("web", output: "still 503")]), arguments: args, environment: env)
        #expect(up.exitCode == 0)
        #expect(s.redeploys == ["web"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.state + "/spool").isEmpty)
        try s.deliver(failing, arguments: args, environment: env)
        #expect(s.redeploys == ["web"])
    }

    @Test func thirtyTwoHandlersAtOnceActExactlyOncePerIncident() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let payload = Payloads.checks([Payloads.service("web"), Payloads.service("api", node: "api-01")])
        s.index += 1
        let environment = ["CONSUL_INDEX": String(s.index), "OUT": s.output]
        let arguments = s.redeploy()
        let results = Mutex32()
        DispatchQueue.concurrentPerform(iterations: 32) { _ in
            let result = try? ExecutableHarness.run("consul-redeploy", arguments: arguments, stdin: payload, environment: environment, timeout: 60)
            results.append(result?.exitCode ?? -1)
        }
        #expect(results.values.allSatisfy { $0 == 0 })
        #expect(s.redeploys.sorted() == ["api", "web"])
        let state = try s.stateFile()
        #expect(state.targets.count == 2)
        #expect(state.targets.values.allSatisfy { $0.acted && $0.claimedBy == nil })
    }

    @Test func aHandlerKilledAtAnyPointLeavesAStateTheNextRunReads() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let executable = try ExecutableHarness.productURL("consul-redeploy")
        for round in 0..<24 {
            let process = Process()
            process.executableURL = executable
            process.arguments = s.redeploy(["--cooldown", "0"])
            var env = ProcessInfo.processInfo.environment
            env["CONSUL_INDEX"] = String(s.index + UInt64(round) + 1)
            env["OUT"] = s.output
            process.environment = env
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let payload = round % 2 == 0 ? Payloads.checks((0..<40).map { Payloads.service("svc\($0)", node: "n\($0)") }) : Self.empty
            try? input.fileHandleForWriting.write(contentsOf: payload)
            try? input.fileHandleForWriting.close()
            Thread.sleep(forTimeInterval: Double(round % 8) * 0.004)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        s.index += 100
        let after = try s.deliver(Self.empty)
        #expect(after.exitCode == 0)
        #expect(!after.stderr.contains("unreadable"))
        _ = try s.stateFile()
        // Besides what the layout names, only a killed writer's temporary file may remain (swept
        // once old); nothing else appeared, and state.json was never found corrupt and moved aside.
        let layout: Set<String> = ["state.json", "state.lock", "spool", "dead-letter"]
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: s.state).filter { !layout.contains($0) }
        #expect(leftovers.allSatisfy { $0.hasPrefix(".state.json.tmp.") }, "unexpected files: \(leftovers)")
    }

    @Test func unreadablePayloadsAreKeptAsDeadLetters() throws {
        let s = try Scenario()
        let garbage = Array("[{\"Node\":\"web-02\",\"CheckID\":".utf8)
        let result = try s.deliver(garbage)
        #expect(result.exitCode == 65)
        #expect(result.stderr.contains("dead letter"))
        let dead = try FileManager.default.contentsOfDirectory(atPath: s.state + "/dead-letter")
        let payload = try #require(dead.first { $0.hasSuffix(".payload") })
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.state + "/dead-letter/" + payload)) == Data(garbage))
        #expect(payload.contains("-\(s.index)-"))
    }

    @Test func aCorruptStateFileIsMovedAsideAndRebuilt() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        try Data("{\"version\":1,\"targets\":{".utf8).write(to: URL(fileURLWithPath: s.state + "/state.json"))
        let result = try s.deliver(Payloads.checks([Payloads.service("web")]))
        #expect(result.exitCode == 0)
        #expect(result.stderr.contains("unreadable"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.state).contains { $0.hasPrefix("state.json.corrupt-") })
        _ = try s.stateFile()
    }

    @Test func anUnwritableStateDirectoryIsAnErrorNotAStatelessFallback() throws {
        let s = try Scenario()
        let blocked = s.directory.appendingPathComponent("file").path
        FileManager.default.createFile(atPath: blocked, contents: Data("x".utf8))
        let result = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--state-dir", blocked + "/state", "--", "/bin/true"], stdin: Payloads.checks([Payloads.service("web")]),
            environment: ["CONSUL_INDEX": "5"])
        #expect(result.exitCode == 74)
        #expect(result.stderr.hasPrefix("consul-redeploy: state directory"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}

/// A tiny thread-safe collector for concurrentPerform.
final class Mutex32: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Int32] = []
    func append(_ value: Int32) {
        lock.lock()
        storage.append(value)
        lock.unlock()
    }
    var values: [Int32] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}

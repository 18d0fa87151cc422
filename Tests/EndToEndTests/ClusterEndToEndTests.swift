import Foundation
import TestSupport
import Testing

/// Several agents running the same watch, each a separate consul-heal process with its own state
/// directory and node name, sharing the policy state in one (fake) Consul KV store
/// (docs/cluster.md): one action per incident opening, under concurrency, faults and a killed actor.
@Suite(.serialized) struct ClusterEndToEndTests {
    /// A fake Consul with one agent per node, a scratch directory, a configuration per agent.
    final class Cluster: @unchecked Sendable {
        let consul: FakeConsul
        let agents: [FakeConsul.Agent]
        let dir: URL
        let lease: String
        var extraEnvironment: [String: String] = [:]

        init(agents count: Int, lease: String = "30s", configuration: FakeConsul.Configuration = FakeConsul.Configuration(), action: String? = nil) throws {
            let consul = FakeConsul(configuration)
            self.consul = consul
            agents = try (1...count).map { try consul.addAgent(node: "node-\($0)") }
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            self.lease = lease
            for index in 0..<count { try writeConfig(agent: index, action: action) }
        }

        deinit {
            consul.stop()
            try? FileManager.default.removeItem(at: dir)
        }

        var actionsLog: URL { dir.appendingPathComponent("actions.log") }
        func config(_ agent: Int) -> URL { dir.appendingPathComponent("config-\(agent).json") }
        func stateDir(_ agent: Int) -> URL { dir.appendingPathComponent("state-\(agent)") }

        /// The action appends the target and the node it ran on to one file shared by all agents.
        func writeConfig(agent: Int, action: String? = nil) throws {
            let script = action ?? "echo \"$1 $2\" >> \"$3\""
            let config: [String: Any] = [
                "watch": "web-checks", "stateDir": stateDir(agent).path, "timeout": "20s",
                "consulState": ["prefix": "consul-handlers", "claimLease": lease],
                "blastRadius": ["enabled": false],
                "journal": ["file": dir.appendingPathComponent("journal-\(agent).jsonl").path],
                "defaults": ["cooldown": 0],
                "routes": [
                    [
                        "name": "all",
                        "actions": [["type": "external", "command": ["/bin/sh", "-c", script, "sh", "{target}", "node-\(agent + 1)", actionsLog.path]]],
                    ]
                ],
            ]
            try JSONSerialization.data(withJSONObject: config).write(to: self.config(agent))
        }

        func environment(_ agent: Int, index: UInt64?) -> [String: String] {
            var env = ["CONSUL_HTTP_ADDR": agents[agent].address, "CONSUL_HTTP_TOKEN": "", "CONSUL_HTTP_TOKEN_FILE": ""]
            if let index { env["CONSUL_INDEX"] = String(index) }
            return env.merging(extraEnvironment) { _, new in new }
        }

        func deliver(agent: Int, _ payload: [UInt8], index: UInt64) throws -> ExecutableResult {
            try ExecutableHarness.run(
                "consul-heal", arguments: ["--config", config(agent).path], stdin: payload, environment: environment(agent, index: index), timeout: 120)
        }

        func flush(agent: Int) throws -> ExecutableResult {
            try ExecutableHarness.run(
                "consul-heal", arguments: ["flush", "--config", config(agent).path], stdin: [], environment: environment(agent, index: nil), timeout: 120)
        }

        func status(agent: Int) throws -> ExecutableResult {
            try ExecutableHarness.run(
                "consul-heal", arguments: ["status", "--config", config(agent).path], stdin: [], environment: environment(agent, index: nil), timeout: 60)
        }

        /// Every agent delivers the same payload at once (as Consul fires the watch on each).
        func deliverAll(_ payload: [UInt8], index: UInt64) -> [ExecutableResult] {
            let results = Results(count: agents.count)
            DispatchQueue.concurrentPerform(iterations: agents.count) { agent in
                results.set(
                    agent,
                    (try? deliver(agent: agent, payload, index: index))
                        ?? ExecutableResult(exitCode: -1, stdoutBytes: [], stderrBytes: Array("spawn failed".utf8)))
            }
            return results.all
        }

        func flushAll() -> [ExecutableResult] {
            let results = Results(count: agents.count)
            DispatchQueue.concurrentPerform(iterations: agents.count) { agent in
                results.set(agent, (try? flush(agent: agent)) ?? ExecutableResult(exitCode: -1, stdoutBytes: [], stderrBytes: []))
            }
            return results.all
        }

        /// The targets acted on, in order (`web node-3`).
        var actions: [String] {
            ((try? String(contentsOf: actionsLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        var actedTargets: [String] { actions.map { String($0.split(separator: " ")[0]) } }
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [ExecutableResult?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: ExecutableResult) {
            lock.lock()
            values[index] = value
            lock.unlock()
        }
        var all: [ExecutableResult] {
            lock.lock()
            defer { lock.unlock() }
            return values.map { $0! }
        }
    }

    static func checks(web: String, api: String, webName: String = "web") -> [UInt8] {
        Payloads.checks([Payloads.service(webName, status: web), Payloads.service("api", node: "web-01", status: api)])
    }

    /// open, repeat, recover, reopen: web is acted on twice (two openings), api once.
    static let sequence: [(payload: [UInt8], index: UInt64)] = [
        (checks(web: "passing", api: "passing"), 100),
        (checks(web: "critical", api: "critical"), 101),
        (checks(web: "critical", api: "critical"), 102),
        (checks(web: "passing", api: "critical"), 103),
        (checks(web: "critical", api: "critical"), 104),
        (checks(web: "critical", api: "critical"), 105),
    ]

    static func run(_ cluster: Cluster) {
        for step in sequence {
            for result in cluster.deliverAll(step.payload, index: step.index) {
                #expect(result.exitCode == 0, "\(result.stderr)")
            }
        }
    }

    @Test func fiveAgentsActOncePerIncidentOpening() throws {
        let cluster = try Cluster(agents: 5)
        // Slow writes: every agent reads before any claim lands, so only CAS keeps them apart.
        cluster.consul.inject(.init(.delay(seconds: 0.2), endpoints: [.txn], method: "PUT"))
        Self.run(cluster)
        #expect(cluster.actedTargets.sorted() == ["api", "web", "web"], "\(cluster.actions)")
        // The state is valid: one key per target, released claims, each naming who acted.
        let targets = cluster.consul.entries(prefix: "consul-handlers/web-checks/targets/")
        #expect(targets.count == 2)
        let status = try cluster.status(agent: 0)
        #expect(status.exitCode == 0, "\(status.stderr)")
        #expect(status.stdout.contains("cluster state: consul-handlers/web-checks/"), "\(status.stdout)")
        for line in cluster.actions {
            let node = String(line.split(separator: " ")[1])
            #expect(status.stdout.contains(node), "status names the node that acted: \(status.stdout)")
        }
        // Each agent keeps its own baseline record.
        #expect(cluster.consul.entries(prefix: "consul-handlers/web-checks/agents/").count == 5)
    }

    @Test func casConflictsOnEveryOtherWriteStillActOnce() throws {
        let cluster = try Cluster(agents: 5)
        // Three agents lose every other CAS write; two write slowly, so they read before others' claims land.
        for node in ["node-1", "node-2", "node-3"] { cluster.consul.inject(.init(.casConflict, endpoints: [.txn], method: "PUT", agent: node, every: 2)) }
        for node in ["node-4", "node-5"] { cluster.consul.inject(.init(.delay(seconds: 0.2), endpoints: [.txn], method: "PUT", agent: node)) }
        Self.run(cluster)
        #expect(cluster.actedTargets.sorted() == ["api", "web", "web"], "\(cluster.actions)")
        #expect(cluster.consul.faultApplications.allSatisfy { $0 > 0 })
    }

    @Test func aClaimWhoseAnswerIsLostIsSettledByItsNonce() throws {
        let cluster = try Cluster(agents: 3)
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 100) { #expect(result.exitCode == 0, "\(result.stderr)") }
        // The first claim is applied, but its answer is a 500: the writer re-reads and finds its own bytes.
        cluster.consul.inject(
            .init(
                .status(500, body: "No cluster leader", afterApply: true), endpoints: [.txn], method: "PUT", times: 1))
        for step in 101...102 {
            for result in cluster.deliverAll(Self.checks(web: "critical", api: "passing"), index: UInt64(step)) {
                #expect(result.exitCode == 0, "\(result.stderr)")
            }
        }
        #expect(cluster.consul.faultApplications == [1])
        #expect(cluster.actedTargets == ["web"], "\(cluster.actions)")
    }

    @Test func anUnreadableKeyInTheClusterStateStopsDecisionsInsteadOfBeingTakenAsAbsent() throws {
        let cluster = try Cluster(agents: 2)
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 100) { #expect(result.exitCode == 0, "\(result.stderr)") }
        // A record no version of ours wrote (hand-edited): taken as absent, web would be acted on
        // and the key overwritten.
        let key = "consul-handlers/web-checks/targets/service_3Aweb"
        cluster.consul.putKey(key, "{not json")
        for result in cluster.deliverAll(Self.checks(web: "critical", api: "passing"), index: 101) {
            #expect(result.exitCode == 75, "\(result.stderr)")
            #expect(result.stderr.contains("Consul KV key \(key) is not a policy record"), "\(result.stderr)")
        }
        #expect(cluster.actions.isEmpty)
        #expect(cluster.consul.value(key) == "{not json")
        // Once the key is deleted, the kept delivery is decided: web acted on once.
        cluster.consul.deleteKey(key)
        for result in cluster.deliverAll(Self.checks(web: "critical", api: "passing"), index: 102) { #expect(result.exitCode == 0, "\(result.stderr)") }
        #expect(cluster.actedTargets == ["web"], "\(cluster.actions)")
    }

    @Test func consulAnswering500ActsOnNothingThenOnceAfterRecovery() throws {
        let cluster = try Cluster(agents: 3)
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 100) { #expect(result.exitCode == 0, "\(result.stderr)") }
        cluster.consul.inject(.noLeader(endpoints: [.kv, .txn]))
        let open = Self.checks(web: "critical", api: "passing")
        for result in cluster.deliverAll(open, index: 101) {
            #expect(result.exitCode == 75)
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("shared policy state unavailable") && result.stderr.contains("No cluster leader"), "\(result.stderr)")
        }
        #expect(cluster.actions.isEmpty)
        for agent in 0..<3 {
            let pending = try FileManager.default.contentsOfDirectory(atPath: cluster.stateDir(agent).appendingPathComponent("pending").path)
            #expect(pending.count == 1)
        }
        // Still down: flush keeps it and acts on nothing.
        #expect(try cluster.flush(agent: 0).exitCode == 75)
        #expect(cluster.actions.isEmpty)
        cluster.consul.clearFaults()
        for result in cluster.flushAll() { #expect(result.exitCode == 0, "\(result.stderr)") }
        #expect(cluster.actedTargets == ["web"], "\(cluster.actions)")
        // The next delivery of the same failure is a duplicate everywhere.
        for result in cluster.deliverAll(open, index: 102) { #expect(result.exitCode == 0, "\(result.stderr)") }
        #expect(cluster.actedTargets == ["web"], "\(cluster.actions)")
    }

    /// A resolved incident's key is deleted (by delete-cas, in a transaction) once it has been quiet
    /// for the retention (7 days): the prefix does not grow with every target that ever failed.
    @Test func resolvedIncidentKeysAreRemovedAfterTheRetention() throws {
        let cluster = try Cluster(agents: 2)
        for (payload, index) in [
            (Self.checks(web: "passing", api: "passing"), UInt64(100)), (Self.checks(web: "critical", api: "critical"), 101),
            (Self.checks(web: "passing", api: "passing"), 102),
        ] {
            for result in cluster.deliverAll(payload, index: index) { #expect(result.exitCode == 0, "\(result.stderr)") }
        }
        #expect(cluster.actedTargets.sorted() == ["api", "web"], "\(cluster.actions)")
        let prefix = "consul-handlers/web-checks/targets/"
        let keys = cluster.consul.entries(prefix: prefix).map(\.key)
        let webKey = try #require(keys.first { $0.contains("web") }, "\(keys)")
        // Age web's record by eight days, as if it had recovered then.
        let value = try #require(cluster.consul.value(webKey))
        var root = try #require(try JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any])
        var targets = try #require(root["targets"] as? [String: Any])
        let id = try #require(targets.keys.first)
        var record = try #require(targets[id] as? [String: Any])
        let old = Date().timeIntervalSince1970 - 8 * 86_400
        for field in ["passingSince", "lastDecisionAt", "lastActionAt", "failingSince"] { record[field] = old }
        record["remediations"] = [old]
        targets[id] = record
        root["targets"] = targets
        cluster.consul.putKey(webKey, String(decoding: try JSONSerialization.data(withJSONObject: root), as: UTF8.self))
        let txnsBefore = cluster.consul.requests.filter { $0.endpoint == .txn }.count
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 103) { #expect(result.exitCode == 0, "\(result.stderr)") }
        let left = cluster.consul.entries(prefix: prefix).map(\.key)
        #expect(!left.contains(webKey), "\(left)")
        #expect(left.count == 1, "api, recovered just now, is kept: \(left)")
        let deletes = cluster.consul.requests.filter { $0.endpoint == .txn }.dropFirst(txnsBefore)
            .filter { String(decoding: $0.body, as: UTF8.self).contains("\"delete-cas\"") && $0.status == 200 }
        // By CAS; a second agent's delete-cas of the key already gone also succeeds (Consul answers
        // true for an absent key), so one or two.
        #expect((1...2).contains(deletes.count), "\(deletes.count)")
        #expect(cluster.actedTargets.count == 2)
    }

    /// A kept delivery that cannot be read (edited, truncated) is neither decided nor silently
    /// ignored: flush moves it aside and says so; the next delivery decides the current view.
    @Test func anUnreadableKeptDeliveryIsMovedAsideAndSaid() throws {
        let cluster = try Cluster(agents: 1)
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 100) { #expect(result.exitCode == 0, "\(result.stderr)") }
        cluster.consul.inject(.noLeader(endpoints: [.kv, .txn]))
        let open = Self.checks(web: "critical", api: "passing")
        for result in cluster.deliverAll(open, index: 101) { #expect(result.exitCode == 75, "\(result.stderr)") }
        cluster.consul.clearFaults()
        let pending = cluster.stateDir(0).appendingPathComponent("pending")
        let files = try FileManager.default.contentsOfDirectory(atPath: pending.path)
        #expect(files.count == 1)
        try Data("{\"watch\": tru".utf8).write(to: pending.appendingPathComponent(files[0]))
        let status = try cluster.status(agent: 0)
        #expect(status.stdout.contains("a kept delivery cannot be read"), "\(status.stdout)")
        let flush = try cluster.flush(agent: 0)
        #expect(flush.exitCode == 0, "\(flush.stderr)")
        #expect(flush.stderr.contains("cannot be read") && flush.stderr.contains("moved to"), "\(flush.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: pending.path).isEmpty)
        let quarantine = cluster.stateDir(0).appendingPathComponent("spool/quarantine")
        #expect(try FileManager.default.contentsOfDirectory(atPath: quarantine.path).contains { $0.hasPrefix("pending-") })
        #expect(cluster.actions.isEmpty)
        for result in cluster.deliverAll(open, index: 102) { #expect(result.exitCode == 0, "\(result.stderr)") }
        #expect(cluster.actedTargets == ["web"], "\(cluster.actions)")
    }

    @Test func anAgentKilledMidActionIsTakenOverAfterTheLeaseOnce() throws {
        let cluster = try Cluster(agents: 3, lease: "3s")
        let started = cluster.dir.appendingPathComponent("started")
        // node-1's action announces itself, then hangs until killed.
        try cluster.writeConfig(agent: 0, action: "echo started > '\(started.path)'; sleep 60")
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 100) { #expect(result.exitCode == 0, "\(result.stderr)") }
        let open = Self.checks(web: "critical", api: "passing")

        let process = Process()
        process.executableURL = try ExecutableHarness.productURL("consul-heal")
        process.arguments = ["--config", cluster.config(0).path]
        process.environment = ProcessInfo.processInfo.environment.merging(cluster.environment(0, index: 101)) { _, new in new }
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(open))
        try stdin.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: started.path), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(FileManager.default.fileExists(atPath: started.path))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let killedAt = Date()

        // Within the lease: another agent sees the claim in flight and does nothing.
        let during = try cluster.deliver(agent: 1, open, index: 101)
        #expect(during.exitCode == 0, "\(during.stderr)")
        #expect(during.stderr.contains("in flight") && during.stderr.contains("node-1"), "\(during.stderr)")
        #expect(cluster.actions.isEmpty)

        Thread.sleep(forTimeInterval: max(0, 3.5 - Date().timeIntervalSince(killedAt)))
        let results = Results(count: 2)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            results.set(i, (try? cluster.deliver(agent: i + 1, open, index: 102)) ?? ExecutableResult(exitCode: -1, stdoutBytes: [], stderrBytes: []))
        }
        for result in results.all { #expect(result.exitCode == 0, "\(result.stderr)") }
        #expect(cluster.actedTargets == ["web"], "\(cluster.actions)")
        let journal = (1...2).map { (try? String(contentsOf: cluster.dir.appendingPathComponent("journal-\($0).jsonl"), encoding: .utf8)) ?? "" }.joined()
        #expect(journal.contains("did not record an outcome before its claim expired"), "the takeover is journaled")
    }

    @Test func hostileNamesBecomeKeysEveryConsulVersionAccepts() throws {
        var configuration = FakeConsul.Configuration()
        configuration.keyValidation = .regex1215
        let cluster = try Cluster(agents: 3, configuration: configuration)
        let hostile = "we b:1/../ç%2e*+?.json"
        let payloads = [
            Self.checks(web: "passing", api: "passing", webName: hostile),
            Self.checks(web: "critical", api: "passing", webName: hostile),
            Self.checks(web: "critical", api: "passing", webName: hostile),
        ]
        for (offset, payload) in payloads.enumerated() {
            for result in cluster.deliverAll(payload, index: 100 + UInt64(offset)) { #expect(result.exitCode == 0, "\(result.stderr)") }
        }
        #expect(cluster.actedTargets == ["we"], "\(cluster.actions)")  // the shell splits the name; once
        let keys = cluster.consul.entries(prefix: "consul-handlers/").map(\.key)
        #expect(!keys.isEmpty)
        for key in keys {
            #expect(key.range(of: #"^[a-zA-Z0-9,_./\-?&=]+$"#, options: .regularExpression) != nil, "\(key)")
            for segment in key.split(separator: "/") { #expect(!segment.hasPrefix(".") && !segment.hasSuffix(".")) }
        }
    }

    @Test func theTokenIsSentAsAHeaderAndNeverPrinted() throws {
        let cluster = try Cluster(agents: 2)
        let secret = "7f3c-cluster-secret-token"
        cluster.consul.enableACL(defaultAllow: false)
        cluster.consul.addToken(secret, rules: .init(keyPrefix: ["consul-handlers/": .write], nodePrefix: ["": .read], agentPrefix: ["": .read]))
        let tokenFile = cluster.dir.appendingPathComponent("token")
        try Data(secret.utf8).write(to: tokenFile)
        chmod(tokenFile.path, 0o600)

        // No token: 403, nothing acted on, the delivery kept.
        let open = Self.checks(web: "critical", api: "passing")
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 100) {
            #expect(result.exitCode == 75)
            #expect(result.stderr.contains("ACL"), "\(result.stderr)")
        }
        cluster.extraEnvironment = ["CONSUL_HTTP_TOKEN_FILE": tokenFile.path]
        var outputs: [ExecutableResult] = []
        outputs += cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 101)
        outputs += cluster.deliverAll(open, index: 102)
        outputs += cluster.deliverAll(open, index: 103)
        outputs.append(try cluster.status(agent: 0))
        for result in outputs {
            #expect(result.exitCode == 0, "\(result.stderr)")
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret))
        }
        #expect(cluster.actedTargets == ["web"], "\(cluster.actions)")
        let requests = cluster.consul.requests.filter { $0.status == 200 }
        #expect(!requests.isEmpty && requests.allSatisfy { $0.tokenSource == "header" })
        #expect(!cluster.consul.requests.contains { $0.target.contains(secret) })
        for file in try FileManager.default.subpathsOfDirectory(atPath: cluster.dir.path) where file != "token" {
            let path = cluster.dir.appendingPathComponent(file).path
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { #expect(!text.contains(secret), "\(file)") }
        }
    }

    /// Many incidents opening at once: each agent writes its claims in transactions of at most 64
    /// operations (70 targets: two), so the agents race on every key in the same round; CAS still
    /// gives each to one, and a transaction that lost any key lands none of them.
    @Test func manyIncidentsOpeningAtOnceAreEachActedOnOnce() throws {
        let cluster = try Cluster(agents: 5)
        let names = (0..<70).map { "svc\($0)" }
        func payload(_ status: String) -> [UInt8] { Payloads.checks(names.map { Payloads.service($0, node: "n-\($0)", status: status) }) }
        for node in ["node-1", "node-2"] { cluster.consul.inject(.init(.casConflict, endpoints: [.txn], method: "PUT", agent: node, every: 3)) }
        cluster.consul.inject(.init(.delay(seconds: 0.05), endpoints: [.txn], method: "PUT", agent: "node-5"))
        for result in cluster.deliverAll(payload("passing"), index: 100) { #expect(result.exitCode == 0, "\(result.stderr)") }
        for result in cluster.deliverAll(payload("critical"), index: 101) { #expect(result.exitCode == 0, "\(result.stderr)") }
        for result in cluster.deliverAll(payload("critical"), index: 102) { #expect(result.exitCode == 0, "\(result.stderr)") }
        #expect(cluster.actedTargets.sorted() == names.sorted(), "\(cluster.actions)")
        #expect(cluster.consul.entries(prefix: "consul-handlers/web-checks/targets/").count == names.count)
        #expect(cluster.consul.requests.filter { $0.endpoint == .txn }.allSatisfy { $0.body.count < 512 * 1024 })
    }

    /// Consul reports an ACL denial inside a transaction (a 409 error entry, not a 403): it is the
    /// token's fault, said once, not a CAS conflict to retry 40 times.
    @Test func aTokenThatMayNotWriteTheTargetsIsAnACLErrorNotAConflict() throws {
        let cluster = try Cluster(agents: 2)
        let secret = "0a9b-agents-only-token"
        cluster.consul.enableACL(defaultAllow: false)
        cluster.consul.addToken(
            secret,
            rules: .init(
                keyPrefix: [
                    "consul-handlers/": .read, "consul-handlers/web-checks/agents/": .write, "consul-handlers/web-checks/services": .write,
                    "consul-handlers/web-checks/blast": .write,
                ], nodePrefix: ["": .read], agentPrefix: ["": .read]))
        let tokenFile = cluster.dir.appendingPathComponent("token")
        try Data(secret.utf8).write(to: tokenFile)
        chmod(tokenFile.path, 0o600)
        cluster.extraEnvironment = ["CONSUL_HTTP_TOKEN_FILE": tokenFile.path]
        for result in cluster.deliverAll(Self.checks(web: "passing", api: "passing"), index: 100) { #expect(result.exitCode == 0, "\(result.stderr)") }
        let before = cluster.consul.requests.filter { $0.endpoint == .txn }.count
        for result in cluster.deliverAll(Self.checks(web: "critical", api: "passing"), index: 101) {
            #expect(result.exitCode == 75, "\(result.stderr)")
            #expect(result.stderr.contains("ACL denied") && result.stderr.contains("key:write on consul-handlers/web-checks/"), "\(result.stderr)")
            #expect(!result.stderr.contains("CAS conflicts"), "\(result.stderr)")
            #expect(!result.stderr.contains(secret))
        }
        #expect(cluster.actions.isEmpty)
        // One transaction per agent: refused, not retried.
        #expect(cluster.consul.requests.filter { $0.endpoint == .txn }.count - before == 2)
    }

    /// `--consul-state` on an action executable: two consul-redeploy processes on two agents, each
    /// with its own state directory, run the same watch and act once per incident opening.
    @Test func twoConsulRedeployProcessesActOnce() throws {
        let cluster = try Cluster(agents: 2)
        // Slow writes: both read before either claim lands, so only CAS keeps them apart.
        cluster.consul.inject(.init(.delay(seconds: 0.2), endpoints: [.txn], method: "PUT"))
        @Sendable func redeploy(_ agent: Int, _ payload: [UInt8], index: UInt64, extra: [String] = []) throws -> ExecutableResult {
            try ExecutableHarness.run(
                "consul-redeploy",
                arguments: [
                    "--state-dir", cluster.stateDir(agent).path, "--consul-state", "handlers/redeploy", "--claim-lease", "30s", "--cooldown", "0",
                    "--blast-radius", "off",
                ] + extra + ["--", "/bin/sh", "-c", #"echo "$CONSUL_SERVICE $NODE" >> "$OUT"; cat >/dev/null"#],
                stdin: payload,
                environment: cluster.environment(agent, index: index).merging(["NODE": "node-\(agent + 1)", "OUT": cluster.actionsLog.path]) { _, new in new },
                timeout: 120)
        }
        func both(_ payload: [UInt8], index: UInt64) -> [ExecutableResult] {
            let results = Results(count: 2)
            DispatchQueue.concurrentPerform(iterations: 2) { agent in
                results.set(agent, (try? redeploy(agent, payload, index: index)) ?? ExecutableResult(exitCode: -1, stdoutBytes: [], stderrBytes: []))
            }
            return results.all
        }
        for step in Self.sequence {
            for result in both(step.payload, index: step.index) { #expect(result.exitCode == 0, "\(result.stderr)") }
        }
        #expect(cluster.actedTargets.sorted() == ["api", "web", "web"], "\(cluster.actions)")
        let keys = cluster.consul.entries(prefix: "handlers/redeploy/consul-redeploy/").map(\.key)
        #expect(keys.filter { $0.contains("/targets/") }.count == 2, "\(keys)")

        // Consul unavailable: nothing acted on, one line, exit 75, the delivery kept.
        cluster.consul.inject(.noLeader(endpoints: [.kv, .txn]))
        let down = try redeploy(0, Self.checks(web: "passing", api: "passing"), index: 106)
        #expect(down.exitCode == 75)
        #expect(down.stderr.contains("shared policy state unavailable") && down.stderr.contains("No cluster leader"), "\(down.stderr)")
        #expect(down.stderr.contains("consul-redeploy --flush"), "\(down.stderr)")
        #expect(cluster.actedTargets.count == 3)
        cluster.consul.clearFaults()
        // --flush decides the kept delivery without a payload (both recover: nothing to run).
        let recovered = try redeploy(0, [], index: 107, extra: ["--flush"])
        #expect(recovered.exitCode == 0, "\(recovered.stderr)")
        #expect(recovered.stdout.contains("flushed watch consul-redeploy: 0 action(s) run, 0 still spooled"), "\(recovered.stdout)")
        // Down again while web fails anew: kept; once Consul is back, --flush acts on it once.
        cluster.consul.inject(.noLeader(endpoints: [.kv, .txn]))
        #expect(try redeploy(1, Self.checks(web: "critical", api: "passing"), index: 108).exitCode == 75)
        #expect(cluster.actedTargets.count == 3)
        cluster.consul.clearFaults()
        let flushed = try redeploy(1, [], index: 109, extra: ["--flush"])
        #expect(flushed.exitCode == 0, "\(flushed.stderr)")
        #expect(flushed.stdout.contains("flushed watch consul-redeploy: 1 action(s) run"), "\(flushed.stdout)")
        #expect(cluster.actedTargets.sorted() == ["api", "web", "web", "web"], "\(cluster.actions)")
        // The kept delivery is gone: a second flush, on either agent, runs nothing.
        for agent in 0..<2 {
            let again = try redeploy(agent, [], index: 110, extra: ["--flush"])
            #expect(again.exitCode == 0 && again.stdout.contains("0 action(s) run"), "\(again.stdout)\(again.stderr)")
        }
        #expect(cluster.actedTargets.count == 4)
        let payloadAndFlush = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--state-dir", cluster.stateDir(0).path, "--flush", "payload.json", "--", "/bin/true"], stdin: [],
            environment: ["CONSUL_INDEX": "1"])
        #expect(payloadAndFlush.exitCode == 64 && payloadAndFlush.stderr.contains("--flush reads no payload"), "\(payloadAndFlush.stderr)")

        // Refused up front: a lease without shared state, shared state without a state directory.
        let lease = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--state-dir", cluster.stateDir(0).path, "--claim-lease", "1m", "--", "/bin/true"], stdin: [],
            environment: ["CONSUL_INDEX": "1"])
        #expect(lease.exitCode == 64 && lease.stderr.contains("--claim-lease applies only with --consul-state"), "\(lease.stderr)")
        let stateless = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--no-state", "--consul-state", "handlers", "--", "/bin/true"], stdin: [], environment: ["CONSUL_INDEX": "1"])
        #expect(stateless.exitCode == 64 && stateless.stderr.contains("--no-state"), "\(stateless.stderr)")
        let prefix = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--state-dir", cluster.stateDir(0).path, "--consul-state", "../x", "--", "/bin/true"], stdin: [],
            environment: ["CONSUL_INDEX": "1"])
        #expect(prefix.exitCode == 64 && prefix.stderr.contains("--consul-state '../x'"), "\(prefix.stderr)")
    }
}

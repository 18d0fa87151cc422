import Foundation
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("Fake Consul: agents, catalog, health, ACLs, faults, blocking (consul-api.md §3–§5, F.9)")
struct FakeConsulClusterTests {
    @Test("† F.9.17: TTL heartbeat passes, expires to critical with the last output, shows in health/state/critical")
    func ttlHeartbeat() async throws {
        let f = try ConsulFixture()
        let register = try await f.put(
            "/v1/agent/check/register",
            #"{"ID":"consul-heal-checks","Name":"consul-heal","TTL":"60s","Status":"passing"}"#)
        #expect(register.status == 200)
        #expect(register.body.isEmpty)
        f.fake.advance(by: 30)
        #expect(try await f.put("/v1/agent/check/pass/consul-heal-checks?note=all+handled").status == 200)
        f.fake.advance(by: 45)
        #expect(f.fake.check(node: "web-01", id: "consul-heal-checks")?.status == "passing")
        f.fake.advance(by: 16)
        let critical = try await f.get("/v1/health/state/critical")
        let checks = try critical.jsonArray()
        let mine = try #require(checks.first { $0["CheckID"] as? String == "consul-heal-checks" })
        #expect(mine["Type"] as? String == "ttl")
        #expect(mine["Status"] as? String == "critical")
        #expect(mine["Output"] as? String == "TTL expired (last output before timeout follows): all handled")
        #expect(critical.header("X-Consul-Effective-Consistency") == "leader")
        // Re-registering keeps the current (critical) status.
        _ = try await f.put(
            "/v1/agent/check/register", #"{"ID":"consul-heal-checks","Name":"consul-heal","TTL":"60s","Status":"passing"}"#)
        #expect(f.fake.agentCheck(node: "web-01", id: "consul-heal-checks")?.status == "critical")
        // update with a JSON body; /v1/agent/checks shows the local state.
        #expect(try await f.put("/v1/agent/check/update/consul-heal-checks", #"{"Status":"warning","Output":"1 spooled"}"#).status == 200)
        let agentChecks = try await f.get("/v1/agent/checks").json()
        let local = try #require(agentChecks["consul-heal-checks"] as? [String: Any])
        #expect(local["Status"] as? String == "warning")
        #expect(local["Output"] as? String == "1 spooled")
        // A new check without Status starts critical.
        _ = try await f.put("/v1/agent/check/register", #"{"Name":"other","TTL":"1m"}"#)
        #expect(f.fake.agentCheck(node: "web-01", id: "other")?.status == "critical")
    }

    @Test("† F.9.18: unknown ID 404 (modern) / 500 (legacy); non-TTL check 500; bad status 400; GET on pass 405")
    func checkErrors() async throws {
        let f = try ConsulFixture()
        let unknown = try await f.put("/v1/agent/check/pass/nope")
        #expect(unknown.status == 404)
        #expect(unknown.text == #"Unknown check ID "nope". Ensure that the check ID is passed, not the check name."#)
        let legacy = try ConsulFixture { $0.uncheckedCheckErrors = .legacy500 }
        #expect(try await legacy.put("/v1/agent/check/pass/nope").status == 500)
        f.fake.setCheck(node: "web-01", checkID: "disk", status: "passing", type: "script")
        let notTTL = try await f.put("/v1/agent/check/pass/disk")
        #expect(notTTL.status == 500)
        #expect(notTTL.text.contains("does not have associated TTL"))
        _ = try await f.put("/v1/agent/check/register", #"{"Name":"hb","TTL":"10s"}"#)
        let badStatus = try await f.put("/v1/agent/check/update/hb", #"{"Status":"ok"}"#)
        #expect(badStatus.status == 400)
        #expect(badStatus.text == "Invalid check status: 'ok'")
        #expect(try await f.put("/v1/agent/check/update/hb", "").text.hasPrefix("Request decode failed"))
        let get = try await f.get("/v1/agent/check/pass/hb")
        #expect(get.status == 405)
        #expect(get.text == "method GET not allowed")
        #expect(get.header("Allow") == "OPTIONS,PUT")
        #expect(try await f.put("/v1/agent/check/register", #"{"TTL":"10s"}"#).text == "Missing check name")
        #expect(try await f.put("/v1/agent/check/register", #"{"Name":"x"}"#).text.contains("TTL must be > 0"))
        #expect(try await f.put("/v1/agent/check/register", #"{"Name":"x","TTL":"10s","ServiceID":"ghost"}"#).status == 404)
        #expect(try await f.get("/v1/nope").text == "Invalid URL path: not a recognized HTTP API endpoint")
    }

    @Test("F.9.19: output over 4096 bytes is truncated with the captured suffix")
    func outputTruncation() async throws {
        let f = try ConsulFixture()
        _ = try await f.put("/v1/agent/check/register", #"{"Name":"hb","TTL":"10s"}"#)
        let long = String(repeating: "y", count: 10_000)
        _ = try await f.put("/v1/agent/check/update/hb", #"{"Status":"passing","Output":"\#(long)"}"#)
        let output = try #require(f.fake.agentCheck(node: "web-01", id: "hb")?.output)
        #expect(output == String(repeating: "y", count: 4096) + " ... (captured 4096 of 10000 bytes)")
    }

    /// The node-down scenario of issue 9, seeded from the recorded fixture.
    func nodeDownCluster() throws -> ConsulFixture {
        let f = try ConsulFixture(node: "web-01")
        try f.fake.seed(fromHealthJSON: Data(Fixtures.bytes("service-health.json")))
        f.fake.addService(node: "web-02", FakeConsul.Service(id: "web", name: "web", tags: ["production"], port: 8080))
        f.fake.addService(node: "web-02", FakeConsul.Service(id: "books-service-1", name: "books-service", port: 8081))
        f.fake.addService(node: "web-02", FakeConsul.Service(id: "consul", name: "consul", port: 8300))
        f.fake.setCheck(node: "web-02", checkID: "service:web", status: "passing", serviceID: "web")
        return f
    }

    @Test("† F.9.20: a failed node keeps its services in the catalog; ?passing drops its instance; unknown node is null")
    func failedNode() async throws {
        let f = try nodeDownCluster()
        f.fake.failNode("web-02")
        let catalog = try await f.get("/v1/catalog/node/web-02").json()
        let services = try #require(catalog["Services"] as? [String: [String: Any]])
        #expect(services.keys.sorted() == ["books-service-1", "consul", "web"])
        #expect(services["books-service-1"]?["Service"] as? String == "books-service")
        #expect((services["books-service-1"]?["Tags"] as? [String]) == [])
        #expect((catalog["Node"] as? [String: Any])?["Node"] as? String == "web-02")
        let health = try await f.get("/v1/health/node/web-02").jsonArray()
        let serf = try #require(health.first { $0["CheckID"] as? String == "serfHealth" })
        #expect(serf["Status"] as? String == "critical")
        #expect(serf["Output"] as? String == "Agent not live or unreachable")
        #expect(health.first { $0["CheckID"] as? String == "service:web" }?["Status"] as? String == "passing")
        let passing = try await f.get("/v1/health/service/web?passing").jsonArray()
        let nodes = passing.compactMap { ($0["Node"] as? [String: Any])?["Node"] as? String }
        #expect(!nodes.contains("web-02"))
        #expect(nodes.contains("web-01"))
        let all = try await f.get("/v1/health/service/web").jsonArray()
        #expect(all.count == passing.count + 1)
        #expect(try await f.get("/v1/health/service/web?passing=maybe").status == 400)
        let unknown = try await f.get("/v1/catalog/node/ghost")
        #expect(unknown.status == 200)
        #expect(unknown.text == "null")
        #expect(try await f.get("/v1/health/node/ghost").text == "[]")
        let names = try await f.get("/v1/catalog/services").json()
        #expect(names["books-service"] != nil)
        f.fake.recoverNode("web-02")
        #expect(f.fake.check(node: "web-02", id: "serfHealth")?.output == "Agent alive and reachable")
    }

    @Test("Request counters per endpoint and agent; several agents share one KV store; agent/self names the node")
    func severalAgents() async throws {
        let fake = FakeConsul()
        let a = try fake.addAgent(node: "node-a")
        let b = try fake.addAgent(node: "node-b")
        #expect(a.port != b.port)
        let client = TestClient()
        let selfA = try await client.get(a.url("/v1/agent/self")).json()
        #expect(selfA[path: "Config.NodeName"] as? String == "node-a")
        #expect(selfA[path: "Config.Datacenter"] as? String == "dc1")
        let created = try await client.send("PUT", a.url("/v1/kv/shared?cas=0"), body: Data("from-a".utf8))
        #expect(created.text == "true")
        let lost = try await client.send("PUT", b.url("/v1/kv/shared?cas=0"), body: Data("from-b".utf8))
        #expect(lost.text == "false")
        #expect(try await client.get(b.url("/v1/kv/shared?raw")).text == "from-a")
        #expect(fake.requestCount(.kv, agent: "node-a") == 1)
        #expect(fake.requestCount(.kv, agent: "node-b") == 2)
        #expect(fake.requestCount(.catalogNode) == 0)
        #expect(fake.requestCount(.agentSelf) == 1)
        // Agent checks are per agent.
        _ = try await client.send("PUT", a.url("/v1/agent/check/register"), body: Data(#"{"Name":"hb","TTL":"1m"}"#.utf8))
        #expect(try await client.send("PUT", b.url("/v1/agent/check/pass/hb")).status == 404)
        #expect(try await client.send("PUT", a.url("/v1/agent/check/pass/hb")).status == 200)
        fake.stop()
    }

    @Test("† F.9.21: ACL default deny: no token 403, revoked token ACL not found, per-prefix key rules; token via header")
    func acl() async throws {
        let f = try ConsulFixture()
        f.fake.enableACL(defaultAllow: false)
        let accessor = f.fake.addToken(
            "secret-1", rules: FakeConsul.Rules(keyPrefix: ["consul-heal/": .write, "services/": .read]))
        let anonymous = try await f.put("/v1/kv/consul-heal/x?cas=0", "v")
        #expect(anonymous.status == 403)
        #expect(anonymous.text.contains("Permission denied"))
        #expect(anonymous.text.contains("anonymous token"))
        #expect(try await f.put("/v1/kv/consul-heal/x?cas=0", "v", token: "secret-1").text == "true")
        let colorWrite = try await f.put("/v1/kv/services/x/color", "green", token: "secret-1")
        #expect(colorWrite.status == 403)
        #expect(colorWrite.text == #"Permission denied: token with AccessorID '\#(accessor)' lacks permission 'key:write' on "services/x/color""#)
        #expect(try await f.get("/v1/kv/services/x/color", token: "secret-1").status == 404)
        #expect(f.fake.requests.last?.tokenSource == "header")
        #expect(f.fake.deprecatedTokenQueryCount == 0)
        // Listings are filtered, and say so for a named token.
        f.fake.putKey("secret/y", "1")
        let list = try await f.get("/v1/kv/?recurse", token: "secret-1")
        #expect(try list.jsonArray().map { $0["Key"] as? String } == ["consul-heal/x"])
        #expect(list.header("X-Consul-Results-Filtered-By-ACLs") == "true")
        #expect(list.header("X-Consul-Default-ACL-Policy") == "deny")
        f.fake.revokeToken("secret-1")
        let revoked = try await f.get("/v1/kv/consul-heal/x", token: "secret-1")
        #expect(revoked.status == 403)
        #expect(revoked.text == "ACL not found")
        // Catalog reads without node:read are filtered to null, health/service without service:read is 403.
        f.fake.addToken("reader", rules: FakeConsul.Rules(nodePrefix: ["web-": .read], servicePrefix: ["": .read]))
        #expect(try await f.get("/v1/catalog/node/web-01", token: "reader").text != "null")
        #expect(try await f.get("/v1/health/service/web").status == 403)
        _ = try await f.get("/v1/kv/consul-heal/x?token=reader")
        #expect(f.fake.deprecatedTokenQueryCount == 1)
    }

    @Test("† F.9.23 / F.7: a 500 after apply is an ambiguous write; faults are bounded by count and per endpoint")
    func faults() async throws {
        let f = try ConsulFixture()
        f.fake.inject(FakeConsul.Fault(.status(500, body: "No cluster leader", afterApply: true), endpoints: [.kv], method: "PUT", times: 1))
        let ambiguous = try await f.put("/v1/kv/claim?cas=0", "nonce-1")
        #expect(ambiguous.status == 500)
        #expect(f.fake.value("claim") == "nonce-1")
        // The client re-reads and finds its own nonce; the fault is spent.
        #expect(try await f.get("/v1/kv/claim?raw").text == "nonce-1")
        #expect(f.fake.faultApplications == [1])
        f.fake.clearFaults()
        // A catalog outage that answers 500 No cluster leader twice, then recovers.
        f.fake.inject(.noLeader(endpoints: [.catalogNode], times: 2))
        #expect(try await f.get("/v1/catalog/node/web-01").status == 500)
        #expect(try await f.get("/v1/kv/claim?raw").status == 200)
        #expect(try await f.get("/v1/catalog/node/web-01").text == "No cluster leader")
        #expect(try await f.get("/v1/catalog/node/web-01").status == 200)
        f.fake.clearFaults()
        // 403 on one endpoint; the agent's other endpoints are unaffected.
        f.fake.inject(.permissionDenied(endpoints: [.healthNode], times: 1))
        #expect(try await f.get("/v1/health/node/web-01").status == 403)
        #expect(try await f.get("/v1/health/node/web-01").status == 200)
        f.fake.clearFaults()
        // A dropped connection surfaces as a transport error; after apply the write happened.
        f.fake.inject(FakeConsul.Fault(.dropConnection(afterApply: true), endpoints: [.kv], method: "PUT", times: 1))
        // (A fresh client: URLSession on Linux waits for its timeout when a reused keep-alive connection is dropped.)
        let fresh = TestClient()
        await #expect(throws: (any Error).self) {
            _ = try await fresh.send("PUT", f.agent.url("/v1/kv/dropped"), body: Data("v".utf8))
        }
        #expect(f.fake.requests.last?.status == 0)
        #expect(f.fake.value("dropped") == "v")
        f.fake.clearFaults()
        // A hang ends in a closed connection; a delay answers late but normally. Per agent: other agents unaffected.
        f.fake.inject(FakeConsul.Fault(.hang(seconds: 0.3), endpoints: [.agentSelf], times: 1))
        let hanging = TestClient()
        await #expect(throws: (any Error).self) { _ = try await hanging.get(f.agent.url("/v1/agent/self")) }
        f.fake.inject(FakeConsul.Fault(.delay(seconds: 0.2), endpoints: [.agentSelf], times: 1))
        #expect(try await TestClient().get(f.agent.url("/v1/agent/self")).status == 200)
        #expect(f.fake.faultApplications == [1, 1])
        f.fake.clearFaults()
        // Time-bounded: a fault that ends when the clock passes its limit.
        f.fake.inject(FakeConsul.Fault(.status(429), endpoints: [.kv], untilTime: f.fake.now + 60))
        #expect(try await f.get("/v1/kv/claim").status == 429)
        f.fake.advance(by: 61)
        #expect(try await f.get("/v1/kv/claim").status == 200)
    }

    @Test("F.7: CAS conflicts injected on every other write make those CAS writes lose, as a concurrent writer would")
    func casConflicts() async throws {
        let f = try ConsulFixture()
        f.fake.inject(FakeConsul.Fault(.casConflict, endpoints: [.kv], every: 2))
        // 1st write: conflict injected on a create; nothing stored.
        #expect(try await f.put("/v1/kv/c?cas=0", "1").text == "false")
        #expect(f.fake.entry("c") == nil)
        // 2nd: goes through.
        #expect(try await f.put("/v1/kv/c?cas=0", "1").text == "true")
        let entry = try #require(f.fake.entry("c"))
        // 3rd: conflict on an update: ModifyIndex moves, the value does not.
        #expect(try await f.put("/v1/kv/c?cas=\(entry.modifyIndex)", "2").text == "false")
        let bumped = try #require(f.fake.entry("c"))
        #expect(bumped.modifyIndex > entry.modifyIndex)
        #expect(bumped.text == "1")
        // 4th: the re-read index wins.
        #expect(try await f.put("/v1/kv/c?cas=\(bumped.modifyIndex)", "2").text == "true")
        #expect(f.fake.value("c") == "2")
        #expect(f.fake.faultApplications == [2])
    }

    @Test("Leader loss: KV and catalog 500 No cluster leader, stale reads answer with KnownLeader false, agent checks work")
    func leaderLoss() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("k", "v")
        _ = try await f.put("/v1/agent/check/register", #"{"Name":"hb","TTL":"1m"}"#)
        f.fake.setLeaderLost(true)
        #expect(try await f.get("/v1/kv/k").text == "No cluster leader")
        #expect(try await f.put("/v1/kv/k", "w").status == 500)
        let stale = try await f.get("/v1/kv/k?stale&raw")
        #expect(stale.text == "v")
        #expect(stale.header("X-Consul-KnownLeader") == "false")
        #expect(try await f.put("/v1/agent/check/pass/hb").status == 200)
        #expect(try await f.get("/v1/status/leader").text == #""""#)
        f.fake.setLeaderLost(false)
        #expect(try await f.get("/v1/status/leader").text == #""10.0.0.10:8300""#)
    }

    @Test("† F.9.15: a blocking GET returns on the next change with a larger index, or after the wait with the same")
    func blockingQueries() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("watched", "1")
        let index = try #require(f.fake.entry("watched")?.modifyIndex)
        async let woken = f.get("/v1/kv/watched?index=\(index)&wait=30s")
        // Parked as soon as the request arrives; a loaded machine only makes that later.
        for _ in 0..<200 where f.fake.parkedQueries == 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(f.fake.parkedQueries == 1)
        // A write elsewhere does not wake a single-key query; an identical write neither.
        f.fake.putKey("elsewhere", "x")
        f.fake.putKey("watched", "1")
        try await Task.sleep(for: .milliseconds(200))
        #expect(f.fake.parkedQueries == 1)
        f.fake.putKey("watched", "2")
        let reply = try await woken
        #expect(reply.index! > index)
        #expect(try reply.jsonArray().first?["Value"] as? String == Data("2".utf8).base64EncodedString())
        // Timeout: same index and body.
        let current = try #require(f.fake.entry("watched")?.modifyIndex)
        let started = Date()
        let timedOut = try await f.get("/v1/kv/watched?index=\(current)&wait=300ms")
        #expect(timedOut.index == current)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try await f.get("/v1/kv/watched?index=1&wait=10").text == "Invalid wait time")
        #expect(try await f.get("/v1/kv/watched?index=x").text == "Invalid index")
        // The catalog blocks too: failing a node wakes a health query.
        let healthIndex = try #require(try await f.get("/v1/health/state/critical").index)
        async let critical = f.get("/v1/health/state/critical?index=\(healthIndex)&wait=30s")
        try await Task.sleep(for: .milliseconds(200))
        f.fake.failNode("web-01")
        let changed = try await critical
        #expect(changed.index! > healthIndex)
        #expect(try changed.jsonArray().count == 1)
    }

    @Test("F.9.16 / F.5: after a snapshot restore the index goes backwards; a spurious wake-up returns unchanged data")
    func indexResetAndSpuriousWakeup() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("app/a", "1")
        let snapshot = f.fake.saveSnapshot()
        f.fake.putKey("app/b", "2")
        let later = try #require(try await f.get("/v1/kv/app/?recurse").index)
        f.fake.restoreSnapshot(snapshot)
        let rewound = try await f.get("/v1/kv/app/?recurse")
        #expect(rewound.index! < later)
        #expect(try rewound.jsonArray().count == 1)
        // A client that kept the larger index would block for the whole wait: the fake does not wake it early.
        let blocked = try await f.get("/v1/kv/app/?recurse&index=\(later)&wait=200ms")
        #expect(blocked.index == rewound.index)
        // Spurious wake-up: same index and body before the deadline.
        let current = try #require(rewound.index)
        async let woken = f.get("/v1/kv/app/?recurse&index=\(current)&wait=60s")
        try await Task.sleep(for: .milliseconds(200))
        f.fake.spuriousWakeup()
        let reply = try await woken
        #expect(reply.index == current)
        #expect(reply.body == rewound.body)
        // Reaping tombstones lowers a prefix listing's index to its newest live key.
        f.fake.putKey("app/c", "3")
        f.fake.deleteKey("app/c")
        #expect(try await f.get("/v1/kv/app/?recurse").index == f.fake.kvIndex)
        f.fake.reapTombstones()
        #expect(try await f.get("/v1/kv/app/?recurse").index == f.fake.entry("app/a")?.modifyIndex)
    }

    @Test("§3.3: status changes reach the catalog at once, output-only changes after checkUpdateInterval")
    func outputSyncDeferral() async throws {
        let f = try ConsulFixture()
        _ = try await f.put("/v1/agent/check/register", #"{"Name":"hb","TTL":"1h","Status":"passing"}"#)
        _ = try await f.put("/v1/agent/check/pass/hb?note=run+1")
        #expect(f.fake.check(node: "web-01", id: "hb")?.output == "")
        #expect(f.fake.agentCheck(node: "web-01", id: "hb")?.output == "run 1")
        _ = try await f.put("/v1/agent/check/warn/hb?note=run+2")
        #expect(f.fake.check(node: "web-01", id: "hb")?.status == "warning")
        #expect(f.fake.check(node: "web-01", id: "hb")?.output == "run 2")
        f.fake.advance(by: 301)
        _ = try await f.put("/v1/agent/check/warn/hb?note=run+3")
        #expect(f.fake.check(node: "web-01", id: "hb")?.output == "run 3")
    }
}

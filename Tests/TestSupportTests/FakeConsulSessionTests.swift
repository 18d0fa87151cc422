import Foundation
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("Fake Consul: sessions and locks (consul-api.md §2, F.9)")
struct FakeConsulSessionTests {
    func createSession(_ f: ConsulFixture, _ body: String) async throws -> String {
        let reply = try await f.put("/v1/session/create", body)
        try #require(reply.status == 200, "create: \(reply.status) \(reply.text)")
        return try #require(try reply.json()["ID"] as? String)
    }

    @Test("† F.9.6: LockIndex 1 → same holder 1 → release → re-acquire 2; other session false; release with empty body is null")
    func lockProgression() async throws {
        let f = try ConsulFixture { $0.realTimeClock = false }  // TTLs move only by advance(by:)
        let s1 = try await createSession(f, #"{"Name":"one"}"#)
        let s2 = try await createSession(f, #"{"Name":"two"}"#)
        #expect(try await f.put("/v1/kv/lock?acquire=\(s1)", "a").text == "true")
        #expect(f.fake.entry("lock")?.lockIndex == 1)
        #expect(f.fake.entry("lock")?.session == s1)
        let first = try #require(f.fake.entry("lock"))
        #expect(first.createIndex == first.modifyIndex)
        #expect(try await f.put("/v1/kv/lock?acquire=\(s1)", "b").text == "true")
        #expect(f.fake.entry("lock")?.lockIndex == 1)
        #expect(f.fake.entry("lock")!.modifyIndex > first.modifyIndex)
        #expect(try await f.put("/v1/kv/lock?acquire=\(s2)", "c").text == "false")
        #expect(try await f.put("/v1/kv/lock?release=\(s2)", "c").text == "false")
        #expect(f.fake.value("lock") == "b")
        #expect(try await f.put("/v1/kv/lock?release=\(s1)").text == "true")
        let released = try await f.get("/v1/kv/lock")
        #expect(released.text.contains(#""Value":null"#))
        #expect(!released.text.contains("Session"))
        #expect(try await f.put("/v1/kv/lock?acquire=\(s2)", "d").text == "true")
        #expect(f.fake.entry("lock")?.lockIndex == 2)
        #expect(try await f.get("/v1/kv/lock").text.contains(#""Session":"\#(s2)""#))
        // F.9.7: a plain PUT on a locked key succeeds and keeps the holder.
        #expect(try await f.put("/v1/kv/lock", "plain").text == "true")
        #expect(f.fake.entry("lock")?.session == s2)
        let unknown = try await f.put("/v1/kv/lock?acquire=00000000-0000-0000-0000-000000000000", "x")
        #expect(unknown.status == 500)
        #expect(unknown.text == #"invalid session "00000000-0000-0000-0000-000000000000""#)
        #expect(try await f.put("/v1/kv/lock?acquire=", "x").text == "missing session")
    }

    @Test("† F.9.8: a 10 s session lives to 2 × TTL; renew extends it; renew after expiry is 404")
    func sessionTTL() async throws {
        let f = try ConsulFixture { $0.realTimeClock = false }
        let id = try await createSession(f, #"{"TTL":"10s"}"#)
        f.fake.advance(by: 15)
        let renewed = try await f.put("/v1/session/renew/\(id)")
        #expect(renewed.status == 200)
        #expect(try renewed.jsonArray().first?["TTL"] as? String == "10s")
        f.fake.advance(by: 19)
        #expect(try await f.get("/v1/session/info/\(id)").jsonArray().count == 1)
        f.fake.advance(by: 2)
        #expect(try await f.get("/v1/session/info/\(id)").text == "[]")
        let late = try await f.put("/v1/session/renew/\(id)")
        #expect(late.status == 404)
        #expect(late.text == "Session id '\(id)' not found")
        #expect(try await f.put("/v1/session/destroy/\(id)").text == "true")
    }

    @Test("† F.9.9: invalidation releases the key and sets a lock-delay; explicit release sets none; LockDelay 20 is 20 s")
    func lockDelay() async throws {
        let f = try ConsulFixture { $0.realTimeClock = false }  // TTLs move only by advance(by:)
        let holder = try await createSession(f, #"{"LockDelay":20}"#)
        let info = try await f.get("/v1/session/info/\(holder)").jsonArray()
        #expect(info.first?["LockDelay"] as? Int == 20_000_000_000)
        _ = try await f.put("/v1/kv/job?acquire=\(holder)", "x")
        #expect(try await f.put("/v1/session/destroy/\(holder)").text == "true")
        #expect(f.fake.entry("job")?.session == nil)
        #expect(f.fake.value("job") == "x")
        let next = try await createSession(f, "{}")
        #expect(try await f.put("/v1/kv/job?acquire=\(next)", "y").text == "false")
        f.fake.advance(by: 21)
        #expect(try await f.put("/v1/kv/job?acquire=\(next)", "y").text == "true")
        // Explicit release: no delay.
        #expect(try await f.put("/v1/kv/job?release=\(next)", "z").text == "true")
        let third = try await createSession(f, #"{"LockDelay":"0s"}"#)
        #expect(try await f.put("/v1/kv/job?acquire=\(third)", "w").text == "true")
        _ = try await f.put("/v1/session/destroy/\(third)")
        #expect(f.fake.lockDelay("job") == nil)
    }

    @Test("F.9.10: behavior delete removes held keys, and the tombstone shows in the listing's index")
    func behaviorDelete() async throws {
        let f = try ConsulFixture { $0.realTimeClock = false }  // TTLs move only by advance(by:)
        f.fake.putKey("locks/other", "o")
        let id = try await createSession(f, #"{"Behavior":"delete","TTL":"10s"}"#)
        _ = try await f.put("/v1/kv/locks/mine?acquire=\(id)", "m")
        f.fake.advance(by: 21)
        #expect(f.fake.entry("locks/mine") == nil)
        let listing = try await f.get("/v1/kv/locks/?recurse")
        #expect(listing.index == f.fake.kvIndex)
        #expect(listing.index! > f.fake.entry("locks/other")!.modifyIndex)
    }

    @Test("† F.9.11: failNode destroys sessions bound to serfHealth; a new one on that node is refused; NodeChecks [] survives")
    func failNodeSessions() async throws {
        let f = try ConsulFixture { $0.realTimeClock = false }  // TTLs move only by advance(by:)
        let bound = try await createSession(f, "{}")
        let free = try await createSession(f, #"{"NodeChecks":[],"TTL":"60s"}"#)
        _ = try await f.put("/v1/kv/leader?acquire=\(bound)", "me")
        f.fake.failNode("web-01")
        #expect(f.fake.sessions.map(\.id) == [free])
        #expect(f.fake.entry("leader")?.session == nil)
        let refused = try await f.put("/v1/session/create", "{}")
        #expect(refused.status == 500)
        #expect(refused.text == "Check 'serfHealth' is in critical state")
    }

    @Test("F.9.12: TTL, Behavior and Node validation texts")
    func createValidation() async throws {
        let f = try ConsulFixture { $0.realTimeClock = false }  // TTLs move only by advance(by:)
        let ttl = try await f.put("/v1/session/create", #"{"TTL":"5s"}"#)
        #expect(ttl.status == 500)
        #expect(ttl.text == "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]")
        #expect(try await f.put("/v1/session/create", #"{"Behavior":"x"}"#).text == "Invalid Behavior setting 'x'")
        #expect(try await f.put("/v1/session/create", #"{"Node":"ghost"}"#).text == "Missing node registration")
        // Go decodes field names case-insensitively.
        let id = try await createSession(f, #"{"name":"lower","behavior":"delete"}"#)
        #expect(f.fake.sessions.first { $0.id == id }?.behavior == "delete")
        #expect(try await f.get("/v1/session/list").jsonArray().count == 1)
        #expect(try await f.get("/v1/session/node/web-01").jsonArray().count == 1)
    }

    @Test("F.9.24: during leader loss sessions fail with 500 and do not expire; afterwards their timers restart")
    func leaderLossTimers() async throws {
        let f = try ConsulFixture { $0.realTimeClock = false }  // TTLs move only by advance(by:)
        let id = try await createSession(f, #"{"TTL":"10s"}"#)
        f.fake.setLeaderLost(true)
        #expect(try await f.put("/v1/session/renew/\(id)").text == "No cluster leader")
        f.fake.advance(by: 30)
        f.fake.setLeaderLost(false)
        #expect(f.fake.sessions.count == 1)
        f.fake.advance(by: 19)
        #expect(f.fake.sessions.count == 1)
        f.fake.advance(by: 2)
        #expect(f.fake.sessions.isEmpty)
    }
}

import Foundation
import Testing

@testable import TestSupport

/// One KV op of a `/v1/txn` body, as the Consul API client sends it.
private func kvOp(_ verb: String, _ key: String, value: String? = nil, index: UInt64? = nil, session: String? = nil) -> String {
    var fields = ["\"Verb\":\"\(verb)\"", "\"Key\":\"\(key)\""]
    if let value { fields.append("\"Value\":\"\(Data(value.utf8).base64EncodedString())\"") }
    if let index { fields.append("\"Index\":\(index)") }
    if let session { fields.append("\"Session\":\"\(session)\"") }
    return "{\"KV\":{\(fields.joined(separator: ","))}}"
}

private func txnBody(_ ops: [String]) -> String { "[" + ops.joined(separator: ",") + "]" }

extension Reply {
    func jsonObject() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any], "not an object: \(text)")
    }

    /// `Results[n].KV` of a transaction answer.
    func txnResults() throws -> [[String: Any]] {
        let results = try #require(try jsonObject()["Results"] as? [[String: Any]], "no Results: \(text)")
        return try results.map { try #require($0["KV"] as? [String: Any]) }
    }

    /// `Errors` of a transaction answer as (OpIndex, What).
    func txnErrors() throws -> [(Int, String)] {
        let errors = try #require(try jsonObject()["Errors"] as? [[String: Any]], "no Errors: \(text)")
        return errors.map { (($0["OpIndex"] as? Int) ?? -1, ($0["What"] as? String) ?? "") }
    }
}

@Suite("Fake Consul: transactions (PUT /v1/txn, KV operations)")
struct FakeConsulTxnTests {
    @Test("create + cas + delete-cas commit at ONE Raft index; results shaped like KV entries, none for deletes")
    func commit() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("claims/b", "old-b")
        f.fake.putKey("claims/c", "old-c")
        let b = try #require(f.fake.entry("claims/b"))
        let c = try #require(f.fake.entry("claims/c"))
        let before = f.fake.raftIndex
        let reply = try await f.put(
            "/v1/txn",
            txnBody([
                kvOp("cas", "claims/a", value: "new-a", index: 0), kvOp("cas", "claims/b", value: "new-b", index: b.modifyIndex),
                kvOp("delete-cas", "claims/c", index: c.modifyIndex),
            ]))
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type") == "application/json")
        #expect(reply.text.hasSuffix("\"Errors\":null}"))
        let index = before + 1
        #expect(f.fake.raftIndex == index)
        #expect(f.fake.value("claims/a") == "new-a")
        #expect(f.fake.entry("claims/a")?.createIndex == index)
        #expect(f.fake.entry("claims/a")?.modifyIndex == index)
        #expect(f.fake.entry("claims/b")?.modifyIndex == index)
        #expect(f.fake.entry("claims/b")?.createIndex == b.createIndex)
        #expect(f.fake.entry("claims/c") == nil)
        #expect(f.fake.kvIndex == index)
        let results = try reply.txnResults()
        #expect(results.count == 2)
        #expect(results.map { $0["Key"] as? String } == ["claims/a", "claims/b"])
        #expect(results.allSatisfy { $0["Value"] is NSNull })
        #expect(results.allSatisfy { ($0["ModifyIndex"] as? Int).map(UInt64.init) == index })
        #expect(results[0]["CreateIndex"] as? Int == Int(index))
        #expect(results[1]["CreateIndex"] as? Int == Int(b.createIndex))
        #expect(Set(results[0].keys) == ["LockIndex", "Key", "Flags", "Value", "CreateIndex", "ModifyIndex"])
        // An identical cas keeps ModifyIndex, as `?cas=` does, and still consumes the transaction's index.
        let same = try await f.put("/v1/txn", txnBody([kvOp("cas", "claims/a", value: "new-a", index: index)]))
        #expect(same.status == 200)
        #expect(f.fake.entry("claims/a")?.modifyIndex == index)
        #expect(f.fake.raftIndex == index + 1)
        #expect(f.fake.requestCount(.txn, method: "PUT") == 2)
        #expect(f.fake.requests.last?.endpoint == .txn)
    }

    @Test("failing ops: 409, every OpIndex error with Consul's texts, nothing applied, the Raft index consumed")
    func rollback() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("claims/held", "x")
        let held = try #require(f.fake.entry("claims/held"))
        let before = f.fake.raftIndex
        let reply = try await f.put(
            "/v1/txn",
            txnBody([
                kvOp("set", "claims/fresh", value: "v"), kvOp("cas", "claims/held", value: "y", index: held.modifyIndex + 7),
                kvOp("delete-cas", "claims/held", index: 3), kvOp("check-not-exists", "claims/fresh"),
            ]))
        #expect(reply.status == 409)
        #expect(reply.header("Content-Type") == "application/json")
        #expect(reply.text.hasPrefix("{\"Results\":null,"))
        let errors = try reply.txnErrors()
        // Every failing op is reported; later ops see earlier ones (op 3 sees the key op 0 created).
        #expect(errors.map(\.0) == [1, 2, 3])
        #expect(
            errors.map(\.1) == [
                "failed to set key \"claims/held\", index is stale", "failed to delete key \"claims/held\", index is stale",
                "key \"claims/fresh\" exists",
            ])
        #expect(f.fake.entry("claims/fresh") == nil)
        #expect(f.fake.entry("claims/held") == held)
        #expect(f.fake.raftIndex == before + 1)
        #expect(f.fake.kvIndex == held.modifyIndex)
    }

    @Test("check-index, check-session, get, unknown verb: Consul's error texts; lock in a txn")
    func verbTexts() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("k", "v")
        let k = try #require(f.fake.entry("k"))
        let reply = try await f.put(
            "/v1/txn",
            txnBody([
                kvOp("check-index", "k", index: k.modifyIndex + 1), kvOp("check-index", "gone", index: 1),
                kvOp("check-session", "k", session: "s1"), kvOp("get", "gone"), kvOp("frobnicate", "k"),
                kvOp("check-not-exists", "k"),
            ]))
        #expect(reply.status == 409)
        #expect(
            try reply.txnErrors().map(\.1) == [
                "failed index check for key \"k\", current modify index \(k.modifyIndex) != \(k.modifyIndex + 1)",
                "failed to check index, key \"gone\" doesn't exist",
                "failed session check for key \"k\", current session \"\" != \"s1\"", "key \"gone\" doesn't exist",
                "unknown KV verb \"frobnicate\"", "key \"k\" exists",
            ])
        // Only read verbs (an unknown one counts as read): no index consumed.
        #expect(f.fake.raftIndex == k.modifyIndex)
        let lock = try await f.put("/v1/txn", txnBody([kvOp("lock", "l", value: "me", session: "no-such-session")]))
        #expect(try lock.txnErrors().map(\.1) == ["invalid session \"no-such-session\""])
    }

    @Test("get / get-tree only: the read path, values returned, no Raft index consumed, leader headers")
    func readOnly() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("tree/a", "1")
        f.fake.putKey("tree/b", "2")
        f.fake.putKey("other", "3")
        let before = f.fake.raftIndex
        let reply = try await f.put(
            "/v1/txn", txnBody([kvOp("get", "other"), kvOp("get-tree", "tree/"), kvOp("get-or-empty", "none")]))
        #expect(reply.status == 200)
        #expect(f.fake.raftIndex == before)
        #expect(reply.header("X-Consul-KnownLeader") == "true")
        #expect(reply.header("X-Consul-LastContact") == "0")
        #expect(reply.header("X-Consul-Index") == nil)
        let results = try reply.txnResults()
        #expect(results.map { $0["Key"] as? String } == ["other", "tree/a", "tree/b", "none"])
        #expect(results.prefix(3).map { $0["Value"] as? String } == ["Mw==", "MQ==", "Mg=="])
        #expect(results[3]["Value"] is NSNull)
        #expect(try reply.jsonObject()["KnownLeader"] as? Bool == true)
    }

    @Test("limits: 65 ops 413, an oversized body 413, a bad body 400 (Consul's texts); nothing consumed")
    func limits() async throws {
        let f = try ConsulFixture()
        let before = f.fake.raftIndex
        let many = try await f.put("/v1/txn", txnBody((0..<65).map { kvOp("set", "k\($0)", value: "v") }))
        #expect(many.status == 413)
        #expect(many.text == "Transaction contains too many operations (65 > 64)")
        let sixtyFour = try await f.put("/v1/txn", txnBody((0..<64).map { kvOp("set", "k\($0)", value: "v") }))
        #expect(sixtyFour.status == 200)
        #expect(f.fake.raftIndex == before + 1)
        let huge = String(repeating: "A", count: 524_289)
        let big = try await f.put("/v1/txn", "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"x\",\"Value\":\"\(huge)\"}}]")
        #expect(big.status == 413)
        #expect(big.text == "Request body too large, max size: 524288 bytes")
        let bad = try await f.put("/v1/txn", "{not json")
        #expect(bad.status == 400)
        #expect(bad.text.hasPrefix("Failed to parse body: "))
        let object = try await f.put("/v1/txn", "{}")
        #expect(object.text == "Failed to parse body: json: cannot unmarshal object into Go value of type api.TxnOps")
        #expect(try await f.put("/v1/txn", "").text == "Failed to parse body: EOF")
        // Not JSON as Go's decoder reads it: a leading zero, a trailing comma, a raw control character.
        for body in [#"[{"KV":{"Verb":"set","Key":"x","Index":01}}]"#, #"[{"KV":{"Verb":"set","Key":"x"}},]"#, "[{\"KV\":{\"Key\":\"a\u{01}\"}}]"] {
            #expect(try await f.put("/v1/txn", body).status == 400, "\(body)")
        }
        #expect(try await f.get("/v1/txn").status == 405)
        let node = try await f.put("/v1/txn", "[{\"Node\":{\"Verb\":\"get\",\"Node\":{\"Node\":\"n1\"}}}]")
        #expect(node.status == 501)
        #expect(f.fake.raftIndex == before + 1)
        // Escapes and surrogate pairs decode as Go decodes them; field names match case-insensitively.
        let escaped = try await f.put("/v1/txn", #"[{"kv":{"verb":"set","key":"caf\u00e9\ud83d\ude00\/x","value":"dg=="}}]"#)
        #expect(escaped.status == 200)
        #expect(f.fake.value("café😀/x") == "v")
    }

    @Test("a value over kv_max_value_size: 413 naming the key; txnMaxOps is a knob")
    func valueLimitAndKnob() async throws {
        let f = try ConsulFixture {
            $0.kvMaxValueSize = 4
            $0.txnMaxOps = 2
        }
        let value = try await f.put("/v1/txn", txnBody([kvOp("set", "small", value: "ok"), kvOp("set", "big", value: "12345")]))
        #expect(value.status == 413)
        #expect(value.text == "Value for key \"big\" is too large (5 > 4 bytes)")
        let three = try await f.put("/v1/txn", txnBody((0..<3).map { kvOp("get", "k\($0)") }))
        #expect(three.text == "Transaction contains too many operations (3 > 2)")
    }

    @Test("ACL: a write outside the token's prefix is a 409 error entry (no index); an unknown token is 403")
    func acl() async throws {
        let f = try ConsulFixture()
        f.fake.enableACL(defaultAllow: false)
        let accessor = f.fake.addToken("s3cret", rules: .init(keyPrefix: ["mine/": .write, "shared/": .read]))
        f.fake.putKey("shared/x", "1")
        let before = f.fake.raftIndex
        let reply = try await f.send(
            "PUT", "/v1/txn",
            body: txnBody([kvOp("set", "mine/a", value: "v"), kvOp("set", "theirs/b", value: "v"), kvOp("get", "shared/x")]),
            token: "s3cret")
        #expect(reply.status == 409)
        let errors = try reply.txnErrors()
        #expect(errors.map(\.0) == [1])
        #expect(errors.first?.1 == "Permission denied: token with AccessorID '\(accessor)' lacks permission 'key:write' on \"theirs/b\"")
        #expect(f.fake.raftIndex == before)
        #expect(f.fake.entry("mine/a") == nil)
        // Reads the token cannot see are dropped from the results, not refused.
        let read = try await f.send(
            "PUT", "/v1/txn", body: txnBody([kvOp("get", "shared/x"), kvOp("get-or-empty", "theirs/b")]), token: "s3cret")
        #expect(read.status == 200)
        #expect(try read.txnResults().map { $0["Key"] as? String } == ["shared/x"])
        let unknown = try await f.send("PUT", "/v1/txn", body: txnBody([kvOp("set", "mine/a", value: "v")]), token: "nope")
        #expect(unknown.status == 403)
        #expect(unknown.text == "ACL not found")
    }

    @Test("the casConflict fault makes a valid txn fail with the stale text, as a concurrent writer would")
    func casConflictFault() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("claims/a", "mine")
        let a = try #require(f.fake.entry("claims/a"))
        f.fake.inject(.init(.casConflict, endpoints: [.txn], times: 2))
        let body = txnBody([kvOp("set", "claims/log", value: "x"), kvOp("cas", "claims/a", value: "next", index: a.modifyIndex)])
        let reply = try await f.put("/v1/txn", body)
        #expect(reply.status == 409)
        #expect(try reply.txnErrors().map(\.0) == [1])
        #expect(try reply.txnErrors().first?.1 == "failed to set key \"claims/a\", index is stale")
        #expect(f.fake.value("claims/a") == "mine")
        #expect(f.fake.entry("claims/log") == nil)
        // The racing write and the failed transaction each took an index.
        #expect(f.fake.raftIndex == a.modifyIndex + 2)
        // A create-only cas loses too, and no stranger's value is left behind (as the /v1/kv fault answers false).
        let create = try await f.put("/v1/txn", txnBody([kvOp("cas", "claims/new", value: "x", index: 0)]))
        #expect(try create.txnErrors().first?.1 == "failed to set key \"claims/new\", index is stale")
        #expect(f.fake.entry("claims/new") == nil)
        #expect(f.fake.faultApplications == [2])
        // The fault is spent: the same transaction with the current index commits.
        let now = try #require(f.fake.entry("claims/a"))
        let retry = try await f.put(
            "/v1/txn", txnBody([kvOp("cas", "claims/a", value: "next", index: now.modifyIndex)]))
        #expect(retry.status == 200)
        #expect(f.fake.value("claims/a") == "next")
    }

    @Test("a status-after fault: the txn commits, the client sees 500")
    func statusAfter() async throws {
        let f = try ConsulFixture()
        f.fake.inject(.init(.status(500, body: "rpc error: timeout", afterApply: true), endpoints: [.txn], times: 1))
        let reply = try await f.put("/v1/txn", txnBody([kvOp("cas", "claims/a", value: "x", index: 0)]))
        #expect(reply.status == 500)
        #expect(reply.text == "rpc error: timeout")
        #expect(f.fake.value("claims/a") == "x")
        #expect(f.fake.requests.last?.status == 500)
    }

    @Test("a blocking query parked on a key wakes when a txn commits")
    func wakesBlockingQuery() async throws {
        let f = try ConsulFixture()
        f.fake.putKey("watched", "1")
        let index = try #require(f.fake.entry("watched")?.modifyIndex)
        async let parked = f.get("/v1/kv/watched?index=\(index)&wait=30s")
        for _ in 0..<200 where f.fake.parkedQueries == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(f.fake.parkedQueries == 1)
        _ = try await f.put("/v1/txn", txnBody([kvOp("set", "watched", value: "2")]))
        let woke = try await parked
        #expect(woke.index == index + 1)
        #expect(try woke.jsonArray().first?["Value"] as? String == "Mg==")
    }

    @Test("the fake-consul process accepts txn faults (--fault txn:cas-conflict:every=2)")
    func processFaultSpec() throws {
        let ok = try ExecutableHarness.run("fake-consul", arguments: ["--fault", "txn:cas-conflict:every=2"], stdin: [])
        #expect(ok.exitCode == 0)
        #expect(ok.stdout.contains("\"requests\":0"))
        let bad = try ExecutableHarness.run("fake-consul", arguments: ["--fault", "txns:cas-conflict"], stdin: [])
        #expect(bad.exitCode == 2)
        #expect(bad.stderr.hasPrefix("fake-consul: --fault: unknown endpoint txns\n"))
    }
}

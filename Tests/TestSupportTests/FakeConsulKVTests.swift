import Foundation
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A fake with one agent, and a client for it.
struct ConsulFixture {
    let fake: FakeConsul
    let agent: FakeConsul.Agent
    let client: TestClient

    init(_ edit: (inout FakeConsul.Configuration) -> Void = { _ in }, node: String = "web-01") throws {
        var config = FakeConsul.Configuration()
        edit(&config)
        fake = FakeConsul(config)
        agent = try fake.addAgent(node: node)
        client = TestClient(followRedirects: false)
    }

    func send(
        _ method: String, _ path: String, body: String? = nil, token: String? = nil, headers: [String: String] = [:]
    ) async throws -> Reply {
        var h = headers
        if let token { h["X-Consul-Token"] = token }
        return try await client.send(method, agent.url(path), headers: h, body: body.map { Data($0.utf8) })
    }

    func get(_ path: String, token: String? = nil) async throws -> Reply { try await send("GET", path, token: token) }
    func put(_ path: String, _ body: String = "", token: String? = nil) async throws -> Reply {
        try await send("PUT", path, body: body, token: token)
    }
}

extension Reply {
    var index: UInt64? { header("X-Consul-Index").flatMap { UInt64($0) } }
    func jsonArray() throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: body) as? [[String: Any]], "not an array: \(text)")
    }
}

@Suite("Fake Consul: KV (consul-api.md §1, F.9)")
struct FakeConsulKVTests {
    @Test("† F.9.1: five concurrent PUT ?cas=0 on an absent key: exactly one true, CreateIndex = ModifyIndex")
    func concurrentCreate() async throws {
        let f = try ConsulFixture()
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for n in 0..<5 {
                group.addTask { (n, try await f.put("/v1/kv/claims/x?cas=0", "owner-\(n)").text) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let winners = answers.filter { $0.value == "true" }
        #expect(winners.count == 1)
        #expect(answers.values.filter { $0 == "false" }.count == 4)
        let entry = try #require(f.fake.entry("claims/x"))
        #expect(entry.text == "owner-\(winners.keys.first!)")
        #expect(entry.createIndex == entry.modifyIndex)
        // Every CAS consumed a Raft index, the failed ones too.
        #expect(f.fake.raftIndex == entry.createIndex + 4)
    }

    @Test("† F.9.2: stale CAS false, current CAS true, CAS with a 404's index false")
    func casRules() async throws {
        let f = try ConsulFixture()
        let missing = try await f.get("/v1/kv/app/color")
        #expect(missing.status == 404)
        #expect(missing.body.isEmpty)
        let tableIndex = try #require(missing.index)
        #expect(tableIndex >= 1)
        // Issue #1864: the index from a 404 is the table index, useless as ?cas.
        #expect(try await f.put("/v1/kv/app/color?cas=\(tableIndex)", "blue").text == "false")
        #expect(f.fake.entry("app/color") == nil)
        #expect(try await f.put("/v1/kv/app/color?cas=0", "blue").text == "true")
        let first = try #require(f.fake.entry("app/color"))
        #expect(try await f.put("/v1/kv/app/color?cas=\(first.modifyIndex)", "green").text == "true")
        let second = try #require(f.fake.entry("app/color"))
        #expect(second.modifyIndex > first.modifyIndex)
        #expect(second.createIndex == first.createIndex)
        #expect(try await f.put("/v1/kv/app/color?cas=\(first.modifyIndex)", "red").text == "false")
        #expect(f.fake.value("app/color") == "green")
        #expect(f.fake.entry("app/color")?.modifyIndex == second.modifyIndex)
    }

    @Test("F.9.3: an identical write answers true and keeps ModifyIndex")
    func identicalWrite() async throws {
        let f = try ConsulFixture()
        _ = try await f.put("/v1/kv/a", "x")
        let before = try #require(f.fake.entry("a"))
        #expect(try await f.put("/v1/kv/a?cas=\(before.modifyIndex)", "x").text == "true")
        #expect(f.fake.entry("a")?.modifyIndex == before.modifyIndex)
        #expect(try await f.put("/v1/kv/a", "x").text == "true")
        #expect(f.fake.entry("a")?.modifyIndex == before.modifyIndex)
        // Changing the flags is a change.
        #expect(try await f.put("/v1/kv/a?flags=42", "x").text == "true")
        #expect(f.fake.entry("a")?.flags == 42)
        #expect(f.fake.entry("a")!.modifyIndex > before.modifyIndex)
        // A PUT without ?flags stores 0 (issue #9951).
        _ = try await f.put("/v1/kv/a", "x")
        #expect(f.fake.entry("a")?.flags == 0)
    }

    @Test("† F.9.4: DELETE ?cas=0 on an existing key is false; DELETE ?cas=N on an absent key is true")
    func deleteCAS() async throws {
        let f = try ConsulFixture()
        _ = try await f.put("/v1/kv/k", "v")
        #expect(try await f.send("DELETE", "/v1/kv/k?cas=0").text == "false")
        #expect(f.fake.value("k") == "v")
        #expect(try await f.send("DELETE", "/v1/kv/nope?cas=77").text == "true")
        let index = try #require(f.fake.entry("k")?.modifyIndex)
        #expect(try await f.send("DELETE", "/v1/kv/k?cas=\(index)").text == "true")
        #expect(f.fake.entry("k") == nil)
        #expect(try await f.send("DELETE", "/v1/kv/never").text == "true")
    }

    @Test("† F.9.5: conflicting flags 400, unparseable cas 500 with Go's text, missing key name 400")
    func flagErrors() async throws {
        let f = try ConsulFixture()
        let conflict = try await f.put("/v1/kv/k?cas=0&acquire=abc", "v")
        #expect(conflict.status == 400)
        #expect(conflict.text == "Conflicting flags: acquire=abc&cas=0")
        let bad = try await f.put("/v1/kv/k?cas=abc", "v")
        #expect(bad.status == 500)
        #expect(bad.text == "strconv.ParseUint: parsing \"abc\": invalid syntax")
        #expect(try await f.send("DELETE", "/v1/kv/k?recurse&cas=1").status == 400)
        let noKey = try await f.put("/v1/kv/", "v")
        #expect(noKey.status == 400)
        #expect(noKey.text == "Missing key name")
        #expect(try await f.get("/v1/kv/").status == 400)
        let acquire = try await f.put("/v1/kv/k?acquire=0d3c7c6a-0000-0000-0000-000000000000", "v")
        #expect(acquire.status == 500)
        #expect(acquire.text.contains("invalid session"))
    }

    @Test("† F.9.13: a value of 524 289 bytes is refused with 413, 524 288 bytes is stored")
    func valueSize() async throws {
        let f = try ConsulFixture()
        let big = try await f.put("/v1/kv/big", String(repeating: "x", count: 524_289))
        #expect(big.status == 413)
        #expect(big.text.contains("too large, max size: 524288 bytes"))
        #expect(f.fake.entry("big") == nil)
        #expect(try await f.put("/v1/kv/big", String(repeating: "x", count: 524_288)).text == "true")
        #expect(f.fake.entry("big")?.value?.count == 524_288)
    }

    @Test("GET: one-element array, ?raw with ModifyIndex and safety headers, null for an empty value, Session omitted")
    func getShapes() async throws {
        let f = try ConsulFixture()
        _ = try await f.put("/v1/kv/services/books-service/color", "blue")
        _ = try await f.put("/v1/kv/empty", "")
        let entry = try #require(f.fake.entry("services/books-service/color"))
        let reply = try await f.get("/v1/kv/services/books-service/color")
        #expect(reply.status == 200)
        #expect(
            reply.text
                == #"[{"LockIndex":0,"Key":"services/books-service/color","Flags":0,"Value":"Ymx1ZQ==","CreateIndex":\#(entry.createIndex),"ModifyIndex":\#(entry.modifyIndex)}]"#
        )
        #expect(reply.index == entry.modifyIndex)
        #expect(reply.header("X-Consul-KnownLeader") == "true")
        let raw = try await f.get("/v1/kv/services/books-service/color?raw")
        #expect(raw.text == "blue")
        #expect(raw.index == entry.modifyIndex)
        #expect(raw.header("Content-Type") == "text/plain")
        #expect(raw.header("X-Content-Type-Options") == "nosniff")
        #expect(raw.header("Content-Security-Policy") == "sandbox")
        let empty = try await f.get("/v1/kv/empty")
        #expect(empty.text.contains(#""Value":null"#))
        #expect(!empty.text.contains("Session"))
        let pretty = try await f.get("/v1/kv/empty?pretty")
        #expect(pretty.text.hasPrefix("[\n    {\n        \"LockIndex\": 0,"))
        #expect(pretty.text.hasSuffix("]\n"))
    }

    @Test("?recurse and ?keys: prefix order, separator folding, prefix index with tombstones, 404 when empty")
    func listings() async throws {
        let f = try ConsulFixture()
        for k in ["web/foo", "web/bar", "web/sub/a", "web/sub/b", "webby", "other"] { _ = try await f.put("/v1/kv/\(k)", k) }
        let keys = try await f.get("/v1/kv/web/?keys&separator=/")
        #expect(keys.text == #"["web/bar","web/foo","web/sub/"]"#)
        let plain = try await f.get("/v1/kv/web?keys")
        #expect(plain.text == #"["web/bar","web/foo","web/sub/a","web/sub/b","webby"]"#)
        let recurse = try await f.get("/v1/kv/web/?recurse")
        #expect(try recurse.jsonArray().map { $0["Key"] as? String } == ["web/bar", "web/foo", "web/sub/a", "web/sub/b"])
        #expect(recurse.index == f.fake.entries(prefix: "web/").map(\.modifyIndex).max())
        // Deleting the newest key: the listing's index is the tombstone's.
        _ = try await f.send("DELETE", "/v1/kv/web/sub/b")
        let afterDelete = try await f.get("/v1/kv/web/?recurse")
        #expect(afterDelete.index == f.fake.kvIndex)
        #expect(try await f.get("/v1/kv/nothing/?recurse").status == 404)
        #expect(try await f.get("/v1/kv/nothing/?keys").status == 404)
        let empty = try ConsulFixture()
        #expect(try await empty.get("/v1/kv/?keys").text == "[]")
        // DELETE ?recurse removes the prefix only.
        #expect(try await f.send("DELETE", "/v1/kv/web/?recurse").text == "true")
        #expect(f.fake.entries().map(\.key) == ["other", "webby"])
    }

    @Test("F.9.14: key validation by version; path cleaning answers 301")
    func keyValidation() async throws {
        let modern = try ConsulFixture { $0.keyValidation = .regex1215 }
        let refused = try await modern.put("/v1/kv/incidents/service:web:1", "x")
        #expect(refused.status == 500)
        #expect(refused.text.contains("invalid key name"))
        let old = try ConsulFixture()
        #expect(try await old.put("/v1/kv/incidents/service:web:1", "x").text == "true")
        #expect(old.fake.value("incidents/service:web:1") == "x")
        let cleaned = try await old.send("GET", "/v1/kv/a//b?raw")
        #expect(cleaned.status == 301)
        #expect(cleaned.header("Location") == "/v1/kv/a/b?raw")
        let traversal = try ConsulFixture { $0.keyValidation = .traversal122 }
        #expect(try await traversal.put("/v1/kv/a/%2E%2E/b", "x").status == 400)
    }

    @Test("† F.9.26: color key: ?raw gives value and ModifyIndex; a CAS flip wins once; a missing key is 404")
    func colorKey() async throws {
        let f = try ConsulFixture()
        #expect(try await f.get("/v1/kv/services/books-service/color?raw").status == 404)
        f.fake.putKey("services/books-service/color", "blue")
        let read = try await f.get("/v1/kv/services/books-service/color?raw")
        #expect(read.text == "blue")
        let index = try #require(read.index)
        #expect(index == f.fake.entry("services/books-service/color")?.modifyIndex)
        async let one = f.put("/v1/kv/services/books-service/color?cas=\(index)", "green")
        async let two = f.put("/v1/kv/services/books-service/color?cas=\(index)", "green")
        let answers = try await [one.text, two.text].sorted()
        #expect(answers == ["false", "true"])
        #expect(f.fake.value("services/books-service/color") == "green")
    }
}

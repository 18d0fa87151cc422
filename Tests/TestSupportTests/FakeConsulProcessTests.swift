import Foundation
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("fake-consul executable")
struct FakeConsulProcessTests {
    @Test("Two agents over one KV store, seeded from a recorded payload, with a token from the environment")
    func twoAgents() async throws {
        let fake = try FakeConsulProcess(
            arguments: [
                "--agent", "agent-a", "--agent", "agent-b", "--seed", Fixtures.url("checks-node-down-state-critical.json").path,
                "--service", "web-02:books-service:8080", "--kv", "services/books-service/color=green",
                "--acl-default", "deny", "--acl-token-env", "FAKE_CONSUL_TEST_TOKEN",
            ],
            environment: ["FAKE_CONSUL_TEST_TOKEN": "s3cret"])
        #expect(fake.agents.map(\.node) == ["agent-a", "agent-b"])
        let client = TestClient()
        let a = try #require(fake.address("agent-a"))
        let b = try #require(fake.address("agent-b"))
        let auth = ["X-Consul-Token": "s3cret"]
        #expect(try await client.get(URL(string: "http://\(a)/v1/kv/services/books-service/color?raw")!).status == 403)
        let color = try await client.get(URL(string: "http://\(b)/v1/kv/services/books-service/color?raw")!, headers: auth)
        #expect(color.text == "green")
        let node = try await client.get(URL(string: "http://\(a)/v1/catalog/node/web-02")!, headers: auth).json()
        #expect((node["Services"] as? [String: Any])?.keys.sorted() == ["books-service"])
        let critical = try await client.get(URL(string: "http://\(b)/v1/health/state/critical")!, headers: auth).jsonArray()
        #expect(critical.map { $0["CheckID"] as? String } == ["serfHealth"])
        let summary = try fake.stop()
        #expect(summary.hasPrefix(#"{"requests":4,"byEndpoint":{"catalog/node":1,"health/state":1,"kv":2}"#))
    }

    @Test("Bad arguments exit 2 with a one-line reason")
    func badArguments() throws {
        let result = try ExecutableHarness.run("fake-consul", arguments: ["--fault", "kv:explode"], stdin: [])
        #expect(result.exitCode == 2)
        #expect(result.stderr.hasPrefix("fake-consul: --fault: unknown action explode\n"))
    }
}

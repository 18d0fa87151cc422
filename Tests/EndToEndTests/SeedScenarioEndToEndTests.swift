import Foundation
import TestSupport
import Testing

/// The seed's scenario with the shipped handlers/consul-heal.json: books-service is redeployed
/// by its Jenkins job with the live color from Consul KV, when its check fails and when its node dies.
@Suite(.serialized) struct SeedScenarioEndToEndTests {
    static let shipped = HealEndToEndTests.handlers.appendingPathComponent("consul-heal.json")
    static let token = "11aabbccddeeff00112233445566778899"

    /// The shipped configuration pointed at the fakes and a scratch directory.
    static func config(jenkins: URL, directory: URL) throws -> URL {
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: shipped)) as! [String: Any]
        root["stateDir"] = directory.appendingPathComponent("state").path
        root["journal"] = ["file": directory.appendingPathComponent("journal.jsonl").path]
        var jenkinsSettings = root["jenkins"] as! [String: Any]
        jenkinsSettings["url"] = jenkins.absoluteString
        root["jenkins"] = jenkinsSettings
        var routes = root["routes"] as! [[String: Any]]
        for index in routes.indices {
            routes[index]["actions"] = (routes[index]["actions"] as! [[String: Any]]).map { action in
                var action = action
                if action["type"] as? String == "log" { action["file"] = directory.appendingPathComponent("watchers.log").path }
                return action
            }
        }
        root["routes"] = routes
        let url = directory.appendingPathComponent("consul-heal.json")
        try JSONSerialization.data(withJSONObject: root).write(to: url)
        return url
    }

    @Test(arguments: ["check", "node-down"])
    func booksServiceIsRedeployedByItsJobWithTheLiveColor(_ cause: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seed-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let jenkins = try FakeJenkins(
            .init(
                users: [FakeJenkins.User("consul-bot", password: "x", apiTokens: [Self.token])],
                jobs: [.init("books-service", parameters: [.init("COLOR"), .init("CAUSE"), .init("NODE")], quietPeriod: 0)], clock: .manual))
        defer { jenkins.stop() }
        let consul = FakeConsul()
        defer { consul.stop() }
        let agent = try consul.addAgent(node: "handler-01")
        consul.addService(node: "web-01", .init(id: "books-1", name: "books-service", port: 8080))
        consul.addService(node: "web-02", .init(id: "books-2", name: "books-service", port: 8080))
        consul.putKey("services/books-service/color", "green")
        let config = try Self.config(jenkins: jenkins.baseURL, directory: directory)
        func heal(_ payload: [UInt8], index: Int) throws -> ExecutableResult {
            try ExecutableHarness.run(
                "consul-heal", arguments: ["--config", config.path], stdin: payload,
                environment: ["CONSUL_INDEX": String(index), "CONSUL_HTTP_ADDR": agent.address, "JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": Self.token],
                viaShell: true, timeout: 60)
        }
        #expect(try heal(Array("[]\n".utf8), index: 10).exitCode == 0)
        let node: String
        if cause == "check" {
            consul.setCheck(node: "web-01", checkID: "service:books-1", status: "critical", output: "HTTP 503", serviceID: "books-1")
            node = "web-01"
        } else {
            consul.failNode("web-02")
            node = "web-02"
        }
        let result = try heal(ConsulWatchPoster.checksPayload(consul, state: "critical").payload, index: 11)
        #expect(result.exitCode == 0, "\(result.stderr)")
        let items = jenkins.queueItems.filter { $0.jobName == "books-service" }
        #expect(items.count == 1)
        let parameters = Dictionary((items.first?.parameters ?? []).map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(parameters["COLOR"] == "green")
        #expect(parameters["CAUSE"] == cause)
        #expect(parameters["NODE"] == node)
        #expect(result.stderr.contains("self check consul-heal-checks-critical: passing"))
        #expect(consul.agentCheck(node: "handler-01", id: "consul-heal-checks-critical")?.status == "passing")
    }
}

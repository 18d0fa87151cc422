import ConsulWatch
import Synchronization
import Testing

@testable import HandlerKit

/// The Consul client against a closure-backed transport: the requests it sends, how it reads
/// Consul's answers (bodies from consul-api.md), and how it fails.
@Suite struct ConsulClientTests {

    final class Script: Sendable {
        let requests = Mutex<[(HTTPRequest, Double)]>([])
        let answers: Mutex<[Result<HTTPResponse, TransportError>]>
        init(_ answers: [Result<HTTPResponse, TransportError>]) { self.answers = Mutex(answers) }
        var transport: ClosureTransport {
            ClosureTransport { request, timeout in
                self.requests.withLock { $0.append((request, timeout)) }
                return self.answers.withLock { $0.isEmpty ? .success(HTTPResponse(status: 599)) : $0.removeFirst() }
            }
        }
        var sent: [HTTPRequest] { requests.withLock { $0.map(\.0) } }
        var timeouts: [Double] { requests.withLock { $0.map(\.1) } }
    }

    static let secret = "5f1c0a2e-9b1d-4c7e-8a3f-secret000001"

    static func ok(_ body: String, headers: [String: [String]] = ["Content-Type": ["application/json"]]) -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: 200, headers: headers, body: Array(body.utf8)))
    }

    static func status(_ code: Int, _ body: String = "") -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: code, headers: ["Content-Type": ["text/plain; charset=utf-8"]], body: Array(body.utf8)))
    }

    func client(_ script: Script, clock: VirtualClock = VirtualClock(), token: String? = secret, address: ConsulAddress = .standard, attempts: Int = 4)
        -> ConsulClient
    {
        let settings = ConsulSettings(
            address: address, token: token.map { ConsulToken(secret: $0, source: "CONSUL_HTTP_TOKEN_FILE /etc/consul-heal/token") },
            timeout: 5, budget: 60, retry: RetryPolicy(attempts: attempts, baseDelay: 0.25, maximumDelay: 2, random: { 0.5 }))
        return ConsulClient(settings: settings, transport: script.transport, clock: clock)
    }

    // MARK: Request shapes and decoding

    @Test func agentSelfSendsTheTokenAsAHeaderOnlyAndReadsNodeAndDatacenter() throws {
        let script = Script([
            Self.ok(
                #"{"Config":{"Datacenter":"dc1","NodeName":"web-02","NodeID":"b3c1","Revision":"x","Server":false,"Version":"1.20.2"},"DebugConfig":{"Bootstrap":false},"Coord":{"Vec":[0,0]},"Member":{"Name":"web-02","Addr":"10.0.1.12","Port":8301,"Tags":{"dc":"dc1"},"Status":1},"Stats":{},"Meta":{"consul-network-segment":""}}"#
            )
        ])
        let info = try client(script).agentSelf()
        #expect(info == ConsulAgentInfo(nodeName: "web-02", datacenter: "dc1"))
        let request = script.sent[0]
        #expect(request.method == "GET")
        #expect(request.url == "http://127.0.0.1:8500/v1/agent/self")
        #expect(request.header("X-Consul-Token") == Self.secret)
        #expect(!request.url.contains("token"))
        #expect(request.body.isEmpty)
        #expect(script.timeouts == [5])
    }

    @Test func catalogNodeListsServicesByIDAndNullMeansUnknown() throws {
        let body =
            #"{"Node":{"ID":"40e4a748-2192-161a-0510-9bf59fe950b5","Node":"web-02","Address":"10.0.1.12","Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.1.12","wan":"10.0.1.12"},"Meta":{"consul-network-segment":""},"CreateIndex":13,"ModifyIndex":48517},"Services":{"web-02-books":{"ID":"web-02-books","Service":"books-service","Tags":[],"Address":"","Meta":null,"Port":8080,"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"Proxy":{"MeshGateway":{},"Expose":{}},"Connect":{},"CreateIndex":21,"ModifyIndex":21},"consul":{"ID":"consul","Service":"consul","Tags":[],"Address":"","Meta":null,"Port":8300,"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"CreateIndex":5,"ModifyIndex":5}}}"#
        let script = Script([Self.ok(body), Self.ok("null")])
        let consul = client(script)
        let node = try #require(try consul.catalogNode("web 02"))
        #expect(node.node.node == "web-02")
        #expect(node.services.map(\.id) == ["consul", "web-02-books"])
        #expect(node.services[1].service == "books-service")
        #expect(node.services[1].port == 8080)
        #expect(script.sent[0].url == "http://127.0.0.1:8500/v1/catalog/node/web%2002")
        #expect(try consul.catalogNode("ghost") == nil)
    }

    @Test func healthNodeChecksDecodesRawHTTPChecks() throws {
        let body =
            #"[{"Node":"web-02","CheckID":"serfHealth","Name":"Serf Health Status","Status":"critical","Notes":"","Output":"Agent not live or unreachable","ServiceID":"","ServiceName":"","ServiceTags":[],"Type":"","Interval":"","Timeout":"","ExposedPort":0,"Definition":{},"CreateIndex":13,"ModifyIndex":48517},{"Node":"web-02","CheckID":"service:web-02-books","Name":"Service 'books-service' check","Status":"passing","Notes":"","Output":"HTTP GET http://10.0.1.12:8080/health: 200 OK","ServiceID":"web-02-books","ServiceName":"books-service","ServiceTags":[],"Type":"http","Interval":"10s","Timeout":"1s","ExposedPort":0,"Definition":{},"CreateIndex":22,"ModifyIndex":40}]"#
        let script = Script([Self.ok(body), Self.ok("[]")])
        let consul = client(script)
        let checks = try consul.healthNodeChecks("web-02")
        #expect(checks.map(\.checkID) == ["serfHealth", "service:web-02-books"])
        #expect(checks[0].status == .critical)
        #expect(checks[1].serviceName == "books-service")
        #expect(script.sent[0].url == "http://127.0.0.1:8500/v1/health/node/web-02")
        #expect(try consul.healthNodeChecks("ghost") == [])
    }

    @Test func kvRawReturnsBytesOrNilOn404() throws {
        let script = Script([
            .success(HTTPResponse(status: 200, headers: ["Content-Type": ["text/plain"], "X-Consul-Index": ["200"]], body: Array("green".utf8))),
            .success(HTTPResponse(status: 404, headers: ["X-Consul-Index": ["1234"]])),
        ])
        let consul = client(script)
        #expect(try consul.kvRaw("services/books-service/color") == Array("green".utf8))
        #expect(try consul.kvRaw("services/books-service/colour") == nil)
        #expect(script.sent[0].url == "http://127.0.0.1:8500/v1/kv/services/books-service/color?raw")
        #expect(script.sent.count == 2)  // a 404 is an answer, not a failure to retry
    }

    @Test func kvEntryDecodesIndexesSessionAndNullValues() throws {
        let script = Script([
            Self.ok(
                #"[{"LockIndex":1,"Key":"services/books-service/color","Flags":0,"Value":"Z3JlZW4=","Session":"adf4238a-882b-9ddc-4a9d-5b6758e4159e","CreateIndex":100,"ModifyIndex":200}]"#
            ),
            // A dev agent's pretty output, no Session, a null value.
            Self.ok(
                "[\n    {\n        \"LockIndex\": 0,\n        \"Key\": \"consul-handlers/w/\",\n        \"Flags\": 0,\n        \"Value\": null,\n        \"CreateIndex\": 7,\n        \"ModifyIndex\": 7\n    }\n]\n"
            ),
            .success(HTTPResponse(status: 404)),
        ])
        let consul = client(script)
        let entry = try #require(try consul.kvEntry("services/books-service/color"))
        #expect(entry.key == "services/books-service/color")
        #expect(entry.decodedValue == Array("green".utf8))
        #expect(entry.modifyIndex == 200)
        #expect(entry.createIndex == 100)
        #expect(entry.lockIndex == 1)
        #expect(entry.flags == 0)
        #expect(entry.session == "adf4238a-882b-9ddc-4a9d-5b6758e4159e")
        #expect(script.sent[0].url == "http://127.0.0.1:8500/v1/kv/services/books-service/color")
        let folder = try #require(try consul.kvEntry("consul-handlers/w/"))
        #expect(folder.value == nil)
        #expect(folder.session == nil)
        #expect(script.sent[1].url.hasSuffix("/v1/kv/consul-handlers/w/"))
        #expect(try consul.kvEntry("missing") == nil)
    }

    @Test func kvListRecursesAndAnEmptyPrefixIsEmpty() throws {
        let script = Script([
            Self.ok(
                #"[{"LockIndex":0,"Key":"consul-handlers/web/a","Flags":0,"Value":"MQ==","CreateIndex":5,"ModifyIndex":9},{"LockIndex":0,"Key":"consul-handlers/web/b","Flags":3,"Value":null,"CreateIndex":6,"ModifyIndex":6}]"#
            ),
            .success(HTTPResponse(status: 404)),
        ])
        let consul = client(script)
        let entries = try consul.kvList(prefix: "consul-handlers/web/")
        #expect(entries.map(\.key) == ["consul-handlers/web/a", "consul-handlers/web/b"])
        #expect(entries[1].flags == 3)
        #expect(script.sent[0].url == "http://127.0.0.1:8500/v1/kv/consul-handlers/web/?recurse")
        #expect(try consul.kvList(prefix: "nothing/") == [])
    }

    @Test func kvPutAndDeleteWithCASAnswerTheBoolean() throws {
        let script = Script([Self.ok("true"), Self.ok("false\n"), Self.ok("true"), Self.ok("true")])
        let consul = client(script)
        #expect(try consul.kvPut("services/books-service/color", value: Array("green".utf8), cas: 0) == true)
        #expect(try consul.kvPut("services/books-service/color", value: Array("blue".utf8), cas: 200) == false)
        #expect(try consul.kvDelete("consul-handlers/w/claims/x", cas: 17) == true)
        #expect(try consul.kvPut("plain", value: []) == true)
        let put = script.sent[0]
        #expect(put.method == "PUT")
        #expect(put.url == "http://127.0.0.1:8500/v1/kv/services/books-service/color?cas=0")
        #expect(put.body == Array("green".utf8))
        #expect(put.header("Content-Type") == "application/octet-stream")
        #expect(put.header("X-Consul-Token") == Self.secret)
        #expect(script.sent[1].url.hasSuffix("?cas=200"))
        #expect(script.sent[2].method == "DELETE")
        #expect(script.sent[2].url == "http://127.0.0.1:8500/v1/kv/consul-handlers/w/claims/x?cas=17")
        #expect(script.sent[3].url == "http://127.0.0.1:8500/v1/kv/plain")
    }

    @Test func keysArePercentEncodedPerSegmentAndUnsafeKeysNeverSent() throws {
        let script = Script(Array(repeating: Self.status(404), count: 10))
        let consul = client(script)
        _ = try consul.kvRaw("incidents/service:web:1/a b/é%2F?#")
        #expect(script.sent[0].url == "http://127.0.0.1:8500/v1/kv/incidents/service%3Aweb%3A1/a%20b/%C3%A9%252F%3F%23?raw")
        for bad in ["", "/lead", "a//b", "a/./b", "a/../b", "..", "a\nb", "a\u{7F}"] {
            #expect(throws: ConsulError.self, "\(bad)") { try consul.kvRaw(bad) }
        }
        #expect(throws: ConsulError.self) { try consul.catalogNode("") }
        #expect(throws: ConsulError.self) { try consul.updateCheck(id: "..", status: .passing, output: "") }
        #expect(script.sent.count == 1)
    }

    @Test func checkRegisterAndUpdateBodies() throws {
        let script = Script([Self.ok(""), Self.ok("")])
        let consul = client(script)
        try consul.registerCheck(ConsulTTLCheck(id: "consul-heal-web", name: "consul-heal web", ttl: "24h", notes: "handler health", status: .passing))
        try consul.updateCheck(id: "consul-heal:web", status: .warning, output: "1 delivery spooled")
        let register = script.sent[0]
        #expect(register.method == "PUT")
        #expect(register.url == "http://127.0.0.1:8500/v1/agent/check/register")
        #expect(
            String(decoding: register.body, as: UTF8.self)
                == #"{"ID":"consul-heal-web","Name":"consul-heal web","TTL":"24h","Notes":"handler health","Status":"passing"}"#)
        #expect(register.header("Content-Type") == "application/json")
        let update = script.sent[1]
        #expect(update.url == "http://127.0.0.1:8500/v1/agent/check/update/consul-heal%3Aweb")
        #expect(String(decoding: update.body, as: UTF8.self) == #"{"Status":"warning","Output":"1 delivery spooled"}"#)
        #expect(throws: ConsulError.self) { try consul.updateCheck(id: "x", status: .other("ok"), output: "") }
    }

    @Test func unknownCheckIsNotFoundOnNewAndOldAgents() {
        let script = Script([
            Self.status(404, #"Unknown check ID "consul-heal-web". Ensure that the check ID is passed, not the check name."#),
            Self.status(500, #"Unknown check "consul-heal-web""#),
        ])
        let consul = client(script)
        for _ in 0..<2 {
            #expect(throws: ConsulError.notFound(object: "check consul-heal-web on this agent")) {
                try consul.updateCheck(id: "consul-heal-web", status: .passing, output: "ok")
            }
        }
        #expect(script.sent.count == 2)  // neither is retried
    }

    @Test func pathPrefixAndUnixBaseURL() throws {
        let script = Script([Self.ok("null"), Self.ok("null")])
        _ = try client(script, address: .tcp(host: "proxy", port: 8080, tls: true, pathPrefix: "/consul")).catalogNode("n")
        _ = try client(script, address: .unix(path: "/run/consul.sock")).catalogNode("n")
        #expect(script.sent[0].url == "https://proxy:8080/consul/v1/catalog/node/n")
        #expect(script.sent[1].url == "http://localhost/v1/catalog/node/n")
    }

    // MARK: Failures

    @Test func aclDenialNamesThePermissionAndObject() {
        let script = Script([
            Self.status(403, "Permission denied"),
            Self.status(403, #"Permission denied: token with AccessorID 'e5a0c1b2-0000' lacks permission 'key:read' on "services/books/color""#),
            Self.status(403, "ACL not found"),
            Self.status(403, "Permission denied"),
        ])
        let consul = client(script)
        do {
            _ = try consul.catalogNode("web-02")
            Issue.record("no error")
        } catch {
            #expect(error.description == "ACL denied: the token (CONSUL_HTTP_TOKEN_FILE /etc/consul-heal/token) needs node:read for node web-02")
        }
        do {
            _ = try consul.kvRaw("services/books/color")
            Issue.record("no error")
        } catch {
            #expect(error.description == "ACL denied: the token (CONSUL_HTTP_TOKEN_FILE /etc/consul-heal/token) needs key:read on services/books/color")
        }
        do {
            _ = try consul.agentSelf()
            Issue.record("no error")
        } catch {
            #expect(error == .unknownToken(token: "token (CONSUL_HTTP_TOKEN_FILE /etc/consul-heal/token)"))
            #expect(error.description.contains("ACL not found"))
        }
        do {
            _ = try client(script, token: nil).kvPut("consul-handlers/w/x", value: [1], cas: 0)
            Issue.record("no error")
        } catch {
            #expect(
                error.description
                    == "ACL denied: the anonymous token (no CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE set) needs key:write on consul-handlers/w/x")
            #expect(!error.isUnavailable)
        }
        #expect(script.sent.count == 4)  // 403 is never retried
    }

    @Test func clientErrorsAreNeverRetried() {
        let script = Script([
            Self.status(400, "Missing node name"), Self.status(413, "Request body(600000 bytes) too large, max size: 524288 bytes."),
            Self.status(405, "method GET not allowed"),
        ])
        let consul = client(script)
        #expect(throws: ConsulError.http(status: 400, operation: "GET /v1/catalog/node/x", message: "Missing node name")) { try consul.catalogNode("x") }
        #expect(throws: ConsulError.self) { try consul.kvPut("k", value: [1]) }
        #expect(throws: ConsulError.self) { try consul.kvRaw("k") }
        #expect(script.sent.count == 3)
    }

    @Test func wrongEndpoint404NamesIt() {
        let script = Script([Self.status(404, "Invalid URL path: not a recognized HTTP API endpoint")])
        do {
            _ = try client(script).agentSelf()
            Issue.record("no error")
        } catch {
            #expect(error.description.contains("GET /v1/agent/self is not an endpoint of this agent"))
        }
    }

    @Test func readsRetry5xx429AndConnectionErrorsWithBackOffThenSucceed() throws {
        let clock = VirtualClock()
        let script = Script([
            Self.status(500, "No cluster leader"), Self.status(429), .failure(.cannotConnect("connection refused")),
            .success(HTTPResponse(status: 200, body: Array("blue".utf8))),
        ])
        #expect(try client(script, clock: clock).kvRaw("services/books/color") == Array("blue".utf8))
        #expect(script.sent.count == 4)
        // Equal jitter at 0.5: 0.25·(0.5+0.25), then doubling.
        #expect(clock.sleeps == [0.1875, 0.375, 0.75])
    }

    @Test func readsGiveUpAfterTheAttemptsWithTheLastCause() {
        let script = Script(Array(repeating: Self.status(500, "rpc error making call: No cluster leader"), count: 9))
        do {
            _ = try client(script, attempts: 3).kvRaw("k")
            Issue.record("no error")
        } catch {
            #expect(error == .http(status: 500, operation: "GET /v1/kv/k?raw", message: "rpc error making call: No cluster leader"))
            #expect(error.isUnavailable)
        }
        #expect(script.sent.count == 3)
        let timeouts = Script(Array(repeating: .failure(.timedOut(5)), count: 9))
        do {
            _ = try client(timeouts, attempts: 2).catalogNode("n")
            Issue.record("no error")
        } catch {
            #expect(error == .unreachable(agent: "http://127.0.0.1:8500", cause: .timedOut(5), attempts: 2))
            #expect(error.description == "Consul agent http://127.0.0.1:8500 unreachable: no response within 5.0s (after 2 attempts)")
        }
    }

    @Test func retriesStopAtTheDeadline() {
        let clock = VirtualClock()
        let script = Script(Array(repeating: Self.status(503), count: 9))
        #expect(throws: ConsulError.self) { try client(script, clock: clock, attempts: 9).kvRaw("k", deadline: clock.now() + 1) }
        // 0.1875 + 0.375 = 0.5625; the next delay (0.75) would pass the deadline.
        #expect(script.sent.count == 3)
        #expect(clock.now() <= 1001)
        #expect(throws: ConsulError.deadline(operation: "GET /v1/kv/k?raw")) { try client(script, clock: clock).kvRaw("k", deadline: clock.now() - 1) }
    }

    @Test func casWriteWhoseAnswerIsLostIsOutcomeUnknownAndNotRepeated() {
        for answer: Result<HTTPResponse, TransportError> in [
            .failure(.timedOut(5)), .failure(.failed("connection closed before the response was complete")), Self.status(500, "rpc error making call: EOF"),
        ] {
            let script = Script([answer, Self.ok("true")])
            do {
                _ = try client(script).kvPut("consul-handlers/w/claims/abc", value: Array("{}".utf8), cas: 0)
                Issue.record("no error for \(answer)")
            } catch {
                guard case .outcomeUnknown(let operation, _) = error else {
                    Issue.record("\(error)")
                    continue
                }
                #expect(operation == "PUT /v1/kv/consul-handlers/w/claims/abc?cas=0")
                #expect(error.isUnavailable)
            }
            #expect(script.sent.count == 1)
        }
        let delete = Script([.failure(.timedOut(5))])
        #expect(throws: ConsulError.outcomeUnknown(operation: "DELETE /v1/kv/k?cas=3", cause: "no response within 5.0s")) {
            try client(delete).kvDelete("k", cas: 3)
        }
    }

    @Test func casWriteIsRepeatedWhenItCannotHaveBeenSentOrWasRateLimited() throws {
        let script = Script([
            .failure(.cannotConnect("connection refused")),
            Self.status(429, "Your IP is issuing too many concurrent connections, please rate limit your calls"), Self.ok("true"),
        ])
        #expect(try client(script).kvPut("k", value: [1], cas: 5) == true)
        #expect(script.sent.count == 3)
    }

    @Test func repeatableWriteThatMayHaveLandedEndsAsOutcomeUnknown() {
        let script = Script([.failure(.timedOut(5)), .failure(.cannotConnect("connection refused")), .failure(.cannotConnect("connection refused"))])
        do {
            try client(script, attempts: 3).updateCheck(id: "c", status: .passing, output: "ok")
            Issue.record("no error")
        } catch {
            guard case .outcomeUnknown = error else {
                Issue.record("\(error)")
                return
            }
        }
        #expect(script.sent.count == 3)
        // Refused every time: nothing can have landed.
        let refused = Script(Array(repeating: .failure(.cannotConnect("connection refused")), count: 3))
        #expect(throws: ConsulError.unreachable(agent: "http://127.0.0.1:8500", cause: .cannotConnect("connection refused"), attempts: 3)) {
            try client(refused, attempts: 3).updateCheck(id: "c", status: .passing, output: "ok")
        }
    }

    @Test func malformedAnswersAreBadResponses() {
        let script = Script([Self.ok("{\"Config\":{}}"), Self.ok("yes"), Self.ok("[{\"Key\":1}]")])
        let consul = client(script)
        #expect(throws: ConsulError.self) { try consul.agentSelf() }
        #expect(throws: ConsulError.self) { try consul.kvPut("k", value: []) }
        #expect(throws: ConsulError.self) { try consul.kvEntry("k") }
    }

    @Test func theTokenIsInNoErrorDescription() {
        // A proxy that echoes the request (headers included) into its error page.
        let echo = "X-Consul-Token: \(Self.secret)"
        let answers: [Result<HTTPResponse, TransportError>] = [
            Self.status(403, "Access is restricted; " + echo), Self.status(502, echo), Self.status(400, echo),
            .failure(.failed(echo)), Self.status(429, echo),
        ]
        var descriptions: [String] = []
        for answer in answers {
            let script = Script(Array(repeating: answer, count: 4))
            let consul = client(script, attempts: 2)
            for call in [
                { _ = try consul.kvRaw("k") }, { _ = try consul.kvPut("k", value: [1], cas: 1) },
                { try consul.updateCheck(id: "c", status: .critical, output: "x") },
            ] as [() throws -> Void] {
                do { try call() } catch { descriptions.append(String(describing: error)) }
            }
            descriptions.append(consul.settings.description)
        }
        #expect(descriptions.count >= 15)
        for text in descriptions {
            #expect(!text.contains(Self.secret), "\(text)")
            #expect(!text.contains("\n"))
        }
    }
}

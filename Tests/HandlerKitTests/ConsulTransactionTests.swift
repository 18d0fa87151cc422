import ConsulWatch
import FoundationEssentials
import Testing

@testable import HandlerKit

/// `PUT /v1/txn` through the client: the body Consul's `api.TxnOps` decoder reads, and the
/// answers of agent/txn_endpoint.go (200 committed, 409 rolled back with one error per failed
/// operation, ACL denials inside the 409).
extension ConsulClientTests {
    static func conflict(_ body: String) -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: 409, headers: ["Content-Type": ["application/json"]], body: Array(body.utf8)))
    }

    @Test func transactionSendsKVOperationsAndReadsTheCommittedEntries() throws {
        let script = Script([
            Self.ok(
                #"{"Results":[{"KV":{"LockIndex":0,"Key":"p/w/targets/a","Flags":0,"Value":null,"CreateIndex":1205,"ModifyIndex":1205}}],"Errors":null}"#
            )
        ])
        let outcome = try client(script).transaction([
            .cas("p/w/targets/a", value: Array("{\"x\":1}".utf8), index: 0), .deleteCAS("p/w/targets/b", index: 1190),
        ])
        var written = KVPair(key: "p/w/targets/a")
        written.createIndex = 1205
        written.modifyIndex = 1205
        written.lockIndex = 0
        written.flags = 0
        #expect(outcome == .committed([written]))
        let request = script.sent[0]
        #expect(request.method == "PUT")
        #expect(request.url == "http://127.0.0.1:8500/v1/txn")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("X-Consul-Token") == Self.secret)
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(
            body
                == #"[{"KV":{"Verb":"cas","Key":"p/w/targets/a","Value":"eyJ4IjoxfQ==","Index":0}},{"KV":{"Verb":"delete-cas","Key":"p/w/targets/b","Index":1190}}]"#
        )
    }

    @Test func aRolledBackTransactionNamesEveryFailedOperation() throws {
        let script = Script([
            Self.conflict(
                #"{"Results":null,"Errors":[{"OpIndex":0,"What":"failed to set key \"p/a\", index is stale"},{"OpIndex":2,"What":"failed to delete key \"p/c\", index is stale"}]}"#
            )
        ])
        let outcome = try client(script).transaction([
            .cas("p/a", value: [1], index: 0), .cas("p/b", value: [2], index: 7), .deleteCAS("p/c", index: 9),
        ])
        guard case .rolledBack(let errors) = outcome else {
            Issue.record("expected a rollback, got \(outcome)")
            return
        }
        #expect(errors.map(\.opIndex) == [0, 2])
        #expect(errors.filter(\.isConflict).count == 2)
        #expect(script.sent.count == 1)
    }

    @Test func anACLDenialInsideTheTransactionIsADenialNotAConflict() {
        let script = Script([
            Self.conflict(
                #"{"Results":null,"Errors":[{"OpIndex":1,"What":"Permission denied: token with AccessorID 'a1b2' lacks permission 'key:write' on \"other/x\""}]}"#
            ),
            Self.conflict(#"{"Results":null,"Errors":[{"OpIndex":1,"What":"Permission denied"}]}"#),
        ])
        let client = client(script)
        #expect(throws: ConsulError.aclDenied(needs: "key:write on other/x", token: "token (CONSUL_HTTP_TOKEN_FILE /etc/consul-heal/token)")) {
            try client.transaction([.cas("p/a", value: [1], index: 0), .cas("other/x", value: [2], index: 0)])
        }
        #expect(throws: ConsulError.aclDenied(needs: "key:write on other/x", token: "token (CONSUL_HTTP_TOKEN_FILE /etc/consul-heal/token)")) {
            try client.transaction([.cas("p/a", value: [1], index: 0), .cas("other/x", value: [2], index: 0)])
        }
    }

    @Test func aTransactionWhoseAnswerIsLostIsNeverRepeated() {
        let script = Script([Self.status(500, "No cluster leader"), .failure(.timedOut(5))])
        let client = client(script)
        #expect(throws: ConsulError.outcomeUnknown(operation: "PUT /v1/txn", cause: "the agent answered 500 (No cluster leader)")) {
            try client.transaction([.cas("p/a", value: [1], index: 0)])
        }
        #expect(script.sent.count == 1)
        #expect(throws: ConsulError.outcomeUnknown(operation: "PUT /v1/txn", cause: "no response within 5.0s")) {
            try client.transaction([.cas("p/a", value: [1], index: 0)])
        }
        #expect(script.sent.count == 2)
    }

    @Test func tooManyOperationsIsAnErrorNotARetry() {
        let script = Script([Self.status(413, "Transaction contains too many operations (65 > 64)")])
        let client = client(script)
        #expect(throws: ConsulError.http(status: 413, operation: "PUT /v1/txn", message: "Transaction contains too many operations (65 > 64)")) {
            try client.transaction((0..<65).map { KVTxnOperation.cas("p/\($0)", value: [1], index: 0) })
        }
        #expect(script.sent.count == 1)
    }

    @Test func aKeyConsulWouldRefuseIsNeverSent() {
        let script = Script([])
        let client = client(script)
        #expect(throws: ConsulError.self) { try client.transaction([.cas("/leading", value: [1], index: 0)]) }
        #expect(script.sent.isEmpty)
    }
}

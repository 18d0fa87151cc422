import ConsulWatch
import Foundation
import TestSupport
import Testing

/// Field-level facts from the recorded payloads: what the models must hold, not just that they decode.
@Suite("Model fields")
struct FieldLevelTests {
    static let webOutput =
        "HTTP GET http://10.0.1.12:8080/health: 503 Service Unavailable Output: <html><body><h1>503 Service Unavailable</h1>\n"
        + "No server is available to handle this request.\n</body></html>"

    @Test("a health check's fields, HTML-escaped Output and Definition included", arguments: DecoderKind.allCases)
    func healthCheckFields(decoder: DecoderKind) throws {
        let checks = try #require(try decoder.decode(Fixtures.bytes("checks-one-critical.json"), as: .checks).checks)
        let check = try #require(checks.first { $0.node == "web-02" && $0.checkID == "service:web" })
        #expect(check.status == .critical)
        #expect(check.name == "Service 'web' check")
        #expect(check.output == Self.webOutput)
        #expect(check.output?.contains("<html>") == true)
        #expect(check.output?.contains("\n") == true)
        #expect(check.output?.contains("\\u003c") == false)
        #expect(check.notes == "")
        #expect(check.serviceID == "web")
        #expect(check.serviceName == "web")
        #expect(check.serviceTags == ["production", "v2"])
        #expect(check.type == "http")
        #expect(check.exposedPort == 0)
        #expect(check.createIndex == 24)
        #expect(check.modifyIndex == 48391)
        #expect(check.namespace == nil)
        #expect(check.partition == nil)
        #expect(check.peerName == nil)
        #expect(check.isNodeCheck == false)
        #expect(check.maintenance == nil)

        let definition = try #require(check.definition)
        #expect(definition.interval == "10s")
        #expect(definition.timeout == "2s")
        #expect(definition.deregisterCriticalServiceAfter == "1h30m0s")
        #expect(definition.http == "http://10.0.1.12:8080/health")
        #expect(definition.header == nil)
        #expect(definition.method == "")
        #expect(definition.tlsSkipVerify == false)
        #expect(definition.tcpUseTLS == false)
        #expect(definition.osService == "")
        #expect(definition.grpcUseTLS == false)
        #expect(definition.sessionName == nil)

        // The node-level checks of the same payload.
        let serf = try #require(checks.first { $0.node == "web-02" && $0.checkID == "serfHealth" })
        #expect(serf.serviceID == "")
        #expect(serf.serviceTags == [])
        #expect(serf.isNodeCheck)
        #expect(serf.definition?.interval == "0s")
        #expect(checks.map(\.node) == ["api-01", "api-01", "api-01", "api-01", "consul-server-1", "web-01", "web-01", "web-02", "web-02", "web-02"])
        #expect(checks.filter { $0.status == .critical }.count == 1)
        #expect(checks.filter { $0.name == "Service 'api' check" }.map(\.checkID) == ["service:api:1", "service:api:2"])
    }

    @Test("a Definition Header object of string lists decodes", arguments: DecoderKind.allCases)
    func definitionHeader(decoder: DecoderKind) throws {
        let bytes = replacing(
            #""Header":null"#, with: #""Header":{"Authorization":["Bearer x"],"X-Multi":["a","b"]}"#, in: Fixtures.bytes("checks-state-critical-one.json"))
        let check = try #require(try decoder.decode(bytes, as: .checks).checks?.first)
        #expect(check.definition?.header == ["Authorization": ["Bearer x"], "X-Multi": ["a", "b"]])
    }

    @Test("maintenance checks are told apart by their check IDs")
    func maintenanceChecks() throws {
        let checks = try #require(try WatchPayload.decode(Fixtures.bytes("checks-maintenance.json")).checks)
        #expect(checks.count == 2)
        #expect(checks[0].maintenance == .node("api-01"))
        #expect(checks[0].notes == "Kernel patching CHG-20931 (ops: @mlopez)")
        #expect(checks[0].status == .critical)
        #expect(checks[0].isNodeCheck)
        #expect(checks[1].maintenance == .service(node: "web-01", serviceID: "web"))
        #expect(checks[1].notes == "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.")
        #expect(checks[1].isNodeCheck == false)
    }

    @Test("KV Value is base64, decoded on demand", arguments: DecoderKind.allCases)
    func keyValue(decoder: DecoderKind) throws {
        guard case .key(let pair?) = try decoder.decode(Fixtures.bytes("key.json"), as: .key) else {
            Issue.record("key.json is not a key payload")
            return
        }
        #expect(pair.key == "config/web/release")
        #expect(pair.value == "djIuNC4x")
        #expect(pair.decodedValue == Array("v2.4.1".utf8))
        #expect(pair.createIndex == 1793)
        #expect(pair.modifyIndex == 48102)
        #expect(pair.lockIndex == 0)
        #expect(pair.flags == 0)
        #expect(pair.session == "")
        #expect(pair.namespace == nil)
    }

    @Test("keyprefix: folder key with null Value, a lock-held key, Flags", arguments: DecoderKind.allCases)
    func keyPrefix(decoder: DecoderKind) throws {
        guard case .keyprefix(let pairs?) = try decoder.decode(Fixtures.bytes("keyprefix.json"), as: .keyprefix) else {
            Issue.record("keyprefix.json is not a keyprefix payload")
            return
        }
        #expect(pairs.map(\.key) == ["config/web/", "config/web/leader", "config/web/max_conns", "config/web/release"])
        #expect(pairs[0].value == nil)
        #expect(pairs[0].decodedValue == nil)
        #expect(pairs[1].lockIndex == 3)
        #expect(pairs[1].session == "adf4238a-882b-9ddc-4a9d-5b6758e4159e")
        #expect(pairs[1].decodedValue == Array(#"{"node":"web-01","since":"2024-11-02T09:14:03Z"}"#.utf8))
        #expect(pairs[2].flags == 42)
        #expect(pairs[2].decodedValue == Array("512".utf8))
        #expect(pairs[3].decodedValue == Array("v2.4.1".utf8))
    }

    @Test("event Payload: base64 and null", arguments: DecoderKind.allCases)
    func eventPayloads(decoder: DecoderKind) throws {
        guard case .event(let events) = try decoder.decode(Fixtures.bytes("event.json"), as: .event) else {
            Issue.record("event.json is not an event payload")
            return
        }
        let event = try #require(events.first)
        #expect(event.id == "b54fe110-7af5-cafc-d1fb-afc8ba432b1c")
        #expect(event.name == "deploy-web")
        #expect(event.decodedPayload == Array(#"{"version":"2.4.2","requested_by":"jenkins#1182"}"#.utf8))
        #expect(event.serviceFilter == "web")
        #expect(event.nodeFilter == "")
        #expect(event.version == 1)
        #expect(event.lTime == 42)

        guard case .event(let buffered) = try decoder.decode(Fixtures.bytes("event-first-fire-buffered.json"), as: .event) else {
            Issue.record("event-first-fire-buffered.json is not an event payload")
            return
        }
        #expect(buffered.map(\.lTime) == [37, 39, 40])
        #expect(buffered[1].payload == nil)
        #expect(buffered[1].decodedPayload == nil)
        #expect(buffered[0].decodedPayload == Array(#"{"version":"2.4.0","requested_by":"jenkins#1150"}"#.utf8))
        #expect(buffered[2].tagFilter == "production")
    }

    @Test("nodes, services and service entries", arguments: DecoderKind.allCases)
    func catalogShapes(decoder: DecoderKind) throws {
        guard case .nodes(let nodes) = try decoder.decode(Fixtures.bytes("nodes.json"), as: .nodes) else {
            Issue.record("nodes.json is not a nodes payload")
            return
        }
        #expect(nodes.map(\.node) == ["api-01", "consul-server-1", "web-01", "web-02"])
        let web01 = try #require(nodes.first { $0.node == "web-01" })
        #expect(web01.id == "b3c1d7e4-8f2a-4e6b-a1d9-5c7e0f3a2b14")
        #expect(web01.address == "10.0.1.11")
        #expect(web01.datacenter == "dc1")
        #expect(web01.taggedAddresses?["wan_ipv4"] == "10.0.1.11")
        #expect(web01.meta == ["consul-network-segment": "", "consul-version": "1.20.2"])

        // Tag order is Consul's (not sorted): kept as sent.
        #expect(
            try decoder.decode(Fixtures.bytes("services.json"), as: .services)
                == .services(["api": ["production"], "consul": [], "redis": ["cache"], "web": ["v2", "production"]]))

        guard case .service(let entries) = try decoder.decode(Fixtures.bytes("service-health.json"), as: .service) else {
            Issue.record("service-health.json is not a service payload")
            return
        }
        #expect(entries.map(\.node.node) == ["web-01", "web-02"])
        let entry = entries[1]
        #expect(entry.service.id == "web")
        #expect(entry.service.service == "web")
        #expect(entry.service.kind == nil)
        #expect(entry.service.tags == ["production", "v2"])
        #expect(entry.service.port == 8080)
        #expect(entry.service.address == "10.0.1.12")
        #expect(entry.service.weights == Weights(passing: 1, warning: 1))
        #expect(entry.service.taggedAddresses?["lan_ipv4"] == ServiceAddress(address: "10.0.1.12", port: 8080))
        #expect(entry.service.enableTagOverride == false)
        #expect(entry.service.proxy == .object(["MeshGateway": .object([:]), "Expose": .object([:])]))
        #expect(entry.service.connect == .object([:]))
        // Node-level checks first, then the instance's own.
        #expect(entry.checks.map(\.checkID) == ["backup-heartbeat", "serfHealth", "service:web"])
        #expect(entry.checks.map(\.status) == [.passing, .passing, .critical])
    }

    @Test("CONSUL_INDEX-sized numbers: indexes above Int64.max are UInt64", arguments: DecoderKind.allCases)
    func uint64Indexes(decoder: DecoderKind) throws {
        let eventIndex: UInt64 = 11_728_876_555_923_391_317
        #expect(eventIndex > UInt64(Int64.max))
        let bytes = Array(#"[{"ID":"x","LTime":11728876555923391317}]"#.utf8)
        guard case .event(let events) = try decoder.decode(bytes, as: .event) else {
            Issue.record("not an event payload")
            return
        }
        #expect(events.first?.lTime == eventIndex)

        let max = Array(#"{"Key":"k","ModifyIndex":18446744073709551615,"Flags":18446744073709551615}"#.utf8)
        guard case .key(let pair?) = try decoder.decode(max, as: .key) else {
            Issue.record("not a key payload")
            return
        }
        #expect(pair.modifyIndex == UInt64.max)
        #expect(pair.flags == UInt64.max)

        let check = replacing(#""ModifyIndex":48391"#, with: #""ModifyIndex":11728876555923391317"#, in: Fixtures.bytes("checks-state-critical-one.json"))
        #expect(try decoder.decode(check, as: .checks).checks?.first?.modifyIndex == eventIndex)
    }

    @Test("Consul Enterprise Namespace and Partition decode", arguments: DecoderKind.allCases)
    func enterpriseFields(decoder: DecoderKind) throws {
        let check = replacing(
            #""ExposedPort":0,"#, with: #""Namespace":"default","Partition":"payments","ExposedPort":0,"#, in: Fixtures.bytes("checks-state-critical-one.json"))
        let decoded = try #require(try decoder.decode(check, as: .checks).checks?.first)
        #expect(decoded.namespace == "default")
        #expect(decoded.partition == "payments")

        let pair = replacing(#""Session":"""#, with: #""Session":"","Namespace":"team-a","Partition":"default""#, in: Fixtures.bytes("key.json"))
        guard case .key(let kv?) = try decoder.decode(pair, as: .key) else {
            Issue.record("not a key payload")
            return
        }
        #expect(kv.namespace == "team-a")
        #expect(kv.partition == "default")

        var entry = Fixtures.bytes("service-health.json")
        entry = replacing(#""ModifyIndex":15},"#, with: #""ModifyIndex":15,"Partition":"default"},"#, in: entry)
        entry = replacing(#""Connect":{}"#, with: #""Connect":{},"Namespace":"default","Partition":"default""#, in: entry)
        guard case .service(let entries) = try decoder.decode(entry, as: .service) else {
            Issue.record("not a service payload")
            return
        }
        #expect(entries[0].node.partition == "default")
        #expect(entries[0].service.namespace == "default")
        #expect(entries[0].service.partition == "default")
    }

    @Test("an old agent's check without TCPUseTLS, OSService, UDP, ExposedPort decodes", arguments: DecoderKind.allCases)
    func oldAgentCheck(decoder: DecoderKind) throws {
        var bytes = Fixtures.bytes("checks-state-critical-one.json")
        for field in [#","TCPUseTLS":false"#, #","OSService":"""#, #","UDP":"""#, #""ExposedPort":0,"#] {
            let before = bytes
            bytes = replacing(field, with: "", in: bytes)
            #expect(bytes.count == before.count - field.utf8.count)
        }
        let check = try #require(try decoder.decode(bytes, as: .checks).checks?.first)
        #expect(check.exposedPort == nil)
        #expect(check.definition?.tcpUseTLS == nil)
        #expect(check.definition?.osService == nil)
        #expect(check.definition?.udp == nil)
        #expect(check.definition?.interval == "10s")
        #expect(check.definition?.grpcUseTLS == false)
        #expect(check.status == .critical)
        #expect(check.modifyIndex == 48391)
        // Selection does not need the missing fields either.
        #expect(try Selection.select(from: bytes, criteria: SelectionCriteria()).ids == ["web-02/service:web"])
    }

    @Test("a check with only Node, CheckID and Status decodes; the rest is optional", arguments: DecoderKind.allCases)
    func minimalCheck(decoder: DecoderKind) throws {
        let bytes = Array(#"[{"Node":"n1","CheckID":"c1","Status":"warning"}]"#.utf8)
        let check = try #require(try decoder.decode(bytes, as: .checks).checks?.first)
        #expect(check == HealthCheck(node: "n1", checkID: "c1", status: .warning))
        #expect(check.isNodeCheck)
    }

    @Test("unknown fields are ignored, at every level", arguments: DecoderKind.allCases)
    func unknownFieldsIgnored(decoder: DecoderKind) throws {
        let original = Fixtures.bytes("checks-state-critical-one.json")
        var bytes = replacing(
            #""CheckID":"#, with: #""FutureField":{"nested":[1,2.5e3,{"x":null,"y":[true,false]}],"s":"\u00e9\n"},"Interval":"10s","CheckID":"#, in: original)
        bytes = replacing(#""GRPCUseTLS":false}"#, with: #""GRPCUseTLS":false,"SessionName":"","H2PING":"","FutureDefinitionField":[{}]}"#, in: bytes)
        let check = try #require(try decoder.decode(bytes, as: .checks).checks?.first)
        var expected = try #require(try decoder.decode(original, as: .checks).checks?.first)
        expected.definition?.sessionName = ""
        #expect(check == expected)

        var service = Fixtures.bytes("service-health.json")
        service = replacing(#"{"Node":{"ID":"#, with: #"{"FutureEntryField":[],"Node":{"FutureNodeField":1,"ID":"#, in: service)
        service = replacing(#""Connect":{}"#, with: #""Connect":{},"FutureServiceField":{"a":"b"}"#, in: service)
        #expect(try decoder.decode(service, as: .service) == (try decoder.decode(Fixtures.bytes("service-health.json"), as: .service)))
    }

    @Test("an unknown Status is kept as .other, not rejected", arguments: DecoderKind.allCases)
    func unknownStatus(decoder: DecoderKind) throws {
        let bytes = replacing(#""Status":"critical""#, with: #""Status":"bogus""#, in: Fixtures.bytes("checks-state-critical-one.json"))
        let check = try #require(try decoder.decode(bytes, as: .checks).checks?.first)
        #expect(check.status == .other("bogus"))
        #expect(check.status.rawValue == "bogus")
        #expect(CheckStatus("critical") == .critical)
        #expect(CheckStatus("Critical") == .other("Critical"))
        // Not selected by default, selected with "any".
        #expect(try Selection.select(from: bytes, criteria: SelectionCriteria()).checks.isEmpty)
        #expect(try Selection.select(from: bytes, criteria: .with(statuses: [])).checks.map(\.status) == [.other("bogus")])
    }

    @Test("CheckStatus encodes back to Consul's string")
    func statusRoundTrip() throws {
        let statuses: [CheckStatus] = [.passing, .warning, .critical, .other("maintenance")]
        let data = try JSONEncoder().encode(statuses)
        #expect(String(decoding: data, as: UTF8.self) == #"["passing","warning","critical","maintenance"]"#)
        #expect(try JSONDecoder().decode([CheckStatus].self, from: data) == statuses)
    }
}

/// The two decoders every field fact is checked with.
enum DecoderKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case reader, jsonDecoder

    var testDescription: String { rawValue }

    func decode(_ bytes: [UInt8], as type: WatchType) throws -> WatchPayload {
        switch self {
        case .reader: return try WatchPayload.decode(bytes, as: type)
        case .jsonDecoder: return try foundationDecode(bytes, as: type)
        }
    }
}

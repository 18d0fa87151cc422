import ConsulWatch
import Foundation
import TestSupport
import Testing

/// Every recorded payload decodes, as the type its JSON shows, and both decoding paths agree.
@Suite("Fixtures decode")
struct FixtureDecodingTests {
    /// What each fixture must decode to.
    struct Expected: Sendable {
        /// The type detected from the JSON alone.
        var detected: WatchType
        /// True when the JSON fits several watch types (`[]`, `null`).
        var ambiguous: Bool
        /// The watch that produced it (fixtures/README.md), used with `as:`.
        var watch: WatchType
        /// Number of elements (checks, entries, nodes, services, keys, events); nil for a single key or null.
        var count: Int?
    }

    /// The expected table, fixture by fixture (see fixtures/README.md for the watch behind each).
    static let expected: [String: Expected] = [
        "checks-all-passing.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 10),
        "checks-empty.json": Expected(detected: .checks, ambiguous: true, watch: .checks, count: 0),
        "checks-maintenance.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 2),
        "checks-node-down-services-critical.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 2),
        "checks-node-down-state-critical.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 1),
        "checks-node-down.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 10),
        "checks-one-critical.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 10),
        "checks-state-critical-one.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 1),
        "checks-state-warning.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 1),
        "checks-ttl-expired.json": Expected(detected: .checks, ambiguous: false, watch: .checks, count: 1),
        // `[]` is ambiguous and reads as an empty `checks` payload; `as: .event` says what it really is.
        "event-empty.json": Expected(detected: .checks, ambiguous: true, watch: .event, count: 0),
        "event-first-fire-buffered.json": Expected(detected: .event, ambiguous: false, watch: .event, count: 3),
        "event.json": Expected(detected: .event, ambiguous: false, watch: .event, count: 1),
        // `null` is ambiguous and reads as an empty `checks` payload (a Go nil slice);
        // `as: .key` / `as: .keyprefix` say when it is a missing key.
        "key-missing.json": Expected(detected: .checks, ambiguous: true, watch: .key, count: nil),
        "key.json": Expected(detected: .key, ambiguous: false, watch: .key, count: nil),
        "keyprefix-empty.json": Expected(detected: .checks, ambiguous: true, watch: .keyprefix, count: nil),
        "keyprefix.json": Expected(detected: .keyprefix, ambiguous: false, watch: .keyprefix, count: 4),
        "nodes.json": Expected(detected: .nodes, ambiguous: false, watch: .nodes, count: 4),
        "service-empty.json": Expected(detected: .checks, ambiguous: true, watch: .service, count: 0),
        "service-health-passingonly.json": Expected(detected: .service, ambiguous: false, watch: .service, count: 1),
        "service-health.json": Expected(detected: .service, ambiguous: false, watch: .service, count: 2),
        "services.json": Expected(detected: .services, ambiguous: false, watch: .services, count: 4),
    ]

    @Test("the expected table covers exactly the bundled fixtures")
    func tableCoversEveryFixture() {
        #expect(Set(Fixtures.allPayloadNames) == Set(Self.expected.keys))
        #expect(Fixtures.allPayloadNames.count == 22)
        #expect(Fixtures.allPayloadNames == Fixtures.allPayloadNames.sorted())
        #expect(!Fixtures.allPayloadNames.contains("consul-watch-checks-state-critical.txt"))
    }

    @Test("every fixture decodes as the type its JSON shows", arguments: Fixtures.allPayloadNames)
    func decodesWithDetectedType(name: String) throws {
        let expected = try #require(Self.expected[name], "no expectation for fixture \(name)")
        let bytes = Fixtures.bytes(name)
        #expect(bytes.last == 0x0A, "a handler payload ends with one newline")

        let payload = try WatchPayload.decode(bytes)
        #expect(payload.type == expected.detected)
        let isNull = name == "key-missing.json" || name == "keyprefix-empty.json"
        #expect(payload.elementCount == (isNull ? 0 : expected.count))

        let detection = try JSONReader.read(bytes) { (reader) throws(JSONError) -> WatchType.Detection in
            let detection = try WatchType.detect(&reader)
            try reader.skipValue()
            return detection
        }
        #expect(detection.type == expected.detected)
        #expect(detection.ambiguous == expected.ambiguous)

        if isNull {
            #expect(payload == .checks([]))
            #expect(try WatchPayload.decode(bytes, as: .key) == .key(nil))
        }
        if expected.count == 0 {
            #expect(payload == .checks([]))
        }
    }

    @Test("every fixture decodes as the watch that produced it (--type)", arguments: Fixtures.allPayloadNames)
    func decodesAsItsWatchType(name: String) throws {
        let expected = try #require(Self.expected[name])
        let payload = try WatchPayload.decode(Fixtures.bytes(name), as: expected.watch)
        #expect(payload.type == expected.watch)
        #expect(payload.elementCount == expected.count)
        if !expected.ambiguous {
            #expect(payload == (try WatchPayload.decode(Fixtures.bytes(name))), "an override agreeing with detection changes nothing")
        }
        if name == "keyprefix-empty.json" { #expect(payload == .keyprefix(nil)) }
        if name == "event-empty.json" { #expect(payload == .event([])) }
        if name == "service-empty.json" { #expect(payload == .service([])) }
    }

    @Test("the fast reader and JSONDecoder build equal models", arguments: Fixtures.allPayloadNames)
    func fastReaderMatchesJSONDecoder(name: String) throws {
        let expected = try #require(Self.expected[name])
        let bytes = Fixtures.bytes(name)
        let fast = try WatchPayload.decode(bytes, as: expected.watch)
        let foundation = try foundationDecode(bytes, as: expected.watch)
        #expect(fast == foundation)
    }

    @Test("the `consul watch` CLI dump (indented JSON) decodes to the same checks as the handler stdin")
    func cliDumpDecodes() throws {
        let dump = Fixtures.bytes("consul-watch-checks-state-critical.txt")
        #expect(dump.contains(0x0A) && dump.filter { $0 == 0x0A }.count > 10, "the dump is indented over many lines")
        let payload = try WatchPayload.decode(dump)
        #expect(payload.type == .checks)
        let handler = try WatchPayload.decode(Fixtures.bytes("checks-state-critical-one.json"))
        #expect(payload == handler)
        #expect(try foundationDecode(dump, as: .checks) == payload)
        let selection = try Selection.select(from: dump, criteria: SelectionCriteria())
        #expect(selection.ids == ["web-02/service:web"])
    }

    @Test("the HTTP handler request carries the same bytes as a handler's stdin")
    func httpHandlerBodyIsTheStdinPayload() throws {
        let request = Fixtures.bytes("http-handler-request.txt")
        let separator = try #require(offset(of: "\r\n\r\n", in: request))
        let body = Array(request[(separator + 4)...])
        #expect(body == Fixtures.bytes("checks-state-critical-one.json"))
        #expect(String(decoding: request, as: UTF8.self).contains("Content-Length: \(body.count)\r\n"))
        #expect(try WatchPayload.decode(body) == (try WatchPayload.decode(Fixtures.bytes("checks-state-critical-one.json"))))
    }
}

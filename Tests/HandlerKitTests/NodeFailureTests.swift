import ConsulWatch
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import HandlerKit

/// A down node's services are redeployed: found in the payload or the catalog (once), joined to
/// their service incidents with cause node-down, never the `consul` service; a failed lookup
/// loses nothing and is retried.
@Suite struct NodeFailureTests {
    /// Counts lookups; answers from `answer` (changeable between deliveries).
    final class Catalog: NodeServicesLookup, Sendable {
        let calls = Mutex<[String]>([])
        let answer = Mutex<Result<[ServiceInstance], ConsulLookupError>>(.success([]))
        func services(on node: String) throws(ConsulLookupError) -> [ServiceInstance] {
            calls.withLock { $0.append(node) }
            return try answer.withLock { $0 }.get()
        }
    }

    /// Records the incidents it acts on.
    final class Recorder: Action, Sendable {
        let name = "redeploy"
        let seen = Mutex<[Incident]>([])
        func perform(_ incident: Incident, context: ActionContext) -> Outcome {
            seen.withLock { $0.append(incident) }
            return .done(detail: "redeployed")
        }
        var targets: [String] { seen.withLock { $0.map(\.target) }.sorted() }
    }

    static let webServices = [
        ServiceInstance(service: "web", serviceID: "web", tags: ["v2"]),
        ServiceInstance(service: "books", serviceID: "books-1"),
        ServiceInstance(service: "consul", serviceID: "consul"),
    ]

    static func select(_ fixture: String, index: UInt64 = 48517) throws -> Selection {
        try Selection.select(from: Fixtures.bytes(fixture), criteria: SelectionCriteria(), consulIndex: index)
    }

    static func withStore(_ body: (StateStore) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nodes-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(try StateStore(directory: directory, warn: { _ in }))
    }

    static func healer(_ store: StateStore?, catalog: Catalog, recorder: Recorder, routes: [Route]? = nil, log: @escaping @Sendable (String) -> Void = { _ in })
        -> Healer
    {
        var healer = Healer(
            routing: RoutingTable(routes: routes ?? [Route(name: "default", match: nil, ladder: [recorder])]), watch: "w", store: store,
            journal: nil, log: log)
        healer.nodeServices = catalog
        return healer
    }

    @Test func aDeadNodeOnAStateCriticalWatchBecomesOneIncidentPerServiceFromTheCatalogNeverConsul() throws {
        let catalog = Catalog()
        catalog.answer.withLock { $0 = .success(Self.webServices) }
        let selection = try Self.select("checks-node-down-state-critical.json")
        let down = DownNodes.resolve(selection, mode: .services, groupBy: .service, remembered: { _ in nil }, lookup: catalog)
        #expect(catalog.calls.withLock { $0 } == ["web-02"])
        let (delivery, nodeFailures) = Healer.delivery(selection, groupBy: .service, watch: "w", consulIndex: 1, time: 0, nodeFailures: .services, down: down)
        #expect(nodeFailures.isEmpty)
        #expect(delivery.incidents.map(\.id) == ["service:web", "service:books"])
        for incident in delivery.incidents {
            #expect(incident.cause == .nodeDown)
            #expect(incident.node == "web-02")
            #expect(incident.placeholders["cause"] == "node-down")
            #expect(incident.checks[0].checkID == "serfHealth")
        }
        #expect(delivery.incidents[0].checks[0].tags == ["v2"])
    }

    @Test func aStateAnyPayloadShowsTheServicesItselfAndNoLookupIsMade() throws {
        let catalog = Catalog()
        let selection = try Self.select("checks-node-down.json")
        let down = DownNodes.resolve(selection, mode: .services, groupBy: .service, remembered: { _ in nil }, lookup: catalog)
        #expect(catalog.calls.withLock { $0 }.isEmpty)
        #expect(down.nodes.map(\.source) == [.payload])
        let (delivery, _) = Healer.delivery(selection, groupBy: .service, watch: "w", consulIndex: 1, time: 0, nodeFailures: .services, down: down)
        #expect(delivery.incidents.map(\.id) == ["service:web"])
        #expect(delivery.incidents[0].cause == .nodeDown)
        #expect(delivery.incidents[0].node == "web-02")
    }

    @Test func aFailingServiceCheckAndItsDeadNodeCoalesceIntoOneIncident() throws {
        let catalog = Catalog()
        catalog.answer.withLock { $0 = .success([ServiceInstance(service: "web", serviceID: "web")]) }
        let selection = try Self.select("checks-node-down-services-critical.json")
        let down = DownNodes.resolve(selection, mode: .services, groupBy: .service, remembered: { _ in nil }, lookup: catalog)
        let (delivery, nodeFailures) = Healer.delivery(selection, groupBy: .service, watch: "w", consulIndex: 1, time: 0, nodeFailures: .services, down: down)
        #expect(delivery.incidents.map(\.id) == ["service:web"])
        #expect(delivery.incidents[0].cause == .nodeDown)
        #expect(nodeFailures.isEmpty)
    }

    @Test func nodeModeKeepsOneNodeIncidentAndSilencesTheStaleServiceChecks() throws {
        let catalog = Catalog()
        let selection = try Self.select("checks-node-down-services-critical.json")
        let down = DownNodes.resolve(selection, mode: .node, groupBy: .service, remembered: { _ in nil }, lookup: catalog)
        #expect(down.isEmpty)
        #expect(catalog.calls.withLock { $0 }.isEmpty)
        let (delivery, nodeFailures) = Healer.delivery(selection, groupBy: .service, watch: "w", consulIndex: 1, time: 0, nodeFailures: .node, down: down)
        #expect(delivery.incidents.isEmpty)
        #expect(nodeFailures.map(\.id) == ["node:web-02"])
        #expect(delivery.silenced.map(\.incident.id) == ["service:web"])
        #expect(Healer.describeNodeFailure(nodeFailures[0]).contains("the node is down"))
    }

    @Test func aNodeLevelCheckThatIsNotSerfHealthIsReportedWithoutClaimingTheNodeIsDown() throws {
        let disk = SelectedCheck(
            kind: .node, service: nil, serviceID: nil, node: "db-1", checkID: "disk", checkName: "Disk", status: .critical, output: "92% full")
        let selection = Selection(type: .checks, checks: [disk])
        let catalog = Catalog()
        let down = DownNodes.resolve(selection, mode: .services, groupBy: .service, remembered: { _ in nil }, lookup: catalog)
        #expect(down.isEmpty)
        #expect(catalog.calls.withLock { $0 }.isEmpty)
        let (delivery, nodeFailures) = Healer.delivery(selection, groupBy: .service, watch: "w", consulIndex: 1, time: 0, down: down)
        #expect(delivery.incidents.isEmpty)
        #expect(nodeFailures.map(\.id) == ["node:db-1"])
        let words = Healer.describeNodeFailure(nodeFailures[0])
        #expect(!words.contains("down"))
        #expect(!words.contains("stale"))
        #expect(words.contains("node-level check disk is critical"))
    }

    @Test func routesMatchOnCause() throws {
        let nodeDown = SelectedCheck(kind: .node, service: "web", serviceID: "web", node: "web-02", checkID: "serfHealth", checkName: "Serf", status: .critical)
        let check = SelectedCheck(kind: .service, service: "web", serviceID: "web", node: "web-01", checkID: "service:web", checkName: "web", status: .critical)
        #expect(RouteMatch(causes: [.nodeDown]).matches(Incident(groupBy: .service, checks: [nodeDown])))
        #expect(!RouteMatch(causes: [.nodeDown]).matches(Incident(groupBy: .service, checks: [check])))
        #expect(RouteMatch(causes: [.check]).matches(Incident(groupBy: .service, checks: [check])))
        let config = try HealConfig(
            bytes: Array(#"{"routes":[{"name":"moved","match":{"cause":"node-down"},"actions":[{"type":"log"}]},{"actions":[{"type":"log"}]}]}"#.utf8))
        #expect(config.routes[0].match?.causes == [.nodeDown])
        #expect(config.nodeFailures == .services)
        #expect(throws: HealConfig.Error.self) { try HealConfig(bytes: Array(#"{"routes":[{"match":{"cause":"dead"},"actions":[{"type":"log"}]}]}"#.utf8)) }
        #expect(throws: HealConfig.Error.self) { try HealConfig(bytes: Array(#"{"nodeFailures":"all","routes":[{"actions":[{"type":"log"}]}]}"#.utf8)) }
    }

    @Test func theDeadNodeIsLookedUpOnceWhileItStaysDownAndActedOnOncePerService() throws {
        try Self.withStore { store in
            let catalog = Catalog()
            catalog.answer.withLock { $0 = .success(Self.webServices) }
            let recorder = Recorder()
            let healer = Self.healer(store, catalog: catalog, recorder: recorder)
            _ = try healer.handle(Selection(type: .checks, checks: []), consulIndex: 1, digest: "")  // baseline
            let first = try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 2), consulIndex: 2, digest: "")
            #expect(!first.failed)
            #expect(recorder.targets == ["books", "web"])
            #expect(catalog.calls.withLock { $0 } == ["web-02"])
            #expect(try store.snapshot().downNodes["web-02"]?.services?.map(\.service) == ["web", "books"])
            // The next deliveries while it stays down: no request, no second redeploy.
            for index in UInt64(3)...4 {
                let again = try healer.handle(try Self.select("checks-node-down-state-critical.json", index: index), consulIndex: index, digest: "")
                #expect(!again.failed)
            }
            #expect(catalog.calls.withLock { $0 }.count == 1)
            #expect(recorder.targets == ["books", "web"])
            // The node comes back: its incidents resolve and it is forgotten.
            let back = try healer.handle(Selection(type: .checks, checks: []), consulIndex: 5, digest: "")
            #expect(back.decisions.filter { $0.verdict == .resolved }.map(\.id).sorted() == ["service:books", "service:web"])
            #expect(try store.snapshot().downNodes.isEmpty)
        }
    }

    @Test(arguments: ["the agent answered 500", "ACL not found: node:read for node web-02 is missing"])
    func aFailedLookupLosesNothingAndIsActedOnOnceItRecovers(_ failure: String) throws {
        try Self.withStore { store in
            let catalog = Catalog()
            catalog.answer.withLock { $0 = .failure(ConsulLookupError(failure)) }
            let recorder = Recorder()
            let lines = Mutex<[String]>([])
            let healer = Self.healer(store, catalog: catalog, recorder: recorder, log: { line in lines.withLock { $0.append(line) } })
            // web was already failing on another node and acted on: it must not be resolved meanwhile.
            _ = try healer.handle(Selection(type: .checks, checks: []), consulIndex: 1, digest: "")
            let other = SelectedCheck(
                kind: .service, service: "api", serviceID: "api", node: "api-01", checkID: "service:api", checkName: "api", status: .critical)
            _ = try healer.handle(Selection(type: .checks, checks: [other]), consulIndex: 2, digest: "")
            #expect(recorder.targets == ["api"])

            let pending = try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 3), consulIndex: 3, digest: "")
            #expect(pending.failed)
            #expect(pending.pendingNodes == ["web-02"])
            #expect(recorder.targets == ["api"])
            #expect(lines.withLock { $0 }.contains { $0.contains("node web-02 is down") && $0.contains(failure) })
            // Recoveries are held while the node's services are unknown.
            #expect(try store.snapshot().targets["service:api"]?.failing == true)
            #expect(try store.snapshot().downNodes["web-02"]?.pending == failure)

            // Still failing on the next delivery: looked up again, still nothing lost.
            #expect(try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 4), consulIndex: 4, digest: "").failed)
            #expect(catalog.calls.withLock { $0 }.count == 2)

            // It recovers: acted on once per service.
            catalog.answer.withLock { $0 = .success(Self.webServices) }
            let recovered = try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 5), consulIndex: 5, digest: "")
            #expect(!recovered.failed)
            #expect(recorder.targets == ["api", "books", "web"])
            _ = try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 6), consulIndex: 6, digest: "")
            #expect(recorder.targets == ["api", "books", "web"])
            #expect(catalog.calls.withLock { $0 }.count == 3)
        }
    }

    @Test func flushLooksAPendingNodeUpAgainAndActs() throws {
        try Self.withStore { store in
            let catalog = Catalog()
            catalog.answer.withLock { $0 = .failure(ConsulLookupError("the agent answered 500")) }
            let recorder = Recorder()
            let healer = Self.healer(store, catalog: catalog, recorder: recorder)
            _ = try healer.handle(Selection(type: .checks, checks: []), consulIndex: 1, digest: "")
            #expect(try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 2), consulIndex: 2, digest: "").failed)
            #expect(try healer.flush().failed)  // still failing
            #expect(recorder.targets.isEmpty)
            catalog.answer.withLock { $0 = .success(Self.webServices) }
            let flushed = try healer.flush()
            #expect(!flushed.failed)
            #expect(recorder.targets == ["books", "web"])
            let state = try store.snapshot()
            #expect(state.downNodes["web-02"]?.services?.count == 2)
            #expect(state.watches["w"]?.lastIndex == 2)  // a flush is no delivery
            // The next delivery: remembered, no lookup, nothing twice.
            _ = try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 3), consulIndex: 3, digest: "")
            #expect(catalog.calls.withLock { $0 }.count == 3)
            #expect(recorder.targets == ["books", "web"])
        }
    }

    @Test func nodeDownRedeploysCountAgainstTheBlastRadius() throws {
        try Self.withStore { store in
            let catalog = Catalog()
            catalog.answer.withLock { $0 = .success((1...8).map { ServiceInstance(service: "s\($0)", serviceID: "s\($0)") }) }
            let recorder = Recorder()
            let healer = Self.healer(store, catalog: catalog, recorder: recorder)
            _ = try healer.handle(Selection(type: .checks, checks: []), consulIndex: 1, digest: "")
            let report = try healer.handle(try Self.select("checks-node-down-state-critical.json", index: 2), consulIndex: 2, digest: "")
            #expect(recorder.targets.isEmpty)
            #expect(report.decisions.allSatisfy { if case .skip(.blastRadius) = $0.verdict { true } else { false } })
        }
    }

    @Test func theSelectionFiltersApplyToADeadNodesServices() throws {
        let catalog = Catalog()
        catalog.answer.withLock { $0 = .success(Self.webServices) }
        var criteria = SelectionCriteria()
        criteria.services = ["web"]
        criteria.checkIDs = []
        // A node failure names no service, so a --service filter drops it (as before) ...
        let filtered = try Selection.select(from: Fixtures.bytes("checks-node-down-state-critical.json"), criteria: criteria, consulIndex: 1)
        #expect(DownNodes.resolve(filtered, mode: .services, groupBy: .service, remembered: { _ in nil }, lookup: catalog).isEmpty)
        // ... and a --tag filter keeps only the instances that carry the tag.
        var tagged = SelectionCriteria()
        tagged.tags = ["v2"]
        var selection = try Self.select("checks-node-down-state-critical.json")
        selection.criteria = tagged
        let down = DownNodes.resolve(selection, mode: .services, groupBy: .service, remembered: { _ in nil }, lookup: catalog)
        let (delivery, _) = Healer.delivery(selection, groupBy: .service, watch: "w", consulIndex: 1, time: 0, nodeFailures: .services, down: down)
        #expect(delivery.incidents.map(\.id) == ["service:web"])
    }
}

import ConsulWatch
import Foundation
import TestSupport
import Testing

/// The selection rules of issue 2 §3, one by one, on both the streaming (bytes) and the decoded path.
@Suite("Selection rules")
struct SelectionTests {
    static let webOutput = FieldLevelTests.webOutput

    // MARK: Status

    @Test("default: critical only", arguments: SelectPath.allCases)
    func defaultCriticalOnly(path: SelectPath) throws {
        let selection = try path.select(Fixtures.bytes("checks-one-critical.json"), consulIndex: 48391)
        #expect(selection.type == .checks)
        #expect(
            selection.checks == [
                SelectedCheck(
                    kind: .service, service: "web", serviceID: "web", node: "web-02", checkID: "service:web",
                    checkName: "Service 'web' check", status: .critical, output: Self.webOutput, notes: "",
                    tags: ["production", "v2"], consulIndex: 48391)
            ])
        #expect(selection.silenced.isEmpty)
        #expect(selection.serviceNames == ["web"])
        #expect(selection.population.checkCount == 10)
        #expect(selection.population.nodes == ["api-01", "consul-server-1", "web-01", "web-02"])
        #expect(selection.population.services == ["api", "redis", "web"])

        #expect(try path.select(Fixtures.bytes("checks-all-passing.json")).checks.isEmpty)
        #expect(try path.select(Fixtures.bytes("checks-state-warning.json")).checks.isEmpty, "warning is not critical")
        #expect(SelectionCriteria().statuses == [.critical])
    }

    @Test("the consul index is copied into every selected check, nil when unknown", arguments: SelectPath.allCases)
    func consulIndex(path: SelectPath) throws {
        let bytes = Fixtures.bytes("checks-node-down-services-critical.json")
        #expect(
            try path.select(bytes, consulIndex: 11_728_876_555_923_391_317).checks.map(\.consulIndex) == [
                11_728_876_555_923_391_317, 11_728_876_555_923_391_317,
            ])
        #expect(try path.select(bytes).checks.map(\.consulIndex) == [nil, nil])
    }

    @Test("--status critical,warning widens the selection; an empty set means any", arguments: SelectPath.allCases)
    func statusWidening(path: SelectPath) throws {
        let bytes = Build.payload([
            Build.serviceCheck(node: "web-01", status: "passing"),
            Build.serviceCheck(node: "web-02", status: "warning"),
            Build.nodeCheck(node: "api-01", status: "critical"),
            Build.serviceCheck(node: "web-03", status: "critical"),
        ])
        #expect(try path.select(bytes).ids == ["api-01/serfHealth", "web-03/service:web"])
        #expect(try path.select(bytes, .with(statuses: [.critical, .warning])).ids == ["web-02/service:web", "api-01/serfHealth", "web-03/service:web"])
        #expect(try path.select(bytes, .with(statuses: [.warning])).ids == ["web-02/service:web"])
        #expect(try path.select(bytes, .with(statuses: [.passing])).ids == ["web-01/service:web"])
        #expect(try path.select(bytes, .with(statuses: [])).ids == ["web-01/service:web", "web-02/service:web", "api-01/serfHealth", "web-03/service:web"])

        let warning = try path.select(Fixtures.bytes("checks-state-warning.json"), .with(statuses: [.critical, .warning]))
        #expect(warning.checks.map(\.status) == [.warning])
        #expect(warning.checks.first?.kind == .node)
        #expect(try path.select(Fixtures.bytes("checks-all-passing.json"), .with(statuses: [])).checks.count == 10)
    }

    // MARK: Maintenance

    @Test("maintenance checks are never selected themselves", arguments: SelectPath.allCases)
    func maintenanceNeverSelected(path: SelectPath) throws {
        let bytes = Fixtures.bytes("checks-maintenance.json")
        for criteria in [SelectionCriteria(), .with(includeMaintenance: true), .with(statuses: []), .with(statuses: [], includeMaintenance: true)] {
            let selection = try path.select(bytes, criteria)
            #expect(selection.checks.isEmpty, "criteria \(criteria)")
            #expect(selection.silenced.isEmpty)
            #expect(selection.population.checkCount == 2)
        }
    }

    @Test("node maintenance silences every check on that node, node and service checks alike", arguments: SelectPath.allCases)
    func nodeMaintenanceSilencesNode(path: SelectPath) throws {
        let reason = "Kernel patching CHG-20931 (ops: @mlopez)"
        let checks = [
            Build.nodeCheck(node: "api-01", status: "critical"),
            Build.serviceCheck(node: "api-01", service: "redis", checkID: "redis-tcp", tags: ["cache"]),
            Build.nodeMaintenance(node: "api-01"),
            Build.serviceCheck(node: "web-01"),
        ]
        // Maintenance before or after the checks it silences: same outcome.
        for ordering in [checks, Array(checks.reversed())] {
            let selection = try path.select(Build.payload(ordering))
            #expect(selection.ids == ["web-01/service:web"])
            #expect(Set(selection.silenced.map { "\($0.check.node)/\($0.check.checkID)" }) == ["api-01/serfHealth", "api-01/redis-tcp"])
            #expect(selection.silenced.allSatisfy { $0.maintenance == .node("api-01") && $0.reason == reason })
            let redis = try #require(selection.silenced.first { $0.check.checkID == "redis-tcp" })
            #expect(redis.check.kind == .service)
            #expect(redis.check.service == "redis")
        }
    }

    @Test("service maintenance silences that instance only", arguments: SelectPath.allCases)
    func serviceMaintenanceSilencesInstance(path: SelectPath) throws {
        let bytes = Build.payload([
            Build.serviceCheck(node: "web-01"),
            Build.serviceMaintenance(node: "web-01", serviceID: "web"),
            Build.serviceCheck(node: "web-02"),
            // Another service on the same node is not in maintenance.
            Build.serviceCheck(node: "web-01", service: "cache", tags: []),
            // Nor is the node itself.
            Build.nodeCheck(node: "web-01", checkID: "backup-heartbeat"),
        ])
        let selection = try path.select(bytes)
        #expect(selection.ids == ["web-02/service:web", "web-01/service:cache", "web-01/backup-heartbeat"])
        #expect(selection.silenced.count == 1)
        let silenced = try #require(selection.silenced.first)
        #expect(silenced.check.node == "web-01")
        #expect(silenced.check.checkID == "service:web")
        #expect(silenced.maintenance == .service(node: "web-01", serviceID: "web"))
        #expect(silenced.reason == "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.")

        let custom = try path.select(Build.payload([Build.serviceMaintenance(node: "web-01", reason: "canary rollout"), Build.serviceCheck(node: "web-01")]))
        #expect(custom.checks.isEmpty)
        #expect(custom.silenced.map(\.reason) == ["canary rollout"])
    }

    @Test("service maintenance matches the service ID, not the service name", arguments: SelectPath.allCases)
    func serviceMaintenanceByID(path: SelectPath) throws {
        let bytes = Build.payload([
            Build.serviceCheck(node: "web-01", service: "web", serviceID: "web-blue"),
            Build.serviceCheck(node: "web-01", service: "web", serviceID: "web-green"),
            Build.serviceMaintenance(node: "web-01", serviceID: "web-blue"),
        ])
        let selection = try path.select(bytes)
        #expect(selection.checks.map(\.serviceID) == ["web-green"])
        #expect(selection.silenced.map(\.check.serviceID) == ["web-blue"])
    }

    @Test("--include-maintenance turns silencing off but never selects the maintenance check", arguments: SelectPath.allCases)
    func includeMaintenance(path: SelectPath) throws {
        let bytes = Build.payload([
            Build.serviceCheck(node: "web-01"),
            Build.serviceMaintenance(node: "web-01"),
            Build.nodeMaintenance(node: "api-01"),
            Build.nodeCheck(node: "api-01"),
            Build.serviceCheck(node: "web-02"),
        ])
        #expect(try path.select(bytes).ids == ["web-02/service:web"])
        let selection = try path.select(bytes, .with(includeMaintenance: true))
        #expect(selection.ids == ["web-01/service:web", "api-01/serfHealth", "web-02/service:web"])
        #expect(selection.silenced.isEmpty)
        #expect(!selection.checks.contains { $0.checkID.hasPrefix("_") })
    }

    // MARK: Node-level checks

    @Test("serfHealth and empty-ServiceID checks are node failures without a service", arguments: SelectPath.allCases)
    func nodeChecksInChecksWatch(path: SelectPath) throws {
        let serf = try path.select(Fixtures.bytes("checks-node-down-state-critical.json"), consulIndex: 48517)
        #expect(
            serf.checks == [
                SelectedCheck(
                    kind: .node, service: nil, serviceID: nil, node: "web-02", checkID: "serfHealth", checkName: "Serf Health Status",
                    status: .critical, output: "Agent not live or unreachable", notes: "", tags: [], consulIndex: 48517)
            ])
        #expect(serf.serviceNames == [], "a node failure names no service")

        let ttl = try path.select(Fixtures.bytes("checks-ttl-expired.json"))
        #expect(ttl.checks.map(\.kind) == [.node])
        #expect(ttl.checks.first?.service == nil)
        #expect(ttl.checks.first?.output == "TTL expired (last output before timeout follows): backup completed in 312s")
        #expect(ttl.checks.first?.notes == "Updated by the backup job via PUT /v1/agent/check/update/backup-heartbeat")

        // Absent ServiceID (catalog-registered or very old data) counts as a node check too.
        let bare = Array(#"[{"Node":"n1","CheckID":"disk","Status":"critical"}]"#.utf8)
        #expect(try path.select(bare).checks.map(\.kind) == [.node])

        let both = try path.select(Fixtures.bytes("checks-node-down-services-critical.json"))
        #expect(both.checks.map(\.kind) == [.node, .service])
        #expect(both.checks.map(\.service) == [nil, "web"])
        #expect(both.serviceNames == ["web"])
    }

    @Test("service watch: the instance's own critical check", arguments: SelectPath.allCases)
    func serviceWatchOwnCheck(path: SelectPath) throws {
        let selection = try path.select(Fixtures.bytes("service-health.json"), consulIndex: 48391)
        #expect(selection.type == .service)
        #expect(
            selection.checks == [
                SelectedCheck(
                    kind: .service, service: "web", serviceID: "web", node: "web-02", checkID: "service:web",
                    checkName: "Service 'web' check", status: .critical, output: Self.webOutput, notes: "",
                    tags: ["production", "v2"], consulIndex: 48391)
            ])
        #expect(selection.population.nodes == ["web-01", "web-02"])
        #expect(selection.population.services == ["web"])
        #expect(selection.population.checkCount == 5)
        #expect(try path.select(Fixtures.bytes("service-health-passingonly.json")).checks.isEmpty)
    }

    @Test("service watch: a critical node-level check marks every instance on that node", arguments: SelectPath.allCases)
    func serviceWatchNodeCheckMarksInstances(path: SelectPath) throws {
        // service-health.json with web-02's serfHealth critical.
        var bytes = Fixtures.bytes("service-health.json")
        let web02 = try #require(offset(of: #""Node":"web-02","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing""#, in: bytes))
        bytes = Array(bytes[..<web02]) + replacing(#""Status":"passing""#, with: #""Status":"critical""#, in: Array(bytes[web02...]))
        let selection = try path.select(bytes)
        #expect(selection.ids == ["web-02/serfHealth", "web-02/service:web"])
        let node = try #require(selection.checks.first)
        #expect(node.kind == .node)
        #expect(node.service == "web")
        #expect(node.serviceID == "web")
        #expect(node.tags == ["production", "v2"])

        // Two instances on the failing node, one on a healthy node.
        let serf = Build.nodeCheck(node: "web-02")
        let payload = Build.payload([
            Build.serviceEntry(
                node: "web-01", checks: [Build.nodeCheck(node: "web-01", status: "passing"), Build.serviceCheck(node: "web-01", status: "passing")]),
            Build.serviceEntry(node: "web-02", checks: [serf, Build.serviceCheck(node: "web-02", status: "passing")]),
            Build.serviceEntry(
                node: "web-02", serviceID: "web-canary", tags: ["canary"],
                checks: [serf, Build.serviceCheck(node: "web-02", serviceID: "web-canary", status: "passing", tags: ["canary"])]),
        ])
        let marked = try path.select(payload)
        #expect(marked.checks.map(\.kind) == [.node, .node])
        #expect(marked.checks.map(\.serviceID) == ["web", "web-canary"])
        #expect(marked.checks.map(\.service) == ["web", "web"])
        #expect(marked.checks.map(\.node) == ["web-02", "web-02"])
        #expect(marked.checks.map(\.tags) == [["production", "v2"], ["canary"]])
        #expect(marked.serviceNames == ["web"])
    }

    @Test("service watch: node maintenance silences every instance on the node", arguments: SelectPath.allCases)
    func serviceWatchMaintenance(path: SelectPath) throws {
        let payload = Build.payload([
            Build.serviceEntry(node: "web-01", checks: [Build.nodeMaintenance(node: "web-01", reason: "reboot"), Build.serviceCheck(node: "web-01")]),
            Build.serviceEntry(node: "web-02", checks: [Build.serviceMaintenance(node: "web-02"), Build.serviceCheck(node: "web-02")]),
            Build.serviceEntry(node: "web-03", checks: [Build.serviceCheck(node: "web-03")]),
        ])
        let selection = try path.select(payload)
        #expect(selection.ids == ["web-03/service:web"])
        #expect(selection.silenced.map(\.check.node) == ["web-01", "web-02"])
        #expect(selection.silenced.map(\.reason).first == "reboot")
        #expect(try path.select(payload, .with(includeMaintenance: true)).ids == ["web-01/service:web", "web-02/service:web", "web-03/service:web"])
    }

    // MARK: Filters

    /// Critical checks across services, nodes and tags, in a deliberately unsorted order.
    static let mixed = Build.payload([
        Build.serviceCheck(node: "web-02", service: "web", tags: ["production", "v2"]),
        Build.serviceCheck(node: "api-01", service: "redis", checkID: "redis-tcp", tags: ["cache"]),
        Build.nodeCheck(node: "consul-server-1"),
        Build.serviceCheck(node: "api-01", service: "api", checkID: "service:api:2", tags: ["production"]),
        Build.serviceCheck(node: "web-01", service: "web", tags: ["production", "v1"]),
        Build.serviceCheck(node: "api-01", service: "api", checkID: "service:api:1", tags: ["production"]),
    ])

    @Test("filters: --service (repeatable), --tag (all must match), --node, --check", arguments: SelectPath.allCases)
    func filters(path: SelectPath) throws {
        let all = [
            "web-02/service:web", "api-01/redis-tcp", "consul-server-1/serfHealth", "api-01/service:api:2", "web-01/service:web", "api-01/service:api:1",
        ]
        #expect(try path.select(Self.mixed).ids == all, "payload order is kept, not sorted")

        #expect(try path.select(Self.mixed, .with(services: ["web"])).ids == ["web-02/service:web", "web-01/service:web"])
        #expect(try path.select(Self.mixed, .with(services: ["web", "redis"])).ids == ["web-02/service:web", "api-01/redis-tcp", "web-01/service:web"])
        #expect(try path.select(Self.mixed, .with(services: ["nope"])).ids == [])

        #expect(
            try path.select(Self.mixed, .with(tags: ["production"])).ids == [
                "web-02/service:web", "api-01/service:api:2", "web-01/service:web", "api-01/service:api:1",
            ])
        #expect(try path.select(Self.mixed, .with(tags: ["production", "v2"])).ids == ["web-02/service:web"])
        #expect(try path.select(Self.mixed, .with(tags: ["production", "v3"])).ids == [])

        #expect(try path.select(Self.mixed, .with(nodes: ["api-01"])).ids == ["api-01/redis-tcp", "api-01/service:api:2", "api-01/service:api:1"])
        #expect(try path.select(Self.mixed, .with(nodes: ["consul-server-1", "web-01"])).ids == ["consul-server-1/serfHealth", "web-01/service:web"])

        #expect(try path.select(Self.mixed, .with(checkIDs: ["service:web"])).ids == ["web-02/service:web", "web-01/service:web"])
        #expect(try path.select(Self.mixed, .with(checkIDs: ["serfHealth"])).ids == ["consul-server-1/serfHealth"])

        // Filters combine (all must hold).
        #expect(try path.select(Self.mixed, .with(services: ["web", "api"], nodes: ["api-01"])).ids == ["api-01/service:api:2", "api-01/service:api:1"])
        #expect(try path.select(Self.mixed, .with(services: ["api"], checkIDs: ["service:api:1"])).ids == ["api-01/service:api:1"])
    }

    @Test("node failures in a checks watch name no service, so --service drops them", arguments: SelectPath.allCases)
    func serviceFilterDropsNodeFailures(path: SelectPath) throws {
        let bytes = Fixtures.bytes("checks-node-down-services-critical.json")
        #expect(try path.select(bytes, .with(services: ["web"])).ids == ["web-02/service:web"])
        #expect(try path.select(bytes, .with(tags: ["production"])).ids == ["web-02/service:web"])
        #expect(try path.select(bytes, .with(nodes: ["web-02"])).ids == ["web-02/serfHealth", "web-02/service:web"])
    }

    @Test("the service-watch tag filter uses the instance's tags", arguments: SelectPath.allCases)
    func serviceWatchTagFilter(path: SelectPath) throws {
        let payload = Build.payload([
            Build.serviceEntry(node: "web-01", tags: ["production"], checks: [Build.serviceCheck(node: "web-01", tags: ["production"])]),
            Build.serviceEntry(node: "web-02", tags: ["canary"], checks: [Build.serviceCheck(node: "web-02", tags: ["canary"])]),
        ])
        #expect(try path.select(payload, .with(tags: ["canary"])).ids == ["web-02/service:web"])
    }

    // MARK: Dedupe, order, names

    @Test("the same check twice is selected once", arguments: SelectPath.allCases)
    func dedupe(path: SelectPath) throws {
        let check = Build.serviceCheck(node: "web-02")
        let bytes = Build.payload([check, Build.serviceCheck(node: "web-01"), check])
        let selection = try path.select(bytes)
        #expect(selection.ids == ["web-02/service:web", "web-01/service:web"])
        #expect(selection.population.checkCount == 3)
    }

    @Test("service names: unique, in first-seen order, node failures left out", arguments: SelectPath.allCases)
    func serviceNames(path: SelectPath) throws {
        #expect(try path.select(Self.mixed).serviceNames == ["web", "redis", "api"])
        let bytes = Build.payload([
            Build.serviceCheck(node: "n1", service: "zeta"),
            Build.nodeCheck(node: "n2"),
            Build.serviceCheck(node: "n3", service: "alpha"),
            Build.serviceCheck(node: "n4", service: "zeta"),
        ])
        #expect(try path.select(bytes).serviceNames == ["zeta", "alpha"])
    }

    // MARK: Empty and non-health payloads

    @Test("[] is an empty selection", arguments: SelectPath.allCases)
    func emptyArray(path: SelectPath) throws {
        for name in ["checks-empty.json", "service-empty.json", "event-empty.json"] {
            let selection = try path.select(Fixtures.bytes(name))
            #expect(selection.checks.isEmpty)
            #expect(selection.silenced.isEmpty)
            #expect(selection.type == .checks)
            #expect(selection.population.checkCount == 0)
        }
        #expect(try path.select(Fixtures.bytes("service-empty.json"), type: .service).type == .service)
    }

    @Test(
        "payloads without health checks are refused with .noHealthChecks",
        arguments: [
            ("nodes.json", WatchType.nodes), ("services.json", .services), ("key.json", .key), ("keyprefix.json", .keyprefix), ("event.json", .event),
            ("event-first-fire-buffered.json", .event),
        ])
    func nonHealthPayloads(name: String, type: WatchType) throws {
        let bytes = Fixtures.bytes(name)
        #expect(throws: SelectionError.noHealthChecks(type, ambiguous: false)) {
            try Selection.select(from: bytes, criteria: SelectionCriteria())
        }
        let payload = try WatchPayload.decode(bytes)
        #expect(throws: SelectionError.noHealthChecks(type, ambiguous: false)) {
            try Selection.select(from: payload, criteria: SelectionCriteria())
        }
        let message = SelectionError.noHealthChecks(type, ambiguous: false).description
        #expect(message.contains("`\(type)` watch payload carries no health checks"))
    }

    @Test("null (a Go nil slice) selects nothing unless the type is forced to key or keyprefix")
    func nullPayload() throws {
        for name in ["key-missing.json", "keyprefix-empty.json"] {
            #expect(try Selection.select(from: Fixtures.bytes(name), criteria: SelectionCriteria()) == Selection(type: .checks, checks: []))
            for type in [WatchType.checks, .service, .event] {
                #expect(try Selection.select(from: Fixtures.bytes(name), criteria: SelectionCriteria(), type: type) == Selection(type: type, checks: []))
            }
            #expect(throws: SelectionError.noHealthChecks(.key, ambiguous: false)) {
                try Selection.select(from: Fixtures.bytes(name), criteria: SelectionCriteria(), type: .key)
            }
        }
        #expect(try Selection.select(from: Array(" null \n".utf8), criteria: SelectionCriteria()).checks.isEmpty)
        #expect(throws: SelectionError.self) { try Selection.select(from: Array("null null".utf8), criteria: SelectionCriteria()) }
        #expect(try WatchPayload.decode(Array("null".utf8), as: .service) == .service([]))
        #expect(throws: SelectionError.noHealthChecks(.key, ambiguous: true)) {
            try Selection.select(from: WatchPayload.key(nil), criteria: SelectionCriteria())
        }
        #expect(throws: SelectionError.noHealthChecks(.keyprefix, ambiguous: true)) {
            try Selection.select(from: WatchPayload.keyprefix(nil), criteria: SelectionCriteria())
        }
        #expect(SelectionError.noHealthChecks(.key, ambiguous: true).description.contains("`null` payload"))
    }

    @Test("--type overrides detection: a checks payload read as another type is refused")
    func typeOverride() throws {
        let bytes = Fixtures.bytes("checks-one-critical.json")
        // As `nodes`, a check array is valid (Node is its only required field) but carries no health.
        #expect(throws: SelectionError.noHealthChecks(.nodes, ambiguous: false)) {
            try Selection.select(from: bytes, criteria: SelectionCriteria(), type: .nodes)
        }
        // As `service`, a check lacks the entry's Node object.
        #expect(throws: (any Error).self) {
            try Selection.select(from: bytes, criteria: SelectionCriteria(), type: .service)
        }
        #expect(try Selection.select(from: bytes, criteria: SelectionCriteria(), type: .checks).ids == ["web-02/service:web"])
    }

    // MARK: Both paths agree

    @Test(
        "streaming selection equals selection from the decoded payload, for every health fixture and criteria",
        arguments: [
            "checks-all-passing.json", "checks-one-critical.json", "checks-node-down.json", "checks-maintenance.json",
            "checks-node-down-services-critical.json", "checks-state-warning.json", "checks-ttl-expired.json",
            "service-health.json", "service-health-passingonly.json", "checks-empty.json",
        ])
    func pathsAgree(name: String) throws {
        let bytes = Fixtures.bytes(name)
        let criteria: [SelectionCriteria] = [
            SelectionCriteria(), .with(statuses: []), .with(statuses: [.warning, .critical]), .with(includeMaintenance: true),
            .with(statuses: [], services: ["web"]), .with(statuses: [], tags: ["production"]), .with(statuses: [], nodes: ["web-02"]),
        ]
        for criterion in criteria {
            let streamed = try SelectPath.bytes.select(bytes, criterion, consulIndex: 7)
            let decoded = try SelectPath.decoded.select(bytes, criterion, consulIndex: 7)
            #expect(streamed == decoded, "\(name) with \(criterion)")
        }
    }
}

import FoundationEssentials

/// Which checks a handler acts on. The defaults are those of the self-healing use case:
/// critical checks only, maintenance honoured, no filters.
public struct SelectionCriteria: Sendable, Hashable {
    /// Statuses to select; empty means any status.
    public var statuses: Set<CheckStatus> = [.critical]
    /// When true, maintenance checks no longer silence their node or service. They are never
    /// selected themselves either way.
    public var includeMaintenance = false
    /// Service names to keep (empty: all). Node failures in a `checks` watch name no service and
    /// are dropped by this filter.
    public var services: NameSet = []
    /// Tags a check's service must carry, all of them (as Consul's own `tag` filter).
    public var tags: NameSet = []
    /// Node names to keep (empty: all).
    public var nodes: NameSet = []
    /// Check IDs to keep (empty: all).
    public var checkIDs: NameSet = []

    public init() {}

    /// True when `check` passes the status and filter rules (maintenance aside).
    public func matches(_ check: SelectedCheck) -> Bool {
        if !statuses.isEmpty && !statuses.contains(check.status) { return false }
        if !services.isEmpty && !(check.service.map(services.contains) ?? false) { return false }
        if !nodes.isEmpty && !nodes.contains(check.node) { return false }
        if !checkIDs.isEmpty && !checkIDs.contains(check.checkID) { return false }
        if !tags.isEmpty && !tags.isSubset(of: check.tags) { return false }
        return true
    }
}

/// The outcome of selection: what to act on, and what maintenance silenced.
public struct Selection: Sendable, Hashable {
    /// A check that matched but sits under maintenance.
    public struct Silenced: Sendable, Hashable {
        public var check: SelectedCheck
        /// The maintenance that silenced it.
        public var maintenance: HealthCheck.Maintenance
        /// The operator's reason (the maintenance check's `Notes`).
        public var reason: String

        public init(check: SelectedCheck, maintenance: HealthCheck.Maintenance, reason: String) {
            self.check = check
            self.maintenance = maintenance
            self.reason = reason
        }
    }

    /// The watch type the payload was read as.
    public var type: WatchType
    /// Selected checks, in payload order.
    public var checks: [SelectedCheck]
    /// Checks that matched the criteria but were silenced by maintenance.
    public var silenced: [Silenced]
    /// Every node and every service instance the payload showed, for blast-radius estimates.
    public var population: Population

    /// The size of what the payload showed.
    public struct Population: Sendable, Hashable {
        public var nodes: Set<String> = []
        public var services: Set<String> = []
        public var checkCount = 0
        /// Per node, the service instances the payload showed (by their checks or service entries):
        /// where a down node's services come from when the payload shows everything.
        public var instances: [String: Set<Instance>] = [:]
        /// True when the payload showed a check that is not critical: it is not a `state: critical`
        /// view, so a node's instances are all in it.
        public var showsHealthy = false

        public init(nodes: Set<String> = [], services: Set<String> = [], checkCount: Int = 0) {
            self.nodes = nodes
            self.services = services
            self.checkCount = checkCount
        }

        /// A service instance on a node.
        public struct Instance: Sendable, Hashable {
            public var service: String
            public var serviceID: String
            public var tags: [String]

            public init(service: String, serviceID: String, tags: [String] = []) {
                self.service = service
                self.serviceID = serviceID
                self.tags = tags
            }
        }

        mutating func note(node: String, service: String, serviceID: String?, tags: [String], status: CheckStatus) {
            if status != .critical { showsHealthy = true }
            guard !service.isEmpty, let serviceID, !serviceID.isEmpty else { return }
            instances[node, default: []].insert(Instance(service: service, serviceID: serviceID, tags: tags))
        }
    }

    /// The criteria the checks were selected with: instances added later (a down node's
    /// services) must pass the same filters.
    public var criteria = SelectionCriteria()

    public init(type: WatchType, checks: [SelectedCheck], silenced: [Silenced] = [], population: Population = Population()) {
        self.type = type
        self.checks = checks
        self.silenced = silenced
        self.population = population
    }

    /// Unique service names of the selected checks, in first-seen order (the seed's output);
    /// names that differ in any byte are different services.
    public var serviceNames: [String] {
        var seen = NameSet()
        return checks.compactMap { check in
            guard let name = check.service, seen.insert(name) else { return nil }
            return name
        }
    }
}

/// Selects checks incrementally, one check or service entry at a time, so that a 40 000-check
/// payload never has to be held as models (see ``Selection/select(from:criteria:type:consulIndex:)``).
public struct CheckSelector: Sendable {
    public let criteria: SelectionCriteria
    public let consulIndex: UInt64?

    private var candidates: [SelectedCheck] = []
    private var seen: Set<CheckKey> = []
    private var silencedNodes: [ExactName: String] = [:]
    private var silencedInstances: [NodeService: String] = [:]
    private var population = Selection.Population()

    /// Identities are byte-exact (``ExactName``), as Consul's are.
    private struct CheckKey: Hashable {
        var node: ExactName
        var checkID: ExactName
        var serviceID: ExactName?
    }

    private struct NodeService: Hashable {
        var node: ExactName
        var serviceID: ExactName

        init(node: String, serviceID: String) {
            self.node = ExactName(node)
            self.serviceID = ExactName(serviceID)
        }
    }

    /// False when nothing needs the population's node and service names (consul-critical):
    /// for a 10 000-node payload they are a few hundred kilobytes of peak memory.
    public let tracksPopulation: Bool

    public init(criteria: SelectionCriteria, consulIndex: UInt64? = nil, tracksPopulation: Bool = true) {
        self.criteria = criteria
        self.consulIndex = consulIndex
        self.tracksPopulation = tracksPopulation
    }

    /// Considers one check of a `checks` payload.
    public mutating func consider(_ check: HealthCheck) {
        population.checkCount += 1
        if tracksPopulation {
            population.nodes.insert(check.node)
            if let name = check.serviceName, !name.isEmpty { population.services.insert(name) }
            population.note(node: check.node, service: check.serviceName ?? "", serviceID: check.serviceID, tags: check.serviceTags ?? [], status: check.status)
        }
        if recordMaintenance(check) { return }
        let isNode = check.isNodeCheck
        offer(
            check, service: isNode ? nil : check.serviceName, serviceID: isNode ? nil : check.serviceID,
            tags: check.serviceTags ?? [], kind: isNode ? .node : .service)
    }

    /// True when a skimmed check may be selected or is a maintenance check, so the full model
    /// must be read; false when counting it is all there is to do.
    public func needsModel(_ skim: HealthCheck.Skim) -> Bool {
        !skim.hasRequiredFields || skim.isMaintenance || criteria.statuses.isEmpty || criteria.statuses.contains(skim.status)
    }

    /// Counts a skimmed check that ``needsModel(_:)`` ruled out.
    public mutating func count(_ skim: HealthCheck.Skim) {
        population.checkCount += 1
        if tracksPopulation {
            population.nodes.insert(skim.node)
            if !skim.serviceName.isEmpty { population.services.insert(skim.serviceName) }
            population.note(node: skim.node, service: skim.serviceName, serviceID: skim.serviceID, tags: skim.serviceTags, status: skim.status)
        }
    }

    /// Considers one entry of a `service` payload: its own checks, and its node's checks, which
    /// mark this instance when the node fails.
    public mutating func consider(_ entry: ServiceEntry) {
        if tracksPopulation {
            population.nodes.insert(entry.node.node)
            population.services.insert(entry.service.service)
            population.note(
                node: entry.node.node, service: entry.service.service, serviceID: entry.service.id, tags: entry.service.tags ?? [], status: .passing)
        }
        for check in entry.checks {
            population.checkCount += 1
            if recordMaintenance(check) { continue }
            offer(
                check, service: entry.service.service, serviceID: entry.service.id,
                tags: entry.service.tags ?? check.serviceTags ?? [], kind: check.isNodeCheck ? .node : .service)
        }
    }

    private mutating func recordMaintenance(_ check: HealthCheck) -> Bool {
        guard let maintenance = check.maintenance else { return false }
        let reason = check.notes ?? ""
        switch maintenance {
        case .node(let node): silencedNodes[ExactName(node)] = reason
        case .service(let node, let serviceID): silencedInstances[NodeService(node: node, serviceID: serviceID)] = reason
        }
        return true
    }

    private mutating func offer(_ check: HealthCheck, service: String?, serviceID: String?, tags: [String], kind: SelectedCheck.Kind) {
        // Cheap status test first: most checks of a large payload are passing.
        if !criteria.statuses.isEmpty && !criteria.statuses.contains(check.status) { return }
        let selected = SelectedCheck(
            kind: kind, service: service, serviceID: serviceID, node: check.node, checkID: check.checkID,
            checkName: check.name ?? "", status: check.status, output: check.output ?? "", notes: check.notes ?? "",
            tags: tags, consulIndex: consulIndex)
        guard criteria.matches(selected) else { return }
        guard seen.insert(CheckKey(node: ExactName(check.node), checkID: ExactName(check.checkID), serviceID: serviceID.map { ExactName($0) })).inserted else {
            return
        }
        candidates.append(selected)
    }

    /// Applies maintenance silencing and returns the selection.
    public func finish(type: WatchType) -> Selection {
        var checks: [SelectedCheck] = []
        var silenced: [Selection.Silenced] = []
        checks.reserveCapacity(candidates.count)
        for check in candidates {
            if !criteria.includeMaintenance {
                if let reason = silencedNodes[ExactName(check.node)] {
                    silenced.append(.init(check: check, maintenance: .node(check.node), reason: reason))
                    continue
                }
                if let serviceID = check.serviceID,
                    let reason = silencedInstances[NodeService(node: check.node, serviceID: serviceID)]
                {
                    silenced.append(.init(check: check, maintenance: .service(node: check.node, serviceID: serviceID), reason: reason))
                    continue
                }
            }
            checks.append(check)
        }
        var selection = Selection(type: type, checks: checks, silenced: silenced, population: population)
        selection.criteria = criteria
        return selection
    }
}

/// Why a payload yielded no selection.
public enum SelectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not a readable watch payload.
    case invalidPayload(JSONError)
    /// A valid payload of a watch type that carries no health checks.
    case noHealthChecks(WatchType, ambiguous: Bool)

    public var description: String {
        switch self {
        case .invalidPayload(let error): return error.description
        case .noHealthChecks(let type, let ambiguous):
            let article = type == .event ? "an" : "a"
            let what = ambiguous ? "a `null` payload (a missing `key` or an empty `keyprefix`)" : "\(article) `\(type)` watch payload"
            return "\(what) carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)"
        }
    }
}

extension Selection {
    /// Reads a health-bearing payload (`checks` or `service`) from `bytes` and selects checks,
    /// streaming: checks are considered as they are read, and only selected ones are kept.
    ///
    /// The type is detected from the JSON unless `type` is given; `[]` and `null` read as an
    /// empty `checks` payload (`null` is also empty for a forced `service` or `event` type). A payload of another type is fully validated and then refused with
    /// ``SelectionError/noHealthChecks(_:ambiguous:)``.
    public static func select<Bytes: ContiguousBytes>(
        from bytes: Bytes, criteria: SelectionCriteria, type: WatchType? = nil, consulIndex: UInt64? = nil,
        tracksPopulation: Bool = true
    ) throws(SelectionError) -> Selection {
        let read: ReadOutcome
        do {
            read = try JSONReader.read(bytes) { (reader) throws(JSONError) -> ReadOutcome in
                // Go marshals a nil slice as `null`: for a checks, service or event watch (and
                // when no type is forced) it means "nothing", as `[]` does.
                if type == nil || type == .checks || type == .service || type == .event, reader.readNullIfPresent() {
                    return .selected(
                        CheckSelector(criteria: criteria, consulIndex: consulIndex, tracksPopulation: tracksPopulation).finish(type: type ?? .checks))
                }
                let detection: WatchType.Detection
                if let type { detection = .init(type: type, ambiguous: false) } else { detection = try WatchType.detect(&reader) }
                var selector = CheckSelector(criteria: criteria, consulIndex: consulIndex, tracksPopulation: tracksPopulation)
                switch detection.type {
                case .checks:
                    try reader.readArray { (reader) throws(JSONError) in
                        // Skim first: most checks of a large payload are passing and need no model.
                        let start = reader.position
                        let skim = try HealthCheck.Skim(reading: &reader)
                        if selector.needsModel(skim) {
                            reader.position = start
                            selector.consider(try HealthCheck(reading: &reader))
                        } else {
                            selector.count(skim)
                        }
                    }
                case .service:
                    try reader.readArray { (reader) throws(JSONError) in selector.consider(try ServiceEntry(reading: &reader)) }
                default:
                    // Validated whole all the same: a broken payload is reported as broken.
                    _ = try WatchPayload(reading: &reader, as: detection.type)
                    return .noHealthChecks(detection)
                }
                return .selected(selector.finish(type: detection.type))
            }
        } catch {
            throw .invalidPayload(error)
        }
        switch read {
        case .selected(let selection): return selection
        case .noHealthChecks(let detection): throw .noHealthChecks(detection.type, ambiguous: detection.ambiguous)
        }
    }

    /// What reading found: checks selected, or a valid payload of a type without health checks.
    private enum ReadOutcome {
        case selected(Selection)
        case noHealthChecks(WatchType.Detection)
    }

    /// Selects checks from a decoded payload.
    public static func select(from payload: WatchPayload, criteria: SelectionCriteria, consulIndex: UInt64? = nil) throws(SelectionError) -> Selection {
        var selector = CheckSelector(criteria: criteria, consulIndex: consulIndex)
        switch payload {
        case .checks(let checks): for check in checks { selector.consider(check) }
        case .service(let entries): for entry in entries { selector.consider(entry) }
        case .key(nil), .keyprefix(nil): throw .noHealthChecks(payload.type, ambiguous: true)
        default: throw .noHealthChecks(payload.type, ambiguous: false)
        }
        return selector.finish(type: payload.type)
    }
}

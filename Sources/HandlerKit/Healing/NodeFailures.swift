import ConsulWatch

/// What a dead node's failure turns into: its services' incidents (redeployed elsewhere, as the
/// seed's "all containers from that node will be transferred to a healthy one") or, as before,
/// one node incident that is reported and not remediated.
public enum NodeFailureMode: String, Sendable, Hashable, CaseIterable {
    /// Each service instance of a down node joins its service's incident with cause `node-down`.
    case services
    /// One node incident; the node's service checks are stale and silenced.
    case node
}

/// A service instance on a node (the payload's or the catalog's).
public typealias ServiceInstance = Selection.Population.Instance

extension SelectedCheck {
    /// True for the evidence that a service instance is lost with its node: the node's critical
    /// `serfHealth` check attributed to the instance (a `service` watch does that itself; the
    /// node-failure expansion does it for a `checks` watch).
    public var isNodeDown: Bool { checkID == HealthCheck.serfHealthCheckID && service != nil && status == .critical }

    /// True for a critical `serfHealth` check: its node is down.
    var showsNodeDown: Bool { kind == .node && checkID == HealthCheck.serfHealthCheckID && status == .critical }
}

extension Incident {
    /// Why an incident exists: a failing check, or the loss of the node the instance ran on.
    public enum Cause: String, Sendable, Hashable, CaseIterable {
        case check
        case nodeDown = "node-down"
    }

    /// `node-down` when any instance of the incident is on a down node (it must move), else `check`.
    public var cause: Cause { checks.contains(where: \.isNodeDown) ? .nodeDown : .check }
}

/// The down nodes of a delivery and what is known of their services.
public struct DownNodes: Sendable {
    /// Where a node's services came from.
    public enum Source: String, Sendable { case payload, state, catalog }

    public struct Node: Sendable {
        public var name: String
        /// The node's critical `serfHealth` check.
        public var serf: SelectedCheck
        /// Its service instances (never the `consul` service); nil while the lookup failed.
        public var services: [ServiceInstance]?
        public var source: Source?
        /// Why the services are not known (the lookup's error).
        public var pending: String?
    }

    public var nodes: [Node] = []
    /// Catalog requests made.
    public var lookups = 0

    public init() {}

    public var isEmpty: Bool { nodes.isEmpty }
    public var pending: [Node] { nodes.filter { $0.services == nil } }
    public func node(_ name: String) -> Node? { nodes.first { $0.name == name } }

    /// The service Consul registers for its servers: never a target.
    public static let consulService = "consul"

    /// Finds the down nodes of `selection` and their services: from the payload when it shows a
    /// node's instances (a `service` watch, or a `checks` watch that shows healthy checks), else
    /// from what the state remembers of an open node failure, else from the agent's catalog.
    /// Nothing in `node` mode or under node grouping (the node is the incident there).
    public static func resolve(
        _ selection: Selection, mode: NodeFailureMode, groupBy: GroupBy,
        remembered: (String) -> [ServiceInstance]?, lookup: (any NodeServicesLookup)?
    ) -> DownNodes {
        var result = DownNodes()
        guard mode == .services, groupBy != .node else { return result }
        var seen: Set<String> = []
        for check in selection.checks where check.showsNodeDown && seen.insert(check.node).inserted {
            result.nodes.append(Node(name: check.node, serf: check))
        }
        // A service watch attributes the node's serfHealth to each instance (kind node, service set).
        for check in selection.checks where check.kind == .node && check.isNodeDown && seen.insert(check.node).inserted {
            var serf = check
            serf.service = nil
            serf.serviceID = nil
            serf.tags = []
            result.nodes.append(Node(name: check.node, serf: serf))
        }
        let complete = selection.type == .service || selection.population.showsHealthy
        for index in result.nodes.indices {
            let name = result.nodes[index].name
            if complete {
                result.nodes[index].services = (selection.population.instances[name] ?? []).sorted { ($0.service, $0.serviceID) < ($1.service, $1.serviceID) }
                result.nodes[index].source = .payload
            } else if let known = remembered(name) {
                result.nodes[index].services = known
                result.nodes[index].source = .state
            } else if let lookup {
                result.lookups += 1
                do {
                    result.nodes[index].services = try lookup.services(on: name)
                    result.nodes[index].source = .catalog
                } catch {
                    result.nodes[index].pending = error.description
                }
            } else {
                result.nodes[index].pending = "no Consul agent to ask which services ran there"
            }
            result.nodes[index].services?.removeAll { $0.service == consulService }
        }
        return result
    }

    /// The selection's checks with the down nodes' instances in place of their stale checks:
    /// one `serfHealth` check per instance (``SelectedCheck/isNodeDown``), and the checks held
    /// back because a node's services are not known yet. Instances that the selection's
    /// filters exclude are left out.
    func expand(_ checks: [SelectedCheck], criteria: SelectionCriteria = SelectionCriteria()) -> (checks: [SelectedCheck], held: [SelectedCheck]) {
        var known: [String: Node] = [:]
        var pendingNodes: Set<String> = []
        for node in nodes {
            if node.services != nil { known[node.name] = node } else { pendingNodes.insert(node.name) }
        }
        var kept: [SelectedCheck] = []
        var held: [SelectedCheck] = []
        var staleInstances: [String: [ServiceInstance]] = [:]
        kept.reserveCapacity(checks.count)
        for check in checks {
            if let service = check.service, service != Self.consulService {
                if known[check.node] != nil {
                    staleInstances[check.node, default: []].append(ServiceInstance(service: service, serviceID: check.serviceID ?? service, tags: check.tags))
                    continue
                }
                if pendingNodes.contains(check.node) {
                    held.append(check)
                    continue
                }
            } else if check.service == Self.consulService, known[check.node] != nil || pendingNodes.contains(check.node) {
                continue
            }
            kept.append(check)
        }
        for node in nodes {
            guard var instances = node.services else { continue }
            let listed = Set(instances.map(\.serviceID))
            for stale in staleInstances[node.name] ?? [] where !listed.contains(stale.serviceID) {
                instances.append(stale)
            }
            var added: Set<String> = []
            for instance in instances where added.insert(instance.serviceID).inserted {
                var check = node.serf
                check.service = instance.service
                check.serviceID = instance.serviceID
                check.tags = instance.tags
                check.node = node.name
                // The selection's filters (--service, --tag, --node) apply to them as to any check.
                if criteria.matches(check) { kept.append(check) }
            }
        }
        return (kept, held)
    }

    /// One line for people about a down node.
    public func describe(_ node: Node) -> String {
        guard let services = node.services else {
            return
                "node \(node.name) is down (serfHealth critical); which services ran there is not known: \(node.pending ?? "unknown"); nothing is marked handled, it is looked up again on the next delivery or flush"
        }
        let names = services.map { $0.serviceID == $0.service ? $0.service : "\($0.service) (\($0.serviceID))" }
        let from: String
        switch node.source {
        case .payload?: from = "the payload"
        case .state?: from = "the state (looked up when the node went down)"
        default: from = "the catalog"
        }
        if names.isEmpty { return "node \(node.name) is down (serfHealth critical); no service ran there (per \(from))" }
        return "node \(node.name) is down (serfHealth critical); its services are redeployed elsewhere: \(names.joined(separator: ", ")) (per \(from))"
    }
}

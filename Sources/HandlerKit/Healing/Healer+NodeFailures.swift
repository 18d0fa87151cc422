import ConsulWatch
import Platform

/// The step before deciding: which nodes are down, and which services ran there.
extension Healer {
    /// The selection to decide (on `flush`, the down nodes still pending, rebuilt from the
    /// state) and its down nodes with their services. The state is read only when a node is down.
    func downNodes(_ delivered: Selection?) throws(SystemError) -> (Selection, DownNodes) {
        guard nodeFailures == .services, groupBy != .node else {
            return (delivered ?? Selection(type: .checks, checks: []), DownNodes())
        }
        var remembered: [String: HealState.DownNodeRecord] = [:]
        let selection: Selection
        if let given = delivered {
            selection = given
        } else if let store {
            // flush: the node failures whose lookup failed, as their serfHealth checks.
            let state = try store.snapshot()
            let pending = state.downNodes.filter { $0.value.watch == watch && $0.value.services == nil }.sorted { $0.key < $1.key }
            selection = Selection(
                type: .checks,
                checks: pending.map { name, record in
                    SelectedCheck(
                        kind: .node, service: nil, serviceID: nil, node: name, checkID: HealthCheck.serfHealthCheckID, checkName: record.checkName,
                        status: .critical, output: record.output, consulIndex: record.consulIndex)
                })
        } else {
            selection = Selection(type: .checks, checks: [])
        }
        guard selection.checks.contains(where: \.showsNodeDown) else { return (selection, DownNodes()) }
        if let store, selection.type != .service, !selection.population.showsHealthy {
            remembered = try store.snapshot().downNodes
        }
        let down = DownNodes.resolve(
            selection, mode: nodeFailures, groupBy: groupBy, remembered: { remembered[$0]?.services }, lookup: nodeServices)
        return (selection, down)
    }

    /// Remembers the down nodes' services (a dead node is looked up once while it stays down) and
    /// the failed lookups (retried by the next delivery or `flush`); forgets the nodes of this
    /// watch that are no longer down.
    static func remember(_ down: DownNodes, in state: inout HealState, watch: String, isFlush: Bool, time: Double) {
        if !isFlush {
            for (name, record) in state.downNodes where record.watch == watch && down.node(name) == nil { state.downNodes[name] = nil }
        }
        for node in down.nodes {
            if node.source == .payload {
                state.downNodes[node.name] = nil
                continue
            }
            var record =
                state.downNodes[node.name]
                ?? HealState.DownNodeRecord(
                    watch: watch, since: time, services: nil, pending: nil, checkName: node.serf.checkName, output: node.serf.output,
                    consulIndex: node.serf.consulIndex)
            record.services = node.services
            record.pending = node.pending
            state.downNodes[node.name] = record
        }
    }

    /// Why a node incident is not remediated, without claiming a node is down when only one of
    /// its node-level checks (a disk check, a node TTL check) fails.
    public static func describeNodeFailure(_ incident: Incident) -> String {
        if incident.checks.contains(where: \.showsNodeDown) {
            return "the node is down (serfHealth critical); its services' checks are stale (nodeFailures: node)"
        }
        let checks = incident.checks.map(\.checkID).joined(separator: ", ")
        return "node-level check \(checks) is \(incident.status) on a node that is up: a problem of the node, not of a service; nothing is redeployed"
    }
}

import ConsulWatch
import Platform

/// The healer's notification bookkeeping, kept apart from its claim/act/record phases: which
/// targets were notified (so that a recovery sends a resolve only for them) and the metrics'
/// counters.
extension Healer {
    /// For each recovery of a target that was notified: the incident (rebuilt from its identity,
    /// since a recovered target has no failing check to show) and the route whose `resolved`
    /// actions run. The mark is cleared: a resolve is sent once.
    static func takeNotified(_ decisions: [Decision], state: inout HealState, routing: RoutingTable) -> [(incident: Incident, route: Route)] {
        var resolving: [(incident: Incident, route: Route)] = []
        for decision in decisions {
            guard case .resolved = decision.verdict, var record = state.targets[decision.id], let routeName = record.notified else { continue }
            record.notified = nil
            state.targets[decision.id] = record
            guard let route = routing.route(named: routeName), !route.resolved.isEmpty else { continue }
            resolving.append((recoveredIncident(id: decision.id), route))
        }
        return resolving
    }

    /// An incident for a target that recovered: its identity, and one passing check that names it.
    public static func recoveredIncident(id: String) -> Incident {
        let colon = id.firstIndex(of: ":") ?? id.startIndex
        let kind = String(id[..<colon])
        let rest = colon < id.endIndex ? String(id[id.index(after: colon)...]) : id
        let check: SelectedCheck
        let groupBy: GroupBy
        switch kind {
        case "service":
            groupBy = .service
            check = SelectedCheck(kind: .service, service: rest, serviceID: nil, node: "", checkID: "", checkName: "", status: .passing)
        case "instance":
            groupBy = .instance
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let serviceID = slash < rest.endIndex ? String(rest[rest.index(after: slash)...]) : ""
            check = SelectedCheck(
                kind: .service, service: nil, serviceID: serviceID, node: String(rest[..<slash]), checkID: "", checkName: "", status: .passing)
        default:
            groupBy = .node
            check = SelectedCheck(kind: .node, service: nil, serviceID: nil, node: rest, checkID: "", checkName: "", status: .passing)
        }
        return Incident(groupBy: groupBy, checks: [check])
    }

    /// After a run: marks targets notified by an action that also runs on `resolved`, and counts
    /// the run for the metrics. One short extra pass under the state lock, only when a route
    /// has resolved actions or metrics are on.
    func recordNotifiedAndMetrics(_ report: Report, isFlush: Bool, time: Double) throws(SystemError) {
        guard let backend, !dryRun else { return }
        let routing = self.routing
        var notified: [String: String] = [:]
        for action in report.actions {
            guard case .done = action.outcome, action.incident.checks.first?.status != .passing,
                let route = routing.route(for: action.incident), route.resolved.contains(where: { $0.name == action.action })
            else { continue }
            notified[action.incident.id] = route.name
        }
        guard countsMetrics || !notified.isEmpty else { return }
        let watch = self.watch
        let countsMetrics = self.countsMetrics
        do {
            try backend.modify(persist: true) { (state) throws(SystemError) in
                for (id, route) in notified {
                    guard var record = state.targets[id], record.failing else { continue }
                    record.notified = route
                    state.targets[id] = record
                }
                if countsMetrics { HealMetrics.count(report, watch: watch, time: time, into: &state.metrics) }
            }
        } catch {
            switch error {
            case .local(let error): throw error
            case .unavailable(let why): log("notified targets and metrics not recorded: \(why)")
            }
        }
    }
}

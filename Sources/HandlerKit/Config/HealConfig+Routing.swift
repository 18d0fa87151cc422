extension RoutingTable {
    /// The routes of a configuration, in order, each action built by `build`: consul-heal wires
    /// real actions, explain and replay pass ``PlannedAction`` so that nothing can run. Log actions
    /// become recorders; the others go, by their `on` events, to the ladder (`act`, the default),
    /// the escalation (`escalate`, or `escalation: true`) and the resolved actions (`resolved`).
    public init<Failure: Error>(config: HealConfig, build: (HealConfig.ActionSpec) throws(Failure) -> any Action) throws(Failure) {
        var routes: [Route] = []
        for spec in config.routes {
            var route = Route(name: spec.name, match: spec.match, ladder: [], policy: spec.policy)
            for action in spec.actions {
                if action.kind == .log {
                    route.recorders.append(try build(action))
                    continue
                }
                // One built copy per event, so that an action knows which event it runs for.
                for event in action.events {
                    var copy = action
                    copy.event = event
                    let built = try build(copy)
                    switch event {
                    case .act: route.ladder.append(built)
                    case .escalate: route.escalation.append(built)
                    case .resolved: route.resolved.append(built)
                    }
                }
            }
            routes.append(route)
        }
        self.init(routes: routes)
    }

    /// The routes of a configuration with planned actions only: for deciding without acting.
    public static func planned(_ config: HealConfig) -> RoutingTable {
        RoutingTable(config: config) { PlannedAction(name: $0.kind.rawValue) }
    }
}

/// An action known by its name only: `explain` and `replay` decide with the same routing table
/// as a run, but must never execute anything.
public struct PlannedAction: Action {
    public let name: String

    public init(name: String) { self.name = name }

    public func perform(_ incident: Incident, context: ActionContext) -> Outcome {
        .skipped(reason: "\(name) is only planned here: explain and replay execute nothing")
    }
}

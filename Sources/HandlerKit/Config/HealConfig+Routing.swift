extension RoutingTable {
    /// The routes of a configuration, in order, each action built by `build`: consul-heal wires
    /// real actions, explain and replay pass ``PlannedAction`` so that nothing can run. Log actions
    /// become recorders, `escalation: true` actions the escalation, the rest the ladder.
    public init<Failure: Error>(config: HealConfig, build: (HealConfig.ActionSpec) throws(Failure) -> any Action) throws(Failure) {
        var routes: [Route] = []
        for spec in config.routes {
            var route = Route(name: spec.name, match: spec.match, ladder: [], policy: spec.policy)
            for action in spec.actions {
                let built = try build(action)
                if action.kind == .log {
                    route.recorders.append(built)
                } else if action.escalation {
                    route.escalation.append(built)
                } else {
                    route.ladder.append(built)
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

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
        RoutingTable(config: config) { PlannedAction(name: $0.kind.rawValue, spec: $0) }
    }
}

/// An action known by its name only: `explain` and `replay` decide with the same routing table
/// as a run, but must never execute anything.
public struct PlannedAction: Action {
    public let name: String
    /// What it would be given (templates), for `explain` to show with resolved values.
    public let spec: HealConfig.ActionSpec?

    public init(name: String, spec: HealConfig.ActionSpec? = nil) {
        self.name = name
        self.spec = spec
    }

    /// The action with its templates rendered for `incident` (`{kv:…}` read through `kv`):
    /// `jenkins books-service COLOR=green`, `redeploy /usr/local/bin/redeploy-service books-service`.
    public func describe(_ incident: Incident, kv: KVValues?) -> String {
        guard let spec else { return name }
        let values = incident.placeholders
        func render(_ template: Template) -> String {
            do { return try template.render(values, kv: kv) } catch { return "<\(error.description)>" }
        }
        switch spec.kind {
        case .jenkins:
            var words = [name]
            if let job = spec.job { words.append(job.segments.map(render).joined(separator: "/")) }
            for parameter in spec.parameters ?? [] { words.append("\(parameter.name)=\(render(parameter.value))") }
            return words.joined(separator: " ")
        case .redeploy, .external:
            return ([name] + spec.command.map { CommandAction.quoteForDisplay(render($0)) }).joined(separator: " ")
        default:
            return name
        }
    }

    public func perform(_ incident: Incident, context: ActionContext) -> Outcome {
        .skipped(reason: "\(name) is only planned here: explain and replay execute nothing")
    }
}

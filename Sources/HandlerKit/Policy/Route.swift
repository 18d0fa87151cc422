import ConsulWatch

/// Which incidents a route takes: every listed field must match (empty fields match anything);
/// within a field, any value matches. Names match byte for byte, as Consul compares them.
public struct RouteMatch: Sendable, Hashable {
    public var services: NameSet = []
    public var tags: NameSet = []
    public var nodes: NameSet = []
    public var checks: NameSet = []
    /// `check` or `node-down` (``Incident/cause``).
    public var causes: Set<Incident.Cause> = []

    public init(services: NameSet = [], tags: NameSet = [], nodes: NameSet = [], checks: NameSet = [], causes: Set<Incident.Cause> = []) {
        self.services = services
        self.tags = tags
        self.nodes = nodes
        self.checks = checks
        self.causes = causes
    }

    public func matches(_ incident: Incident) -> Bool {
        if !services.isEmpty && !(incident.service.map(services.contains) ?? false) { return false }
        if !nodes.isEmpty && !incident.checks.contains(where: { nodes.contains($0.node) }) { return false }
        if !checks.isEmpty && !incident.checks.contains(where: { checks.contains($0.checkID) }) { return false }
        if !tags.isEmpty && !incident.checks.contains(where: { !tags.isDisjoint(with: $0.tags) }) { return false }
        if !causes.isEmpty && !causes.contains(incident.cause) { return false }
        return true
    }
}

/// Where incidents go and what is done for them.
public struct Route: Sendable {
    public var name: String
    /// nil for the default route (matches everything).
    public var match: RouteMatch?
    /// Remediations, tried in order until one succeeds (Jenkins → direct redeploy → …).
    public var ladder: [any Action]
    /// Run once when the ladder is exhausted, the budget runs out, or the blast radius trips.
    public var escalation: [any Action]
    /// Run on every remediation, before the ladder (log sinks): they never stop the ladder.
    public var recorders: [any Action]
    /// Run when an incident that was notified recovers (`"on": ["resolved"]`).
    public var resolved: [any Action] = []
    public var policy: PolicySettings

    public init(
        name: String, match: RouteMatch?, ladder: [any Action], escalation: [any Action] = [], recorders: [any Action] = [],
        policy: PolicySettings = PolicySettings()
    ) {
        self.name = name
        self.match = match
        self.ladder = ladder
        self.escalation = escalation
        self.recorders = recorders
        self.policy = policy
    }
}

/// Routes in order: the first whose match fits takes the incident; the default route
/// (no match) takes the rest.
public struct RoutingTable: Sendable {
    public var routes: [Route]

    public init(routes: [Route]) { self.routes = routes }

    public func route(for incident: Incident) -> Route? {
        routes.first { $0.match?.matches(incident) ?? true }
    }

    public func route(named name: String) -> Route? { routes.first { $0.name == name } }
}

extension PolicyEngine {
    /// The engine that decides with each incident's route's policy (the defaults for an unrouted one).
    public init(routing: RoutingTable, blastRadius: BlastRadius, claimant: String, claimDuration: Double = 300) {
        self.init(
            settings: { routing.route(for: $0)?.policy ?? PolicySettings() }, blastRadius: blastRadius, claimant: claimant,
            claimDuration: claimDuration)
    }
}

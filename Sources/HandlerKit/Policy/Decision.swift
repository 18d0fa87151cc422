/// What the policy decided for one target in one delivery, with a reason `explain` prints verbatim.
public struct Decision: Sendable, Hashable {
    /// The verdict.
    public enum Verdict: Sendable, Hashable {
        /// Remediate now (run the route's ladder).
        case act
        /// The budget just ran out: run the escalation once, remediate no more.
        case escalate
        /// Do nothing, for this reason.
        case skip(SkipReason)
        /// The target recovered: its incident is closed.
        case resolved
    }

    /// Why nothing is done.
    public enum SkipReason: Sendable, Hashable {
        /// Failing already in the first delivery of a watch (or one whose index did not advance).
        case baseline
        /// Already acted on for this failure (Consul re-sends every failing check on every change).
        case duplicate(actedAt: Double?)
        /// Another handler is acting on it right now.
        case inFlight(by: String)
        /// Not failing long enough yet.
        case belowThreshold(deliveries: Int, needed: Int, seconds: Double, neededSeconds: Double)
        /// Too soon after the last action.
        case cooldown(remaining: Double)
        /// The circuit is open: the budget was used up and the target has not been passing long enough since.
        case budgetExhausted(remediations: Int, window: Double)
        /// The node or service is in maintenance, or its node is down (its checks are stale).
        case silenced(String)
        /// The blast-radius breaker is tripped.
        case blastRadius(targets: Int)
    }

    public var id: String
    public var target: String
    public var verdict: Verdict
    /// The incident behind the decision (nil for a resolution).
    public var incident: Incident?
    /// Replaces the reason when the engine knows more: why an `act` repeats an earlier one (its
    /// actor left no outcome), or when an open circuit closes (`escalate`, `budget-exhausted`).
    public var note: String?

    public init(id: String, target: String, verdict: Verdict, incident: Incident?) {
        self.id = id
        self.target = target
        self.verdict = verdict
        self.incident = incident
    }

    /// `act`, `escalate`, `resolved`, or the skip reason's name (`cooldown`, `baseline`…).
    public var name: String {
        switch verdict {
        case .act: return "act"
        case .escalate: return "escalate"
        case .resolved: return "resolved"
        case .skip(let reason):
            switch reason {
            case .baseline: return "baseline"
            case .duplicate: return "duplicate"
            case .inFlight: return "in-flight"
            case .belowThreshold: return "below-threshold"
            case .cooldown: return "cooldown"
            case .budgetExhausted: return "budget-exhausted"
            case .silenced: return "silenced"
            case .blastRadius: return "blast-radius"
            }
        }
    }

    /// The reason in words.
    public var reason: String {
        if let note { return note }
        switch verdict {
        case .act: return "became critical: remediating"
        case .escalate: return "remediation budget exhausted: escalating once, no more remediation until it has been passing for the reset period"
        case .resolved: return "recovered: incident closed"
        case .skip(let reason):
            switch reason {
            case .baseline:
                return
                    "baseline: already failing when this watch's first delivery (or a delivery whose CONSUL_INDEX did not advance) arrived; acting only if it recovers and fails again (on-start: wait)"
            case .duplicate(let actedAt):
                return actedAt.map { "duplicate: already acted on at \(Timestamp.iso8601($0)) for this failure" }
                    ?? "duplicate: already handled for this failure"
            case .inFlight(let by): return "in flight: handler \(by) is acting on it"
            case .belowThreshold(let deliveries, let needed, let seconds, let neededSeconds):
                var parts: [String] = []
                if needed > 1 { parts.append("\(deliveries) of \(needed) deliveries") }
                if neededSeconds > 0 { parts.append("\(Int(seconds))s of \(Int(neededSeconds))s") }
                return "below threshold: failing for " + parts.joined(separator: " and ")
            case .cooldown(let remaining): return "cooldown: last action too recent, \(Int(remaining.rounded(.up)))s left"
            case .budgetExhausted(let count, let window):
                return "budget exhausted: \(count) remediations within \(Int(window))s; circuit open until it has been passing for the reset period"
            case .silenced(let detail): return "silenced: \(detail)"
            case .blastRadius(let count):
                return
                    "blast radius: \(count) targets turned critical together; remediation suspended (a Consul, network or datacenter failure is likelier than \(count) broken services)"
            }
        }
    }
}

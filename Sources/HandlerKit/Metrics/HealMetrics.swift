import Platform

/// consul-heal's metrics (docs/metrics.md is the reference): counters kept in the state,
/// gauges read from the state, the spool and the dead letters at the time of writing.
///
/// Labels are bounded: `watch` (the configured watch names), `decision` (the fixed decision
/// names), `action` (the action types) and `outcome` (done, failed, skipped). No service, node
/// or incident names: their number is not bounded by the configuration.
public enum HealMetrics {
    public static let decisions = "consul_handlers_decisions_total"
    public static let actions = "consul_handlers_actions_total"
    public static let lastSuccess = "consul_handlers_last_action_success_timestamp_seconds"

    /// Counts one run's decisions and actions, and the time of its last successful action.
    public static func count(_ report: Healer.Report, watch: String, time: Double, into series: inout MetricSeries) {
        for decision in report.decisions {
            series.add(decisions, [.init("watch", watch), .init("decision", decision.name)])
        }
        for action in report.actions {
            series.add(actions, [.init("watch", watch), .init("action", action.action), .init("outcome", action.outcome.label)])
        }
        if report.actions.contains(where: { if case .done = $0.outcome { return true } else { return false } }) {
            series.set(lastSuccess, [.init("watch", watch)], time)
        }
    }

    /// Every metric, from the state and the counts of the spool (by watch) and dead letters.
    /// `now`: silences and pauses that ended by then are not counted.
    public static func families(_ state: HealState, spool: [String: Int], deadLetters: Int, now: Double = SystemTime.wallSeconds()) -> [PrometheusText.Family] {
        let watches = Set(state.watches.keys).union(spool.keys).union(state.targets.values.map(\.watch)).sorted()
        func perWatch(_ value: (String) -> Double) -> [PrometheusText.Sample] {
            watches.map { PrometheusText.Sample([.init("watch", $0)], value($0)) }
        }
        let targets = Array(state.targets.values)
        return [
            .init(
                "consul_handlers_deliveries_total", .counter, help: "Deliveries (watch payloads) handled, per watch.",
                samples: perWatch { Double(state.watches[$0]?.deliveries ?? 0) }),
            .init(
                decisions, .counter, help: "Policy decisions per watch and decision (act, escalate, resolved, duplicate, cooldown, ...).",
                samples: state.metrics.samples(decisions)),
            .init(
                actions, .counter, help: "Actions run per watch, action type and outcome (done, failed, skipped).",
                samples: state.metrics.samples(actions)),
            .init(
                "consul_handlers_open_incidents", .gauge, help: "Targets failing now, per watch.",
                samples: perWatch { watch in Double(targets.filter { $0.watch == watch && $0.failing }.count) }),
            .init(
                "consul_handlers_open_circuits", .gauge, help: "Targets whose remediation budget is exhausted (circuit open), per watch.",
                samples: perWatch { watch in Double(targets.filter { $0.watch == watch && $0.circuitOpenSince != nil }.count) }),
            .init(
                "consul_handlers_spooled_actions", .gauge, help: "Failed actions waiting in the spool to be retried, per watch.",
                samples: perWatch { Double(spool[$0] ?? 0) }),
            .init(
                "consul_handlers_dead_letters", .gauge, help: "Payloads kept as dead letters (they could not be read).",
                samples: [.init([], Double(deadLetters))]),
            .init(
                "consul_handlers_blast_radius_tripped", .gauge, help: "1 while the blast-radius breaker is tripped, else 0.",
                samples: [.init([], state.breaker == nil ? 0 : 1)]),
            .init(
                "consul_handlers_last_delivery_timestamp_seconds", .gauge, help: "When the last delivery of each watch was handled (Unix time).",
                samples: watches.compactMap { watch in state.watches[watch].map { PrometheusText.Sample([.init("watch", watch)], $0.lastDelivery) } }),
            .init(
                lastSuccess, .gauge, help: "When an action last succeeded for each watch (Unix time).",
                samples: state.metrics.samples(lastSuccess)),
            .init(
                "consul_handlers_silences", .gauge, help: "Operators' silences in force (consul-heal silence).",
                samples: [.init([], Double(state.silences.values.filter { $0.isActive(at: now) }.count))]),
            .init(
                "consul_handlers_paused", .gauge, help: "1 while the watch is paused (consul-heal pause), else 0.",
                samples: perWatch { watch in state.pauses[watch]?.isActive(at: now) == true ? 1 : 0 }),
        ]
    }
}

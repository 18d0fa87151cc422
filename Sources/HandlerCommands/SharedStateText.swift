import HandlerKit

/// What every command says about a delivery kept while the shared policy state was unavailable,
/// and after a flush: one wording, whichever executable ran (docs/cluster.md quotes it).
enum SharedStateText {
    /// The one stderr line of a delivery that could not be decided on the shared state; `flush`
    /// names how to decide it without waiting for a delivery (`consul-heal flush`).
    static func unavailable(_ reason: String, store: StateStore, flush: String) -> String {
        "shared policy state unavailable (\(reason)); nothing was acted on; the delivery is kept in \(store.pendingDirectory) and decided again on the next delivery or \(flush)"
    }

    /// `flushed watch web-checks: 1 action(s) run, 0 still spooled`.
    static func flushed(watch: String, report: Healer.Report, dryRun: Bool, othersLeft: Int = 0) -> String {
        var line = "flushed watch \(watch): \(report.actions.count) action(s) run, \(report.spooled) still spooled"
        if othersLeft > 0 { line += "; \(othersLeft) entr\(othersLeft == 1 ? "y" : "ies") of other watches left for their handlers" }
        if dryRun { line += " (dry run: nothing was run)" }
        return line
    }
}

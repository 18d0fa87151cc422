import Platform
import Synchronization

/// The decision journal of one delivery: one record per event, stamped with the watch (and
/// `dryRun` in dry runs). The first write that fails stops the rest of the delivery's records;
/// the caller reports it (exit 74) after the outcomes are safely in the state.
public final class Journal: Sendable {
    let sink: LogSink?
    let watch: String
    let dryRun: Bool
    private let failure = Mutex<SystemError?>(nil)

    public init(sink: LogSink?, watch: String, dryRun: Bool) {
        self.sink = sink
        self.watch = watch
        self.dryRun = dryRun
    }

    /// The first write that failed, if any.
    public var error: SystemError? { failure.withLock { $0 } }

    /// Writes one record of `event`, filled in by `fill`.
    public func record(_ event: String, time: Double, _ fill: (inout LogRecord) -> Void) {
        guard let sink, failure.withLock({ $0 == nil }) else { return }
        var record = LogRecord(time: time, event: event)
        record.add("watch", watch)
        if dryRun { record.add("dryRun", true) }
        fill(&record)
        do { try sink.write(record) } catch { failure.withLock { $0 = $0 ?? error } }
    }

    /// Writes a decision, with the action run for it and its outcome when there was one.
    /// `note` (why a run repeats one of unknown outcome) and `retryAttempt` (a spooled retry)
    /// replace the decision's own reason.
    public func decision(
        _ decision: Decision, consulIndex: UInt64?, digest: String, time: Double, action: ActionReport? = nil,
        retryAttempt: Int? = nil, note: String? = nil
    ) {
        record("decision", time: time) { record in
            record.add("consulIndex", consulIndex)
            record.add("digest", digest)
            record.add("incident", decision.id)
            record.add("target", decision.target)
            record.add("decision", decision.name)
            if let note {
                record.add("reason", note)
                if retryAttempt != nil { record.add("retry", true) }
            } else if let retryAttempt {
                record.add("reason", "retrying a spooled action (attempt \(retryAttempt))")
                record.add("retry", true)
            } else {
                record.add("reason", decision.reason)
            }
            if let action {
                record.add("action", action.action)
                record.add("outcome", action.outcome.label)
                record.add("detail", action.outcome.detail)
                record.add("duration", (action.duration * 1000).rounded() / 1000)
            }
        }
    }
}

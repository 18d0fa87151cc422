import Dispatch
import FoundationEssentials
import Platform
import Synchronization

/// Runs an action over many incidents with at most `concurrency` at once, and reports in the
/// incidents' order. Each incident's action runs on its own worker thread; a slow Jenkins does
/// not hold up the others beyond the bound.
public struct Dispatcher: Sendable {
    public var concurrency: Int

    public init(concurrency: Int) {
        self.concurrency = max(1, concurrency)
    }

    /// Performs `action` on every incident and returns one report per incident, in order.
    /// `onReport` is called as each finishes (for audit lines), from the worker thread.
    public func run(
        _ incidents: [Incident], action: any Action, context: ActionContext,
        onReport: @escaping @Sendable (ActionReport) -> Void = { _ in }
    ) -> [ActionReport] {
        run(incidents.count) { index in
            let incident = incidents[index]
            let started = context.clock.now()
            let outcome = action.perform(incident, context: context)
            let report = ActionReport(incident: incident, action: action.name, outcome: outcome, duration: context.clock.now() - started)
            onReport(report)
            return report
        }
    }

    /// Runs `work` for indexes `0..<count`, at most ``concurrency`` at once; results in index order.
    public func run<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let results = Mutex<[Int: T]>([:])
        let next = Atomic<Int>(0)
        let group = DispatchGroup()
        let workers = min(concurrency, count)
        for _ in 0..<workers {
            group.enter()
            // Dedicated threads, not the global dispatch pool: workers block on network and child
            // processes, and a starved pool grows by about one thread a second.
            let worker: @Sendable () -> Void = {
                while true {
                    let index = next.add(1, ordering: .relaxed).oldValue
                    if index >= count { break }
                    let value = work(index)
                    results.withLock { $0[index] = value }
                }
                group.leave()
            }
            // No thread to be had: this thread does the work, so nothing is left undone.
            if !detachThread(worker) { worker() }
        }
        group.wait()
        return results.withLock { results in (0..<count).map { results[$0]! } }
    }
}

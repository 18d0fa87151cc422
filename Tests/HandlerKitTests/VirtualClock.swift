import Synchronization

@testable import HandlerKit

/// A clock for unit tests: time moves only when something sleeps, and every sleep is recorded,
/// so retry back-off and deadlines are asserted exactly and take no real time.
final class VirtualClock: TimeSource, Sendable {
    let time: Mutex<Double>
    let slept = Mutex<[Double]>([])

    init(start: Double = 1000) { time = Mutex(start) }

    func now() -> Double { time.withLock { $0 } }

    func sleep(_ seconds: Double) {
        slept.withLock { $0.append(seconds) }
        time.withLock { $0 += max(0, seconds) }
    }

    /// Every sleep so far, in order.
    var sleeps: [Double] { slept.withLock { $0 } }
}

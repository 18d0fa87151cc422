import Platform

/// Time for actions and policy: injectable so that tests and `replay` run on a virtual clock.
public protocol Clock: Sendable {
    /// Seconds since the Unix epoch (wall time: state files store it).
    func now() -> Double
    /// Blocks the calling thread for `seconds` (a virtual clock just advances).
    func sleep(_ seconds: Double)
}

/// The real clock.
public struct SystemClock: Clock {
    public init() {}
    public func now() -> Double { Time.wallSeconds() }
    public func sleep(_ seconds: Double) { if seconds > 0 { Time.sleep(seconds: seconds) } }
}

import Platform

/// Time for actions and policy: injectable so that tests and `replay` run on a virtual clock.
public protocol TimeSource: Sendable {
    /// Seconds since the Unix epoch (wall time: state files store it).
    func now() -> Double
    /// Blocks the calling thread for `seconds` (a virtual clock just advances).
    func sleep(_ seconds: Double)
}

/// The real clock.
public struct SystemClock: TimeSource {
    public init() {}
    public func now() -> Double { SystemTime.wallSeconds() }
    public func sleep(_ seconds: Double) { if seconds > 0 { SystemTime.sleep(seconds: seconds) } }
}

import Platform

/// How often, and how far apart, a failed request is tried again: exponential back-off with
/// jitter, never past the deadline.
public struct RetryPolicy: Sendable {
    /// Total attempts, the first included.
    public var attempts: Int
    /// Delay before the second attempt; it doubles each time.
    public var baseDelay: Double
    /// The longest delay between two attempts.
    public var maximumDelay: Double
    /// A random number in 0..<1; injectable for tests.
    public var random: @Sendable () -> Double

    public init(attempts: Int = 4, baseDelay: Double = 0.5, maximumDelay: Double = 8, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
        self.random = random
    }

    /// No retries.
    public static let none = RetryPolicy(attempts: 1)

    /// The delay after failed attempt number `attempt` (1-based): "equal jitter", between half
    /// and all of the exponential step, so that many handlers do not retry in lockstep.
    public func delay(after attempt: Int) -> Double {
        let step = min(maximumDelay, baseDelay * Double(1 << min(attempt - 1, 20)))
        return step / 2 + step / 2 * random()
    }

    /// Seconds from a `Retry-After` value (delta-seconds; HTTP dates are not honoured and read as nil).
    public static func retryAfter(_ value: String?) -> Double? {
        guard let value, let seconds = Double(value.trimmingSpaces()), seconds >= 0, seconds.isFinite else { return nil }
        return seconds
    }
}

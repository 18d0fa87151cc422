/// A detached thread for work that must go on beside a blocking loop (`consul-heal serve`
/// refreshing its own TTL check while it waits for deliveries).
public enum BackgroundThread {
    /// Starts `body` on a new detached thread; false when the system refused one.
    @discardableResult
    public static func start(_ body: @escaping @Sendable () -> Void) -> Bool { startThread(body) }
}

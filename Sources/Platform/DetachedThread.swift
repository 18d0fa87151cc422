#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Starts `body` on a new detached POSIX thread, for work that blocks on sockets or child
/// processes: the global dispatch pool grows by about one thread a second when it is starved.
/// What `Thread.detachNewThread` does, without linking full Foundation.
/// Returns false (and runs nothing) when the system refuses a new thread.
@discardableResult
public func detachThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if canImport(Musl)
        var thread: pthread_t? = nil
    #else
        var thread = pthread_t()
    #endif
    let result = pthread_create(
        &thread, &attributes,
        { raw in
            Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
    if result != 0 { Unmanaged<ThreadBody>.fromOpaque(context).release() }
    return result == 0
}

/// Carries the closure through `pthread_create`'s `void *` argument.
private final class ThreadBody: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

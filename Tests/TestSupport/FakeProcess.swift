import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The life of a fake peer run as its own process (`fake-jenkins`, `fake-consul`): serve until
/// SIGTERM, SIGINT or (with `watchStdin`) the end of standard input, then run `finish` exactly once
/// (it prints the fake's summary and exits). Benchmarks and multi-process tests stop a fake by
/// closing its stdin, so a crashed parent never leaves one behind.
public enum FakeProcess {
    public static func serveUntilStopped(watchStdin: Bool, finish: @escaping @Sendable () -> Void) -> Never {
        let done = Mutex(false)
        let once: @Sendable () -> Void = {
            let first = done.withLock { finished -> Bool in
                defer { finished = true }
                return !finished
            }
            if first { finish() }
        }
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler(handler: once)
            source.resume()
            sources.append(source)
        }
        if watchStdin {
            let reader = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = read(0, &buffer, buffer.count)
                    if n == 0 || (n < 0 && errno != EINTR) { break }
                }
                once()
            }
            reader.start()
        }
        while true {
            sleep(3600)
            withExtendedLifetime(sources) {}
        }
    }
}

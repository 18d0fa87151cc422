import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a finished process left behind.
public struct ExecutableResult: Sendable, Equatable {
    /// The exit status; for a process killed by a signal, 128 + the signal number (as a shell reports it).
    public var exitCode: Int32
    /// Standard output, decoded as UTF-8 (invalid bytes replaced).
    public var stdout: String
    /// Standard error, decoded as UTF-8 (invalid bytes replaced).
    public var stderr: String
    /// Standard output exactly as written.
    public var stdoutBytes: [UInt8]
    /// The signal that killed the process, or nil when it exited.
    public var signal: Int32?

    public init(exitCode: Int32, stdoutBytes: [UInt8], stderrBytes: [UInt8], signal: Int32? = nil) {
        self.exitCode = exitCode
        self.stdoutBytes = stdoutBytes
        self.stdout = String(decoding: stdoutBytes, as: UTF8.self)
        self.stderr = String(decoding: stderrBytes, as: UTF8.self)
        self.signal = signal
    }
}

/// Runs a built product of this package the way a Consul agent runs a watch handler:
/// the payload on stdin (then EOF), the agent's environment plus `CONSUL_INDEX`, either as an
/// argv (`"args"` in the watch definition) or through `/bin/sh -c` (the deprecated `"handler"`
/// string).
public enum ExecutableHarness {
    public enum HarnessError: Error, CustomStringConvertible {
        case productNotFound(String, searched: [String])
        case timedOut(command: String, after: Double, partial: ExecutableResult)

        public var description: String {
            switch self {
            case .productNotFound(let product, let searched):
                return "the built product '\(product)' was not found (looked in \(searched.joined(separator: ", "))); "
                    + "build it first, e.g. `swift build --build-tests`, which builds the executables next to the test bundle"
            case .timedOut(let command, let seconds, let partial):
                return "\(command) did not finish within \(seconds) s and was killed; stdout so far: "
                    + "\(partial.stdout.prefix(200)), stderr so far: \(partial.stderr.prefix(200))"
            }
        }
    }

    /// The directories that may hold the package's built products: the one containing the running
    /// test bundle (`.build/<triple>/<config>/`), first as Foundation sees it, then as the kernel does.
    public static var productDirectories: [URL] {
        var directories: [URL] = []
        #if os(macOS)
            for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
                directories.append(bundle.bundleURL.deletingLastPathComponent())
            }
        #endif
        let main = Bundle.main.bundleURL
        directories.append(main.pathExtension == "xctest" ? main.deletingLastPathComponent() : main)
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        return directories
    }

    /// The path of the built executable `product`, or a clear error when it has not been built.
    public static func productURL(_ product: String) throws -> URL {
        var searched: [String] = []
        for directory in productDirectories {
            let candidate = directory.appendingPathComponent(product)
            searched.append(directory.path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate.path)
            {
                return candidate
            }
        }
        throw HarnessError.productNotFound(product, searched: searched)
    }

    /// Quotes `word` for a POSIX shell (`'it'\''s'`).
    public static func shellQuote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Runs the built `product` with `arguments`, `stdin` on its standard input, and the current
    /// environment plus `environment`. With `viaShell`, runs `/bin/sh -c "<product> <args>"` with
    /// every word single-quoted, as Consul does for a `handler` string.
    ///
    /// Stdin is written and stdout/stderr are drained concurrently, so payloads larger than a
    /// pipe buffer cannot deadlock; a child that exits without reading its stdin is fine. The
    /// child starts with every signal at its default action (SIGPIPE included) and no other
    /// descriptors, as a handler started by the (Go) Consul agent does.
    public static func run(
        _ product: String, arguments: [String], stdin: [UInt8], environment: [String: String] = [:],
        viaShell: Bool = false, timeout: Double = 30
    ) throws -> ExecutableResult {
        let executable = try productURL(product)
        if viaShell {
            let commandLine = ([executable.path] + arguments).map(shellQuote).joined(separator: " ")
            return try launch(URL(fileURLWithPath: "/bin/sh"), ["-c", commandLine], stdin: stdin, environment: environment, timeout: timeout)
        }
        return try launch(executable, arguments, stdin: stdin, environment: environment, timeout: timeout)
    }

    /// Runs an arbitrary `/bin/sh -c` command line (pipes, redirections). `{product}` placeholders
    /// are not expanded: build the line with ``productURL(_:)`` and ``shellQuote(_:)``.
    public static func runShell(
        _ commandLine: String, stdin: [UInt8] = [], environment: [String: String] = [:], timeout: Double = 30
    ) throws -> ExecutableResult {
        try launch(URL(fileURLWithPath: "/bin/sh"), ["-c", commandLine], stdin: stdin, environment: environment, timeout: timeout)
    }

    // MARK: - Internals

    /// Collects what the reader threads produce.
    private final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var _stdout: [UInt8] = []
        private var _stderr: [UInt8] = []
        private var _status: Int32?

        func setStdout(_ bytes: [UInt8]) {
            lock.lock()
            _stdout = bytes
            lock.unlock()
        }
        func setStderr(_ bytes: [UInt8]) {
            lock.lock()
            _stderr = bytes
            lock.unlock()
        }
        func setStatus(_ status: Int32) {
            lock.lock()
            _status = status
            lock.unlock()
        }
        var stdout: [UInt8] {
            lock.lock()
            defer { lock.unlock() }
            return _stdout
        }
        var stderr: [UInt8] {
            lock.lock()
            defer { lock.unlock() }
            return _stderr
        }
        var status: Int32? {
            lock.lock()
            defer { lock.unlock() }
            return _status
        }
    }

    public enum SpawnError: Error, CustomStringConvertible {
        case failed(String, errno: Int32)
        public var description: String {
            switch self {
            case .failed(let what, let code): return "\(what) failed: \(String(cString: strerror(code)))"
            }
        }
    }

    /// Reads a descriptor to end of file.
    private static func drain(_ fd: Int32) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                result.append(contentsOf: chunk[0..<n])
            } else if n == 0 || errno != EINTR {
                return result
            }
        }
    }

    /// Writes all of `bytes`, stopping quietly when the reader has gone (EPIPE).
    ///
    /// SIGPIPE is blocked on this thread only while writing, and a pending one is consumed
    /// afterwards, so the test process never changes its signal dispositions (which children
    /// spawned elsewhere would inherit).
    private static func feed(_ fd: Int32, _ bytes: [UInt8]) {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                if errno == EPIPE {
                    var zero = timespec(tv_sec: 0, tv_nsec: 0)
                    while sigtimedwait(&pipeSignal, nil, &zero) == SIGPIPE {}
                }
                return
            }
        }
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), looked up at run time.
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let closeFrom: CloseFrom? = {
        #if canImport(Glibc)
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
            return unsafeBitCast(symbol, to: CloseFrom.self)
        #else
            return nil
        #endif
    }()

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard fds.withUnsafeMutableBufferPointer({ pipe($0.baseAddress!) }) == 0 else { throw SpawnError.failed("pipe", errno: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Spawns `executable` with `posix_spawn`: stdin/stdout/stderr on fresh pipes, every other
    /// descriptor closed, every signal at its default action and none blocked, as a process
    /// started by a Go program (the Consul agent) finds them.
    private static func launch(
        _ executable: URL, _ arguments: [String], stdin: [UInt8], environment: [String: String], timeout: Double
    ) throws -> ExecutableResult {
        let input = try makePipe()
        let output = try makePipe()
        let errors = try makePipe()
        var parentEnds = [input.write, output.read, errors.read]
        var childEnds = [input.read, output.write, errors.write]
        defer { for fd in parentEnds + childEnds where fd >= 0 { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
        if let closeFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in Int32(1)..<32 where number != SIGKILL && number != SIGSTOP { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noneBlocked = sigset_t()
        sigemptyset(&noneBlocked)
        posix_spawnattr_setsigmask(&attributes, &noneBlocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw SpawnError.failed("posix_spawn \(executable.path)", errno: spawned) }
        for fd in childEnds { close(fd) }
        childEnds = []

        let collector = Collector()
        let group = DispatchGroup()
        let (stdinFD, stdoutFD, stderrFD) = (input.write, output.read, errors.read)
        DispatchQueue.global().async(group: group) {
            feed(stdinFD, stdin)
            close(stdinFD)
        }
        parentEnds[0] = -1  // closed by the feeder
        DispatchQueue.global().async(group: group) { collector.setStdout(drain(stdoutFD)) }
        DispatchQueue.global().async(group: group) { collector.setStderr(drain(stderrFD)) }

        let exited = DispatchSemaphore(value: 0)
        let child = pid
        DispatchQueue.global().async {
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(child, &status, 0) } while result < 0 && errno == EINTR
            // -1 as a status: someone else reaped the child, its status is unknown.
            collector.setStatus(result == child ? status : -1)
            exited.signal()
        }

        let command = ([executable.path] + arguments).joined(separator: " ")
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            kill(child, SIGKILL)
            exited.wait()
            _ = group.wait(timeout: .now() + 5)
            throw HarnessError.timedOut(
                command: command, after: timeout,
                partial: ExecutableResult(exitCode: -1, stdoutBytes: collector.stdout, stderrBytes: collector.stderr))
        }
        // The child is gone; its pipes reach EOF unless a grandchild still holds them.
        if group.wait(timeout: .now() + timeout) == .timedOut {
            throw HarnessError.timedOut(
                command: command + " (output pipes still open after exit)", after: timeout,
                partial: ExecutableResult(exitCode: -1, stdoutBytes: collector.stdout, stderrBytes: collector.stderr))
        }
        let status = collector.status ?? -1
        if status == -1 {
            return ExecutableResult(exitCode: -1, stdoutBytes: collector.stdout, stderrBytes: collector.stderr)
        }
        let terminatingSignal = status & 0x7F
        let signal: Int32? = terminatingSignal != 0 && terminatingSignal != 0x7F ? terminatingSignal : nil
        return ExecutableResult(
            exitCode: signal.map { 128 + $0 } ?? (status >> 8) & 0xFF,
            stdoutBytes: collector.stdout, stderrBytes: collector.stderr, signal: signal)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What to run, with what, and for how long.
public struct SpawnRequest: Sendable {
    /// A path (anything containing `/`), or a bare name looked up in `environment["PATH"]`,
    /// falling back to this process's `PATH`.
    public var executable: String
    /// `argv[1...]`, each passed as-is (no shell is involved); `argv[0]` is ``executable``.
    public var arguments: [String]
    /// The child's complete environment: nothing is inherited from this process.
    public var environment: [String: String]
    /// Written to the child's standard input, which is then closed. A child that exits without
    /// reading it all is fine.
    public var standardInput: [UInt8]
    /// Seconds before the child's process group gets SIGTERM (then SIGKILL after ``killGrace``);
    /// `nil` waits for as long as it takes.
    public var timeout: Double?
    /// Seconds between the SIGTERM and the SIGKILL of a timed-out process group.
    public var killGrace: Double
    /// The most bytes kept of each of standard output and standard error; the rest is read,
    /// counted in ``SpawnResult/outputBytesDiscarded`` and dropped.
    public var outputLimit: Int
    /// The directory the child starts in; `nil` keeps this process's.
    public var workingDirectory: String?

    public init(
        executable: String,
        arguments: [String] = [],
        environment: [String: String],
        standardInput: [UInt8] = [],
        timeout: Double? = nil,
        killGrace: Double = 5,
        outputLimit: Int = 64 * 1024,
        workingDirectory: String? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.standardInput = standardInput
        self.timeout = timeout
        self.killGrace = killGrace
        self.outputLimit = outputLimit
        self.workingDirectory = workingDirectory
    }
}

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    /// It exited with this status (0...255; -1 if the status was lost because something else in
    /// this process reaped the child, or SIGCHLD is ignored).
    case exited(Int32)
    /// A signal killed it.
    case signaled(Int32)

    /// True for `exited(0)`.
    public var isSuccess: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}

/// What a child did.
public struct SpawnResult: Sendable {
    public var termination: Termination
    /// The first ``SpawnRequest/outputLimit`` bytes the child wrote to standard output.
    public var standardOutput: [UInt8]
    /// The first ``SpawnRequest/outputLimit`` bytes the child wrote to standard error.
    public var standardError: [UInt8]
    /// Bytes beyond the limit, over both streams, read and dropped.
    public var outputBytesDiscarded: Int
    /// True when the timeout expired and the process group was signalled.
    public var timedOut: Bool
    /// Seconds from launch until ``Subprocess/run(_:)`` returned, on the monotonic clock.
    public var duration: Double
    /// The child's process ID, which was also its process group ID.
    public var processID: Int32

    public init(
        termination: Termination, standardOutput: [UInt8] = [], standardError: [UInt8] = [],
        outputBytesDiscarded: Int = 0, timedOut: Bool = false, duration: Double = 0, processID: Int32 = 0
    ) {
        self.termination = termination
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.outputBytesDiscarded = outputBytesDiscarded
        self.timedOut = timedOut
        self.duration = duration
        self.processID = processID
    }
}

/// Runs programs directly (never through a shell) and captures what they do.
public enum Subprocess {
    /// How long, after the child itself has exited, its output pipes are still read: a grandchild
    /// that went into the background holding them must not keep ``run(_:)`` waiting.
    static let drainWindow = 0.2
    /// The most bytes read at once from a pipe.
    static let chunkSize = 64 * 1024

    /// Runs `request` to completion and returns how the child ended, as a value.
    ///
    /// The child leads a new process group, starts with an empty signal mask and default signal
    /// actions, and has exactly three descriptors: pipes to this process as 0, 1 and 2 (never our
    /// own standard streams). Input and output flow at the same time, so neither side can block
    /// the other. On timeout the whole group gets SIGTERM, then SIGKILL after the grace period;
    /// whatever is left of a timed-out group when this returns is SIGKILLed. Safe to call from
    /// several threads at once.
    ///
    /// Throws only when the program cannot be launched: not found, not executable, a missing
    /// working directory, a NUL byte in an argument or the environment, or no resources for pipes.
    public static func run(_ request: SpawnRequest) throws(SystemError) -> SpawnResult {
        let name = request.executable
        let program = try locate(name, searchPath: request.environment["PATH"])
        if let directory = request.workingDirectory {
            var status = stat()
            if stat(directory, &status) != 0 { throw SystemError("run \(name) in", path: directory) }
            if (status.st_mode & S_IFMT) != S_IFDIR { throw SystemError("run \(name) in", path: directory, errno: ENOTDIR) }
        }
        var argv = try cStrings([name] + request.arguments, program: name, what: "an argument")
        defer { freeCStrings(&argv) }
        var envp = try cStrings(try environmentEntries(request.environment, program: name), program: name, what: "the environment")
        defer { freeCStrings(&envp) }

        // Pipes: every end close-on-exec, and none of them 0, 1 or 2 so the dup2 calls cannot clash.
        var opened: [Int32] = []
        func pipeEnds() throws(SystemError) -> (read: Int32, write: Int32) {
            var ends: [Int32] = [-1, -1]
            guard GNU.pipe2(&ends) == 0 else { throw SystemError("create a pipe for", path: name) }
            opened += ends
            for index in ends.indices where ends[index] < 3 {
                let moved = fcntl(ends[index], F_DUPFD_CLOEXEC, 3)
                guard moved >= 0 else { throw SystemError("create a pipe for", path: name) }
                close(ends[index])
                opened.removeAll { $0 == ends[index] }
                opened.append(moved)
                ends[index] = moved
            }
            return (ends[0], ends[1])
        }
        let stdinPipe: (read: Int32, write: Int32)
        let stdoutPipe: (read: Int32, write: Int32)
        let stderrPipe: (read: Int32, write: Int32)
        do {
            stdinPipe = try pipeEnds()
            stdoutPipe = try pipeEnds()
            stderrPipe = try pipeEnds()
        } catch {
            for fd in opened { close(fd) }
            throw error
        }
        let childEnds = [stdinPipe.read, stdoutPipe.write, stderrPipe.write]
        let parentEnds = [stdinPipe.write, stdoutPipe.read, stderrPipe.read]

        // This thread must not die of SIGPIPE when the child stops reading: block it here (the
        // child gets an empty mask) and discard any SIGPIPE our writes raise before unblocking.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previousMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previousMask)
        var pending = sigset_t()
        sigpending(&pending)
        let pipeSignalWasPending = sigismember(&pending, SIGPIPE) == 1
        var wroteToClosedPipe = false
        defer {
            if wroteToClosedPipe && !pipeSignalWasPending {
                var now = timespec()
                while sigtimedwait(&pipeSignal, nil, &now) == SIGPIPE {}
            }
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
        }

        let started = SystemTime.monotonicSeconds()
        let pid: pid_t
        do {
            pid = try spawn(
                program: program, name: name, argv: argv, envp: envp, childEnds: childEnds,
                workingDirectory: request.workingDirectory)
        } catch {
            for fd in childEnds + parentEnds { close(fd) }
            throw error
        }
        for fd in childEnds { close(fd) }
        for fd in parentEnds { setNonBlocking(fd) }

        var stdinFD = stdinPipe.write
        var inputOffset = 0
        if request.standardInput.isEmpty {
            close(stdinFD)
            stdinFD = -1
        }
        let limit = max(request.outputLimit, 0)
        var output = Capture(fd: stdoutPipe.read)
        var errors = Capture(fd: stderrPipe.read)
        var scratch = [UInt8](repeating: 0, count: chunkSize)

        let timeout = request.timeout.map { $0.isNaN ? 0 : min(max($0, 0), 1e9) }
        let deadline = timeout.map { started + $0 }
        let grace = request.killGrace.isNaN ? 0 : min(max(request.killGrace, 0), 1e9)
        var timedOut = false
        var killAt: Double?
        var killed = false
        var termination: Termination?
        var exitedAt = 0.0
        var exitCheckInterval = 0.001

        while true {
            var now = SystemTime.monotonicSeconds()
            if termination == nil, let ended = reap(pid, block: false) {
                termination = ended
                exitedAt = now
            }
            if termination != nil, stdinFD >= 0 {
                close(stdinFD)
                stdinFD = -1
            }
            let pipesOpen = stdinFD >= 0 || output.fd >= 0 || errors.fd >= 0
            if termination != nil {
                if !pipesOpen || now >= exitedAt + drainWindow { break }
            } else {
                if let deadline, !timedOut, now >= deadline {
                    timedOut = true
                    kill(-pid, SIGTERM)
                    killAt = now + grace
                }
                if let killAt, !killed, now >= killAt {
                    killed = true
                    kill(-pid, SIGKILL)
                }
                if !pipesOpen && (deadline == nil || timedOut) && (killAt == nil || killed) {
                    // Nothing left to read and no signal left to send: just wait.
                    termination = reap(pid, block: true)
                    exitedAt = SystemTime.monotonicSeconds()
                    continue
                }
            }

            // Sleep in poll until there is I/O, or it is time to act or to look for the exit
            // (which is not an I/O event while a grandchild holds the pipes).
            var wake: Double
            if termination != nil {
                wake = exitedAt + drainWindow
            } else {
                if pipesOpen {
                    wake = now + 0.05
                } else {
                    wake = now + exitCheckInterval
                    exitCheckInterval = min(exitCheckInterval * 2, 0.05)
                }
                if let deadline, !timedOut { wake = min(wake, deadline) }
                if let killAt, !killed { wake = min(wake, killAt) }
            }
            var polled: [pollfd] = []
            if stdinFD >= 0 { polled.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if output.fd >= 0 { polled.append(pollfd(fd: output.fd, events: Int16(POLLIN), revents: 0)) }
            if errors.fd >= 0 { polled.append(pollfd(fd: errors.fd, events: Int16(POLLIN), revents: 0)) }
            now = SystemTime.monotonicSeconds()
            let milliseconds = Int32(min(max((wake - now) * 1000, 0), 60_000).rounded(.up))
            let ready = poll(&polled, nfds_t(polled.count), milliseconds)
            if ready < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                let failure = SystemError("wait for", path: name)
                if termination == nil {
                    kill(-pid, SIGKILL)
                    _ = reap(pid, block: true)
                }
                for fd in [stdinFD, output.fd, errors.fd] where fd >= 0 { close(fd) }
                throw failure
            }
            if ready == 0 { continue }
            for entry in polled where entry.revents != 0 {
                if entry.fd == stdinFD {
                    switch feed(stdinFD, request.standardInput, from: &inputOffset) {
                    case .more: break
                    case .done:
                        close(stdinFD)
                        stdinFD = -1
                    case .brokenPipe:
                        wroteToClosedPipe = true
                        close(stdinFD)
                        stdinFD = -1
                    }
                } else if entry.fd == output.fd {
                    output.read(into: &scratch, limit: limit)
                } else if entry.fd == errors.fd {
                    errors.read(into: &scratch, limit: limit)
                }
            }
        }

        for fd in [stdinFD, output.fd, errors.fd] where fd >= 0 { close(fd) }
        if timedOut {
            // Stragglers of a timed-out group (the leader is gone, so no one else will) get SIGKILL.
            kill(-pid, SIGKILL)
        }
        return SpawnResult(
            termination: termination ?? .exited(-1),
            standardOutput: output.kept,
            standardError: errors.kept,
            outputBytesDiscarded: output.discarded + errors.discarded,
            timedOut: timedOut,
            duration: SystemTime.monotonicSeconds() - started,
            processID: pid
        )
    }

    /// The path `executable` would run as: itself when it contains `/`, else the first
    /// executable regular file of that name in `searchPath` (colon-separated; an empty entry
    /// is the current directory), which defaults to this process's `PATH`.
    ///
    /// Throws `ENOENT` (not found) or `EACCES` (found, but not an executable file), naming
    /// `executable`.
    public static func locate(_ executable: String, searchPath: String?) throws(SystemError) -> String {
        guard !executable.isEmpty else { throw SystemError("run", path: "\"\"", errno: ENOENT) }
        if executable.utf8.contains(UInt8(ascii: "/")) {
            let code = executableProblem(executable)
            if code != 0 { throw SystemError("run", path: executable, errno: code) }
            return executable
        }
        let path = searchPath ?? Environment.value("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
        var failure = ENOENT
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = directory.isEmpty ? executable : "\(directory)/\(executable)"
            let code = executableProblem(candidate)
            if code == 0 { return candidate }
            if code == EACCES { failure = EACCES }
        }
        throw SystemError("run", path: executable, errno: failure)
    }

    // MARK: - Launching

    /// Zero when `path` is an executable regular file, else the errno that explains why not.
    private static func executableProblem(_ path: String) -> Int32 {
        var status = stat()
        if stat(path, &status) != 0 { return errno }
        if (status.st_mode & S_IFMT) != S_IFREG { return EACCES }
        if access(path, X_OK) != 0 { return errno }
        return 0
    }

    private static func spawn(
        program: String, name: String,
        argv: [UnsafeMutablePointer<CChar>?], envp: [UnsafeMutablePointer<CChar>?],
        childEnds: [Int32], workingDirectory: String?
    ) throws(SystemError) -> pid_t {
        let actions = UnsafeMutablePointer<posix_spawn_file_actions_t>.allocate(capacity: 1)
        defer { actions.deallocate() }
        let attributes = UnsafeMutablePointer<posix_spawnattr_t>.allocate(capacity: 1)
        defer { attributes.deallocate() }
        guard posix_spawn_file_actions_init(actions) == 0 else { throw SystemError("run", path: name, errno: ENOMEM) }
        defer { posix_spawn_file_actions_destroy(actions) }
        guard posix_spawnattr_init(attributes) == 0 else { throw SystemError("run", path: name, errno: ENOMEM) }
        defer { posix_spawnattr_destroy(attributes) }

        var code: Int32 = 0
        for (target, fd) in childEnds.enumerated() where code == 0 {
            code = posix_spawn_file_actions_adddup2(actions, fd, Int32(target))
        }
        if code == 0, let workingDirectory {
            guard let addchdir = GNU.shared.addchdir else {
                throw SystemError("run \(name) in", path: workingDirectory, errno: ENOSYS)
            }
            code = addchdir(actions, workingDirectory)
        }
        // Belt and braces: whatever else this process opened without O_CLOEXEC stays here.
        if code == 0, let addclosefrom = GNU.shared.addclosefrom { code = addclosefrom(actions, 3) }

        let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if code == 0 { code = posix_spawnattr_setflags(attributes, Int16(flags)) }
        if code == 0 { code = posix_spawnattr_setpgroup(attributes, 0) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        if code == 0 { code = posix_spawnattr_setsigmask(attributes, &noSignals) }
        // Every signal 1...64 back to SIG_DFL. Not `sigfillset`: glibc leaves out its two internal
        // real-time signals (32, 33), and posix_spawn then hands them to the child *ignored*,
        // which exec keeps. On Linux signal n is bit n-1 of the set's first 64 bits.
        var everySignal = sigset_t()
        sigemptyset(&everySignal)
        withUnsafeMutableBytes(of: &everySignal) { raw in
            for index in 0..<min(8, raw.count) { raw[index] = 0xFF }
        }
        sigdelset(&everySignal, SIGKILL)
        sigdelset(&everySignal, SIGSTOP)
        if code == 0 { code = posix_spawnattr_setsigdefault(attributes, &everySignal) }
        guard code == 0 else { throw SystemError("run", path: name, errno: code) }

        var pid: pid_t = 0
        code = posix_spawn(&pid, program, actions, attributes, argv, envp)
        guard code == 0 else {
            if code == ENOENT, let workingDirectory, !FileIO.isDirectory(workingDirectory) {
                throw SystemError("run \(name) in", path: workingDirectory, errno: code)
            }
            throw SystemError("run", path: name, errno: code)
        }
        return pid
    }

    /// `KEY=value` strings, sorted; keys must be non-empty without `=`.
    private static func environmentEntries(_ environment: [String: String], program: String) throws(SystemError) -> [String] {
        var entries: [String] = []
        entries.reserveCapacity(environment.count)
        for (key, value) in environment {
            if key.isEmpty || key.utf8.contains(UInt8(ascii: "=")) {
                throw SystemError("pass the environment variable \"\(key)\" to", path: program, errno: EINVAL)
            }
            entries.append(key + "=" + value)
        }
        return entries.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// NUL-terminated copies of `strings`, then a nil; free them with ``freeCStrings(_:)``.
    private static func cStrings(_ strings: [String], program: String, what: String) throws(SystemError) -> [UnsafeMutablePointer<CChar>?] {
        var pointers: [UnsafeMutablePointer<CChar>?] = []
        pointers.reserveCapacity(strings.count + 1)
        for string in strings {
            if string.utf8.contains(0) {
                freeCStrings(&pointers)
                throw SystemError("pass a NUL byte in \(what) to", path: program, errno: EINVAL)
            }
            guard let copy = strdup(string) else {
                freeCStrings(&pointers)
                throw SystemError("run", path: program, errno: ENOMEM)
            }
            pointers.append(copy)
        }
        pointers.append(nil)
        return pointers
    }

    private static func freeCStrings(_ pointers: inout [UnsafeMutablePointer<CChar>?]) {
        for pointer in pointers { free(pointer) }
        pointers = []
    }

    // MARK: - Running

    private static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Collects one output stream up to a limit.
    private struct Capture {
        var fd: Int32
        var kept: [UInt8] = []
        var discarded = 0

        init(fd: Int32) { self.fd = fd }

        /// One read; closes the descriptor at end of file or on an error.
        mutating func read(into scratch: inout [UInt8], limit: Int) {
            let count = scratch.withUnsafeMutableBytes { raw in LibC.read(fd, raw.baseAddress, raw.count) }
            if count > 0 {
                let keep = min(count, max(limit - kept.count, 0))
                if keep > 0 { kept.append(contentsOf: scratch[0..<keep]) }
                discarded += count - keep
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                close(fd)
                fd = -1
            }
        }
    }

    private enum FeedState { case more, done, brokenPipe }

    /// Writes as much of the rest of `input` as the pipe takes.
    private static func feed(_ fd: Int32, _ input: [UInt8], from offset: inout Int) -> FeedState {
        let written = input.withUnsafeBytes { raw -> Int in
            guard let base = raw.baseAddress, offset < raw.count else { return 0 }
            return LibC.write(fd, base + offset, raw.count - offset)
        }
        if written < 0 {
            if errno == EINTR || errno == EAGAIN { return .more }
            return errno == EPIPE ? .brokenPipe : .done
        }
        offset += written
        return offset >= input.count ? .done : .more
    }

    /// The child's termination if it has ended (or, with `block`, once it has).
    private static func reap(_ pid: pid_t, block: Bool) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, block ? 0 : WNOHANG)
            if result == pid {
                let signal = status & 0x7f
                return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
            }
            if result == 0 { return nil }
            if errno == EINTR { continue }
            return .exited(-1)  // ECHILD: someone else collected it
        }
    }
}

/// glibc extensions that the `Glibc` module does not declare (they need `_GNU_SOURCE`), looked
/// up once with `dlsym`.
private struct GNU: @unchecked Sendable {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
    typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// `pipe2` (glibc 2.9).
    let pipe2: Pipe2?
    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29).
    let addchdir: AddChdir?
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34).
    let addclosefrom: AddClosefrom?

    static let shared = GNU()

    private init() {
        let process = dlopen(nil, RTLD_NOW)
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            guard let address = dlsym(process, name) else { return nil }
            return unsafeBitCast(address, to: type)
        }
        pipe2 = symbol("pipe2", as: Pipe2.self)
        addchdir = symbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self)
        addclosefrom = symbol("posix_spawn_file_actions_addclosefrom_np", as: AddClosefrom.self)
    }

    /// A pipe whose two ends are close-on-exec from the start (atomically with `pipe2`, else
    /// with `pipe` then `fcntl`).
    static func pipe2(_ ends: inout [Int32]) -> Int32 {
        if let pipe2 = shared.pipe2 { return pipe2(&ends, O_CLOEXEC) }
        guard pipe(&ends) == 0 else { return -1 }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return 0
    }
}

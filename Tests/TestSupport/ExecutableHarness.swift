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
    /// pipe buffer cannot deadlock; a child that exits without reading its stdin is fine.
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

        func setStdout(_ bytes: [UInt8]) { lock.lock(); _stdout = bytes; lock.unlock() }
        func setStderr(_ bytes: [UInt8]) { lock.lock(); _stderr = bytes; lock.unlock() }
        var stdout: [UInt8] { lock.lock(); defer { lock.unlock() }; return _stdout }
        var stderr: [UInt8] { lock.lock(); defer { lock.unlock() }; return _stderr }
    }

    private static let ignoreSIGPIPE: Void = {
        // Writing the payload to a child that exited without reading it must give EPIPE, not kill the tests.
        _ = signal(SIGPIPE, SIG_IGN)
    }()

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
    private static func feed(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }

    private static func launch(
        _ executable: URL, _ arguments: [String], stdin: [UInt8], environment: [String: String], timeout: Double
    ) throws -> ExecutableResult {
        _ = ignoreSIGPIPE
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors

        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()

        let collector = Collector()
        let group = DispatchGroup()
        let stdinHandle = input.fileHandleForWriting
        let stdoutHandle = output.fileHandleForReading
        let stderrHandle = errors.fileHandleForReading
        DispatchQueue.global().async(group: group) {
            feed(stdinHandle.fileDescriptor, stdin)
            try? stdinHandle.close()
        }
        DispatchQueue.global().async(group: group) { collector.setStdout(drain(stdoutHandle.fileDescriptor)) }
        DispatchQueue.global().async(group: group) { collector.setStderr(drain(stderrHandle.fileDescriptor)) }

        let command = ([executable.path] + arguments).joined(separator: " ")
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if exited.wait(timeout: .now() + 5) == .timedOut { kill(process.processIdentifier, SIGKILL) }
            _ = group.wait(timeout: .now() + 5)
            throw HarnessError.timedOut(
                command: command, after: timeout,
                partial: ExecutableResult(exitCode: -1, stdoutBytes: collector.stdout, stderrBytes: collector.stderr))
        }
        // The child is gone; its pipes reach EOF unless a grandchild still holds them.
        if group.wait(timeout: .now() + timeout) == .timedOut {
            throw HarnessError.timedOut(
                command: command + " (output pipes still open after exit)", after: timeout,
                partial: ExecutableResult(exitCode: process.terminationStatus, stdoutBytes: collector.stdout, stderrBytes: collector.stderr))
        }
        try? stdoutHandle.close()
        try? stderrHandle.close()
        process.waitUntilExit()
        let signal: Int32? = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
        return ExecutableResult(
            exitCode: signal.map { 128 + $0 } ?? process.terminationStatus,
            stdoutBytes: collector.stdout, stderrBytes: collector.stderr, signal: signal)
    }
}

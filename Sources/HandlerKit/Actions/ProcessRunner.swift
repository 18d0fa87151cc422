import Platform

/// Runs a program: the seam between command actions and the operating system. The real one is
/// ``SubprocessRunner``; unit tests use ``ClosureProcessRunner``.
public protocol ProcessRunner: Sendable {
    /// Runs `request`; a non-zero exit is a value in the result. Throws only when the program
    /// could not be started.
    func run(_ request: SpawnRequest) throws(SystemError) -> SpawnResult
}

/// Runs programs with `posix_spawn`, no shell, in their own process group.
public struct SubprocessRunner: ProcessRunner {
    public init() {}
    public func run(_ request: SpawnRequest) throws(SystemError) -> SpawnResult { try Subprocess.run(request) }
}

/// A process runner backed by a closure, for unit tests.
public struct ClosureProcessRunner: ProcessRunner {
    let handler: @Sendable (SpawnRequest) throws(SystemError) -> SpawnResult

    public init(_ handler: @escaping @Sendable (SpawnRequest) throws(SystemError) -> SpawnResult) {
        self.handler = handler
    }

    public func run(_ request: SpawnRequest) throws(SystemError) -> SpawnResult { try handler(request) }
}

extension SpawnResult {
    /// `exit 3`, `killed by signal 9`, `timed out` for messages.
    public var summary: String {
        var text: String
        switch termination {
        case .exited(let code): text = "exit \(code)"
        case .signaled(let signal): text = "killed by signal \(signal)"
        }
        if timedOut { text = "timed out, " + text }
        return text
    }

    /// The last line of stderr (or stdout), cut to `limit` characters: the likeliest reason.
    public func lastOutputLine(limit: Int = 200) -> String? {
        for stream in [standardError, standardOutput] {
            let text = String(decoding: stream, as: UTF8.self)
            if let line = text.split(whereSeparator: \.isNewline).last(where: { !$0.allSatisfy(\.isWhitespace) }) {
                return line.count > limit ? String(line.prefix(limit)) + "…" : String(line)
            }
        }
        return nil
    }
}

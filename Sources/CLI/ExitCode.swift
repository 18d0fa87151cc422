/// Exit statuses of every consul-handlers executable: one table, documented in README.md and
/// docs/exit-codes.md. Consul itself ignores a handler's status (it only logs non-zero ones),
/// but `consul watch` stops on a non-zero status, and operators and tests read them.
public enum ExitCode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Everything asked for was done (or there was nothing to do).
    case success = 0
    /// `consul-critical --exit-status` only: at least one check was selected (the reverse of grep, which exits 0 on a match).
    case selected = 1
    /// Bad arguments or environment (EX_USAGE).
    case usage = 64
    /// The input is not a Consul watch payload (EX_DATAERR).
    case dataError = 65
    /// An internal error: a bug, please report it (EX_SOFTWARE).
    case internalError = 70
    /// An input or output file, stdin, stdout or the state directory could not be used (EX_IOERR).
    case ioError = 74
    /// An incident was not handled: every remediation failed after its retries (what can be
    /// retried is spooled) or its escalation failed (EX_TEMPFAIL).
    case actionFailed = 75
    /// A configuration file is invalid (EX_CONFIG).
    case configError = 78

    public var description: String {
        switch self {
        case .success: return "success"
        case .selected: return "checks selected (--exit-status)"
        case .usage: return "usage error"
        case .dataError: return "input is not a Consul watch payload"
        case .internalError: return "internal error"
        case .ioError: return "I/O error"
        case .actionFailed: return "an action failed"
        case .configError: return "invalid configuration"
        }
    }
}

/// An error that ends a command with a one-line message and a documented exit status.
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var exitCode: ExitCode
    public var message: String

    public init(_ exitCode: ExitCode, _ message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    public static func usage(_ message: String) -> CommandError { CommandError(.usage, message) }

    public var description: String { message }
}

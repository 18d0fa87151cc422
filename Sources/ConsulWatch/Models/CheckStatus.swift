/// A health check's status as Consul reports it.
///
/// Consul sends `passing`, `warning` or `critical` (maintenance checks are `critical`, told apart
/// by their check ID). A status this library does not know is kept, not rejected, so that a
/// newer agent never makes a handler fail.
public enum CheckStatus: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    case passing
    case warning
    case critical
    /// A status string this library does not know, kept verbatim.
    case other(String)

    public init(_ text: String) {
        switch text {
        case "passing": self = .passing
        case "warning": self = .warning
        case "critical": self = .critical
        default: self = .other(text)
        }
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// The string Consul uses.
    public var rawValue: String {
        switch self {
        case .passing: return "passing"
        case .warning: return "warning"
        case .critical: return "critical"
        case .other(let text): return text
        }
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

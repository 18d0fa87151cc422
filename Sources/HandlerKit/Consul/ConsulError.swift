/// Why a call to the Consul agent failed. Every description is one line, names the object or
/// permission at fault, and never contains the token.
public enum ConsulError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No answer from the agent (refused, timed out, connection broken), after `attempts` tries.
    case unreachable(agent: String, cause: TransportError, attempts: Int)
    /// A write was sent but its answer was lost (time-out or broken connection after sending,
    /// or a 5xx, which a client agent can return after the servers applied the write): it may
    /// or may not have taken effect. Re-read before deciding; never repeat a CAS blindly.
    case outcomeUnknown(operation: String, cause: String)
    /// 403 for want of a permission: `needs` says which and on what (`key:read on services/books/color`).
    case aclDenied(needs: String, token: String)
    /// 403 `ACL not found`: the agent does not know the token at all.
    case unknownToken(token: String)
    /// 403 for another reason (`Endpoint is blocked by agent configuration`, `Access is restricted`).
    case forbidden(operation: String, message: String)
    /// 404 (or an older agent's equivalent): `object` names what is missing.
    case notFound(object: String)
    /// Another status, after retries when it was a 5xx or 429.
    case http(status: Int, operation: String, message: String)
    /// A 2xx answer that is not what the API documents.
    case badResponse(operation: String, detail: String)
    /// A key, node name or check ID that cannot be sent as it is.
    case invalidName(String)
    /// The caller's deadline passed before the request could be sent (again).
    case deadline(operation: String)

    /// True when the agent or the cluster is unavailable rather than the request wrong: worth
    /// keeping the work and trying again later.
    public var isUnavailable: Bool {
        switch self {
        case .unreachable, .outcomeUnknown, .deadline: return true
        case .http(let status, _, _): return status >= 500 || status == 429
        case .aclDenied, .unknownToken, .forbidden, .notFound, .badResponse, .invalidName: return false
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let agent, let cause, let attempts):
            return "Consul agent \(agent) unreachable: \(cause)" + (attempts > 1 ? " (after \(attempts) attempts)" : "")
        case .outcomeUnknown(let operation, let cause):
            return "outcome of \(operation) unknown: \(cause); it may have been applied"
        case .aclDenied(let needs, let token):
            return "ACL denied: the \(token) needs \(needs)"
        case .unknownToken(let token):
            return "ACL denied: Consul does not know the \(token) (ACL not found)"
        case .forbidden(let operation, let message):
            return "\(operation) refused by the agent (403): \(message)"
        case .notFound(let object):
            return "not found: \(object)"
        case .http(let status, let operation, let message):
            return message.isEmpty ? "\(operation) failed with \(status)" : "\(operation) failed with \(status): \(message)"
        case .badResponse(let operation, let detail):
            return "unexpected answer to \(operation): \(detail)"
        case .invalidName(let problem):
            return problem
        case .deadline(let operation):
            return "deadline reached before \(operation) could be sent"
        }
    }
}

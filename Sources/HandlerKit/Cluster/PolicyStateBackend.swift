import ConsulWatch
import Platform

/// Why the policy state could not be read or changed.
public enum PolicyStateError: Error, Sendable, CustomStringConvertible {
    /// The local state directory failed (exit 74).
    case local(SystemError)
    /// The shared state (Consul KV) cannot be used now: refused, timed out, 5xx, 403, or CAS
    /// conflicts beyond the retries. Nothing may be acted on without a recorded claim.
    case unavailable(String)

    public var description: String {
        switch self {
        case .local(let error): return error.description
        case .unavailable(let reason): return reason
        }
    }
}

/// The seam between the healer and where its policy state lives: a read-modify-write of
/// ``HealState``. The local ``StateStore`` (one file under flock) and ``ConsulStateBackend``
/// (one KV key per target, every change a CAS) both implement it; the policy engine does not
/// know which it runs on.
///
/// `body` may run more than once (a backend re-reads and decides again after a conflict), so it
/// must derive everything from the state it is given; side effects it has (the local spool)
/// must be idempotent.
public protocol PolicyStateBackend: Sendable {
    /// The claimant this backend records in claims (`node pid nonce`), or nil for the healer's own.
    func claimant() throws(PolicyStateError) -> String?
    func modify<T>(persist: Bool, _ body: (inout HealState) throws(SystemError) -> T) throws(PolicyStateError) -> T
    /// The state as it is now, read-only (status, explain).
    func current() throws(PolicyStateError) -> HealState
}

extension StateStore: PolicyStateBackend {
    public func claimant() throws(PolicyStateError) -> String? { nil }

    public func modify<T>(persist: Bool, _ body: (inout HealState) throws(SystemError) -> T) throws(PolicyStateError) -> T {
        do { return try update(persist: persist, body) } catch { throw .local(error) }
    }

    public func current() throws(PolicyStateError) -> HealState {
        do { return try snapshot() } catch { throw .local(error) }
    }
}

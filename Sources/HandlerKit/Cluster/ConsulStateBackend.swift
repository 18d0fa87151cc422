import ConsulWatch
import Platform
import Synchronization

/// The policy state of one watch in Consul's KV store, shared by every agent that runs the watch
/// (docs/cluster.md). Layout under `<prefix>/<watch>/` (each name escaped by ``ClusterKey``):
///
/// ```
/// targets/<id>     one target (incident identity): its record and the last claim's actor
/// blast            the blast-radius window and breaker (cluster-wide)
/// services         the service names seen (the blast-radius denominator)
/// agents/<node>    this agent's watch record (last CONSUL_INDEX, deliveries): the baseline is
///                  about this agent's watch start
/// ```
///
/// A read-modify-write is one `?recurse` read, the pure decision, then the keys that changed
/// written in atomic transactions (`PUT /v1/txn`, 64 operations each), every operation a CAS
/// (index `0` to create, the ModifyIndex read to change, delete-CAS to remove). A rolled-back
/// transaction re-reads and decides again, a bounded number of times with jitter. A transaction
/// whose answer was lost is settled by re-reading a key it wrote: our bytes (which carry our
/// claimant's nonce) mean it landed. Every update also runs under the local state directory's lock, whose state file
/// keeps a cache of the last cluster view and this agent's metrics; the spool and dead letters
/// stay local.
public final class ConsulStateBackend: PolicyStateBackend {
    public let client: ConsulClient
    public let prefix: String
    public let watch: String
    /// The local state directory: lock, cache, metrics.
    public let local: StateStore
    let clock: any TimeSource
    /// CAS rounds before giving up (the delivery is then kept locally, as when Consul is down).
    public let maximumAttempts: Int
    private let identity = Mutex<(node: String, claimant: String)?>(nil)

    public init(
        client: ConsulClient, prefix: String, watch: String, local: StateStore, clock: any TimeSource = SystemClock(), maximumAttempts: Int = 40
    ) {
        self.maximumAttempts = maximumAttempts
        self.client = client
        self.prefix = prefix
        self.watch = watch
        self.local = local
        self.clock = clock
    }

    /// `<prefix>/<watch>/`.
    public var base: String { "\(prefix)/\(ClusterKey.escape(watch))/" }
    func targetKey(_ id: String) -> String { base + "targets/" + ClusterKey.escape(id) }
    var blastKey: String { base + "blast" }
    var servicesKey: String { base + "services" }
    func agentKey(_ node: String) -> String { base + "agents/" + ClusterKey.escape(node) }

    /// This agent's node name (from `/v1/agent/self`, once per process).
    public func nodeName() throws(PolicyStateError) -> String { try resolveIdentity().node }

    public func claimant() throws(PolicyStateError) -> String? { try resolveIdentity().claimant }

    private func resolveIdentity() throws(PolicyStateError) -> (node: String, claimant: String) {
        if let known = identity.withLock({ $0 }) { return known }
        let info: ConsulAgentInfo
        do { info = try client.agentSelf() } catch { throw .unavailable(error.description) }
        let nonce = String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let resolved = (node: info.nodeName, claimant: "\(info.nodeName) pid \(ProcessID.current) nonce \(nonce)")
        identity.withLock { $0 = resolved }
        return resolved
    }

    // MARK: The view

    /// Who last claimed a target: kept beside its record for `status` (who acted, from where, when).
    public struct Actor: Sendable, Equatable {
        public var node: String
        public var claimant: String
        public var at: Double
        public var until: Double?
    }

    /// What the KV store holds under the watch's prefix, decoded, with each key's ModifyIndex.
    public struct View: Sendable {
        public var state = HealState()
        public var actors: [String: Actor] = [:]
        /// Key → ModifyIndex of every key read.
        var indexes: [String: UInt64] = [:]
        /// Target ID → its key (as read).
        var targetKeys: [String: String] = [:]
        /// Keys whose value could not be read (left alone, reported once).
        public var unreadable: [String] = []
    }

    /// Reads everything under the prefix in one request.
    public func read() throws(PolicyStateError) -> View {
        let node = try nodeName()
        let entries: [KVPair]
        do { entries = try client.kvList(prefix: base) } catch { throw .unavailable(error.description) }
        var view = View()
        let ownKey = agentKey(node)
        for entry in entries {
            guard let index = entry.modifyIndex else { continue }
            let rest = entry.key.dropFirst(base.count)
            view.indexes[entry.key] = index
            let bytes = entry.decodedValue ?? []
            if rest.hasPrefix("targets/") {
                guard let (record, actor) = try? Self.decodeTarget(bytes) else {
                    view.unreadable.append(entry.key)
                    continue
                }
                view.state.targets[record.id] = record
                view.targetKeys[record.id] = entry.key
                if let actor { view.actors[record.id] = actor }
                continue
            }
            guard let decoded = try? HealState(decoding: bytes) else {
                view.unreadable.append(entry.key)
                continue
            }
            if rest == "blast" {
                view.state.recentFailures = decoded.recentFailures
                view.state.breaker = decoded.breaker
            } else if rest == "services" {
                view.state.knownServices = decoded.knownServices
            } else if entry.key == ownKey {
                view.state.watches[watch] = decoded.watches[watch]
            }
        }
        return view
    }

    public func current() throws(PolicyStateError) -> HealState { try read().state }

    // MARK: Read-modify-write

    public func modify<T>(persist: Bool, _ body: (inout HealState) throws(SystemError) -> T) throws(PolicyStateError) -> T {
        let identity = try resolveIdentity()
        let step: Step<T>
        do {
            step = try local.update(persist: persist) { (cache) throws(SystemError) -> Step<T> in
                var lastConflict = ""
                for attempt in 1...maximumAttempts {
                    let view: View
                    do throws(PolicyStateError) { view = try read() } catch { return .unavailable(error.description) }
                    // A key we cannot read (hand-edited, or written by a newer consul-handlers) is
                    // never taken as absent: that would act again, or overwrite it. Nothing is
                    // decided until a person fixes or deletes it.
                    if let key = view.unreadable.first {
                        return .unavailable(
                            "Consul KV key \(key) is not a policy record this consul-handlers can read; fix or delete it (consul kv delete \(key))"
                                + (view.unreadable.count > 1 ? " (and \(view.unreadable.count - 1) more)" : ""))
                    }
                    var state = view.state
                    state.metrics = cache.metrics
                    let result = try body(&state)
                    guard persist else { return .done(result) }
                    switch write(state, over: view, identity: identity) {
                    case .written:
                        Self.refresh(&cache, with: state, watch: watch)
                        return .done(result)
                    case .unavailable(let reason):
                        return .unavailable(reason)
                    case .conflict(let key, let progressed):
                        lastConflict = key
                        // Jitter, growing a little, when nothing of ours landed: agents that collided
                        // do not collide again in step. Some of our claims landing means the burst is
                        // being shared out already; the next read shows what is left.
                        if !progressed { clock.sleep(Double.random(in: 0.002...0.01) * Double(min(attempt, 8))) }
                    }
                }
                return .unavailable("Consul KV: \(maximumAttempts) CAS conflicts in a row (last on \(lastConflict)); gave up")
            }
        } catch { throw .local(error) }
        switch step {
        case .done(let result): return result
        case .unavailable(let reason): throw .unavailable(reason)
        }
    }

    /// The local cache: this watch's part replaced by the cluster view (other watches sharing the
    /// directory keep theirs), metrics as the body left them.
    static func refresh(_ cache: inout HealState, with state: HealState, watch: String) {
        cache.targets = cache.targets.filter { $0.value.watch != watch }
        for (id, record) in state.targets { cache.targets[id] = record }
        cache.watches[watch] = state.watches[watch]
        cache.knownServices = state.knownServices
        cache.recentFailures = state.recentFailures
        cache.breaker = state.breaker
        cache.metrics = state.metrics
    }

    enum Step<T> {
        case done(T)
        case unavailable(String)
    }

    enum WriteOutcome {
        case written
        /// The key that conflicted, and whether any target write of this attempt landed first.
        case conflict(String, progressed: Bool)
        case unavailable(String)
    }

    /// One change to make: a value to put (nil: delete) by CAS on the index read (0: create).
    struct Change {
        var key: String
        var value: [UInt8]?
        var cas: UInt64

        var operation: KVTxnOperation {
            value.map { KVTxnOperation.cas(key, value: $0, index: cas) } ?? .deleteCAS(key, index: cas)
        }
    }

    /// Writes every key that changed in as few transactions as Consul allows (`PUT /v1/txn`, at
    /// most ``ConsulClient/maximumTransactionOperations`` operations each), each operation a CAS
    /// on the index read (`0` to create) or a delete-CAS. A transaction lands whole or not at all.
    ///
    /// The shared keys (services, blast window) go in the first transaction, so that no claim
    /// lands unless the blast-radius window that allowed it did, atomically with it; this agent's
    /// record goes in the last, so that it moves only when everything else landed. Targets start
    /// at a random one: agents that read the same view before any claim landed put different
    /// targets in their first transaction. Transactions go one after another and stop at the
    /// first that is rolled back: another agent changed a key, and the next read shows which.
    func write(_ state: HealState, over view: View, identity: (node: String, claimant: String)) -> WriteOutcome {
        let all = changes(state, over: view, identity: identity, now: clock.now())
        let ownKey = agentKey(identity.node)
        let shared = all.filter { $0.key == servicesKey || $0.key == blastKey }
        let own = all.filter { $0.key == ownKey }
        let targets = all.filter { $0.key != servicesKey && $0.key != blastKey && $0.key != ownKey }
        let start = targets.isEmpty ? 0 : Int.random(in: 0..<targets.count)
        let ordered = shared + targets[start...] + targets[..<start] + own
        var progressed = false
        for batch in Self.batches(ordered.map(\.operation)) {
            switch commit(batch) {
            case .written: progressed = true
            case .conflict(let key, _): return .conflict(key, progressed: progressed)
            case .unavailable(let reason): return .unavailable(reason)
            }
        }
        return .written
    }

    /// `operations` cut into transactions Consul takes: by count, and by request size.
    static func batches(_ operations: [KVTxnOperation]) -> [[KVTxnOperation]] {
        var batches: [[KVTxnOperation]] = []
        var current: [KVTxnOperation] = []
        var bytes = 0
        for operation in operations {
            let size = operation.encodedSize
            if !current.isEmpty,
                current.count == ConsulClient.maximumTransactionOperations || bytes + size > ConsulClient.maximumTransactionBytes
            {
                batches.append(current)
                current = []
                bytes = 0
            }
            current.append(operation)
            bytes += size
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    func changes(_ state: HealState, over view: View, identity: (node: String, claimant: String), now: Double) -> [Change] {
        var changes: [Change] = []
        let old = view.state
        if state.knownServices != old.knownServices {
            var part = HealState()
            part.knownServices = state.knownServices
            changes.append(Change(key: servicesKey, value: part.encoded(), cas: view.indexes[servicesKey] ?? 0))
        }
        if state.breaker != old.breaker || state.recentFailures.map(\.id) != old.recentFailures.map(\.id)
            || state.recentFailures.map(\.time) != old.recentFailures.map(\.time)
        {
            var part = HealState()
            part.recentFailures = state.recentFailures
            part.breaker = state.breaker
            changes.append(Change(key: blastKey, value: part.encoded(), cas: view.indexes[blastKey] ?? 0))
        }
        for id in Set(state.targets.keys).union(old.targets.keys).sorted() {
            let key = view.targetKeys[id] ?? targetKey(id)
            guard let record = state.targets[id] else {
                if let index = view.indexes[key] { changes.append(Change(key: key, value: nil, cas: index)) }
                continue
            }
            let previous = old.targets[id]
            if let previous, Self.sameForTheCluster(previous, record) { continue }
            var actor = view.actors[id]
            if record.claimedBy == identity.claimant, previous?.claimedBy != identity.claimant {
                actor = Actor(node: identity.node, claimant: identity.claimant, at: now, until: record.claimedUntil)
            }
            changes.append(Change(key: key, value: Self.encode(record, actor: actor), cas: view.indexes[key] ?? 0))
        }
        if state.watches[watch] != old.watches[watch], let record = state.watches[watch] {
            var part = HealState()
            part.watches[watch] = record
            let key = agentKey(identity.node)
            changes.append(Change(key: key, value: part.encoded(), cas: view.indexes[key] ?? 0))
        }
        return changes
    }

    /// True when a record changed only in what does not matter once it is acted on (or a
    /// baseline): the repeat count and the last decision's name and time. Skipping those writes
    /// keeps a repeated delivery from every agent down to reads.
    static func sameForTheCluster(_ a: HealState.TargetRecord, _ b: HealState.TargetRecord) -> Bool {
        if a == b { return true }
        guard a.failing && b.failing && ((a.acted && b.acted) || (a.baseline && b.baseline)) else { return false }
        var x = a
        var y = b
        for index in [0, 1] {
            var record = index == 0 ? x : y
            record.deliveriesFailing = 0
            record.lastDecision = ""
            record.lastDecisionAt = 0
            if index == 0 { x = record } else { y = record }
        }
        return x == y
    }

    /// One transaction. A lost answer is settled by reading one key it wrote: the transaction is
    /// atomic, so our bytes there mean all of it landed. The last write is read: this agent's own
    /// record or a target's (which carry our claimant's nonce), not a shared key another agent may
    /// have rewritten since.
    func commit(_ batch: [KVTxnOperation]) -> WriteOutcome {
        do {
            switch try client.transaction(batch) {
            case .committed: return .written
            case .rolledBack(let errors):
                if let fault = errors.first(where: { !$0.isConflict }) {
                    let key = batch.indices.contains(fault.opIndex) ? batch[fault.opIndex].key : "?"
                    return .unavailable("Consul KV transaction refused on \(key): \(fault.what)")
                }
                let first = errors.map(\.opIndex).min() ?? 0
                return .conflict(batch.indices.contains(first) ? batch[first].key : "?", progressed: false)
            }
        } catch .outcomeUnknown {
            let probe = batch.last { $0.value != nil } ?? batch[0]
            do {
                let entry = try client.kvEntry(probe.key)
                let landed = probe.value.map { entry?.decodedValue == $0 } ?? (entry == nil)
                return landed ? .written : .conflict(probe.key, progressed: false)
            } catch {
                return .unavailable(error.description)
            }
        } catch {
            return .unavailable(error.description)
        }
    }
}

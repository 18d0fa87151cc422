import Foundation

/// The shared server state of the fake Consul: one Raft index, the KV table with tombstones, the catalog, and
/// each agent's local check table (consul-api.md F.2). Not thread-safe: `FakeConsulEngine` guards it.
struct ConsulState {
    struct Node {
        var id: String
        var name: String
        var address: String
        var meta: [String: String]
        var createIndex: UInt64
        var modifyIndex: UInt64
    }

    struct ServiceInstance {
        var service: FakeConsul.Service
        var createIndex: UInt64
        var modifyIndex: UInt64
    }

    /// A TTL check in one agent's local table (the agent is the check's node).
    struct AgentCheck {
        var id: String
        var name: String
        var notes: String
        var serviceID: String
        /// nil: not a TTL check (seeded from the catalog); updates answer "does not have associated TTL".
        var ttl: Double?
        var status: String
        var output: String
        /// Clock time at which the TTL lapses.
        var deadline: Double
        /// Clock time the output was last written to the catalog.
        var lastSync: Double
    }

    let configuration: FakeConsul.Configuration
    /// The last Raft index applied.
    var raftIndex: UInt64
    var kv: [String: FakeConsul.KVEntry] = [:]
    var tombstones: [String: UInt64] = [:]
    var kvTableIndex: UInt64 = 0
    var nodes: [String: Node] = [:]
    /// node → service ID → instance.
    var services: [String: [String: ServiceInstance]] = [:]
    /// node → check ID → check.
    var checks: [String: [String: FakeConsul.Check]] = [:]
    var nodesTableIndex: UInt64 = 0
    var servicesTableIndex: UInt64 = 0
    var checksTableIndex: UInt64 = 0
    /// node → check ID → agent-local check.
    var agentChecks: [String: [String: AgentCheck]] = [:]
    var sessions: [String: FakeConsul.Session] = [:]
    var sessionsTableIndex: UInt64 = 0
    /// Key → clock time until which `?acquire` is refused.
    var lockDelays: [String: Double] = [:]
    /// True during a simulated leader loss: session TTL timers do not fire.
    var sessionTimersPaused = false
    /// The clock time of the current operation (set by `tick`).
    var now: Double = 0

    init(configuration: FakeConsul.Configuration) {
        self.configuration = configuration
        raftIndex = configuration.indexBase
    }

    /// Consumes one Raft index (every applied write does, even a CAS that then fails).
    mutating func nextIndex() -> UInt64 {
        raftIndex += 1
        return raftIndex
    }

    // MARK: KV

    enum KVWrite {
        case set
        case cas(UInt64)
    }

    /// Applies a set or CAS (§1.5). Identical writes keep ModifyIndex and still answer true.
    mutating func kvSet(_ key: String, value: [UInt8]?, flags: UInt64, mode: KVWrite) -> Bool {
        kvSet(key, value: value, flags: flags, mode: mode, at: nextIndex())
    }

    /// `kvSet` at a Raft index already taken: a transaction applies all its ops at one index.
    mutating func kvSet(_ key: String, value: [UInt8]?, flags: UInt64, mode: KVWrite, at i: UInt64) -> Bool {
        let existing = kv[key]
        switch mode {
        case .set: break
        case .cas(0):
            if existing != nil { return false }
        case .cas(let n):
            guard let existing, existing.modifyIndex == n else { return false }
        }
        if var entry = existing {
            if entry.value == value && entry.flags == flags && entry.lockIndex == 0 { return true }
            entry.value = value
            entry.flags = flags
            entry.lockIndex = 0
            entry.modifyIndex = i
            kv[key] = entry
        } else {
            kv[key] = FakeConsul.KVEntry(
                key: key, value: value, flags: flags, session: nil, lockIndex: 0, createIndex: i, modifyIndex: i)
            tombstones[key] = nil
        }
        kvTableIndex = i
        return true
    }

    /// DELETE, optionally with `?cas=N` (true when the key is absent) or `?recurse`.
    mutating func kvDelete(_ key: String, recurse: Bool, cas: UInt64?) -> Bool {
        kvDelete(key, recurse: recurse, cas: cas, at: nextIndex())
    }

    /// `kvDelete` at a Raft index already taken (transactions).
    mutating func kvDelete(_ key: String, recurse: Bool, cas: UInt64?, at i: UInt64) -> Bool {
        if recurse {
            let doomed = kv.keys.filter { $0.hasPrefix(key) }
            for k in doomed {
                kv[k] = nil
                tombstones[k] = i
            }
            if !doomed.isEmpty { kvTableIndex = i }
            return true
        }
        guard let entry = kv[key] else { return true }
        if let cas, entry.modifyIndex != cas { return false }
        kv[key] = nil
        tombstones[key] = i
        kvTableIndex = i
        return true
    }

    /// The injected CAS conflict: another writer got there first (see `FaultAction.casConflict`). An absent key
    /// gets a tombstone (a concurrent create + delete).
    mutating func kvConcurrentWrite(_ key: String) {
        let i = nextIndex()
        if var entry = kv[key] {
            entry.modifyIndex = i
            kv[key] = entry
        } else {
            tombstones[key] = i
        }
        kvTableIndex = i
    }

    /// Entries whose key starts with `prefix` (plain string prefix), sorted by key bytes.
    func kvList(_ prefix: String) -> [FakeConsul.KVEntry] {
        kv.values.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    /// X-Consul-Index of a listing: the max ModifyIndex or tombstone under the prefix; the table index when
    /// both are 0 or for the whole store.
    func kvListIndex(_ prefix: String) -> UInt64 {
        if prefix.isEmpty { return kvTableIndex }
        let live = kv.values.lazy.filter { $0.key.hasPrefix(prefix) }.map(\.modifyIndex).max() ?? 0
        let dead = tombstones.lazy.filter { $0.key.hasPrefix(prefix) }.map(\.value).max() ?? 0
        let m = max(live, dead)
        return m == 0 ? kvTableIndex : m
    }

    // MARK: Catalog

    mutating func addNode(_ name: String, address: String, meta: [String: String]) {
        let i = nextIndex()
        if var node = nodes[name] {
            node.address = address
            node.meta = meta
            node.modifyIndex = i
            nodes[name] = node
        } else {
            nodes[name] = Node(
                id: UUID().uuidString.lowercased(), name: name, address: address, meta: meta, createIndex: i,
                modifyIndex: i)
        }
        nodesTableIndex = i
        if checks[name]?["serfHealth"] == nil {
            writeCheck(
                node: name, id: "serfHealth", name: "Serf Health Status", status: "passing",
                output: "Agent alive and reachable", serviceID: "", type: "", notes: "")
        }
    }

    mutating func addService(node: String, _ service: FakeConsul.Service) {
        let i = nextIndex()
        let create = services[node]?[service.id]?.createIndex ?? i
        services[node, default: [:]][service.id] = ServiceInstance(service: service, createIndex: create, modifyIndex: i)
        servicesTableIndex = i
    }

    /// A catalog check write: bumps indexes only when something changed (status, output, name, notes).
    mutating func writeCheck(
        node: String, id: String, name: String, status: String, output: String, serviceID: String, type: String,
        notes: String
    ) {
        let instance = serviceID.isEmpty ? nil : services[node]?[serviceID]
        if var existing = checks[node]?[id] {
            if existing.status == status && existing.output == output && existing.name == name
                && existing.notes == notes && existing.serviceID == serviceID && existing.type == type
            {
                return
            }
            let i = nextIndex()
            existing.status = status
            existing.output = output
            existing.name = name
            existing.notes = notes
            existing.serviceID = serviceID
            existing.serviceName = instance?.service.name ?? ""
            existing.serviceTags = instance?.service.tags ?? []
            existing.type = type
            existing.modifyIndex = i
            checks[node]?[id] = existing
            checksTableIndex = i
            if status == "critical" { invalidateSessions(boundTo: id, node: node) }
            return
        }
        let i = nextIndex()
        checks[node, default: [:]][id] = FakeConsul.Check(
            node: node, checkID: id, name: name, status: status, notes: notes, output: output, serviceID: serviceID,
            serviceName: instance?.service.name ?? "", serviceTags: instance?.service.tags ?? [], type: type,
            createIndex: i, modifyIndex: i)
        checksTableIndex = i
    }

    mutating func removeCheck(node: String, id: String) {
        guard checks[node]?[id] != nil else { return }
        invalidateSessions(boundTo: id, node: node)
        checks[node]?[id] = nil
        checksTableIndex = nextIndex()
    }

    mutating func deregisterNode(_ name: String) {
        guard nodes[name] != nil else { return }
        for session in sessions.values where session.node == name { invalidateSession(session.id) }
        let i = nextIndex()
        nodes[name] = nil
        services[name] = nil
        checks[name] = nil
        agentChecks[name] = nil
        nodesTableIndex = i
        servicesTableIndex = i
        checksTableIndex = i
    }

    /// Node checks first, then by check ID (the memdb order of `/v1/health/node`).
    func checksOf(node: String) -> [FakeConsul.Check] {
        (checks[node] ?? [:]).values.sorted {
            ($0.serviceID.isEmpty ? 0 : 1, $0.checkID) < ($1.serviceID.isEmpty ? 0 : 1, $1.checkID)
        }
    }

    /// Every check, by node then check ID.
    func allChecks() -> [FakeConsul.Check] {
        checks.keys.sorted().flatMap { node in checks[node]!.values.sorted { $0.checkID < $1.checkID } }
    }

    // MARK: Agent TTL checks

    /// Moves the state's notion of time: lapsed sessions are invalidated (unless the leader is lost: its timers
    /// are not running) and lapsed TTL checks turn critical. Called whenever the state is looked at.
    mutating func tick(now: Double) {
        self.now = now
        if !sessionTimersPaused {
            for session in sessions.values.sorted(by: { $0.createIndex < $1.createIndex }) {
                if let expiry = session.expiry, now >= expiry { invalidateSession(session.id) }
            }
        }
        expireTTLChecks(now: now)
    }

    /// Turns lapsed TTL checks critical, writing the catalog at once.
    mutating func expireTTLChecks(now: Double) {
        for (node, table) in agentChecks {
            for (id, check) in table {
                guard check.ttl != nil, check.status != "critical", now >= check.deadline else { continue }
                var c = check
                c.status = "critical"
                c.output = check.output.isEmpty ? "TTL expired" : "TTL expired (last output before timeout follows): \(check.output)"
                c.lastSync = now
                agentChecks[node]?[id] = c
                syncAgentCheck(node: node, c)
            }
        }
    }

    mutating func syncAgentCheck(node: String, _ c: AgentCheck) {
        writeCheck(
            node: node, id: c.id, name: c.name, status: c.status, output: c.output, serviceID: c.serviceID,
            type: c.ttl == nil ? "" : "ttl", notes: c.notes)
    }

    /// Truncates output as the agent does (` ... (captured N of M bytes)`).
    func truncatedOutput(_ output: String) -> String {
        let bytes = Array(output.utf8)
        let limit = configuration.checkOutputMaxSize
        guard bytes.count > limit else { return output }
        return String(decoding: bytes[0..<limit], as: UTF8.self) + " ... (captured \(limit) of \(bytes.count) bytes)"
    }

    /// A TTL update (pass/warn/fail/update): status changes reach the catalog at once, output-only changes at
    /// most every `checkUpdateInterval`.
    mutating func updateAgentCheck(node: String, id: String, status: String, output: String, now: Double) {
        guard var c = agentChecks[node]?[id], let ttl = c.ttl else { return }
        let statusChanged = c.status != status
        c.status = status
        c.output = truncatedOutput(output)
        c.deadline = now + ttl
        if statusChanged || now - c.lastSync >= configuration.checkUpdateInterval {
            c.lastSync = now
            agentChecks[node]?[id] = c
            syncAgentCheck(node: node, c)
        } else {
            agentChecks[node]?[id] = c
        }
    }
}

// MARK: - Sessions and locks (§2)

extension ConsulState {
    /// A check of `node` turned critical or went away: every session that names it is destroyed (§2.4).
    mutating func invalidateSessions(boundTo checkID: String, node: String) {
        for session in sessions.values.sorted(by: { $0.createIndex < $1.createIndex })
        where session.node == node && (session.nodeChecks.contains(checkID) || session.serviceChecks.contains(checkID)) {
            invalidateSession(session.id)
        }
    }

    /// Destroys a session: its keys are released (or deleted, behavior `delete`) and get a lock-delay of
    /// `min(LockDelay, 60 s)`. A Raft write even when the session is unknown (destroy is idempotent).
    mutating func invalidateSession(_ id: String) {
        let i = nextIndex()
        guard let session = sessions.removeValue(forKey: id) else { return }
        sessionsTableIndex = i
        let held = kv.values.filter { $0.session == id }.map(\.key)
        for key in held {
            if session.behavior == "delete" {
                kv[key] = nil
                tombstones[key] = i
            } else {
                kv[key]?.session = nil
                kv[key]?.modifyIndex = i
            }
            if session.lockDelay > 0 { lockDelays[key] = now + min(session.lockDelay, 60) }
        }
        if !held.isEmpty { kvTableIndex = i }
    }

    enum LockOutcome {
        case done(Bool)
        case invalidSession
    }

    /// `?acquire=S` (§1.5): lock-delay is checked before Raft and consumes no index.
    mutating func kvAcquire(_ key: String, session id: String, value: [UInt8]?, flags: UInt64) -> LockOutcome {
        guard sessions[id] != nil else { return .invalidSession }
        if let until = lockDelays[key], now < until { return .done(false) }
        return .done(kvLock(key, session: id, value: value, flags: flags, at: nextIndex()))
    }

    /// The lock itself (Consul's `kvsLockTxn`), at a Raft index already taken; the session must exist.
    mutating func kvLock(_ key: String, session id: String, value: [UInt8]?, flags: UInt64, at i: UInt64) -> Bool {
        guard var entry = kv[key] else {
            kv[key] = FakeConsul.KVEntry(
                key: key, value: value, flags: flags, session: id, lockIndex: 1, createIndex: i, modifyIndex: i)
            tombstones[key] = nil
            kvTableIndex = i
            return true
        }
        if let holder = entry.session, holder != id { return false }
        if entry.session == id && entry.value == value && entry.flags == flags { return true }
        if entry.session == nil { entry.lockIndex += 1 }
        entry.session = id
        entry.value = value
        entry.flags = flags
        entry.modifyIndex = i
        kv[key] = entry
        kvTableIndex = i
        return true
    }

    /// `?release=S`: true only when S holds the key; the body becomes the value.
    mutating func kvRelease(_ key: String, session id: String, value: [UInt8]?, flags: UInt64) -> Bool {
        kvRelease(key, session: id, value: value, flags: flags, at: nextIndex())
    }

    /// `kvRelease` at a Raft index already taken (a transaction's `unlock`).
    mutating func kvRelease(_ key: String, session id: String, value: [UInt8]?, flags: UInt64, at i: UInt64) -> Bool {
        guard var entry = kv[key], entry.session == id else { return false }
        entry.session = nil
        entry.value = value
        entry.flags = flags
        entry.modifyIndex = i
        kv[key] = entry
        kvTableIndex = i
        return true
    }

    /// Restarts every session timer at 2 × TTL (what a new leader does).
    mutating func restartSessionTimers() {
        for (id, s) in sessions {
            if let ttl = s.ttlSeconds { sessions[id]?.expiry = now + 2 * ttl }
        }
    }
}

import Foundation
import Synchronization

/// A fake Consul cluster on loopback: several simulated client agents, each its own `127.0.0.1:<port>` and node
/// name, in front of ONE shared server state (consul-api.md, "Fake Consul spec" F.1–F.9).
///
/// What it models, faithfully to Consul's source (consul-api.md §1–§5):
/// * KV (§1): one Raft-like index consumed by every applied write (failed CAS included); CreateIndex, ModifyIndex,
///   LockIndex; tombstones; `?raw`, `?recurse`, `?keys` + `?separator`; `X-Consul-Index` rules (key ModifyIndex,
///   table index on 404, prefix max incl. tombstones); `?cas=0|N`, `?flags`, `DELETE ?cas|?recurse`; identical
///   writes keep the index; 400/413/500 texts; key validation per Consul version (`keyValidation`).
/// * Transactions (`PUT /v1/txn`, FakeConsulTxn.swift): KV ops only, with Consul's limits (body size, `txnMaxOps`,
///   value size), pre-checks that consume no index (key, ACL as error entries, lock-delay), every op at ONE Raft
///   index in one write transaction, every failing op reported (409) and the whole rolled back (the index still
///   consumed), a read-only fast path (no index), results shaped like KV entries with values only for gets.
/// * Agent TTL checks (§3): register/deregister/pass/warn/fail/update with Consul's errors, default critical,
///   re-registration keeps status, TTL expiry (`TTL expired (last output…)`), output truncation, output-only
///   changes synced to the catalog at most every `checkUpdateInterval`; `/v1/agent/checks`, `/v1/agent/self`.
/// * Catalog and health (§4): `/v1/catalog/node[-services]/<n>` (`null` for an unknown node),
///   `/v1/catalog/services`, `/v1/catalog/nodes`, `/v1/health/node|state|service` (`?passing`, `?tag`);
///   a failed node keeps its services, only `serfHealth` turns critical.
/// * HTTP (§5): Go path cleaning (301), 404/405 texts, token sources (`?token` > `X-Consul-Token` > Bearer),
///   index/leader/consistency headers, `?pretty`, blocking queries (`?index`/`?wait`, F.5) in real time.
/// * ACLs (F.6): toggle, default policy, tokens with per-prefix rules, revocation (`ACL not found`), listings
///   filtered with `X-Consul-Results-Filtered-By-ACLs`.
/// * Sessions and locks (§2): create (defaults, Content-Length rule, LockDelay quirks, TTL/Behavior/node/check
///   validation), renew/destroy/info/list/node, TTL expiry at 2 × TTL, invalidation when a bound check turns
///   critical (release or delete of held keys, lock-delay ≤ 60 s), `?acquire`/`?release` with LockIndex.
/// * Faults (F.7): per endpoint/method/key/agent, every n-th match, count- or time-bounded: status (before or
///   after applying: an ambiguous write), dropped connections, hangs, delays, injected CAS conflicts; leader loss.
/// * Test controls: snapshot/restore (indexes go backwards), tombstone reaping, spurious wake-ups; the watch POST
///   emulator (F.8) is `ConsulWatchPoster` (FakeConsulWatch.swift).
///
/// What it does not model: per-client connection caps, a timer lag on session expiry, gzip, namespaces and
/// partitions, service registration over HTTP, Node/Service/Check operations in `/v1/txn` (answered 501), Go's exact
/// JSON decoder texts in a txn's 400, and Consul's real key-validation text of 1.22 (unknown). A parked
/// blocking query is not released when its client disconnects, only at its deadline or `stop()`.
/// The clock is real time plus `advance(by:)`, so built executables and virtual TTLs can share one run.
public final class FakeConsul: Sendable {
    /// One simulated client agent.
    public struct Agent: Sendable {
        /// The agent's node name (`/v1/agent/self` → `Config.NodeName`).
        public let node: String
        public let port: Int
        /// `127.0.0.1:<port>`, as `CONSUL_HTTP_ADDR` takes it.
        public var address: String { "127.0.0.1:\(port)" }
        /// `http://127.0.0.1:<port>`.
        public var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }
        /// `baseURL` + `path` (which starts with `/`).
        public func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }
    }

    let engine: FakeConsulEngine
    private let servers: Mutex<[(Agent, LoopbackHTTPServer)]>

    /// Starts a cluster without agents; add them with `addAgent(node:)`.
    public init(_ configuration: Configuration = Configuration()) {
        engine = FakeConsulEngine(configuration)
        servers = Mutex([])
    }

    deinit { stop() }

    /// Starts an agent for `node` on `port` (0: ephemeral). The node joins the catalog if it is not there yet.
    @discardableResult
    public func addAgent(node: String, address: String = "127.0.0.1", port: Int = 0) throws -> Agent {
        engine.withState { e in
            if e.state.nodes[node] == nil { e.state.addNode(node, address: address, meta: [:]) }
            e.agentNodes.insert(node)
        }
        let engine = engine
        let server = try LoopbackHTTPServer(port: port) { request in engine.respond(to: request, agent: node) }
        let agent = Agent(node: node, port: server.port)
        servers.withLock { $0.append((agent, server)) }
        return agent
    }

    /// Every agent started, in order.
    public var agents: [Agent] { servers.withLock { $0.map(\.0) } }

    /// The agent of `node`.
    public func agent(for node: String) -> Agent? { agents.first { $0.node == node } }

    /// Stops every agent and releases parked blocking queries.
    public func stop() {
        engine.withState { $0.stopped = true }
        for (_, server) in servers.withLock({ $0 }) { server.stop() }
    }

    // MARK: Clock

    /// Seconds since the fake started, plus every `advance(by:)`.
    public var now: Double { engine.withState { $0.nowLocked } }

    /// Moves the clock forward (TTL checks, blocking deadlines and time-bounded faults follow it).
    public func advance(by seconds: Double) {
        engine.withState { e in
            e.clockOffset += max(0, seconds)
            e.state.tick(now: e.nowLocked)
        }
    }

    // MARK: Cluster model

    /// Registers a node with a passing `serfHealth`.
    public func addNode(_ name: String, address: String = "10.0.0.1", meta: [String: String] = [:]) {
        engine.withState { $0.state.addNode(name, address: address, meta: meta) }
    }

    /// Registers a service instance on a node (the node is added if needed).
    public func addService(node: String, _ service: Service) {
        engine.withState { e in
            if e.state.nodes[node] == nil { e.state.addNode(node, address: "10.0.0.1", meta: [:]) }
            e.state.addService(node: node, service)
        }
    }

    /// A catalog check write (node check when `serviceID` is empty). Indexes move only when something changed.
    /// Checks other than `serfHealth` also appear in the node's agent table as non-TTL checks.
    public func setCheck(
        node: String, checkID: String, name: String? = nil, status: String, output: String = "",
        serviceID: String = "", type: String = "", notes: String = ""
    ) {
        engine.withState { e in
            if e.state.nodes[node] == nil { e.state.addNode(node, address: "10.0.0.1", meta: [:]) }
            let existingName = e.state.checks[node]?[checkID]?.name
            e.state.writeCheck(
                node: node, id: checkID, name: name ?? existingName ?? checkID, status: status, output: output,
                serviceID: serviceID, type: type, notes: notes)
            if checkID != "serfHealth", e.state.agentChecks[node]?[checkID]?.ttl == nil {
                e.state.agentChecks[node, default: [:]][checkID] = ConsulState.AgentCheck(
                    id: checkID, name: name ?? existingName ?? checkID, notes: notes, serviceID: serviceID, ttl: nil,
                    status: status, output: output, deadline: .infinity, lastSync: e.nowLocked)
            }
        }
    }

    /// The node stops answering gossip: `serfHealth` critical, everything else (services, their checks) unchanged.
    public func failNode(_ name: String) {
        setCheck(node: name, checkID: "serfHealth", name: "Serf Health Status", status: "critical", output: "Agent not live or unreachable")
    }

    /// `serfHealth` passing again.
    public func recoverNode(_ name: String) {
        setCheck(node: name, checkID: "serfHealth", name: "Serf Health Status", status: "passing", output: "Agent alive and reachable")
    }

    public func deregisterNode(_ name: String) {
        engine.withState { $0.state.deregisterNode(name) }
    }

    /// Seeds nodes, services and checks from a recorded payload: an array of HealthCheck (a `checks` watch,
    /// `/v1/health/state/…`) or of ServiceEntry (a `service` watch, `/v1/health/service/…`).
    public func seed(fromHealthJSON data: Data) throws {
        guard let array = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw FakeConsulSeedError(message: "expected a JSON array of checks or service entries")
        }
        for item in array {
            if let node = item["Node"] as? [String: Any], let service = item["Service"] as? [String: Any] {
                let nodeName = node["Node"] as? String ?? ""
                addNode(
                    nodeName, address: node["Address"] as? String ?? "10.0.0.1",
                    meta: node["Meta"] as? [String: String] ?? [:])
                addService(node: nodeName, Self.service(from: service))
                for check in item["Checks"] as? [[String: Any]] ?? [] { seedCheck(check) }
            } else {
                seedCheck(item)
            }
        }
    }

    private static func service(from s: [String: Any]) -> Service {
        Service(
            id: s["ID"] as? String, name: s["Service"] as? String ?? "", tags: s["Tags"] as? [String] ?? [],
            port: s["Port"] as? Int ?? 0, address: s["Address"] as? String ?? "",
            meta: s["Meta"] as? [String: String] ?? [:])
    }

    private func seedCheck(_ c: [String: Any]) {
        let node = c["Node"] as? String ?? ""
        guard !node.isEmpty else { return }
        let serviceID = c["ServiceID"] as? String ?? ""
        let serviceName = c["ServiceName"] as? String ?? ""
        let known = engine.withState { $0.state.nodes[node] != nil }
        if !known { addNode(node, address: "10.0.0.1") }
        if !serviceID.isEmpty, engine.withState({ $0.state.services[node]?[serviceID] == nil }) {
            addService(node: node, Service(id: serviceID, name: serviceName, tags: c["ServiceTags"] as? [String] ?? []))
        }
        setCheck(
            node: node, checkID: c["CheckID"] as? String ?? "", name: c["Name"] as? String,
            status: c["Status"] as? String ?? "passing", output: c["Output"] as? String ?? "", serviceID: serviceID,
            type: c["Type"] as? String ?? "", notes: c["Notes"] as? String ?? "")
    }

    /// The catalog checks of a node (node checks first).
    public func checks(node: String) -> [Check] { engine.withState { $0.state.checksOf(node: node) } }

    /// The catalog check, or nil.
    public func check(node: String, id: String) -> Check? { engine.withState { $0.state.checks[node]?[id] } }

    /// The service IDs registered on a node, sorted.
    public func serviceIDs(node: String) -> [String] {
        engine.withState { ($0.state.services[node] ?? [:]).keys.sorted() }
    }

    // MARK: KV

    /// Writes a key as a plain PUT would (consumes a Raft index).
    public func putKey(_ key: String, _ value: String, flags: UInt64 = 0) {
        engine.withState { _ = $0.state.kvSet(key, value: value.isEmpty ? nil : Array(value.utf8), flags: flags, mode: .set) }
    }

    public func deleteKey(_ key: String) {
        engine.withState { _ = $0.state.kvDelete(key, recurse: false, cas: nil) }
    }

    /// The entry with all indexes, or nil.
    public func entry(_ key: String) -> KVEntry? { engine.withState { $0.state.kv[key] } }

    /// The value as text, or nil when the key is absent.
    public func value(_ key: String) -> String? { entry(key)?.text }

    /// Every entry under a prefix, sorted by key.
    public func entries(prefix: String = "") -> [KVEntry] { engine.withState { $0.state.kvList(prefix) } }

    /// The last Raft index applied.
    public var raftIndex: UInt64 { engine.withState { $0.state.raftIndex } }

    /// The KV table index (what a 404 reports in `X-Consul-Index`).
    public var kvIndex: UInt64 { engine.withState { $0.state.kvTableIndex } }

    // MARK: Sessions

    /// Live sessions, oldest first.
    public var sessions: [Session] {
        engine.withState { $0.state.sessions.values.sorted { $0.createIndex < $1.createIndex } }
    }

    /// The clock time until which `?acquire` on `key` is refused, if a lock-delay is pending.
    public func lockDelay(_ key: String) -> Double? {
        engine.withState { e in e.state.lockDelays[key].flatMap { $0 > e.nowLocked ? $0 : nil } }
    }

    // MARK: Agent checks

    /// An agent's local check (status and output as `/v1/agent/checks` shows them), or nil.
    public func agentCheck(node: String, id: String) -> (status: String, output: String, ttl: Double?)? {
        engine.withState { e in e.state.agentChecks[node]?[id].map { ($0.status, $0.output, $0.ttl) } }
    }

    // MARK: ACL (F.6)

    /// Turns ACL enforcement on. `defaultAllow: false` is `acl.default_policy = "deny"`.
    public func enableACL(defaultAllow: Bool = false, anonymous: Rules = Rules()) {
        engine.withState { e in
            e.aclEnabled = true
            e.aclDefaultAllow = defaultAllow
            e.anonymousRules = anonymous
        }
    }

    public func disableACL() {
        engine.withState {
            $0.aclEnabled = false
            $0.aclDefaultAllow = true
        }
    }

    /// Adds (or replaces) a token. Returns its AccessorID.
    @discardableResult
    public func addToken(_ secret: String, rules: Rules, accessorID: String? = nil) -> String {
        let accessor = accessorID ?? UUID().uuidString.lowercased()
        engine.withState { $0.tokens[secret] = FakeConsulEngine.TokenInfo(accessorID: accessor, rules: rules) }
        return accessor
    }

    /// Deletes a token: its next use answers 403 `ACL not found`.
    public func revokeToken(_ secret: String) { engine.withState { $0.tokens[secret] = nil } }

    /// The agents' `acl.tokens.default`, used when a request carries no token.
    public func setDefaultToken(_ secret: String?) { engine.withState { $0.defaultToken = secret } }

    // MARK: Faults (F.7)

    /// Adds a fault; the first matching live fault applies.
    public func inject(_ fault: Fault) { engine.withState { $0.faults.append(FakeConsulEngine.FaultSlot(fault: fault)) } }

    /// Removes every fault.
    public func clearFaults() { engine.withState { $0.faults.removeAll() } }

    /// How many times each fault (in order of injection) has been applied.
    public var faultApplications: [Int] { engine.withState { $0.faults.map(\.applied) } }

    /// Leader loss: KV and catalog/health answer 500 `No cluster leader` (stale reads still work, with
    /// `X-Consul-KnownLeader: false`); agent endpoints keep working.
    /// Session TTL timers stop while the leader is lost and all restart at 2 × TTL when it is back.
    public func setLeaderLost(_ lost: Bool) {
        engine.withState { e in
            e.leaderLost = lost
            e.state.sessionTimersPaused = lost
            if !lost { e.state.restartSessionTimers() }
        }
    }

    /// A saved copy of the whole server state (F.7 `indexReset`).
    public struct Snapshot: Sendable {
        let state: ConsulState
    }

    /// Saves the server state (KV, tombstones, catalog, sessions, indexes, agent checks).
    public func saveSnapshot() -> Snapshot { engine.withState { Snapshot(state: $0.state) } }

    /// Restores a snapshot, as a snapshot restore does: data and every index roll back, so `X-Consul-Index`
    /// goes backwards for clients that saw a later state.
    public func restoreSnapshot(_ snapshot: Snapshot) { engine.withState { $0.state = snapshot.state } }

    /// Forgets every tombstone now (Consul reaps them after ~15 min): a prefix listing's index can drop.
    public func reapTombstones() { engine.withState { $0.state.tombstones.removeAll() } }

    /// Answers the next `count` parked (and next parking) blocking queries early with unchanged data, to prove that
    /// clients do not equate a wake-up with a change.
    public func spuriousWakeup(_ count: Int = 1) { engine.withState { $0.spuriousWakeups += max(0, count) } }

    // MARK: Inspection

    /// The most recent requests (up to `Configuration.requestLogLimit`), in order of their answers.
    public var requests: [RecordedRequest] { engine.withState { $0.log } }

    /// Requests to `endpoint` (optionally only one agent's, one method's), since start or `resetRequestLog()`.
    public func requestCount(_ endpoint: Endpoint, agent: String? = nil, method: String? = nil) -> Int {
        engine.withState { e in
            e.counts.reduce(0) { sum, item in
                let k = item.key
                let match = k.endpoint == endpoint && (agent == nil || k.agent == agent) && (method == nil || k.method == method)
                return sum + (match ? item.value : 0)
            }
        }
    }

    /// Request counts per endpoint.
    public var requestCounts: [Endpoint: Int] {
        engine.withState { e in e.counts.reduce(into: [:]) { $0[$1.key.endpoint, default: 0] += $1.value } }
    }

    /// Requests that used the deprecated `?token=` query parameter.
    public var deprecatedTokenQueryCount: Int { engine.withState { $0.deprecatedTokenQueries } }

    /// Blocking queries parked right now.
    public var parkedQueries: Int { engine.withState { $0.parked } }

    /// Forgets the request log and the counters.
    public func resetRequestLog() {
        engine.withState { e in
            e.log.removeAll()
            e.counts.removeAll()
        }
    }
}

/// A seed file or payload that could not be used.
public struct FakeConsulSeedError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

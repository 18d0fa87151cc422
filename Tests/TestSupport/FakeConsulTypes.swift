import Foundation

extension FakeConsul {
    /// Knobs, all with Consul's defaults (consul-api.md F.1).
    public struct Configuration: Sendable {
        /// The first Raft index is `indexBase + 1`: indexes are large and arbitrary, so clients cannot predict them.
        public var indexBase: UInt64 = 1000
        public var datacenter = "dc1"
        /// `kv_max_value_size`.
        public var kvMaxValueSize = 524_288
        /// `txn_max_req_len`: a `/v1/txn` body larger than this (or than `kvMaxValueSize`, if larger) is refused.
        public var txnMaxReqLen = 524_288
        /// Consul's `maxTxnOps`: 64 in the versions targeted (newer documentation says 128).
        public var txnMaxOps = 64
        /// `default_query_time` and `max_query_time` of blocking queries, in seconds.
        public var defaultQueryTime: Double = 300
        public var maxQueryTime: Double = 600
        /// Add random jitter of up to wait/16 to blocking deadlines (off: deterministic).
        public var jitter = false
        /// `check_output_max_size`.
        public var checkOutputMaxSize = 4096
        /// `check_update_interval`: output-only changes of agent checks reach the catalog at most this often.
        public var checkUpdateInterval: Double = 300
        /// Indented JSON on every response, like a `-dev` agent.
        public var prettyJSON = false
        public var keyValidation: KeyValidation = .none
        /// How an unknown check ID is answered by the agent's check endpoints.
        public var uncheckedCheckErrors: UnknownCheckErrors = .modern404
        /// Prefix server-side errors with `rpc error making call: `, as a client agent does.
        public var clientAgentPrefix = false
        /// 403 bodies name the token, permission and resource (newer agents) instead of a bare `Permission denied`.
        public var detailedACLErrors = true
        /// The address `GET /v1/status/leader` reports.
        public var leaderAddress = "10.0.0.10:8300"
        /// How many recent requests `requests` keeps (counters stay exact beyond it).
        public var requestLogLimit = 100_000
        /// `session_ttl_min`.
        public var sessionTTLMin: Double = 10
        /// False: the clock moves only by `advance(by:)`, so TTL tests hold on a loaded machine.
        public var realTimeClock = true

        public init() {}
    }

    /// Server-side key validation, by Consul version (consul-api.md §1.1).
    public enum KeyValidation: Sendable, Equatable {
        /// ≤ 1.21.4, and 1.21.6+ with `disable_kv_key_validation`.
        case none
        /// 1.21.5: keys must match `^[a-zA-Z0-9,_./\-?&=]+$`, else 500.
        case regex1215
        /// 1.21.6 / 1.22: path traversal and leading/trailing spaces are refused (400 here; the real text is unverified).
        case traversal122
    }

    public enum UnknownCheckErrors: Sendable, Equatable {
        /// 404 `Unknown check ID "<id>". Ensure that the check ID is passed, not the check name.`
        case modern404
        /// 500 `Unknown check "<id>"`.
        case legacy500
    }

    /// An ACL policy level. `list` only matters for key listings.
    public enum Policy: String, Sendable, Equatable {
        case deny, read, list, write

        var allowsRead: Bool { self == .read || self == .list || self == .write }
        var allowsWrite: Bool { self == .write }
    }

    /// The rules of one token: prefix → policy per resource; the longest matching prefix wins, no match falls
    /// back to the default policy.
    public struct Rules: Sendable, Equatable {
        public var keyPrefix: [String: Policy] = [:]
        public var nodePrefix: [String: Policy] = [:]
        public var servicePrefix: [String: Policy] = [:]
        public var agentPrefix: [String: Policy] = [:]
        public var sessionPrefix: [String: Policy] = [:]

        public init(
            keyPrefix: [String: Policy] = [:], nodePrefix: [String: Policy] = [:],
            servicePrefix: [String: Policy] = [:], agentPrefix: [String: Policy] = [:],
            sessionPrefix: [String: Policy] = [:]
        ) {
            self.keyPrefix = keyPrefix
            self.nodePrefix = nodePrefix
            self.servicePrefix = servicePrefix
            self.agentPrefix = agentPrefix
            self.sessionPrefix = sessionPrefix
        }

        /// Everything writable (a management-like token for tests).
        public static var all: Rules {
            Rules(
                keyPrefix: ["": .write], nodePrefix: ["": .write], servicePrefix: ["": .write],
                agentPrefix: ["": .write], sessionPrefix: ["": .write])
        }
    }

    /// A resource kind as Consul names it in permission errors (`key:write`).
    enum Resource: String {
        case key, node, service, agent, session
    }

    /// Which endpoint a request reached; request counters and fault rules are keyed by it.
    public enum Endpoint: String, Sendable, Hashable, CaseIterable {
        case kv
        case agentSelf = "agent/self"
        case agentChecks = "agent/checks"
        case agentCheckRegister = "agent/check/register"
        case agentCheckDeregister = "agent/check/deregister"
        case agentCheckPass = "agent/check/pass"
        case agentCheckWarn = "agent/check/warn"
        case agentCheckFail = "agent/check/fail"
        case agentCheckUpdate = "agent/check/update"
        case catalogNode = "catalog/node"
        case catalogNodeServices = "catalog/node-services"
        case catalogServices = "catalog/services"
        case catalogNodes = "catalog/nodes"
        case healthNode = "health/node"
        case healthState = "health/state"
        case healthService = "health/service"
        case statusLeader = "status/leader"
        case sessionCreate = "session/create"
        case sessionDestroy = "session/destroy"
        case sessionRenew = "session/renew"
        case sessionInfo = "session/info"
        case sessionList = "session/list"
        case sessionNode = "session/node"
        /// `PUT /v1/txn` (KV operations only).
        case txn
        /// Not a recognized API path (404).
        case unknown
    }

    /// What a fault does instead of (or around) the real answer (F.7).
    public enum FaultAction: Sendable {
        /// Answer with this status and body; with `afterApply` the request is processed first (an ambiguous write:
        /// the state changed, the client sees an error).
        case status(Int, body: String = "", headers: [String: String] = [:], afterApply: Bool = false)
        /// Close the connection without answering, before or after applying the request.
        case dropConnection(afterApply: Bool = false)
        /// Hold the request for this many real seconds, then close the connection without answering
        /// (the client's timeout should fire first).
        case hang(seconds: Double)
        /// Wait this many real seconds, then answer normally.
        case delay(seconds: Double)
        /// Make a `?cas=` write lose, as if another writer had changed the key just before: an existing key's
        /// ModifyIndex moves (same value, as a concurrent rewrite would leave it); an absent key gets a tombstone
        /// (a concurrent create + delete). Either way a Raft index is consumed and the answer is `false`.
        /// On `/v1/txn` the key of the first op with an index precondition (`cas`, `delete-cas`, `check-index`) is
        /// rewritten (created if absent) just before the transaction applies, so that op and the transaction fail
        /// as a real race would. Other requests are answered normally.
        case casConflict
    }

    /// A scripted fault: which requests it matches, how often, and for how long.
    public struct Fault: Sendable {
        public var action: FaultAction
        /// Match only these endpoints (nil: every endpoint).
        public var endpoints: Set<Endpoint>?
        /// Match only this method (nil: any).
        public var method: String?
        /// For KV requests: match only keys with this prefix (nil: any key; ignored for other endpoints, `txn` too).
        public var keyPrefix: String?
        /// Match only requests to this agent's node (nil: any agent).
        public var agent: String?
        /// Apply to every `every`-th matching request (1: all of them; 2: every other one, starting with the first).
        public var every: Int
        /// Stop after this many applications (nil: unbounded).
        public var times: Int?
        /// Stop when the fake's clock passes this many seconds (see `FakeConsul.now`; nil: unbounded).
        public var untilTime: Double?

        public init(
            _ action: FaultAction, endpoints: Set<Endpoint>? = nil, method: String? = nil, keyPrefix: String? = nil,
            agent: String? = nil, every: Int = 1, times: Int? = nil, untilTime: Double? = nil
        ) {
            self.action = action
            self.endpoints = endpoints
            self.method = method
            self.keyPrefix = keyPrefix
            self.agent = agent
            self.every = max(1, every)
            self.times = times
            self.untilTime = untilTime
        }

        /// 500 `No cluster leader` (prefixed in client-agent mode), as a lost leader answers.
        public static func noLeader(
            endpoints: Set<Endpoint>? = nil, method: String? = nil, keyPrefix: String? = nil, times: Int? = nil,
            untilTime: Double? = nil
        ) -> Fault {
            Fault(
                .status(500, body: "No cluster leader"), endpoints: endpoints, method: method, keyPrefix: keyPrefix,
                times: times, untilTime: untilTime)
        }

        /// 403 `Permission denied`, whatever the token.
        public static func permissionDenied(endpoints: Set<Endpoint>? = nil, times: Int? = nil) -> Fault {
            Fault(.status(403, body: "Permission denied"), endpoints: endpoints, times: times)
        }
    }

    /// One request as the fake saw it, for assertions.
    public struct RecordedRequest: Sendable {
        /// The node name of the agent that received it.
        public var agent: String
        public var method: String
        /// The raw request target (path and query, not decoded).
        public var target: String
        public var endpoint: Endpoint
        /// The decoded KV key (KV requests only).
        public var key: String?
        public var headers: LoopbackHTTPServer.Headers
        public var body: Data
        /// The status answered (0: the connection was dropped).
        public var status: Int
        /// Where the token came from: `query`, `header`, `bearer`, or nil (none sent).
        public var tokenSource: String?
    }

    /// A KV entry with every index, as the test API shows it.
    public struct KVEntry: Sendable, Equatable {
        public var key: String
        /// nil for a value stored from an empty body (Consul answers `"Value": null`).
        public var value: [UInt8]?
        public var flags: UInt64
        public var session: String?
        public var lockIndex: UInt64
        public var createIndex: UInt64
        public var modifyIndex: UInt64

        /// The value as UTF-8 text ("" for nil).
        public var text: String { String(decoding: value ?? [], as: UTF8.self) }
    }

    /// A session as the test API shows it.
    public struct Session: Sendable, Equatable {
        public var id: String
        public var name: String
        public var node: String
        /// Seconds (Consul answers nanoseconds).
        public var lockDelay: Double
        /// `release` or `delete`.
        public var behavior: String
        /// As given (`"30s"`), "" for none.
        public var ttl: String
        public var nodeChecks: [String]
        public var serviceChecks: [String]
        public var createIndex: UInt64
        public var modifyIndex: UInt64
        /// Clock time at which the TTL (×2) lapses; nil without a TTL.
        public var expiry: Double?
        var ttlSeconds: Double?
    }

    /// A service instance to seed.
    public struct Service: Sendable {
        public var id: String
        public var name: String
        public var tags: [String]
        public var port: Int
        public var address: String
        public var meta: [String: String]

        public init(
            id: String? = nil, name: String, tags: [String] = [], port: Int = 0, address: String = "",
            meta: [String: String] = [:]
        ) {
            self.id = id ?? name
            self.name = name
            self.tags = tags
            self.port = port
            self.address = address
            self.meta = meta
        }
    }

    /// A catalog check as the test API shows it.
    public struct Check: Sendable, Equatable {
        public var node: String
        public var checkID: String
        public var name: String
        public var status: String
        public var notes: String
        public var output: String
        public var serviceID: String
        public var serviceName: String
        public var serviceTags: [String]
        public var type: String
        public var createIndex: UInt64
        public var modifyIndex: UInt64
    }
}

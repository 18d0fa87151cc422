import ConsulWatch
import Platform

/// A `consul-heal` configuration file, validated (docs/config.md is the reference).
/// Building it needs no network and no secrets, so `check-config` runs anywhere.
public struct HealConfig: Sendable {
    /// An action as configured.
    public struct ActionSpec: Sendable {
        public enum Kind: String, Sendable, CaseIterable { case jenkins, redeploy, log, external, webhook }
        public var kind: Kind
        /// Run when the ladder is exhausted, the budget runs out, or the blast radius trips.
        public var escalation: Bool
        /// `on`: the events the action runs on; nil: the meaning it always had (see ``events``).
        public var on: [NotifyEvent]?
        /// The event this copy is built for: ``RoutingTable`` builds an action once per event.
        public var event: NotifyEvent = .act
        /// What the action runs on: `on`, or by default `escalate` for `escalation: true`, else `act`.
        public var events: [NotifyEvent] { on ?? [escalation ? .escalate : .act] }
        // jenkins
        public var url: String?
        public var job: JenkinsJobTemplate?
        public var parameters: [(name: String, value: Template)]?
        public var wait = false
        // redeploy / external
        public var command: [Template] = []
        public var timeout: Double?
        // log
        public var file: String?
        public var format: LogFormat = .jsonl
        // webhook (docs/notifications.md); `url` is shared with jenkins
        public var webhook = WebhookSpec()
    }

    /// A webhook's settings; the files hold secrets, read when consul-heal wires its actions.
    public struct WebhookSpec: Sendable {
        public var urlFile: String?
        public var preset: WebhookPreset = .generic
        public var body: BodyTemplate?
        public var headerFiles: [(name: String, file: String)] = []
        public var routingKeyFile: String?
        public var caFile: String?
        public var requestTimeout: Double = 10
        public var retries = 3
    }

    /// Where the Prometheus textfile-collector file goes (docs/metrics.md).
    public struct MetricsSpec: Sendable {
        public var file: String?
    }

    public struct RouteSpec: Sendable {
        public var name: String
        public var match: RouteMatch?
        public var policy: PolicySettings
        public var actions: [ActionSpec]
    }

    /// Jenkins connection shared by jenkins actions: URL and where the secrets are.
    public struct JenkinsSpec: Sendable {
        public var url: String?
        public var user: String?
        public var tokenFile: String?
        public var passwordFile: String?
        public var buildTokenFile: String?
        /// CA certificates (PEM) to trust for https instead of the system's.
        public var caFile: String?
        public var requestTimeout: Double = 10
        public var retries = 3
    }

    /// The Consul agent, overriding `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN_FILE`, `CONSUL_CACERT`.
    public struct ConsulSpec: Sendable {
        public var address: String?
        public var tokenFile: String?
        public var caFile: String?
        public var timeout: Double?
    }

    /// The handler's own TTL check in Consul (opt-in).
    public struct SelfCheckSpec: Sendable {
        public var id: String
        public var name: String?
        public var ttl: Double
    }

    /// The policy state in Consul KV, shared by every agent running the watch (docs/cluster.md).
    public struct ConsulStateSpec: Sendable {
        public var prefix: String
        /// How long a claim holds before another agent may take over (nil: timeout-derived).
        public var claimLease: Double?
        /// `act-locally`: decide alone on the local state when Consul cannot be used (loudly).
        public var actLocally = false
    }

    public var watch: String?
    public var stateDirectory: String?
    /// What a down node turns into: its services' incidents (default) or one node incident.
    public var nodeFailures: NodeFailureMode = .services
    public var consul = ConsulSpec()
    public var selfCheck: SelfCheckSpec?
    public var consulState: ConsulStateSpec?
    public var groupBy: GroupBy = .service
    public var concurrency = 4
    public var timeout: Double = 120
    public var journal: (file: String, format: LogFormat)?
    public var blastRadius = BlastRadius()
    public var selection = SelectionCriteria()
    public var jenkins = JenkinsSpec()
    public var routes: [RouteSpec] = []
    public var metrics: MetricsSpec?

    /// A configuration error, with the JSON path of the offending value.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    /// Parses and validates a configuration file's bytes.
    public init(bytes: [UInt8]) throws(Error) {
        let root: JSONValue
        do {
            root = try JSONReader.read(bytes) { (reader) throws(JSONError) in try JSONValue(reading: &reader) }
        } catch {
            throw Error(path: error.pathDescription, message: error.description)
        }
        var p = Parser()
        try p.parse(root, into: &self)
    }
}

extension HealConfig.Parser {
    mutating func parse(_ root: JSONValue, into config: inout HealConfig) throws(HealConfig.Error) {
        let top = try object(
            root, "$",
            allowed: [
                "watch", "stateDir", "groupBy", "nodeFailures", "consul", "selfCheck", "concurrency", "timeout", "journal", "blastRadius", "selection",
                "jenkins", "defaults", "routes", "metrics", "consulState", "onConsulUnavailable", "$comment",
            ])
        config.watch = try string(top["watch"], "$.watch")
        config.stateDirectory = try string(top["stateDir"], "$.stateDir")
        if let text = try string(top["groupBy"], "$.groupBy") {
            guard let value = GroupBy(rawValue: text) else { throw fail("$.groupBy", "expected service, instance or node") }
            config.groupBy = value
        }
        if let text = try string(top["nodeFailures"], "$.nodeFailures") {
            guard let value = NodeFailureMode(rawValue: text) else { throw fail("$.nodeFailures", "expected services or node") }
            config.nodeFailures = value
        }
        if let consul = top["consul"] {
            let fields = try object(consul, "$.consul", allowed: ["address", "tokenFile", "caFile", "timeout"])
            config.consul.address = try string(fields["address"], "$.consul.address")
            config.consul.tokenFile = try string(fields["tokenFile"], "$.consul.tokenFile")
            config.consul.caFile = try string(fields["caFile"], "$.consul.caFile")
            config.consul.timeout = try duration(fields["timeout"], "$.consul.timeout")
            if config.consul.timeout == 0 { throw fail("$.consul.timeout", "must be more than 0") }
        }
        if let selfCheck = top["selfCheck"] {
            let fields = try object(selfCheck, "$.selfCheck", allowed: ["id", "name", "ttl"])
            guard let id = try string(fields["id"], "$.selfCheck.id") else { throw fail("$.selfCheck.id", "required (such as \"consul-heal-<watch>\")") }
            if id.contains("/") || id.contains("?") || id.contains("#") { throw fail("$.selfCheck.id", "must not contain '/', '?' or '#'") }
            let ttl = try duration(fields["ttl"], "$.selfCheck.ttl") ?? 86_400
            if ttl < 1 { throw fail("$.selfCheck.ttl", "must be at least 1s") }
            config.selfCheck = HealConfig.SelfCheckSpec(id: id, name: try string(fields["name"], "$.selfCheck.name"), ttl: ttl)
        }
        if let state = top["consulState"] {
            let fields = try object(state, "$.consulState", allowed: ["prefix", "claimLease"])
            let prefix = try string(fields["prefix"], "$.consulState.prefix") ?? "consul-handlers"
            guard ClusterKey.isSafePrefix(prefix) else {
                throw fail(
                    "$.consulState.prefix",
                    "use segments of letters, digits, '-', '_' and '.' joined by '/', none empty or starting or ending with '.' (every Consul version accepts such keys)"
                )
            }
            let lease = try duration(fields["claimLease"], "$.consulState.claimLease")
            if let lease, lease < 1 { throw fail("$.consulState.claimLease", "must be at least 1s") }
            config.consulState = HealConfig.ConsulStateSpec(prefix: prefix, claimLease: lease)
        }
        if let text = try string(top["onConsulUnavailable"], "$.onConsulUnavailable") {
            guard text == "keep" || text == "act-locally" else { throw fail("$.onConsulUnavailable", "expected keep or act-locally") }
            guard config.consulState != nil else { throw fail("$.onConsulUnavailable", "applies only with consulState") }
            config.consulState?.actLocally = text == "act-locally"
        }
        config.concurrency = try int(top["concurrency"], "$.concurrency", 1...64) ?? config.concurrency
        config.timeout = try duration(top["timeout"], "$.timeout") ?? config.timeout
        if let journal = top["journal"] {
            let fields = try object(journal, "$.journal", allowed: ["file", "format"])
            guard let file = try string(fields["file"], "$.journal.file") else { throw fail("$.journal.file", "required") }
            var format = LogFormat.jsonl
            if let text = try string(fields["format"], "$.journal.format") {
                guard let value = LogFormat(rawValue: text) else { throw fail("$.journal.format", "expected jsonl, logfmt or text") }
                format = value
            }
            config.journal = (file, format)
        }
        if let blast = top["blastRadius"] {
            let fields = try object(blast, "$.blastRadius", allowed: ["maxTargets", "maxPercent", "window", "enabled", "minKnownServices"])
            config.blastRadius.maximumTargets = try int(fields["maxTargets"], "$.blastRadius.maxTargets", 1...100_000) ?? config.blastRadius.maximumTargets
            config.blastRadius.maximumPercent = Double(
                try int(fields["maxPercent"], "$.blastRadius.maxPercent", 1...100) ?? Int(config.blastRadius.maximumPercent))
            config.blastRadius.window = try duration(fields["window"], "$.blastRadius.window") ?? config.blastRadius.window
            config.blastRadius.enabled = try bool(fields["enabled"], "$.blastRadius.enabled") ?? true
            config.blastRadius.minimumKnownServices =
                try int(fields["minKnownServices"], "$.blastRadius.minKnownServices", 1...100_000) ?? config.blastRadius.minimumKnownServices
        }
        if let selection = top["selection"] {
            let fields = try object(selection, "$.selection", allowed: ["status", "includeMaintenance"])
            let statuses = try strings(fields["status"], "$.selection.status")
            if !statuses.isEmpty {
                config.selection.statuses = []
                for (index, status) in statuses.enumerated() {
                    switch status {
                    case "any": config.selection.statuses = []
                    case "critical", "warning", "passing": config.selection.statuses.insert(CheckStatus(status))
                    default: throw fail("$.selection.status[\(index)]", "expected critical, warning, passing or any")
                    }
                }
                if statuses.contains("any") { config.selection.statuses = [] }
            }
            config.selection.includeMaintenance = try bool(fields["includeMaintenance"], "$.selection.includeMaintenance") ?? false
        }
        if let jenkins = top["jenkins"] {
            let fields = try object(
                jenkins, "$.jenkins", allowed: ["url", "user", "tokenFile", "passwordFile", "buildTokenFile", "caFile", "requestTimeout", "retries"])
            config.jenkins.url = try string(fields["url"], "$.jenkins.url")
            if let url = config.jenkins.url {
                do { try JenkinsURL.validate(url) } catch { throw fail("$.jenkins.url", error.description) }
            }
            config.jenkins.user = try string(fields["user"], "$.jenkins.user")
            config.jenkins.tokenFile = try string(fields["tokenFile"], "$.jenkins.tokenFile")
            config.jenkins.passwordFile = try string(fields["passwordFile"], "$.jenkins.passwordFile")
            config.jenkins.buildTokenFile = try string(fields["buildTokenFile"], "$.jenkins.buildTokenFile")
            config.jenkins.caFile = try string(fields["caFile"], "$.jenkins.caFile")
            config.jenkins.requestTimeout = try duration(fields["requestTimeout"], "$.jenkins.requestTimeout") ?? 10
            config.jenkins.retries = try int(fields["retries"], "$.jenkins.retries", 0...10) ?? 3
        }
        if let metrics = top["metrics"] {
            let fields = try object(metrics, "$.metrics", allowed: ["file"])
            config.metrics = HealConfig.MetricsSpec(file: try string(fields["file"], "$.metrics.file"))
        }
        var defaults = PolicySettings()
        if let value = top["defaults"] { defaults = try policy(value, "$.defaults", base: defaults) }
        guard case .array(let routes)? = top["routes"], !routes.isEmpty else { throw fail("$.routes", "expected a non-empty array of routes") }
        var names: Set<String> = []
        var sawDefault = false
        for (index, value) in routes.enumerated() {
            let path = "$.routes[\(index)]"
            let fields = try object(value, path, allowed: ["name", "match", "policy", "actions", "$comment"])
            let name = try string(fields["name"], path + ".name") ?? "route-\(index + 1)"
            guard names.insert(name).inserted else { throw fail(path + ".name", "duplicate route name '\(name)'") }
            if sawDefault { throw fail(path, "unreachable: an earlier route has no match and takes every incident") }
            var match: RouteMatch? = nil
            if let value = fields["match"] {
                let m = try object(value, path + ".match", allowed: ["service", "tag", "node", "check", "cause"])
                var causes: Set<Incident.Cause> = []
                for (causeIndex, text) in try strings(m["cause"], path + ".match.cause").enumerated() {
                    guard let cause = Incident.Cause(rawValue: text) else {
                        throw fail("\(path).match.cause[\(causeIndex)]", "expected check or node-down")
                    }
                    causes.insert(cause)
                }
                match = RouteMatch(
                    services: NameSet(try strings(m["service"], path + ".match.service")), tags: NameSet(try strings(m["tag"], path + ".match.tag")),
                    nodes: NameSet(try strings(m["node"], path + ".match.node")), checks: NameSet(try strings(m["check"], path + ".match.check")),
                    causes: causes)
            } else {
                sawDefault = true
            }
            let settings = try fields["policy"].map { (value) throws(HealConfig.Error) in try policy(value, path + ".policy", base: defaults) } ?? defaults
            guard case .array(let actionValues)? = fields["actions"], !actionValues.isEmpty else {
                throw fail(path + ".actions", "expected a non-empty array of actions")
            }
            var actions: [HealConfig.ActionSpec] = []
            for (actionIndex, actionValue) in actionValues.enumerated() {
                actions.append(try action(actionValue, "\(path).actions[\(actionIndex)]", config: config))
            }
            // A log-only route is allowed: observing before trusting a route with actions.
            config.routes.append(HealConfig.RouteSpec(name: name, match: match, policy: settings, actions: actions))
        }
    }

}

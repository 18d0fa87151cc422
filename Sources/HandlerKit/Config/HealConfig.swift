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

    /// Walks the JSON with its path, so every error names where it is.
    private struct Parser {
        func fail(_ path: String, _ message: String) -> HealConfig.Error { HealConfig.Error(path: path, message: message) }

        func object(_ value: JSONValue?, _ path: String, allowed: Set<String>) throws(HealConfig.Error) -> [String: JSONValue] {
            guard case .object(let members)? = value else { throw fail(path, "expected an object") }
            for key in members.keys.sorted() where !allowed.contains(key) {
                throw fail(path + "." + key, "unknown setting (known here: \(allowed.sorted().joined(separator: ", ")))")
            }
            return members
        }

        func string(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> String? {
            guard let value else { return nil }
            guard case .string(let text) = value, !text.isEmpty else { throw fail(path, "expected a non-empty string") }
            return text
        }

        func strings(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> [String] {
            guard let value else { return [] }
            if case .string(let one) = value { return [one] }
            guard case .array(let list) = value else { throw fail(path, "expected a string or an array of strings") }
            var result: [String] = []
            for (index, item) in list.enumerated() {
                guard case .string(let text) = item else { throw fail("\(path)[\(index)]", "expected a string") }
                result.append(text)
            }
            return result
        }

        func int(_ value: JSONValue?, _ path: String, _ range: ClosedRange<Int>) throws(HealConfig.Error) -> Int? {
            guard let value else { return nil }
            guard case .number(let text) = value, let number = Int(text), range.contains(number) else {
                throw fail(path, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }

        func bool(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> Bool? {
            guard let value else { return nil }
            guard case .bool(let flag) = value else { throw fail(path, "expected true or false") }
            return flag
        }

        /// A duration: a string such as "30s", "5m", "1h", or a number of seconds.
        func duration(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> Double? {
            guard let value else { return nil }
            switch value {
            case .number(let text):
                if let seconds = Double(text), seconds >= 0 { return seconds }
            case .string(let text):
                if let seconds = Duration.parseSeconds(text) { return seconds }
            default: break
            }
            throw fail(path, "expected a duration such as \"30s\", \"5m\" or \"1h\"")
        }

        func template(_ text: String, _ path: String) throws(HealConfig.Error) -> Template {
            do { return try Template(text) } catch { throw fail(path, error.description) }
        }

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
                config.selfCheck = SelfCheckSpec(id: id, name: try string(fields["name"], "$.selfCheck.name"), ttl: ttl)
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
                config.consulState = ConsulStateSpec(prefix: prefix, claimLease: lease)
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
                config.metrics = MetricsSpec(file: try string(fields["file"], "$.metrics.file"))
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
                var actions: [ActionSpec] = []
                for (actionIndex, actionValue) in actionValues.enumerated() {
                    actions.append(try action(actionValue, "\(path).actions[\(actionIndex)]", config: config))
                }
                // A log-only route is allowed: observing before trusting a route with actions.
                config.routes.append(RouteSpec(name: name, match: match, policy: settings, actions: actions))
            }
        }

        func policy(_ value: JSONValue, _ path: String, base: PolicySettings) throws(HealConfig.Error) -> PolicySettings {
            let fields = try object(value, path, allowed: ["threshold", "cooldown", "budget", "onStart"])
            var settings = base
            if let threshold = fields["threshold"] {
                let t = try object(threshold, path + ".threshold", allowed: ["deliveries", "duration"])
                settings.threshold = .init(
                    deliveries: try int(t["deliveries"], path + ".threshold.deliveries", 1...1000) ?? 1,
                    seconds: try duration(t["duration"], path + ".threshold.duration") ?? 0)
            }
            settings.cooldown = try duration(fields["cooldown"], path + ".cooldown") ?? settings.cooldown
            if let budget = fields["budget"] {
                let b = try object(budget, path + ".budget", allowed: ["max", "window", "reset"])
                settings.budget = .init(
                    maximum: try int(b["max"], path + ".budget.max", 1...1000) ?? settings.budget.maximum,
                    window: try duration(b["window"], path + ".budget.window") ?? settings.budget.window,
                    reset: try duration(b["reset"], path + ".budget.reset") ?? settings.budget.reset)
            }
            if let text = try string(fields["onStart"], path + ".onStart") {
                guard let value = PolicySettings.OnStart(rawValue: text) else { throw fail(path + ".onStart", "expected wait or act") }
                settings.onStart = value
            }
            return settings
        }

        func action(_ value: JSONValue, _ path: String, config: HealConfig) throws(HealConfig.Error) -> ActionSpec {
            guard case .object(let raw) = value else { throw fail(path, "expected an object") }
            guard let typeText = try string(raw["type"], path + ".type") else {
                throw fail(path + ".type", "required: jenkins, redeploy, log, external or webhook")
            }
            guard let kind = ActionSpec.Kind(rawValue: typeText) else {
                throw fail(path + ".type", "unknown action type '\(typeText)' (known: jenkins, redeploy, log, external, webhook)")
            }
            let allowed: Set<String>
            switch kind {
            case .jenkins: allowed = ["type", "escalation", "on", "url", "job", "params", "wait"]
            case .redeploy, .external: allowed = ["type", "escalation", "on", "command", "timeout"]
            case .log: allowed = ["type", "file", "format"]
            case .webhook:
                allowed = ["type", "escalation", "on", "url", "urlFile", "preset", "body", "headerFiles", "routingKeyFile", "caFile", "timeout", "retries"]
            }
            let fields = try object(value, path, allowed: allowed)
            var spec = ActionSpec(kind: kind, escalation: try bool(fields["escalation"], path + ".escalation") ?? false)
            if fields["on"] != nil {
                var events: [NotifyEvent] = []
                for (index, text) in try strings(fields["on"], path + ".on").enumerated() {
                    guard let event = NotifyEvent(rawValue: text) else { throw fail("\(path).on[\(index)]", "expected act, escalate or resolved") }
                    if !events.contains(event) { events.append(event) }
                }
                guard !events.isEmpty else { throw fail(path + ".on", "expected one or more of act, escalate, resolved") }
                if fields["escalation"] != nil { throw fail(path + ".escalation", "give either escalation or on (escalation: true is on: [\"escalate\"])") }
                spec.on = events
            }
            switch kind {
            case .jenkins:
                spec.url = try string(fields["url"], path + ".url") ?? config.jenkins.url
                guard let url = spec.url else { throw fail(path + ".url", "no Jenkins URL here or in $.jenkins.url") }
                do { try JenkinsURL.validate(url) } catch { throw fail(fields["url"] == nil ? "$.jenkins.url" : path + ".url", error.description) }
                let jobText = try string(fields["job"], path + ".job") ?? "{service}"
                do { spec.job = try JenkinsJobTemplate(jobText) } catch {
                    throw fail(path + ".job", error.description)
                }
                if let params = fields["params"] {
                    guard case .object(let members) = params else { throw fail(path + ".params", "expected an object of NAME: TEMPLATE") }
                    var list: [(name: String, value: Template)] = []
                    for name in members.keys.sorted() {
                        guard case .string(let text)? = members[name] else { throw fail(path + ".params." + name, "expected a string") }
                        list.append((name, try template(text, path + ".params." + name)))
                    }
                    spec.parameters = list
                }
                spec.wait = try bool(fields["wait"], path + ".wait") ?? false
            case .redeploy, .external:
                let words = try strings(fields["command"], path + ".command")
                guard let program = words.first, !program.isEmpty else { throw fail(path + ".command", "expected [PROGRAM, ARG...]") }
                var templates: [Template] = []
                for (index, word) in words.enumerated() { templates.append(try template(word, "\(path).command[\(index)]")) }
                spec.command = templates
                spec.timeout = try duration(fields["timeout"], path + ".timeout")
            case .log:
                spec.file = try string(fields["file"], path + ".file")
                if let text = try string(fields["format"], path + ".format") {
                    guard let format = LogFormat(rawValue: text) else { throw fail(path + ".format", "expected jsonl, logfmt or text") }
                    spec.format = format
                }
            case .webhook:
                try webhook(fields, path, into: &spec)
            }
            return spec
        }

        func webhook(_ fields: [String: JSONValue], _ path: String, into spec: inout ActionSpec) throws(HealConfig.Error) {
            var hook = WebhookSpec()
            if let text = try string(fields["preset"], path + ".preset") {
                guard let preset = WebhookPreset(rawValue: text) else { throw fail(path + ".preset", "expected generic, slack or pagerduty") }
                hook.preset = preset
            }
            spec.url = try string(fields["url"], path + ".url")
            hook.urlFile = try string(fields["urlFile"], path + ".urlFile")
            if spec.url != nil && hook.urlFile != nil { throw fail(path + ".urlFile", "give url or urlFile, not both") }
            if spec.url == nil && hook.urlFile == nil {
                guard hook.preset == .pagerduty else { throw fail(path + ".url", "required (or urlFile, a 0600 file holding the URL)") }
                spec.url = WebhookPreset.pagerDutyURL
            }
            if let url = spec.url {
                if !(url.hasPrefix("http://") || url.hasPrefix("https://")) { throw fail(path + ".url", "must start with http:// or https://") }
                if url.split(separator: "/", maxSplits: 3).dropFirst().first?.contains("@") == true {
                    throw fail(path + ".url", "must not carry credentials: use headerFiles")
                }
            }
            if let body = fields["body"] {
                if fields["preset"] != nil { throw fail(path + ".body", "give preset or body, not both") }
                do { hook.body = try BodyTemplate(body) } catch { throw fail(path + ".body", error.description) }
            }
            if let headers = fields["headerFiles"] {
                guard case .object(let members) = headers else { throw fail(path + ".headerFiles", "expected an object of HEADER: FILE") }
                for name in members.keys.sorted() {
                    let headerPath = path + ".headerFiles." + name
                    let valid =
                        !name.isEmpty
                        && name.unicodeScalars.allSatisfy {
                            $0.isASCII && ($0.properties.isAlphabetic || "!#$%&'*+-.^_`|~0123456789".unicodeScalars.contains($0))
                        }
                    guard valid else { throw fail(headerPath, "not a valid header name") }
                    guard !["host", "content-length", "content-type", "transfer-encoding", "connection"].contains(name.lowercased()) else {
                        throw fail(headerPath, "consul-heal sets \(name) itself")
                    }
                    guard let file = try string(members[name], headerPath) else { throw fail(headerPath, "expected a file path") }
                    hook.headerFiles.append((name, file))
                }
            }
            hook.routingKeyFile = try string(fields["routingKeyFile"], path + ".routingKeyFile")
            if hook.preset == .pagerduty && hook.body == nil && hook.routingKeyFile == nil {
                throw fail(path + ".routingKeyFile", "required by the pagerduty preset: a 0600 file holding the integration's routing key")
            }
            if hook.routingKeyFile != nil && (hook.preset != .pagerduty || hook.body != nil) {
                throw fail(path + ".routingKeyFile", "used by the pagerduty preset only")
            }
            hook.caFile = try string(fields["caFile"], path + ".caFile")
            hook.requestTimeout = try duration(fields["timeout"], path + ".timeout") ?? hook.requestTimeout
            hook.retries = try int(fields["retries"], path + ".retries", 0...10) ?? hook.retries
            spec.webhook = hook
        }
    }
}

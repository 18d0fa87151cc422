import CLI
import ConsulWatch
import HandlerKit
import Platform

/// `consul-heal`: the configured dispatcher. Routes incidents to actions through the policy,
/// and explains, replays, flushes and reports.
public enum HealCommand: Command {
    public enum Subcommand: String, Sendable, CaseIterable {
        case run, serve, checkConfig = "check-config", explain, replay, flush, status
    }

    public struct Options: Sendable {
        public var subcommand: Subcommand = .run
        public var config: String?
        public var stateDirectory: String?
        public var stateless = false
        public var dryRun = false
        public var record: String?
        public var journal: String?
        public var listen: String?
        public var json = false
        public var fresh = false
        public var type: WatchType?
        public var operands: [String] = []

        public init() {}
    }

    public static let name = "consul-heal"

    public static let help = """
        Usage: consul-heal [run] --config FILE [options] [PAYLOAD...]
               consul-heal serve --config FILE --listen 127.0.0.1:PORT [options]
               consul-heal check-config --config FILE
               consul-heal explain --config FILE [--fresh] PAYLOAD...
               consul-heal replay --config FILE DIR
               consul-heal flush --config FILE
               consul-heal status --config FILE [--json]

        Reads a Consul watch payload on standard input (as a watch handler) and routes each
        failing target, through the policy, to the actions of the first matching route
        (docs/consul-heal.md, docs/config.md, docs/policy.md).

        Subcommands:
          run                     handle a delivery (the default)
          serve                   receive deliveries over HTTP from a watch with handler_type
                                  "http" (POST of the payload with X-Consul-Index), one at a time
          check-config            validate the configuration; errors name the JSON path
          explain PAYLOAD...      for each check of recorded payloads, the decision and its reason;
                                  nothing is executed and the state is not changed
          replay DIR              feed a recorded sequence (from --record) through the policy on a
                                  virtual clock with a fresh state and print the decisions
          flush                   retry the spooled actions now
          status                  open incidents, budgets, circuits, the spool, dead letters

        Options:
          --config FILE           the configuration (JSON)
          --state-dir DIR         overrides stateDir of the configuration
          --no-state              run without memory (every failing target, every time)
          --dry-run               decide, but only print what would be done
          --record DIR            also keep each payload in DIR (with its CONSUL_INDEX and time) for replay
          --journal FILE          overrides journal.file of the configuration (one JSON line per decision)
          --listen HOST:PORT      serve: the IPv4 address and port to listen on (port 0: any free)
          --type TYPE             read payloads as this watch type instead of detecting it
          --fresh                 explain: ignore the state directory, assume no history
          --json                  status: print JSON
          -h, --help              show this help
          --version               show the version

        Exit status: 0 done; 64 usage error; 65 input is not a Consul watch payload (kept as a dead
        letter); 74 I/O error (state directory, journal); 75 an incident was not handled: every
        remediation failed (spooled if it can be retried) or its escalation failed; 78 invalid
        configuration.

        """

    public static func parse(_ arguments: [String]) throws(CommandError) -> Invocation<Options> {
        var options = Options()
        var first = true
        let walk = try ArgumentScanner.walk(arguments, operand: { (word) throws(CommandError) in
            defer { first = false }
            if first, let subcommand = Subcommand(rawValue: word) {
                options.subcommand = subcommand
            } else {
                options.operands.append(word)
            }
        }) { (option, attached, scanner) throws(CommandError) -> Bool in
            first = false
            switch option {
            case "--config": options.config = try scanner.value(for: option, attached: attached)
            case "--state-dir": options.stateDirectory = try scanner.value(for: option, attached: attached)
            case "--no-state": try ArgumentScanner.flag(option, attached: attached); options.stateless = true
            case "--dry-run": try ArgumentScanner.flag(option, attached: attached); options.dryRun = true
            case "--record": options.record = try scanner.value(for: option, attached: attached)
            case "--journal": options.journal = try scanner.value(for: option, attached: attached)
            case "--listen": options.listen = try scanner.value(for: option, attached: attached)
            case "--json": try ArgumentScanner.flag(option, attached: attached); options.json = true
            case "--fresh": try ArgumentScanner.flag(option, attached: attached); options.fresh = true
            case "--type":
                options.type = try scanner.choice(WatchType.self, for: option, attached: attached)
            default: return false
            }
            return true
        }
        switch walk {
        case .help: return .help
        case .version: return .version
        case .done(let rest): options.operands += rest
        }
        guard options.config != nil else { throw .usage("--config FILE is required") }
        switch options.subcommand {
        case .explain where options.operands.isEmpty: throw .usage("explain needs one or more payload files")
        case .replay where options.operands.count != 1: throw .usage("replay needs one directory")
        case .checkConfig, .flush, .status, .serve:
            if !options.operands.isEmpty { throw .usage("\(options.subcommand.rawValue) takes no operands") }
            if options.subcommand == .serve, options.listen.flatMap(Self.listenAddress) == nil {
                throw .usage("serve needs --listen HOST:PORT with an IPv4 address, e.g. --listen 127.0.0.1:8088")
            }
        default: break
        }
        return .run(options)
    }

    /// Reads and validates the configuration; problems are exit 78 with the JSON path.
    static func loadConfig(_ path: String) throws(CommandError) -> HealConfig {
        let bytes: [UInt8]
        do { bytes = try FileIO.readFile(path, limit: 4 << 20) } catch { throw CommandError(.ioError, error.description) }
        do { return try HealConfig(bytes: bytes) } catch { throw CommandError(.configError, "\(path): \(error.description)") }
    }

    public static func run(_ options: Options, context: CommandContext) throws(CommandError) -> ExitCode {
        let config = try loadConfig(options.config!)
        let log: @Sendable (String) -> Void = { context.diagnostics("\(name): \($0)") }
        switch options.subcommand {
        case .checkConfig:
            let summary = config.routes.map { route in
                "\(route.name) (\(route.match == nil ? "default" : "match"): \(route.actions.map { $0.escalation ? "\($0.kind.rawValue)!" : $0.kind.rawValue }.joined(separator: " → ")))"
            }
            context.print("\(options.config!): OK, \(config.routes.count) route(s): " + summary.joined(separator: "; "))
            return .success
        case .explain:
            return try explain(options, config: config, context: context)
        case .replay:
            return try replay(options, config: config, context: context)
        case .status:
            return try status(options, config: config, context: context)
        case .serve:
            return try serve(options, config: config, context: context, log: log)
        case .run, .flush:
            let store = try openStore(options, config: config, context: context, log: log)
            let healer = try makeHealer(config, store: store, options: options, context: context, log: log)
            if options.subcommand == .flush {
                guard store != nil else { throw .usage("flush needs a state directory") }
                do {
                    let report = try healer.flush()
                    let others = try store!.spool().filter { $0.watch != healer.watch }.count
                    var line = "flushed watch \(healer.watch): \(report.actions.count) action(s) run, \(report.spooled) still spooled"
                    if others > 0 { line += "; \(others) entr\(others == 1 ? "y" : "ies") of other watches left for their handlers" }
                    if options.dryRun { line += " (dry run: nothing was run)" }
                    context.print(line)
                    return report.failed ? .actionFailed : .success
                } catch { throw CommandError(.ioError, "state directory: \(error.description)") }
            }
            let consulIndex = try ConsulIndex.parse(context.environment("CONSUL_INDEX"))
            var selection = SelectionOptions()
            selection.criteria = config.selection
            selection.type = options.type
            var failed = false
            for input in try Input.read(files: options.operands, stdinIsTerminal: context.stdinIsTerminal) {
                if let directory = options.record { try recordPayload(input.bytes, consulIndex: consulIndex, in: directory) }
                let chosen = try input.select(selection, consulIndex: consulIndex, deadLetters: store, log: log)
                do {
                    failed = try healer.handle(chosen, consulIndex: consulIndex, digest: PayloadDigest.fnv1a64(input.bytes)).failed || failed
                } catch { throw CommandError(.ioError, "state directory: \(error.description)") }
            }
            return failed ? .actionFailed : .success
        }
    }

    static func openStore(_ options: Options, config: HealConfig, context: CommandContext, readOnly: Bool = false, log: @escaping @Sendable (String) -> Void) throws(CommandError) -> StateStore? {
        var policy = PolicyOptions()
        policy.stateless = options.stateless
        policy.stateDirectory = options.stateDirectory ?? config.stateDirectory
        return try policy.openStore(environment: context.environment, readOnly: readOnly, warn: log)
    }

    /// Builds the routes' actions (resolving Jenkins secrets) and the healer.
    static func makeHealer(_ config: HealConfig, store: StateStore?, options: Options, context: CommandContext, log: @escaping @Sendable (String) -> Void) throws(CommandError) -> Healer {
        var clients: [String: JenkinsClient] = [:]
        var routes: [Route] = []
        for spec in config.routes {
            var route = Route(name: spec.name, match: spec.match, ladder: [], policy: spec.policy)
            for action in spec.actions {
                let built: any Action
                switch action.kind {
                case .jenkins:
                    let url = action.url!
                    if clients[url] == nil {
                        let (credentials, buildToken) = try JenkinsSecrets.resolve(
                            user: config.jenkins.user, tokenFile: config.jenkins.tokenFile, passwordFile: config.jenkins.passwordFile,
                            buildTokenFile: config.jenkins.buildTokenFile, environment: context.environment)
                        clients[url] = JenkinsClient(
                            configuration: JenkinsConfiguration(
                                baseURL: url, credentials: credentials, buildToken: buildToken, requestTimeout: config.jenkins.requestTimeout,
                                retry: RetryPolicy(attempts: config.jenkins.retries + 1)),
                            transport: SocketHTTPTransport(maximumConnections: config.concurrency, caFile: config.jenkins.caFile))
                    }
                    built = JenkinsAction(client: clients[url]!, job: action.job!, parameters: action.parameters, wait: action.wait)
                case .redeploy, .external:
                    built = CommandAction(
                        name: action.kind.rawValue, command: action.command, baseEnvironment: ProcessEnvironment.current(),
                        timeout: action.timeout ?? config.timeout)
                case .log:
                    let sink = LogSink(destination: action.file.map { .file($0, fsync: false) } ?? .standardOutput, format: action.format)
                    do { try sink.prepare() } catch { throw CommandError(.ioError, "log action: \(error.description)") }
                    built = LogAction(sink: sink)
                }
                if action.kind == .log {
                    route.recorders.append(built)
                } else if action.escalation {
                    route.escalation.append(built)
                } else {
                    route.ladder.append(built)
                }
            }
            routes.append(route)
        }
        var journal: LogSink? = nil
        if let file = options.journal ?? config.journal?.file {
            let sink = LogSink(destination: .file(file, fsync: false), format: config.journal?.format ?? .jsonl)
            do { try sink.prepare() } catch { throw CommandError(.ioError, "journal: \(error.description)") }
            journal = sink
        }
        return Healer(
            routing: RoutingTable(routes: routes), groupBy: config.groupBy, watch: config.watch ?? name, blastRadius: config.blastRadius,
            store: store, journal: journal, concurrency: config.concurrency, timeout: config.timeout, dryRun: options.dryRun, log: log)
    }

    /// The policy engine of a configuration, without actions (explain and replay execute nothing).
    static func engine(_ config: HealConfig) -> PolicyEngine {
        let routes = config.routes
        return PolicyEngine(
            settings: { incident in routes.first { $0.match?.matches(incident) ?? true }?.policy ?? PolicySettings() },
            blastRadius: config.blastRadius, claimant: "explain")
    }

    static func delivery(_ selection: Selection, config: HealConfig, consulIndex: UInt64?, time: Double) -> (Delivery, [Incident]) {
        Healer.delivery(selection, groupBy: config.groupBy, watch: config.watch ?? name, consulIndex: consulIndex, time: time)
    }

    // MARK: serve

    static func listenAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : (host, port)
    }

    /// The `handler_type: "http"` door: every POST is one delivery, handled like stdin, answered
    /// 200 when every incident was handled, 400 for a payload that cannot be read (kept as a dead
    /// letter), 500 when an action failed (spooled when it can be retried). Consul logs non-2xx
    /// answers, with their body, at ERROR.
    static func serve(_ options: Options, config: HealConfig, context: CommandContext, log: @escaping @Sendable (String) -> Void) throws(CommandError) -> ExitCode {
        let (host, port) = listenAddress(options.listen!)!
        let listener: HTTPListener
        do { listener = try HTTPListener(host: host, port: port) } catch { throw CommandError(.ioError, error.description) }
        let store = try openStore(options, config: config, context: context, log: log)
        let healer = try makeHealer(config, store: store, options: options, context: context, log: log)
        var selection = SelectionOptions()
        selection.criteria = config.selection
        selection.type = options.type
        context.print("listening on http://\(host):\(listener.port)/")
        while true {
            let next: (HTTPListener.Request, (Int, String, [UInt8]) -> Void)?
            do { next = try listener.next(maximumBody: FileIO.maximumInputSize, timeout: 30) } catch { throw CommandError(.ioError, error.description) }
            guard let (request, respond) = next else { continue }
            func answer(_ status: Int, _ reason: String, _ fill: (inout JSONWriter.ObjectWriter) -> Void) {
                var writer = JSONWriter()
                writer.object(fill)
                writer.append(raw: "\n")
                respond(status, reason, writer.bytes)
            }
            guard request.method == "POST" || request.method == "PUT" else {
                answer(405, "Method Not Allowed") { $0.field("error", "a watch delivers with POST (or PUT)") }
                continue
            }
            let consulIndex: UInt64?
            do { consulIndex = try ConsulIndex.parse(request.header("X-Consul-Index")) } catch {
                answer(400, "Bad Request") { $0.field("error", "X-Consul-Index must be an unsigned integer") }
                continue
            }
            let input = Input(name: "http", bytes: request.body)
            do throws(CommandError) {
                if let directory = options.record { try recordPayload(input.bytes, consulIndex: consulIndex, in: directory) }
                let chosen = try input.select(selection, consulIndex: consulIndex, deadLetters: store, log: log)
                let report: Healer.Report
                do { report = try healer.handle(chosen, consulIndex: consulIndex, digest: PayloadDigest.fnv1a64(input.bytes)) } catch {
                    throw CommandError(.ioError, "state directory: \(error.description)")
                }
                answer(report.failed ? 500 : 200, report.failed ? "Internal Server Error" : "OK") { object in
                    object.field("consulIndex", consulIndex)
                    object.field("selected", chosen.checks.count)
                    object.field("decisions", report.decisions.count)
                    object.field("actions", report.actions.count)
                    object.field("unhandled", report.unresolved)
                    object.field("spooled", report.spooled)
                }
            } catch {
                log(error.message)
                answer(error.exitCode == .dataError ? 400 : 500, error.exitCode == .dataError ? "Bad Request" : "Internal Server Error") {
                    $0.field("error", error.message)
                }
            }
        }
    }

    // MARK: explain

    static func explain(_ options: Options, config: HealConfig, context: CommandContext) throws(CommandError) -> ExitCode {
        var state = HealState()
        if !options.fresh, !options.stateless, let directory = options.stateDirectory ?? config.stateDirectory ?? StateStore.defaultDirectory(environment: context.environment),
            FileIO.exists(directory + "/state.json")
        {
            do {
                state = try StateStore(directory: directory, readOnly: true, warn: { _ in }).snapshot()
            } catch {
                throw CommandError(.ioError, "\(error.description) (explain --fresh ignores the state)")
            }
        }
        let watch = config.watch ?? name
        if state.watches[watch] == nil {
            // Explain as a running handler would decide, not as a first (baseline) delivery.
            state.watches[watch] = .init(lastIndex: nil, deliveries: 1, lastDelivery: 0)
        }
        let engine = engine(config)
        let now = Time.wallSeconds()
        var rows: [[String]] = [["PAYLOAD", "NODE", "CHECK", "STATUS", "DECISION", "REASON"]]
        for path in options.operands {
            let label = String(path.split(separator: "/").last ?? Substring(path))
            let bytes: [UInt8]
            do { bytes = try FileIO.readFile(path) } catch { throw CommandError(.ioError, error.description) }
            let payload: WatchPayload
            do { payload = try WatchPayload.decode(bytes, as: options.type) } catch { throw CommandError(.dataError, "\(path): \(error.description)") }
            let selection: Selection
            do { selection = try Selection.select(from: payload, criteria: config.selection) } catch {
                rows.append([label, "-", "-", "-", "ignored", error.description])
                continue
            }
            let (delivery, nodeFailures) = delivery(selection, config: config, consulIndex: nil, time: now)
            var scratch = state  // each payload is explained against the same starting state
            let decisions = engine.decide(delivery, state: &scratch).decisions
            var byIncident: [String: Decision] = [:]
            for decision in decisions { byIncident[decision.id] = decision }
            let nodeFailureIDs = Set(nodeFailures.map(\.id))
            var allChecks: [(check: HealthCheck, serviceName: String?)] = []
            switch payload {
            case .checks(let checks): allChecks = checks.map { ($0, $0.serviceName) }
            case .service(let entries): allChecks = entries.flatMap { entry in entry.checks.map { ($0, entry.service.service) } }
            default: break
            }
            var shown: Set<[ExactName]> = []  // byte for byte, as Consul compares names
            for (check, _) in allChecks {
                if !shown.insert([ExactName(check.node), ExactName(check.checkID)]).inserted { continue }
                var decision = "not selected"
                var reason = "status \(check.status) (selecting \(config.selection.statuses.isEmpty ? "any" : config.selection.statuses.map(\.rawValue).sorted().joined(separator: ",")))"
                if let maintenance = check.maintenance {
                    decision = "maintenance"
                    switch maintenance {
                    case .node(let node): reason = "maintenance check: silences node \(node)"
                    case .service(let node, let id): reason = "maintenance check: silences service \(id) on \(node)"
                    }
                } else if let selected = selection.checks.first(where: { ExactName($0.node) == ExactName(check.node) && ExactName($0.checkID) == ExactName(check.checkID) }) {
                    let id = Incident.id(of: selected, groupBy: config.groupBy)
                    if !nodeFailureIDs.contains(id), let incident = Incident.group([selected], by: config.groupBy).first,
                        !config.routes.contains(where: { $0.match?.matches(incident) ?? true })
                    {
                        decision = "no-route"
                        reason = "no route matches it; nothing is done"
                    } else if nodeFailureIDs.contains(id) {
                        decision = "node-failure"
                        reason = "the node is failing; its services' checks are stale, nothing is redeployed"
                    } else if let found = byIncident[id] {
                        decision = found.name
                        reason = found.reason
                        if case .act = found.verdict, let route = config.routes.first(where: { $0.match?.matches(found.incident!) ?? true }) {
                            reason += " via route \(route.name): " + route.actions.filter { !$0.escalation && $0.kind != .log }.map(\.kind.rawValue).joined(separator: " → ")
                        }
                    }
                    if decision == "silenced" { reason = String(reason.dropFirst("silenced: ".count)) }
                } else if let silenced = selection.silenced.first(where: { ExactName($0.check.node) == ExactName(check.node) && ExactName($0.check.checkID) == ExactName(check.checkID) }) {
                    decision = "silenced"
                    reason = Healer.describe(silenced)
                }
                rows.append([label, check.node, check.checkID, check.status.rawValue, decision, reason])
            }
            if allChecks.isEmpty { rows.append([label, "-", "-", "-", "nothing", "no checks in this payload (\(payload.type))"]) }
        }
        context.output(Array(table(rows).utf8))
        return .success
    }

    // MARK: replay

    static func replay(_ options: Options, config: HealConfig, context: CommandContext) throws(CommandError) -> ExitCode {
        let directory = options.operands[0]
        let names: [String]
        do { names = try AtomicFile.listDirectory(directory).filter { $0.hasSuffix(".json") }.sorted() } catch {
            throw CommandError(.ioError, error.description)
        }
        guard !names.isEmpty else { throw CommandError(.ioError, "\(directory) holds no recorded payloads (*.json)") }
        var state = HealState()
        let engine = engine(config)
        var virtualTime = 0.0
        for (number, file) in names.enumerated() {
            let recorded = RecordedName(file)
            let time = recorded.time ?? (virtualTime + 60)
            virtualTime = time
            let bytes: [UInt8]
            do { bytes = try FileIO.readFile(directory + "/" + file) } catch { throw CommandError(.ioError, error.description) }
            let header = "#\(number + 1) \(file) index \(recorded.index.map(String.init) ?? "-") at \(Timestamp.iso8601(time))"
            let selection: Selection
            do { selection = try Selection.select(from: bytes, criteria: config.selection, type: options.type, consulIndex: recorded.index) } catch {
                context.print(DisplayText.escape("\(header): unreadable: \(error.description)"))
                continue
            }
            let (delivery, nodeFailures) = delivery(selection, config: config, consulIndex: recorded.index, time: time)
            let result = engine.decide(delivery, state: &state)
            context.print("\(header): \(selection.checks.count) selected\(result.baseline ? " (baseline)" : "")")
            for failure in nodeFailures { context.print(DisplayText.escape("  \(failure.target): node-failure: not remediated")) }
            if let tripped = result.breakerTripped { context.print(DisplayText.escape("  ALERT blast radius: \(tripped.joined(separator: ", "))")) }
            for decision in result.decisions { context.print(DisplayText.escape("  \(decision.target): \(decision.reason)")) }
        }
        return .success
    }

    /// Names written by `--record`: `<millis>-<index>.json`.
    struct RecordedName {
        var time: Double?
        var index: UInt64?
        init(_ file: String) {
            let parts = file.dropLast(5).split(separator: "-")
            if parts.count >= 2, let millis = Double(parts[0]) { time = millis / 1000 }
            if parts.count >= 2 { index = UInt64(parts[1]) }
        }
    }

    static func recordPayload(_ bytes: ByteBuffer, consulIndex: UInt64?, in directory: String) throws(CommandError) {
        do {
            try AtomicFile.createDirectory(directory, mode: 0o700)
            let millis = Int(Time.wallSeconds() * 1000)
            try AtomicFile.write(bytes.array, to: "\(directory)/\(millis)-\(consulIndex.map(String.init) ?? "none").json", mode: 0o600)
        } catch {
            throw CommandError(.ioError, "--record: \(error.description)")
        }
    }

    // MARK: status

    static func status(_ options: Options, config: HealConfig, context: CommandContext) throws(CommandError) -> ExitCode {
        guard let store = try openStore(options, config: config, context: context, readOnly: true, log: { _ in }) else {
            throw .usage("status needs a state directory")
        }
        let state: HealState
        let spool: [StateStore.SpoolEntry]
        do {
            state = try store.snapshot()
            spool = try store.spool()
        } catch { throw CommandError(.ioError, error.description) }
        let now = Time.wallSeconds()
        if options.json {
            context.output(state.encoded())
            return .success
        }
        var text = "state: \(store.directory)\n"
        for (name, watch) in state.watches.sorted(by: { $0.key < $1.key }) {
            text += "watch \(DisplayText.escape(name)): \(watch.deliveries) deliveries, last index \(watch.lastIndex.map(String.init) ?? "-"), last at \(Timestamp.iso8601(watch.lastDelivery))\n"
        }
        if let breaker = state.breaker {
            text += "BLAST RADIUS BREAKER TRIPPED at \(Timestamp.iso8601(breaker.trippedAt)): \(DisplayText.escape(breaker.targets.joined(separator: ", "))); remediation suspended\n"
        }
        var rows: [[String]] = [["TARGET", "STATE", "SINCE", "REMEDIATIONS", "CIRCUIT", "LAST DECISION"]]
        for record in state.targets.values.sorted(by: { $0.id < $1.id }) {
            let phase = record.failing ? (record.baseline ? "failing (baseline)" : record.acted ? "failing (acted)" : "failing") : "passing"
            let since = record.failing ? record.failingSince : record.passingSince
            let circuit = record.circuitOpenSince.map { "open since \(Timestamp.iso8601($0))" } ?? "closed"
            rows.append([record.target, phase, since.map { age(now - $0) } ?? "-", String(record.remediations.count), circuit, record.lastDecision])
        }
        text += rows.count > 1 ? table(rows) : "no targets known yet\n"
        text += "spool: \(spool.count) action(s) waiting\n"
        for entry in spool {
            text += DisplayText.escape("  \(entry.incidentID) (route \(entry.route)): \(entry.attempts) attempt(s), last error: \(entry.lastError)") + "\n"
        }
        let dead = store.deadLetters()
        text += "dead letters: \(dead.count)\(dead.isEmpty ? "" : " in \(store.deadLetterDirectory)")\n"
        context.output(Array(text.utf8))
        return .success
    }

    static func age(_ seconds: Double) -> String {
        let s = Int(max(0, seconds))
        if s < 120 { return "\(s)s ago" }
        if s < 7200 { return "\(s / 60)m ago" }
        return "\(s / 3600)h ago"
    }

    /// Columns aligned; cells come from payloads, so control characters are escaped.
    static func table(_ rawRows: [[String]]) -> String {
        let rows = rawRows.map { $0.map { DisplayText.escape($0) } }
        var widths = [Int](repeating: 0, count: rows.map(\.count).max() ?? 0)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }
}

import CLI
import ConsulWatch
import HandlerKit
import Platform

/// `consul-heal`: the configured dispatcher. Routes incidents to actions through the policy,
/// and explains, replays, flushes and reports.
public enum HealCommand: Command {
    public enum Subcommand: String, Sendable, CaseIterable {
        case run, serve
        case checkConfig = "check-config"
        case explain, replay, flush, status
        case silence, unsilence, reset, pause, resume
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
        /// serve: the largest request body accepted (bytes).
        public var maximumBody = HTTPMessage.defaultMaximumBodySize
        public var json = false
        public var fresh = false
        public var type: WatchType?
        public var operands: [String] = []
        /// silence, pause: how long (seconds).
        public var duration: Double?
        /// silence, unsilence, reset, pause, resume: why (journaled).
        public var reason: String?
        /// replay: seconds between deliveries, instead of the files' times.
        public var interval: Double?

        public init() {}
    }

    public static let name = "consul-heal"

    public static let help = """
        Usage: consul-heal [run] --config FILE [options] [PAYLOAD...]
               consul-heal serve --config FILE --listen 127.0.0.1:PORT [options]
               consul-heal check-config --config FILE
               consul-heal explain --config FILE [--fresh] PAYLOAD...
               consul-heal replay --config FILE [--interval DURATION] DIR
               consul-heal flush --config FILE
               consul-heal status --config FILE [--json]
               consul-heal silence --config FILE TARGET --for DURATION [--reason TEXT]
               consul-heal unsilence|reset --config FILE TARGET [--reason TEXT]
               consul-heal pause --config FILE [--for DURATION] [--reason TEXT]
               consul-heal resume --config FILE [--reason TEXT]

        Reads a Consul watch payload on standard input (as a watch handler) and routes each
        failing target, through the policy, to the actions of the first matching route
        (docs/consul-heal.md, docs/config.md, docs/policy.md).

        Subcommands:
          run                     handle a delivery (the default)
          serve                   receive deliveries over HTTP from a watch with handler_type
                                  "http" (POST of the payload with X-Consul-Index): reads up to 64
                                  requests at once, 10 s each, and decides them one at a time
          check-config            validate the configuration; errors name the JSON path
          explain PAYLOAD...      for each check of recorded payloads, the decision and its reason;
                                  nothing is executed and the state is not changed
          replay DIR              feed a recorded sequence (from --record) through the policy on a
                                  virtual clock with a fresh state and print the decisions; other
                                  files are taken in name order at their modification times
          flush                   retry the spooled actions now
          status                  open incidents, budgets, circuits, the spool, dead letters
          silence TARGET          do not act on TARGET's failures for --for DURATION; TARGET is a
                                  service name (books) or an incident ID (service:books,
                                  node:web-02, instance:web-02/books-1)
          unsilence TARGET        lift a silence (a failure seen under it is still left alone)
          reset TARGET            close TARGET's open circuit and clear its remediation budget
          pause, resume           silence every target of this watch (for --for DURATION, or until
                                  resume), and lift that (docs/operations.md, "Silences")

        Options:
          --config FILE           the configuration (JSON)
          --state-dir DIR         overrides stateDir of the configuration
          --no-state              run without memory (every failing target, every time)
          --dry-run               decide, but only print what would be done
          --record DIR            also keep each payload in DIR (with its CONSUL_INDEX and time) for replay
          --journal FILE          overrides journal.file of the configuration (one JSON line per decision)
          --listen HOST:PORT      serve: the IPv4 address and port to listen on (port 0: any free)
          --max-body SIZE         serve: answer 413 to a larger body, unread (default 64M; K, M, G
                                  suffixes; at most 1G); requests read at once hold at most
                                  4 times SIZE together (503 past it)
          --type TYPE             read payloads as this watch type instead of detecting it
          --fresh                 explain: ignore the state directory, assume no history
          --json                  status: print JSON
          --for DURATION          silence, pause: how long (30m, 2h, 1d; at most 366d)
          --interval DURATION     replay: deliveries this far apart, instead of the files' times
          --reason TEXT           silence, unsilence, reset, pause, resume: why, for the journal
          -h, --help              show this help
          --version               show the version

        Exit status: 0 done; 64 usage error; 65 input is not a Consul watch payload (kept as a dead
        letter); 74 I/O error (state directory, journal); 75 an incident was not handled: every
        remediation failed (spooled if it can be retried) or its escalation failed; 78 invalid
        configuration.

        Examples:
          consul-heal check-config --config heal.json            validate the configuration
          consul-heal explain --config heal.json payload.json    what a run would decide, and why
          consul-heal status --config heal.json --json           incidents, circuits, spool, dead letters
          consul-heal silence --config heal.json books --for 2h  leave books alone for two hours

        Example watch (agent config):
          {"watches": [{"type": "checks", "state": "critical",
                        "args": ["consul-heal", "--config", "/etc/consul-handlers/consul-heal.json"]}]}

        """

    public static func parse(_ arguments: [String]) throws(CommandError) -> Invocation<Options> {
        var options = Options()
        var first = true
        var given: [String] = []  // the options written, to refuse those the subcommand ignores
        let walk = try ArgumentScanner.walk(
            arguments,
            operand: { (word) throws(CommandError) in
                defer { first = false }
                if first, let subcommand = Subcommand(rawValue: word) {
                    options.subcommand = subcommand
                } else if first, !word.contains("/"), !word.contains(".") {
                    // A payload file is named with a path or an extension; a bare word is a mistyped subcommand.
                    throw .usage(unknownSubcommand(word))
                } else {
                    options.operands.append(word)
                }
            }
        ) { (option, attached, scanner) throws(CommandError) -> Bool in
            given.append(option)
            switch option {
            case "--config": options.config = try scanner.value(for: option, attached: attached)
            case "--state-dir": options.stateDirectory = try scanner.value(for: option, attached: attached)
            case "--no-state":
                try ArgumentScanner.flag(option, attached: attached)
                options.stateless = true
            case "--dry-run":
                try ArgumentScanner.flag(option, attached: attached)
                options.dryRun = true
            case "--record": options.record = try scanner.value(for: option, attached: attached)
            case "--journal": options.journal = try scanner.value(for: option, attached: attached)
            case "--listen": options.listen = try scanner.value(for: option, attached: attached)
            case "--max-body":
                let text = try scanner.value(for: option, attached: attached)
                guard let size = Self.byteSize(text), size > 0, size <= FileIO.maximumInputSize else {
                    throw .usage("--max-body needs a size from 1 to 1G, such as 64M (got '\(text)')")
                }
                options.maximumBody = size
            case "--json":
                try ArgumentScanner.flag(option, attached: attached)
                options.json = true
            case "--fresh":
                try ArgumentScanner.flag(option, attached: attached)
                options.fresh = true
            case "--for": options.duration = try scanner.duration(for: option, attached: attached)
            case "--reason": options.reason = try scanner.value(for: option, attached: attached)
            case "--interval":
                let seconds = try scanner.duration(for: option, attached: attached)
                guard seconds > 0 else { throw .usage("--interval needs a duration above 0, such as 30s or 1m") }
                options.interval = seconds
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
        if let accepted = acceptedOptions(options.subcommand), let ignored = given.first(where: { !accepted.contains($0) }) {
            throw .usage("\(options.subcommand.rawValue) does not take \(ignored)")
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
        try checkOperatorOptions(options)  // silence, unsilence, reset, pause, resume
        return .run(options)
    }

    /// The options each subcommand uses; any other is refused rather than silently ignored.
    /// nil: the subcommand accepts every option.
    static func acceptedOptions(_ subcommand: Subcommand) -> Set<String>? {
        let delivery: Set<String> = ["--config", "--state-dir", "--no-state", "--dry-run", "--record", "--journal", "--type"]
        switch subcommand {
        case .run: return delivery
        case .serve: return delivery.union(["--listen", "--max-body"])
        case .checkConfig: return ["--config"]
        case .explain: return ["--config", "--state-dir", "--no-state", "--fresh", "--type"]
        case .replay: return ["--config", "--type", "--interval"]
        case .flush: return ["--config", "--state-dir", "--journal", "--dry-run"]
        case .status: return ["--config", "--state-dir", "--json"]
        default: return nil
        }
    }

    /// `unknown subcommand 'chek-config' (did you mean check-config?)`: the nearest name by
    /// edit distance, when one is near enough to be what was meant.
    static func unknownSubcommand(_ word: String) -> String {
        let names = Subcommand.allCases.map(\.rawValue)
        let nearest = names.map { ($0, editDistance(Array(word.lowercased()), Array($0))) }.min { $0.1 < $1.1 }
        if let (name, distance) = nearest, distance <= max(2, name.count / 3) {
            return "unknown subcommand '\(word)' (did you mean \(name)?); a payload file needs a path such as ./\(word)"
        }
        return "unknown subcommand '\(word)': the subcommands are \(names.joined(separator: ", ")); a payload file needs a path such as ./\(word)"
    }

    /// Levenshtein distance between two strings of characters.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var previous = row[0]
            row[0] = i + 1
            for (j, y) in b.enumerated() {
                let substitution = previous + (x == y ? 0 : 1)
                previous = row[j + 1]
                row[j + 1] = min(substitution, row[j] + 1, row[j + 1] + 1)
            }
        }
        return row[b.count]
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
                "\(route.name) (\(route.match == nil ? "default" : "match"): \(route.actions.map { action in action.on.map { "\(action.kind.rawValue)[\($0.map(\.rawValue).joined(separator: ","))]" } ?? (action.escalation ? "\(action.kind.rawValue)!" : action.kind.rawValue) }.joined(separator: " → ")))"
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
        case .flush:
            return try flush(options, config: config, context: context, log: log)
        case .run:
            return try deliver(options, config: config, context: context, log: log)
        case .silence, .unsilence, .reset, .pause, .resume:
            return try operate(options, config: config, context: context, log: log)
        }
    }
}

import CLI
import ConsulWatch
import HandlerKit
import Platform

/// Options every action executable shares: input, selection, grouping, concurrency, deadline,
/// dry run, and the policy that gives a short-lived handler memory.
public struct ActionOptions: Sendable {
    public var selection = SelectionOptions()
    public var groupBy: GroupBy = .service
    public var concurrency = 4
    /// The whole run must end within this many seconds: Consul waits for its handler, and a
    /// hung handler freezes the watch.
    /// nil: the command's default (``ActionRun/defaultTimeout``).
    public var timeout: Double?
    public var dryRun = false
    public var files: [String] = []
    public var policy = PolicyOptions()
    /// `--node-failures`: a down node's services are redeployed (default), or one node incident.
    public var nodeFailures: NodeFailureMode = .services
    /// `--consul-addr`: the agent, over `CONSUL_HTTP_ADDR`.
    public var consulAddress: String?
    /// `--flush`: no payload; retry the spool and decide a delivery kept while the shared state
    /// was unavailable (as `consul-heal flush`, for a timer).
    public var flush = false

    public init() {}

    /// The help text of these options for `command`, whose run ends by `defaultTimeout` (words:
    /// `120s`): each command's help states its own defaults, never another command's.
    public static func help(command: String, defaultTimeout: String) -> String {
        """
        Input and dispatch:
          --group-by WHAT         one incident per service (default), instance or node
          --concurrency N         at most N incidents handled at once (default 4, max 64)
          --timeout DURATION      the whole run ends within this; Consul waits for its handler,
                                  so a hung handler would freeze the watch
                                  (default \(defaultTimeout))
          --dry-run               print what would be done, do nothing
          --node-failures WHAT    a down node (serfHealth critical): services (default) acts on
                                  each service that ran there (from the payload, else the
                                  agent's catalog); node reports one node incident
          --consul-addr ADDR      the Consul agent (default $CONSUL_HTTP_ADDR, else
                                  127.0.0.1:8500); the token comes from CONSUL_HTTP_TOKEN(_FILE)
          --flush                 read no payload: retry this watch's spooled actions, and
                                  decide the delivery kept while the --consul-state was
                                  unavailable (run it from a timer; stdin is not read)

        \(PolicyOptions.help(command: command))
        """
    }

    /// Consumes `option` if it is one of these (or a selection or policy option).
    public mutating func consume(_ option: String, attached: String?, from scanner: inout ArgumentScanner) throws(CommandError) -> Bool {
        if try selection.consume(option, attached: attached, from: &scanner) { return true }
        if try policy.consume(option, attached: attached, from: &scanner) { return true }
        switch option {
        case "--group-by":
            groupBy = try scanner.choice(GroupBy.self, for: option, attached: attached)
        case "--concurrency":
            concurrency = try scanner.integer(for: option, attached: attached, in: 1...64)
        case "--timeout":
            let seconds = try scanner.duration(for: option, attached: attached)
            if seconds <= 0 { throw .usage("--timeout must be more than 0") }
            timeout = seconds
        case "--dry-run":
            try ArgumentScanner.flag(option, attached: attached)
            dryRun = true
        case "--node-failures":
            nodeFailures = try scanner.choice(NodeFailureMode.self, for: option, attached: attached)
        case "--consul-addr":
            consulAddress = try scanner.value(for: option, attached: attached)
        case "--flush":
            try ArgumentScanner.flag(option, attached: attached)
            flush = true
        default:
            return false
        }
        return true
    }
}

/// Runs one action over the incidents of each input through the policy: read → select → group
/// → decide → act → record, with an audit line per incident on stderr. The exit status is 0
/// when nothing failed, 75 otherwise.
public struct ActionRun: Sendable {
    public var options: ActionOptions
    public var action: any Action

    /// The run's deadline when `--timeout` is not given.
    public var defaultTimeout: Double

    public init(options: ActionOptions, action: any Action, defaultTimeout: Double = 120) {
        self.options = options
        self.action = action
        self.defaultTimeout = defaultTimeout
    }

    public func run(commandName: String, context: CommandContext) throws(CommandError) -> ExitCode {
        if options.policy.claimLease != nil && options.policy.consulStatePrefix == nil {
            throw .usage("--claim-lease applies only with --consul-state")
        }
        let consulIndex = try ConsulIndex.parse(context.environment("CONSUL_INDEX"))
        let log: @Sendable (String) -> Void = { context.diagnostics("\(commandName): \($0)") }
        let store = try options.policy.openStore(environment: context.environment, readOnly: options.dryRun, mayBeMissing: options.dryRun, warn: log)
        let journal = try options.policy.openJournal()
        let route = Route(name: "default", match: nil, ladder: [action], policy: options.policy.settings)
        var healer = Healer(
            routing: RoutingTable(routes: [route]), groupBy: options.groupBy, watch: options.policy.watch ?? commandName,
            blastRadius: options.policy.blastRadius, store: store, journal: journal, concurrency: options.concurrency,
            timeout: options.timeout ?? defaultTimeout, dryRun: options.dryRun, log: log)
        let agent = try ConsulWiring.agent(
            overrides: ConsulOverrides(), flagAddress: options.consulAddress, environment: context.environment, explicitExit: .usage)
        ConsulWiring.wire(&healer, agent: agent, nodeFailures: options.nodeFailures)
        if let prefix = options.policy.consulStatePrefix, let store {
            healer.policyState = try ConsulWiring.stateBackend(
                prefix: prefix, watch: healer.watch, store: store, flagAddress: options.consulAddress, environment: context.environment)
            healer.claimLease = options.policy.claimLease
        }
        if options.flush {
            guard let store else { throw .usage("--flush needs a state directory (it retries the state's spool); drop --no-state") }
            guard options.files.isEmpty else { throw .usage("--flush reads no payload: drop the file arguments") }
            return try flush(healer, store: store, commandName: commandName, context: context, log: log)
        }
        let inputs = try Input.read(files: options.files, stdinIsTerminal: context.stdinIsTerminal)
        var failed = false
        for input in inputs {
            let selection = try input.select(options.selection, consulIndex: consulIndex, deadLetters: store, log: log)
            let report: Healer.Report
            do { report = try healer.handle(selection, consulIndex: consulIndex, digest: PayloadDigest.fnv1a64(input.bytes)) } catch {
                throw CommandError(.ioError, "state directory: \(error.description)")
            }
            if let error = report.journalError { throw CommandError(.ioError, "journal: \(error.description)") }
            if let reason = report.stateUnavailable, let store {
                log(SharedStateText.unavailable(reason, store: store, flush: "\(commandName) --flush"))
                failed = true
            }
            failed = failed || report.failed
        }
        return failed ? .actionFailed : .success
    }

    /// `--flush`: the spool and a kept delivery, without a payload; one line on stdout.
    func flush(_ healer: Healer, store: StateStore, commandName: String, context: CommandContext, log: @Sendable (String) -> Void)
        throws(CommandError) -> ExitCode
    {
        let report: Healer.Report
        do { report = try healer.flush() } catch { throw CommandError(.ioError, "state directory: \(error.description)") }
        if let error = report.journalError { throw CommandError(.ioError, "journal: \(error.description)") }
        if let reason = report.stateUnavailable {
            log(SharedStateText.unavailable(reason, store: store, flush: "\(commandName) --flush"))
            return .actionFailed
        }
        context.print(SharedStateText.flushed(watch: healer.watch, report: report, dryRun: options.dryRun))
        return report.failed ? .actionFailed : .success
    }
}

/// Secrets: from the environment or from files readable by the owner alone, never from argv.
public enum Secrets {
    /// Reads a secret file through ``SecretFile`` (a regular file of mode 0600 or 0400, no
    /// symbolic link, opened without blocking). One trailing newline is removed.
    public static func readFile(_ path: String, option: String) throws(CommandError) -> String {
        let bytes: [UInt8]
        do { bytes = try SecretFile.read(path) } catch {
            if case .mode = error { throw CommandError(.usage, "\(option) \(path) \(error.description) (chmod 600 \(path))") }
            throw CommandError(error.isRefusal ? .usage : .ioError, "\(option) \(path) \(error.description)")
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        if text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw CommandError(.usage, "\(option) \(path) is empty") }
        return text
    }
}

/// Jenkins credentials from the environment and secret files.
public enum JenkinsSecrets {
    /// `JENKINS_USER` (or `user`) with `JENKINS_API_TOKEN` or `JENKINS_PASSWORD` (or the files),
    /// and `JENKINS_BUILD_TOKEN` (or its file). A file wins over the environment.
    /// Where the user and files came from: what a refusal names, and its exit status.
    public enum Origin: Sendable {
        /// consul-jenkins' flags and environment (refusals are usage errors, 64).
        case commandLine
        /// The `jenkins` object of a consul-heal config (refusals are configuration errors, 78).
        case config
    }

    /// A user without an API token or password cannot authenticate: Jenkins answers 403 to
    /// every trigger. Refused before anything runs, naming where the secret is looked for.
    public static func resolve(
        user: String?, tokenFile: String?, passwordFile: String?, buildTokenFile: String?, environment: (String) -> String?,
        origin: Origin = .commandLine
    ) throws(CommandError) -> (JenkinsCredentials, String?) {
        let user = user ?? environment("JENKINS_USER").flatMap { $0.isEmpty ? nil : $0 }
        var token = environment("JENKINS_API_TOKEN").flatMap { $0.isEmpty ? nil : $0 }
        var password = environment("JENKINS_PASSWORD").flatMap { $0.isEmpty ? nil : $0 }
        var buildToken = environment("JENKINS_BUILD_TOKEN").flatMap { $0.isEmpty ? nil : $0 }
        if let file = tokenFile { token = try Secrets.readFile(file, option: "token file") }
        if let file = passwordFile { password = try Secrets.readFile(file, option: "password file") }
        if let file = buildTokenFile { buildToken = try Secrets.readFile(file, option: "build token file") }
        if token != nil && password != nil {
            throw .usage("both an API token and a password are set: give one (an API token is recommended)")
        }
        let credentials: JenkinsCredentials
        if let secret = token ?? password {
            guard let user else { throw .usage("a Jenkins \(token != nil ? "API token" : "password") is set but no user: set JENKINS_USER or --user") }
            credentials = token != nil ? .apiToken(user: user, token: secret) : .password(user: user, password: secret)
        } else if let user {
            let files = origin == .config ? "\"tokenFile\" or \"passwordFile\" in the config's jenkins object" : "--token-file or --password-file"
            throw CommandError(
                origin == .config ? .configError : .usage,
                "Jenkins user \(user) has no API token or password: set JENKINS_API_TOKEN (or JENKINS_PASSWORD) in the handler's environment, or \(files); for anonymous access, set no user (JENKINS_USER unset)"
            )
        } else {
            credentials = .anonymous
        }
        return (credentials, buildToken)
    }
}

/// The HTTP proxies of the environment (``ProxySettings``), or a refusal at start-up: a proxy
/// variable that cannot be used would otherwise fail every request later, at 3 a.m.
public enum ProxyEnvironment {
    public static func settings(_ environment: (String) -> String?, exit: ExitCode) throws(CommandError) -> ProxySettings {
        do { return try ProxySettings(environment: environment) } catch { throw CommandError(exit, error.description) }
    }
}

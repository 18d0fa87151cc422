import CLI
import ConsulWatch
import HandlerKit
import Platform

/// From a configuration to a working healer: the state directory, the routes' actions with their
/// secrets, and the journal. The one place that turns `HealConfig` into running parts.
extension HealCommand {
    static func openStore(_ options: Options, config: HealConfig, context: CommandContext, readOnly: Bool = false, log: @escaping @Sendable (String) -> Void)
        throws(CommandError) -> StateStore?
    {
        var policy = PolicyOptions()
        policy.stateless = options.stateless
        policy.stateDirectory = options.stateDirectory ?? config.stateDirectory
        // A dry run writes nothing: not the state directory, not its lock.
        return try policy.openStore(
            environment: context.environment, readOnly: readOnly || options.dryRun, mayBeMissing: !readOnly && options.dryRun, warn: log)
    }

    /// Builds the routes' actions (resolving Jenkins secrets) and the healer.
    static func makeHealer(_ config: HealConfig, store: StateStore?, options: Options, context: CommandContext, log: @escaping @Sendable (String) -> Void)
        throws(CommandError) -> Healer
    {
        let routing = try routingTable(config, context: context)
        var healer = Healer(
            routing: routing, groupBy: config.groupBy, watch: watchName(config), blastRadius: config.blastRadius,
            store: store, journal: try journal(config, options: options), concurrency: config.concurrency, timeout: config.timeout,
            dryRun: options.dryRun, log: log)
        healer.countsMetrics = config.metrics?.file != nil
        ConsulWiring.wire(&healer, agent: try consulAgent(config, context: context), nodeFailures: config.nodeFailures)
        if let spec = config.consulState, let store {
            healer.policyState = try consulState(spec, config: config, store: store, context: context)
            healer.claimLease = spec.claimLease
            healer.actLocallyWhenUnavailable = spec.actLocally
        }
        return healer
    }

    /// The `consul` object of the configuration, over the CONSUL_* environment.
    static func consulOverrides(_ config: HealConfig) -> ConsulOverrides {
        ConsulOverrides(address: config.consul.address, tokenFile: config.consul.tokenFile, caFile: config.consul.caFile, timeout: config.consul.timeout)
    }

    /// The Consul agent of the configuration (`consul` over the CONSUL_* environment).
    static func consulAgent(_ config: HealConfig, context: CommandContext) throws(CommandError) -> ConsulAgent {
        try ConsulWiring.agent(overrides: consulOverrides(config), flagAddress: nil, environment: context.environment, explicitExit: .configError)
    }

    /// The handler's own TTL check, when the configuration asks for one.
    static func selfCheck(_ config: HealConfig, context: CommandContext) throws(CommandError) -> SelfCheck? {
        guard let spec = config.selfCheck else { return nil }
        return SelfCheck(id: spec.id, name: spec.name, ttl: spec.ttl, reporter: try consulAgent(config, context: context))
    }

    /// The Consul KV backend of `consulState` (docs/cluster.md), on the agent of the `consul`
    /// object and the environment. Nothing is sent until the first delivery.
    static func consulState(_ spec: HealConfig.ConsulStateSpec, config: HealConfig, store: StateStore, context: CommandContext) throws(CommandError)
        -> ConsulStateBackend
    {
        let settings: ConsulSettings
        do { settings = try ConsulSettings.resolve(environment: context.environment, config: consulOverrides(config), flagAddress: nil) } catch {
            throw CommandError(.configError, "consulState: \(error.description)")
        }
        return ConsulStateBackend(client: ConsulClient.live(settings), prefix: spec.prefix, watch: watchName(config), local: store)
    }

    /// The watch's name in the state and the journal.
    static func watchName(_ config: HealConfig) -> String { config.watch ?? name }

    /// The configuration's routes with real actions. One Jenkins client per URL, so that the
    /// connection bound holds across routes.
    /// A secret file the configuration names that cannot be used (wrong mode, a link, a FIFO)
    /// is a configuration error (78), as the same file given by flag is a usage error (64).
    static func routingTable(_ config: HealConfig, context: CommandContext) throws(CommandError) -> RoutingTable {
        do { return try buildRoutingTable(config, context: context) } catch  where error.exitCode == .usage {
            throw CommandError(.configError, error.message)
        }
    }

    private static func buildRoutingTable(_ config: HealConfig, context: CommandContext) throws(CommandError) -> RoutingTable {
        var clients: [String: JenkinsClient] = [:]
        var webhooks = WebhookWiring()
        // Read only when an action speaks HTTP: a config of commands alone ignores the variables.
        var proxies: ProxySettings?
        return try RoutingTable(config: config) { (action) throws(CommandError) -> any Action in
            if proxies == nil, action.kind == .jenkins || action.kind == .webhook {
                proxies = try ProxyEnvironment.settings(context.environment, exit: .configError)
                webhooks.proxies = proxies!
            }
            switch action.kind {
            case .jenkins:
                let url = action.url!
                if clients[url] == nil {
                    let (credentials, buildToken) = try JenkinsSecrets.resolve(
                        user: config.jenkins.user, tokenFile: config.jenkins.tokenFile, passwordFile: config.jenkins.passwordFile,
                        buildTokenFile: config.jenkins.buildTokenFile, environment: context.environment, origin: .config)
                    clients[url] = JenkinsClient(
                        configuration: JenkinsConfiguration(
                            baseURL: url, credentials: credentials, buildToken: buildToken, requestTimeout: config.jenkins.requestTimeout,
                            retry: RetryPolicy(attempts: config.jenkins.retries + 1)),
                        transport: SocketHTTPTransport(
                            maximumConnections: config.concurrency, caFile: config.jenkins.caFile, caHint: "\"caFile\" in the config's jenkins object",
                            proxies: proxies ?? .none))
                }
                return JenkinsAction(client: clients[url]!, job: action.job!, parameters: action.parameters, wait: action.wait)
            case .redeploy, .external:
                return CommandAction(
                    name: action.kind.rawValue, command: action.command, baseEnvironment: ProcessEnvironment.current(),
                    timeout: action.timeout ?? config.timeout)
            case .log:
                let sink = LogSink(destination: action.file.map { .file($0, fsync: false) } ?? .standardOutput, format: action.format)
                do throws(SystemError) { try sink.prepare() } catch { throw CommandError(.ioError, "log action: \(error.description)") }
                return LogAction(sink: sink)
            case .webhook:
                return try webhooks.action(action, config: config)
            }
        }
    }

    /// The journal (`--journal` over `journal.file`), opened and checked before anything is done.
    static func journal(_ config: HealConfig, options: Options) throws(CommandError) -> LogSink? {
        guard let file = options.journal ?? config.journal?.file else { return nil }
        let sink = LogSink(destination: .file(file, fsync: false), format: config.journal?.format ?? .jsonl)
        do { try sink.prepare() } catch { throw CommandError(.ioError, "journal: \(error.description)") }
        return sink
    }

    /// The policy engine of a configuration, with planned actions only: explain and replay
    /// decide exactly as a run would, and execute nothing.
    static func plannedEngine(_ config: HealConfig) -> (engine: PolicyEngine, routing: RoutingTable) {
        let routing = RoutingTable.planned(config)
        return (PolicyEngine(routing: routing, blastRadius: config.blastRadius, claimant: "explain"), routing)
    }

    static func delivery(_ selection: Selection, config: HealConfig, consulIndex: UInt64?, time: Double, down: DownNodes = DownNodes()) -> (
        Delivery, [Incident]
    ) {
        Healer.delivery(
            selection, groupBy: config.groupBy, watch: watchName(config), consulIndex: consulIndex, time: time, nodeFailures: config.nodeFailures, down: down)
    }
}

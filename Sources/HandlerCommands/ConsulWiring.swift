import CLI
import ConsulWatch
import HandlerKit
import Platform

/// The local Consul agent for the healer: where it is and how to authenticate follow the
/// `consul` CLI (`CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN_FILE`, …), overridden by the config's
/// `consul` object and `--consul-addr`.
enum ConsulWiring {
    /// The agent. Settings that cannot be resolved are an error up front when they were given
    /// explicitly (config or flag, exit 78 / 64); from the environment alone they only fail the
    /// lookups that need the agent, so a run that never asks it is not stopped.
    static func agent(
        overrides: ConsulOverrides, flagAddress: String?, environment: @escaping (String) -> String?, explicitExit: ExitCode
    ) throws(CommandError) -> ConsulAgent {
        do {
            let settings = try ConsulSettings.resolve(environment: environment, config: overrides, flagAddress: flagAddress)
            return ConsulAgent(client: .live(settings))
        } catch {
            let explicit = flagAddress != nil || overrides.address != nil || overrides.tokenFile != nil || overrides.caFile != nil
            if explicit { throw CommandError(explicitExit, "consul: \(error.description)") }
            return ConsulAgent(problem: error.description)
        }
    }

    /// The Consul KV policy state of `--consul-state` (docs/cluster.md) on the agent of
    /// `--consul-addr` and the CONSUL_* environment. Settings that cannot be resolved are a
    /// usage error: shared state was asked for and nothing may be acted on without it.
    static func stateBackend(
        prefix: String, watch: String, store: StateStore, flagAddress: String?, environment: @escaping (String) -> String?
    ) throws(CommandError) -> ConsulStateBackend {
        let settings: ConsulSettings
        do { settings = try ConsulSettings.resolve(environment: environment, config: ConsulOverrides(), flagAddress: flagAddress) } catch {
            throw CommandError(.usage, "--consul-state: \(error.description)")
        }
        return ConsulStateBackend(client: ConsulClient.live(settings), prefix: prefix, watch: watch, local: store)
    }

    /// Points the healer at the agent for down nodes' services and `{kv:…}` values.
    static func wire(_ healer: inout Healer, agent: ConsulAgent, nodeFailures: NodeFailureMode) {
        healer.nodeFailures = nodeFailures
        healer.nodeServices = agent
        healer.kv = agent
    }
}

extension Selection {
    /// Without the handler's own TTL check: it reports on the handler and is never a target.
    func excludingCheck(_ id: String?) -> Selection {
        guard let id else { return self }
        var copy = self
        copy.checks.removeAll { $0.checkID == id }
        copy.silenced.removeAll { $0.check.checkID == id }
        return copy
    }
}

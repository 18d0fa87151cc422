import ConsulWatch
import FoundationEssentials
import Platform

/// Runs a command once per incident, with no shell anywhere: the redeploy action
/// (`consul-redeploy -- COMMAND ARGS…`) and the external action (a program that reads the
/// incident JSON on stdin).
///
/// Placeholders are substituted inside each argv element separately, so a service named
/// `web; rm -rf /` or `$(id)` arrives as one literal argument. The incident is also given as
/// environment variables (`CONSUL_SERVICE`, `CONSUL_SERVICE_ID`, `CONSUL_NODE`,
/// `CONSUL_CHECK_ID`, `CONSUL_STATUS`, `CONSUL_INDEX`, `CONSUL_INCIDENT`, and `CONSUL_ALERT` for
/// escalations) and as JSON on stdin.
///
/// The handler's own secrets are not passed on: the variables in ``withheldEnvironment`` are
/// removed from the environment a command inherits (docs/actions.md).
public struct CommandAction: Action {
    /// Secrets of the handler that its children never inherit (the one documented list).
    public static let withheldEnvironment: [String] = [
        "JENKINS_API_TOKEN", "JENKINS_PASSWORD", "JENKINS_BUILD_TOKEN",
        "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_AUTH",
    ]

    public let name: String
    /// argv templates; the first is the program (a path, or a name looked up in PATH).
    public let command: [Template]
    public let runner: any ProcessRunner
    /// The environment the command inherits (the handler's own, as Consul's handlers do),
    /// without ``withheldEnvironment``.
    public let baseEnvironment: [String: String]
    public let timeout: Double?
    public let killGrace: Double
    public let outputLimit: Int
    /// Exit statuses that mean "failed, but worth trying again later" (75, EX_TEMPFAIL, by default).
    public let retryableExitCodes: Set<Int32>

    public init(
        name: String, command: [Template], runner: any ProcessRunner = SubprocessRunner(), baseEnvironment: [String: String],
        timeout: Double?, killGrace: Double = 5, outputLimit: Int = 64 * 1024, retryableExitCodes: Set<Int32> = [75]
    ) {
        precondition(!command.isEmpty, "a command action needs a program")
        self.name = name
        self.command = command
        self.runner = runner
        self.baseEnvironment = baseEnvironment.filter { !Self.withheldEnvironment.contains($0.key) }
        self.timeout = timeout
        self.killGrace = killGrace
        self.outputLimit = outputLimit
        self.retryableExitCodes = retryableExitCodes
    }

    /// The argv for an incident.
    public func arguments(for incident: Incident, kv: KVValues? = nil) throws(TemplateError) -> [String] {
        let values = incident.placeholders
        var argv: [String] = []
        for word in command { argv.append(try word.render(values, kv: kv)) }
        return argv
    }

    /// The environment for an incident: the base environment plus the incident's variables.
    public func environment(for incident: Incident) -> [String: String] {
        var environment = baseEnvironment
        // The agent's token is the handler's, never its children's (docs/consul.md).
        environment["CONSUL_HTTP_TOKEN"] = nil
        environment["CONSUL_SERVICE"] = incident.service ?? ""
        environment["CONSUL_SERVICE_ID"] = incident.serviceID ?? ""
        environment["CONSUL_NODE"] = incident.node
        environment["CONSUL_CHECK_ID"] = incident.checks[0].checkID
        environment["CONSUL_STATUS"] = incident.status.rawValue
        environment["CONSUL_INCIDENT"] = incident.id
        environment["CONSUL_CAUSE"] = incident.cause.rawValue
        if let index = incident.consulIndex { environment["CONSUL_INDEX"] = String(index) }
        if let alert = incident.alert { environment["CONSUL_ALERT"] = alert }
        return environment
    }

    public func perform(_ incident: Incident, context: ActionContext) -> Outcome {
        let argv: [String]
        do { argv = try arguments(for: incident, kv: context.kv) } catch {
            return .failed(reason: error.description, retryable: error.isRetryable)
        }
        if context.dryRun {
            return .skipped(reason: "would run " + argv.map(Self.quoteForDisplay).joined(separator: " "))
        }
        let remaining = context.remaining
        guard remaining > 0 else { return .failed(reason: "deadline reached before \(argv[0]) could start", retryable: true) }
        var stdin = incident.json
        stdin.append(0x0A)
        let request = SpawnRequest(
            executable: argv[0], arguments: Array(argv.dropFirst()), environment: environment(for: incident),
            standardInput: stdin, timeout: min(timeout ?? remaining, remaining), killGrace: killGrace, outputLimit: outputLimit)
        let result: SpawnResult
        do {
            result = try runner.run(request)
        } catch {
            return .failed(reason: error.description, retryable: false)
        }
        var detail = "\(Self.quoteForDisplay(argv[0])): \(result.summary)"
        if result.termination == .exited(0) && !result.timedOut {
            return .done(detail: detail)
        }
        if let line = result.lastOutputLine() { detail += ": \(line)" }
        let retryable: Bool
        switch result.termination {
        case .exited(let code): retryable = result.timedOut || retryableExitCodes.contains(code)
        case .signaled: retryable = result.timedOut
        }
        return .failed(reason: detail, retryable: retryable)
    }

    /// Shell-style quoting for showing a command to people (never used to run one).
    public static func quoteForDisplay(_ word: String) -> String {
        let safe = word.unicodeScalars.allSatisfy { scalar in
            (scalar.value >= 0x30 && scalar.value <= 0x39) || (scalar.value >= 0x41 && scalar.value <= 0x5A)
                || (scalar.value >= 0x61 && scalar.value <= 0x7A) || "-_./=:,@%+".unicodeScalars.contains(scalar)
        }
        if safe && !word.isEmpty { return word }
        return "'" + word.replacing("'", with: "'\\''") + "'"
    }
}

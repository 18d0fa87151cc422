import CLI
import HandlerKit
import Platform

/// `consul-redeploy`: runs a command once per failing service, without a shell.
public enum RedeployCommand: Command {
    public struct Options: Sendable {
        public var actions = ActionOptions()
        public var command: [String] = []
        public var commandTimeout: Double = 300
        public var killGrace: Double = 5
        public var outputLimit = 64 * 1024

        public init() {}
    }

    public static let name = "consul-redeploy"

    public static let help = """
        Usage: consul-redeploy [options] [FILE...] -- COMMAND [ARG...]

        Reads a Consul watch payload on standard input (or from each FILE), selects the failing
        checks, and runs COMMAND once per failing service. No shell is involved: placeholders
        are replaced inside each argument on its own, so a service named `web; rm -rf /` is one
        literal argument. The command also gets the incident as JSON on its standard input and
        as CONSUL_SERVICE, CONSUL_SERVICE_ID, CONSUL_NODE, CONSUL_CHECK_ID, CONSUL_STATUS,
        CONSUL_INDEX and CONSUL_INCIDENT. Its output is captured (not passed to Consul) and
        reported; exit status 75 from it means "failed, try again later".

        Command:
          --command-timeout DUR   kill the command's whole process group after this (default 300s):
                                  SIGTERM, then SIGKILL after the grace period
          --kill-grace DUR        time between SIGTERM and SIGKILL (default 5s)
          --output-limit BYTES    output kept per stream for the report (default 65536)
        Placeholders: {service} {serviceID} {node} {checkID} {checkName} {status} {target}
                       {incident} {consulIndex} {cause}; {kv:KEY} and {kv:KEY|DEFAULT} read
                       Consul KV through the agent (KEY may hold placeholders)

        \(ActionOptions.help(command: "consul-redeploy", defaultTimeout: "--command-timeout + --kill-grace + 15s"))

        \(SelectionOptions.help)

          -h, --help              show this help
          --version               show the version

        Exit status: 0 every command exited 0 (or nothing to do); 64 usage error; 65 input is not a
        Consul watch payload; 74 I/O error; 75 a command failed, timed out or could not start.

        Examples:
          consul-redeploy -- systemctl restart {service}                restart each failing service
          consul-redeploy --dry-run --no-state -- redeploy {service}    what would run
          consul-redeploy --budget 2/1h -- nomad job restart {service}  at most twice an hour

        Example watch (agent config):
          {"watches": [{"type": "checks", "state": "critical",
                        "args": ["consul-redeploy", "--", "systemctl", "restart", "{service}"]}]}

        """

    public static func parse(_ arguments: [String]) throws(CommandError) -> Invocation<Options> {
        var options = Options()
        let walk = try ArgumentScanner.walk(arguments, operand: { (word) throws(CommandError) in options.actions.files.append(word) }) {
            (option, attached, scanner) throws(CommandError) -> Bool in
            if try options.actions.consume(option, attached: attached, from: &scanner) { return true }
            switch option {
            case "--command-timeout": options.commandTimeout = try scanner.duration(for: option, attached: attached)
            case "--kill-grace": options.killGrace = try scanner.duration(for: option, attached: attached)
            case "--output-limit": options.outputLimit = try scanner.integer(for: option, attached: attached, in: 0...(64 << 20))
            default: return false
            }
            return true
        }
        switch walk {
        case .help: return .help
        case .version: return .version
        case .done(let rest): options.command = rest
        }
        guard let program = options.command.first, !program.isEmpty else {
            throw .usage("no command: put it after --, e.g. consul-redeploy -- /usr/local/bin/redeploy {service}")
        }
        for word in options.command {
            do { _ = try Template(word) } catch { throw .usage("command: \(error.description)") }
        }
        return .run(options)
    }

    public static func run(_ options: Options, context: CommandContext) throws(CommandError) -> ExitCode {
        let action = CommandAction(
            name: "redeploy", command: options.command.map { try! Template($0) }, baseEnvironment: ProcessEnvironment.current(),
            timeout: options.commandTimeout, killGrace: options.killGrace, outputLimit: options.outputLimit)
        // Unless --timeout says otherwise, the run's deadline leaves room for the command's own
        // timeout and its kill grace.
        return try ActionRun(options: options.actions, action: action, defaultTimeout: options.commandTimeout + options.killGrace + 15)
            .run(commandName: name, context: context)
    }
}

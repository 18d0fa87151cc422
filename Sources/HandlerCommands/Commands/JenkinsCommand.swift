import CLI
import HandlerKit

/// `consul-jenkins`: triggers a Jenkins job for each failing service.
public enum JenkinsCommand: Command {
    public struct Options: Sendable {
        public var actions = ActionOptions()
        public var url: String?
        public var user: String?
        public var job = "{service}"
        public var parameters: [(name: String, value: String)] = []
        public var wait = false
        public var tokenFile: String?
        public var passwordFile: String?
        public var buildTokenFile: String?
        public var requestTimeout: Double = 10
        public var retries = 3
        public var pollInterval: Double = 1
        public var caFile: String?

        public init() {}
    }

    public static let name = "consul-jenkins"

    public static let help = """
        Usage: consul-jenkins [options] [FILE...]

        Reads a Consul watch payload on standard input (or from each FILE), selects the failing
        checks, and triggers a Jenkins job for each failing service. Jenkins' answer is checked:
        201 queued, 303 merged into an item already queued; anything else is explained.

        Jenkins:
          --url URL               Jenkins' base URL (or JENKINS_URL), e.g. https://ci.example.com/jenkins
          --job TEMPLATE          the job (default {service}); '/' separates folders: deploy/{service}
          --param NAME=TEMPLATE   a build parameter (repeatable); with any, buildWithParameters is used
          --wait                  follow the queue item to the build and the build to its result;
                                  only SUCCESS counts as done
          --request-timeout DUR   the longest one request may take (default 10s)
          --retries N             retries on connection errors, timeouts, 5xx and 429 (default 3)
          --poll-interval DUR     first interval between polls with --wait (default 1s)
          --ca-file FILE          trust these CA certificates (PEM) for https instead of the
                                  system's (certificates and host names are always verified)
        Proxies: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (or lower case), as curl reads
                 them; https goes through CONNECT; loopback hosts are always direct
        Placeholders: {service} {serviceID} {node} {checkID} {checkName} {status} {target}
                       {incident} {consulIndex} {cause}; {kv:KEY} and {kv:KEY|DEFAULT} read
                       Consul KV through the agent (KEY may hold placeholders)

        Credentials (never on the command line):
          JENKINS_USER with JENKINS_API_TOKEN   recommended: no CSRF crumb needed
          JENKINS_USER with JENKINS_PASSWORD    CSRF crumb fetched, session cookie kept
          JENKINS_BUILD_TOKEN                   the job's "Trigger builds remotely" token
          --user NAME             instead of JENKINS_USER
          --token-file FILE       API token from a file of mode 0600 or 0400
          --password-file FILE    password from such a file
          --build-token-file FILE build token from such a file

        \(ActionOptions.help(command: "consul-jenkins", defaultTimeout: "120s"))

        \(SelectionOptions.help)

          -h, --help              show this help
          --version               show the version

        Exit status: 0 every trigger succeeded (or nothing to do); 64 usage error; 65 input is not
        a Consul watch payload; 74 I/O error; 75 a trigger failed (after its retries; spooled for
        the next delivery when it can be retried).

        Examples:
          consul-jenkins --dry-run --no-state < payload.json        what would be triggered, as whom
          consul-jenkins --job deploy/{service} --wait              each build, to its result
          consul-jenkins --url https://ci.example --ca-file ca.pem  a private CA

        Example watch (agent config; the JENKINS_* variables in the agent's environment):
          {"watches": [{"type": "checks", "state": "critical",
                        "args": ["consul-jenkins", "--job", "deploy/{service}"]}]}

        """

    public static func parse(_ arguments: [String]) throws(CommandError) -> Invocation<Options> {
        var options = Options()
        let walk = try ArgumentScanner.walk(arguments, operand: { (word) throws(CommandError) in options.actions.files.append(word) }) {
            (option, attached, scanner) throws(CommandError) -> Bool in
            if try options.actions.consume(option, attached: attached, from: &scanner) { return true }
            switch option {
            case "--url": options.url = try scanner.value(for: option, attached: attached)
            case "--user": options.user = try scanner.value(for: option, attached: attached)
            case "--job": options.job = try scanner.value(for: option, attached: attached)
            case "--param":
                let text = try scanner.value(for: option, attached: attached)
                guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                    throw .usage("--param takes NAME=TEMPLATE, not '\(text)'")
                }
                options.parameters.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
            case "--wait":
                try ArgumentScanner.flag(option, attached: attached)
                options.wait = true
            case "--token-file": options.tokenFile = try scanner.value(for: option, attached: attached)
            case "--password-file": options.passwordFile = try scanner.value(for: option, attached: attached)
            case "--build-token-file": options.buildTokenFile = try scanner.value(for: option, attached: attached)
            case "--request-timeout": options.requestTimeout = try scanner.duration(for: option, attached: attached)
            case "--retries": options.retries = try scanner.integer(for: option, attached: attached, in: 0...10)
            case "--poll-interval": options.pollInterval = try scanner.duration(for: option, attached: attached)
            case "--ca-file": options.caFile = try scanner.value(for: option, attached: attached)
            case "--token", "--password", "--api-token", "--build-token":
                throw .usage(
                    "\(option) is not accepted: secrets on the command line show up in `ps` and shell history; use the JENKINS_* environment variables or a 0600 file (see --help)"
                )
            default: return false
            }
            return true
        }
        switch walk {
        case .help: return .help
        case .version: return .version
        case .done(let rest): options.actions.files += rest
        }
        // Templates are checked now, not when a service fails at 3 a.m.
        do { _ = try JenkinsJobTemplate(options.job) } catch { throw .usage("--job: \(error.description)") }
        for parameter in options.parameters {
            do { _ = try Template(parameter.value) } catch { throw .usage("--param \(parameter.name): \(error.description)") }
        }
        return .run(options)
    }

    static func credentials(_ options: Options, environment: (String) -> String?) throws(CommandError) -> (JenkinsCredentials, String?) {
        try JenkinsSecrets.resolve(
            user: options.user, tokenFile: options.tokenFile, passwordFile: options.passwordFile,
            buildTokenFile: options.buildTokenFile, environment: environment)
    }

    public static func run(_ options: Options, context: CommandContext) throws(CommandError) -> ExitCode {
        guard let url = options.url ?? context.environment("JENKINS_URL"), !url.isEmpty else {
            throw .usage("no Jenkins URL: give --url or set JENKINS_URL")
        }
        do { try JenkinsURL.validate(url) } catch { throw .usage("the Jenkins URL \(options.url != nil ? "(--url)" : "(JENKINS_URL)") \(error.description)") }
        let (credentials, buildToken) = try credentials(options, environment: context.environment)
        let configuration = JenkinsConfiguration(
            baseURL: url, credentials: credentials, buildToken: buildToken, requestTimeout: options.requestTimeout,
            retry: RetryPolicy(attempts: options.retries + 1), pollInterval: options.pollInterval)
        let proxies = try ProxyEnvironment.settings(context.environment, exit: .usage)
        let client = JenkinsClient(
            configuration: configuration,
            transport: SocketHTTPTransport(
                maximumConnections: options.actions.concurrency, caFile: options.caFile, caHint: "--ca-file FILE", proxies: proxies))
        let job = try! JenkinsJobTemplate(options.job)  // validated by parse
        let parameters = options.parameters.isEmpty ? nil : options.parameters.map { (name: $0.name, value: try! Template($0.value)) }
        let action = JenkinsAction(client: client, job: job, parameters: parameters, wait: options.wait)
        return try ActionRun(options: options.actions, action: action).run(commandName: name, context: context)
    }
}

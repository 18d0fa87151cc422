import ConsulWatch

/// `consul-critical`: reads a watch payload and prints the checks a handler would act on.
/// Steps read → decode → select of the pipeline, nothing else: no state, no actions.
public enum CriticalCommand: Command {
    public struct Options: Sendable, Equatable {
        public var format: CheckFormat = .jsonl
        public var count = false
        public var exitStatus = false
        public var selection = SelectionOptions()
        public var files: [String] = []

        public init() {}
    }

    public static let name = "consul-critical"

    public static let help = """
        Usage: consul-critical [options] [FILE...]

        Reads a Consul watch payload (a `checks` or `service` watch) from standard input, or
        from each FILE, and prints the checks selected: by default the critical ones, with
        maintenance mode honoured. CONSUL_INDEX, when set, is copied into each record.

        Output:
          --format FORMAT         jsonl (default; one JSON object per check), json (one array),
                                  names (unique service names, one per line), table (for people)
          --count                 print only the number of selected checks
          --exit-status           exit 1 when any check is selected, 0 when none (like grep)

        \(SelectionOptions.help)

          -h, --help              show this help
          --version               show the version

        Exit status: 0 done; 1 checks selected (--exit-status only); 64 usage error;
        65 input is not a Consul watch payload; 74 I/O error.

        Example watch (agent config):
          {"watches": [{"type": "checks", "state": "critical",
                        "args": ["consul-critical", "--format", "names"]}]}

        """

    public static func parse(_ arguments: [String]) throws(CommandError) -> Invocation<Options> {
        var options = Options()
        let walk = try ArgumentScanner.walk(arguments, operand: { (word) throws(CommandError) in options.files.append(word) }) {
            (option, attached, scanner) throws(CommandError) -> Bool in
            if try options.selection.consume(option, attached: attached, from: &scanner) { return true }
            switch option {
            case "--format":
                options.format = try scanner.choice(CheckFormat.self, for: option, attached: attached)
            case "--count":
                try ArgumentScanner.flag(option, attached: attached)
                options.count = true
            case "--exit-status":
                try ArgumentScanner.flag(option, attached: attached)
                options.exitStatus = true
            default:
                return false
            }
            return true
        }
        switch walk {
        case .help: return .help
        case .version: return .version
        case .done(let rest): options.files += rest
        }
        return .run(options)
    }

    public static func run(_ options: Options, context: CommandContext) throws(CommandError) -> ExitCode {
        let consulIndex = try ConsulIndex.parse(context.environment("CONSUL_INDEX"))
        let inputs = try Input.read(files: options.files, stdinIsTerminal: context.stdinIsTerminal)
        var selectedCount = 0
        var output: [UInt8] = []
        var checks: [SelectedCheck] = []
        var names: [String] = []
        var seenNames = NameSet()  // byte for byte: "café" NFC and NFD are two services
        for input in inputs {
            let selection = try input.select(options.selection, consulIndex: consulIndex, tracksPopulation: false)
            selectedCount += selection.checks.count
            checks += selection.checks
            for name in selection.serviceNames where seenNames.insert(name) { names.append(name) }
        }
        if options.count {
            output = Array("\(selectedCount)\n".utf8)
        } else if !(options.format == .table && checks.isEmpty) {
            output = options.format.render(checks, serviceNames: names)
        }
        context.output(output)
        if options.exitStatus && selectedCount > 0 { return .selected }
        return .success
    }
}

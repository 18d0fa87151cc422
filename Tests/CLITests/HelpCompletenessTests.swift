import CLI
import Foundation
import HandlerCommands
import Testing

/// Every option a command accepts is in its `--help`, and every option its `--help` shows is
/// accepted: the options are read from the parsers' own `case "--…"` labels, so an option added
/// to a parser and forgotten in the help fails here.
@Suite struct HelpCompletenessTests {
    struct Command: Sendable, CustomStringConvertible {
        var name: String
        var help: String
        /// The source files whose `case "--…"` labels this command's parser reaches.
        var sources: [String]
        var parse: @Sendable ([String]) -> String?

        var description: String { name }
    }

    /// The parse error for `arguments`, or nil when they parse.
    static func parseError<C: CLI.Command>(_ command: C.Type) -> @Sendable ([String]) -> String? {
        { arguments in
            do throws(CommandError) {
                _ = try command.parse(arguments)
                return nil
            } catch { return error.message }
        }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = ["Sources/HandlerCommands/ActionOptions.swift", "Sources/HandlerCommands/PolicyOptions.swift", "Sources/CLI/SelectionOptions.swift"]

    static let commands: [Command] = [
        Command(
            name: "consul-critical", help: CriticalCommand.help,
            sources: ["Sources/CLI/Commands/CriticalCommand.swift", "Sources/CLI/SelectionOptions.swift"], parse: parseError(CriticalCommand.self)),
        Command(
            name: "consul-jenkins", help: JenkinsCommand.help,
            sources: ["Sources/HandlerCommands/Commands/JenkinsCommand.swift"] + shared, parse: parseError(JenkinsCommand.self)),
        Command(
            name: "consul-redeploy", help: RedeployCommand.help,
            sources: ["Sources/HandlerCommands/Commands/RedeployCommand.swift"] + shared, parse: parseError(RedeployCommand.self)),
        Command(
            name: "consul-log", help: LogCommand.help,
            sources: ["Sources/HandlerCommands/Commands/LogCommand.swift"] + shared, parse: parseError(LogCommand.self)),
        Command(
            name: "consul-heal", help: HealCommand.help,
            sources: ["Sources/HandlerCommands/Commands/Heal/HealCommand.swift"], parse: parseError(HealCommand.self)),
    ]

    /// `--name` words in `text` that follow `case "` or `, "` in a switch label.
    static func caseLabels(in text: String) -> Set<String> {
        let pattern = try! NSRegularExpression(pattern: #"case\s+((?:"--[a-z0-9-]+"\s*,?\s*)+):"#)
        var options: Set<String> = []
        for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            let labels = String(text[Range(match.range(at: 1), in: text)!])
            for word in labels.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\"" }) where word.hasPrefix("--") {
                options.insert(String(word))
            }
        }
        return options
    }

    /// The `--name` words that open an option line of a help text (`  --name VALUE  what`,
    /// `  -h, --help  what`); continuation lines are indented further and do not count.
    static func helpOptions(in help: String) -> Set<String> {
        var options: Set<String> = []
        for line in help.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            guard (2...6).contains(line.count - trimmed.count), trimmed.hasPrefix("-") else { continue }
            for word in trimmed.split(separator: " ").prefix(2) where word.hasPrefix("--") {
                options.insert(String(word.prefix { $0 != "," && $0 != "=" }))
            }
        }
        return options
    }

    /// Whether `command` accepts `option` (with or without a value); a refusal with a reason
    /// (a secret on the command line) counts as handled, "unknown option" does not.
    static func accepts(_ command: Command, _ option: String) -> Bool {
        for arguments in [[option], [option, "1"], [option, "x"], ["run", option, "x"]] {
            guard let message = command.parse(arguments) else { return true }
            if !message.contains("unknown option") { return true }
        }
        return false
    }

    @Test(arguments: commands)
    func everyOptionTheParserAcceptsIsInTheHelp(_ command: Command) throws {
        var labels: Set<String> = []
        for source in command.sources {
            labels.formUnion(Self.caseLabels(in: try String(contentsOf: Self.root.appendingPathComponent(source), encoding: .utf8)))
        }
        #expect(!labels.isEmpty, "no option labels found in \(command.sources)")
        for option in labels.sorted() where Self.accepts(command, option) {
            // Refused on purpose (secrets never on the command line): the help says so in prose.
            if let message = command.parse([option, "x"]), message.contains("is not accepted") { continue }
            #expect(command.help.contains(option), "\(command.name) accepts \(option) but its --help does not mention it")
        }
    }

    @Test(arguments: commands)
    func everyOptionTheHelpShowsIsAccepted(_ command: Command) {
        let shown = Self.helpOptions(in: command.help)
        #expect(shown.contains("--help"))
        for option in shown.sorted() {
            #expect(Self.accepts(command, option), "\(command.name) --help shows \(option) but the parser does not know it")
        }
    }
}

import ConsulWatch
import Platform

/// An executable of the toolkit: a pure `parse` from arguments to a value, and a `run`.
/// Each executable's `main` is one line: `SomeCommand.main()`.
public protocol Command {
    associatedtype Options: Sendable
    /// The command's name, as typed (`consul-critical`).
    static var name: String { get }
    /// The full `--help` text.
    static var help: String { get }
    /// Parses arguments (without the program name) into what to do. Pure: tests call it.
    static func parse(_ arguments: [String]) throws(CommandError) -> Invocation<Options>
    /// Does the work; output goes to `output`, diagnostics to `diagnostics`.
    static func run(_ options: Options, context: CommandContext) throws(CommandError) -> ExitCode
}

/// Where a command writes, and what it knows of its environment: injected so tests can run
/// commands in process.
public struct CommandContext: Sendable {
    /// Writes bytes to standard output.
    public var output: @Sendable ([UInt8]) -> Void
    /// Writes a line to standard error (the line ending is added).
    public var diagnostics: @Sendable (String) -> Void
    /// Reads an environment variable.
    public var environment: @Sendable (String) -> String?
    /// True when standard input is a terminal.
    public var stdinIsTerminal: Bool

    public init(
        output: @escaping @Sendable ([UInt8]) -> Void,
        diagnostics: @escaping @Sendable (String) -> Void,
        environment: @escaping @Sendable (String) -> String?,
        stdinIsTerminal: Bool
    ) {
        self.output = output
        self.diagnostics = diagnostics
        self.environment = environment
        self.stdinIsTerminal = stdinIsTerminal
    }

    /// The real process: stdout, stderr, the environment.
    public static let process = CommandContext(
        output: { bytes in
            // A reader that went away (`| head`) is not worth an error of ours.
            try? FileIO.writeStandardOutput(bytes)
        },
        // The one place diagnostic lines are written: control characters from payloads are
        // escaped here, so a line is always one line and never drives the terminal.
        diagnostics: { FileIO.writeStandardError(DisplayText.escape($0) + "\n") },
        environment: { Environment.value($0) },
        stdinIsTerminal: Terminal.isTerminal(0)
    )

    public func print(_ text: String) { output(Array((text + "\n").utf8)) }
}

extension Command {
    /// Parses the process's arguments, runs, and exits with the documented status. Every error
    /// becomes one line on stderr: `<name>: <message>`.
    public static func main(arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        Signals.ignoreBrokenPipe()
        Signals.ignoreFileSizeLimit()
        let context = CommandContext.process
        exitProcess(execute(arguments, context: context).rawValue)
    }

    /// Runs a command line in `context` and returns its exit status (what `main` exits with).
    public static func execute(_ arguments: [String], context: CommandContext) -> ExitCode {
        do {
            switch try parse(arguments) {
            case .help:
                context.output(Array(help.utf8))
                return .success
            case .version:
                context.print("\(name) \(toolkitVersion)")
                return .success
            case .run(let options):
                return try run(options, context: context)
            }
        } catch {
            context.diagnostics("\(name): \(error.message)")
            if error.exitCode == .usage {
                context.diagnostics("Try '\(name) --help' for more information.")
            }
            return error.exitCode
        }
    }
}

import CLI
import ConsulWatch
import HandlerKit
import Platform

/// `consul-log`: one structured record per selected check and one summary per delivery.
public enum LogCommand: Command {
    public struct Options: Sendable {
        public var selection = SelectionOptions()
        public var file: String?
        public var format: LogFormat = .jsonl
        public var fsync = false
        public var groupBy: GroupBy = .service
        public var files: [String] = []

        public init() {}
    }

    public static let name = "consul-log"

    public static let help = """
        Usage: consul-log [options] [FILE...]

        Reads a Consul watch payload on standard input (or from each FILE) and writes one record
        per selected check (event "check") and one summary per delivery (event "delivery": time,
        CONSUL_INDEX, counts, a digest of the payload).

        Output:
          --file PATH             append to PATH (created 0640; one write per record, so concurrent
                                  handlers never interleave lines); default: standard output
          --format FORMAT         jsonl (default), logfmt or text
          --fsync                 flush each record to disk before going on
          --group-by WHAT         how the audit lines on stderr group checks: service (default),
                                  instance or node

        \(SelectionOptions.help)

          -h, --help              show this help
          --version               show the version

        Exit status: 0 done; 64 usage error; 65 input is not a Consul watch payload (a "rejected"
        record is still written); 74 the log cannot be written.

        Examples:
          consul-log < payload.json                                a JSON line per check, then a summary
          consul-log --format text --status any a.json b.json      recorded payloads, for people
          consul-log --file /var/log/consul-handlers/checks.jsonl  append to a log file

        Example watch (agent config):
          {"watches": [{"type": "checks", "args": ["consul-log", "--status", "any",
                        "--file", "/var/log/consul-handlers/checks.jsonl"]}]}

        """

    public static func parse(_ arguments: [String]) throws(CommandError) -> Invocation<Options> {
        var options = Options()
        let walk = try ArgumentScanner.walk(arguments, operand: { (word) throws(CommandError) in options.files.append(word) }) {
            (option, attached, scanner) throws(CommandError) -> Bool in
            if try options.selection.consume(option, attached: attached, from: &scanner) { return true }
            switch option {
            case "--file": options.file = try scanner.value(for: option, attached: attached)
            case "--format":
                options.format = try scanner.choice(LogFormat.self, for: option, attached: attached)
            case "--fsync":
                try ArgumentScanner.flag(option, attached: attached)
                options.fsync = true
            case "--group-by":
                options.groupBy = try scanner.choice(GroupBy.self, for: option, attached: attached)
            default: return false
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
        let sink = LogSink(destination: options.file.map { .file($0, fsync: options.fsync) } ?? .standardOutput, format: options.format)
        do { try sink.prepare() } catch { throw CommandError(.ioError, error.description) }
        let inputs = try Input.read(files: options.files, stdinIsTerminal: context.stdinIsTerminal)
        let clock = SystemClock()
        for input in inputs {
            let selection: Selection
            do {
                selection = try input.select(options.selection, consulIndex: consulIndex)
            } catch {
                // Nothing lost: the rejection is logged before the error is reported.
                var rejected = LogRecord(time: clock.now(), event: "rejected")
                rejected.add("consulIndex", consulIndex)
                rejected.add("input", input.name)
                rejected.add("digest", PayloadDigest.fnv1a64(input.bytes))
                rejected.add("error", error.message)
                do { try sink.write(rejected) } catch let writeError { throw CommandError(.ioError, writeError.description) }
                throw error
            }
            do {
                for incident in Incident.group(selection.checks, by: options.groupBy) {
                    let started = clock.now()
                    for check in incident.checks { try sink.write(.check(check, time: clock.now())) }
                    let report = ActionReport(
                        incident: incident, action: "log", outcome: .done(detail: "wrote \(incident.checks.count) record(s)"), duration: clock.now() - started)
                    context.diagnostics("\(name): \(report.auditLine)")
                }
                for silenced in selection.silenced {
                    context.diagnostics("\(name): \(silenced.check.service ?? "node \(silenced.check.node)"): skipped: \(Healer.describe(silenced))")
                }
                var summary = LogRecord(time: clock.now(), event: "delivery")
                summary.add("consulIndex", consulIndex)
                summary.add("input", input.name)
                summary.add("bytes", input.bytes.count)
                summary.add("digest", PayloadDigest.fnv1a64(input.bytes))
                summary.add("type", selection.type.rawValue)
                summary.add("checks", selection.population.checkCount)
                summary.add("selected", selection.checks.count)
                summary.add("silenced", selection.silenced.count)
                summary.add("services", selection.serviceNames)
                try sink.write(summary)
            } catch {
                throw CommandError(.ioError, error.description)
            }
        }
        return .success
    }
}

import CLI
import ConsulWatch
import Testing

/// `CriticalCommand.parse` is a pure function from arguments to what to do.
@Suite("consul-critical arguments")
struct CriticalCommandParseTests {
    /// The options of a command line that must run.
    func options(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> CriticalCommand.Options {
        switch try CriticalCommand.parse(arguments) {
        case .run(let options): return options
        case .help:
            Issue.record("\(arguments) asked for help", sourceLocation: sourceLocation)
        case .version:
            Issue.record("\(arguments) asked for the version", sourceLocation: sourceLocation)
        }
        return CriticalCommand.Options()
    }

    /// The error of a command line that must be refused.
    func usageError(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) -> CommandError? {
        do {
            _ = try CriticalCommand.parse(arguments)
            Issue.record("\(arguments) was accepted", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.exitCode == .usage, sourceLocation: sourceLocation)
            return error
        }
    }

    @Test("defaults: jsonl, critical only, maintenance honoured, no filters, stdin")
    func defaults() throws {
        let options = try options([])
        #expect(options.format == .jsonl)
        #expect(options.count == false)
        #expect(options.exitStatus == false)
        #expect(options.files == [])
        #expect(options.selection.type == nil)
        #expect(options.selection.criteria.statuses == [.critical])
        #expect(options.selection.criteria.includeMaintenance == false)
        #expect(options.selection.criteria.services.isEmpty)
        #expect(options.selection.criteria.tags.isEmpty)
        #expect(options.selection.criteria.nodes.isEmpty)
        #expect(options.selection.criteria.checkIDs.isEmpty)
        #expect(options == CriticalCommand.Options())
    }

    @Test("--format, separate and attached", arguments: CheckFormat.allCases)
    func format(format: CheckFormat) throws {
        #expect(try options(["--format", format.rawValue]).format == format)
        #expect(try options(["--format=\(format.rawValue)"]).format == format)
    }

    @Test("--format=names attached; the last --format wins")
    func attachedFormat() throws {
        #expect(try options(["--format=names"]).format == .names)
        #expect(try options(["--format", "json", "--format=table"]).format == .table)
        #expect(usageError(["--format", "yaml"])?.message == "--format takes jsonl, json, names or table, not 'yaml'")
        #expect(usageError(["--format="])?.message == "--format takes jsonl, json, names or table, not ''")
    }

    @Test("flags: --count, --exit-status, --include-maintenance")
    func flags() throws {
        let options = try options(["--count", "--exit-status", "--include-maintenance"])
        #expect(options.count)
        #expect(options.exitStatus)
        #expect(options.selection.criteria.includeMaintenance)
        #expect(usageError(["--count=yes"])?.message == "option --count takes no value")
        #expect(usageError(["--exit-status=1"])?.message == "option --exit-status takes no value")
        #expect(usageError(["--include-maintenance=true"])?.message == "option --include-maintenance takes no value")
    }

    @Test(
        "--status lists",
        arguments: [
            ("critical", [CheckStatus.critical]),
            ("warning", [.warning]),
            ("critical,warning", [.critical, .warning]),
            ("warning,critical,passing", [.warning, .critical, .passing]),
            ("Critical, Warning", [.critical, .warning]),
            ("any", []),
            ("critical,any", []),
        ] as [(String, [CheckStatus])])
    func status(text: String, statuses: [CheckStatus]) throws {
        #expect(try options(["--status", text]).selection.criteria.statuses == Set(statuses))
        #expect(try options(["--status=\(text)"]).selection.criteria.statuses == Set(statuses))
    }

    @Test("--status refuses unknown statuses and empty items", arguments: ["bogus", "maintenance", "critical,", "", ",warning"])
    func badStatus(text: String) {
        let error = usageError(["--status", text])
        #expect(error?.message.hasPrefix("--status takes critical, warning, passing or any") == true)
    }

    @Test("--service, --tag, --node, --check are repeatable and accumulate")
    func repeatableFilters() throws {
        let options = try options([
            "--service", "web", "--service=api", "--service", "web",
            "--tag", "production", "--tag=v2",
            "--node", "web-01", "--node", "web-02",
            "--check", "service:web", "--check=serfHealth",
        ])
        #expect(options.selection.criteria.services == ["web", "api"])
        #expect(options.selection.criteria.tags == ["production", "v2"])
        #expect(options.selection.criteria.nodes == ["web-01", "web-02"])
        #expect(options.selection.criteria.checkIDs == ["service:web", "serfHealth"])
    }

    @Test("filters need a non-empty value", arguments: ["--service", "--tag", "--node", "--check"])
    func emptyFilterValue(option: String) {
        #expect(usageError(["\(option)="])?.message == "option \(option) needs a non-empty value")
        #expect(usageError([option, ""])?.message == "option \(option) needs a non-empty value")
    }

    @Test("--type", arguments: WatchType.allCases)
    func type(type: WatchType) throws {
        #expect(try options(["--type", type.rawValue]).selection.type == type)
        #expect(try options(["--type=\(type.rawValue)"]).selection.type == type)
    }

    @Test("--type refuses unknown types")
    func badType() {
        #expect(
            usageError(["--type", "connect_roots"])?.message
                == "--type takes one of checks, service, nodes, services, key, keyprefix, event, not 'connect_roots'")
    }

    @Test("a missing value is a usage error", arguments: ["--format", "--status", "--service", "--tag", "--node", "--check", "--type"])
    func missingValue(option: String) {
        #expect(usageError([option])?.message == "option \(option) needs a value")
        // The value is taken as-is even when it looks like an option.
        #expect(usageError(["--count", option])?.message == "option \(option) needs a value")
    }

    @Test("a value that looks like an option is still the value")
    func valueLooksLikeOption() throws {
        #expect(try options(["--service", "--count"]).selection.criteria.services == ["--count"])
        #expect(try options(["--service", "--count"]).count == false)
    }

    @Test("unknown options are usage errors", arguments: ["--bogus", "-x", "--format-names", "--Count", "-help", "--bogus=1"])
    func unknownOption(option: String) {
        let error = usageError([option])
        let name = option.split(separator: "=").first.map(String.init) ?? option
        #expect(error?.message == "unknown option \(name)")
        #expect(error?.exitCode == .usage)
        #expect(error?.exitCode.rawValue == 64)
    }

    @Test("--help and -h ask for help, wherever they appear")
    func help() throws {
        for arguments in [["--help"], ["-h"], ["--format", "json", "--help"], ["file.json", "-h", "--bogus"]] {
            guard case .help = try CriticalCommand.parse(arguments) else {
                Issue.record("\(arguments) did not ask for help")
                continue
            }
        }
        guard case .version = try CriticalCommand.parse(["--version"]) else {
            Issue.record("--version did not ask for the version")
            return
        }
    }

    @Test("operands are files; '-' is stdin; '--' ends the options")
    func operands() throws {
        #expect(try options(["a.json", "--count", "b.json"]).files == ["a.json", "b.json"])
        #expect(try options(["-"]).files == ["-"])
        let afterDashes = try options(["--format", "names", "--", "--count", "-h", "x.json"])
        #expect(afterDashes.files == ["--count", "-h", "x.json"])
        #expect(afterDashes.count == false)
        #expect(afterDashes.format == .names)
        #expect(try options(["a.json", "--", "--", "b"]).files == ["a.json", "--", "b"])
        #expect(try options(["--"]).files == [])
    }

    @Test("the help text documents every option and the exit codes")
    func helpText() {
        let help = CriticalCommand.help
        #expect(help.hasPrefix("Usage: consul-critical [options] [FILE...]\n"))
        #expect(help.hasSuffix("\n"))
        for option in [
            "--format", "--count", "--exit-status", "--status", "--service", "--tag", "--node", "--check", "--include-maintenance", "--type", "--help",
            "--version",
        ] {
            #expect(help.contains(option), "\(option) is not in the help")
        }
        for code in ["0 done", "1 checks selected", "64 usage error", "65 input is not a Consul watch payload", "74 I/O error"] {
            #expect(help.contains(code), "\(code) is not in the help")
        }
    }

    @Test("exit codes are the sysexits values")
    func exitCodes() {
        #expect(ExitCode.success.rawValue == 0)
        #expect(ExitCode.selected.rawValue == 1)
        #expect(ExitCode.usage.rawValue == 64)
        #expect(ExitCode.dataError.rawValue == 65)
        #expect(ExitCode.ioError.rawValue == 74)
    }

    @Test(
        "CONSUL_INDEX parses as UInt64",
        arguments: [
            ("48391", 48391), ("11728876555923391317", 11_728_876_555_923_391_317), ("18446744073709551615", UInt64.max), ("0", 0),
        ] as [(String, UInt64)])
    func consulIndex(text: String, value: UInt64) throws {
        #expect(try ConsulIndex.parse(text) == value)
    }

    @Test(
        "CONSUL_INDEX: absent or empty is nil; anything else that is not a UInt64 is a usage error",
        arguments: ["abc", "-1", "18446744073709551616", " 1", "1.0", "0x10"])
    func badConsulIndex(text: String) {
        #expect(throws: CommandError.usage("CONSUL_INDEX must be an unsigned integer, not '\(text)'")) {
            try ConsulIndex.parse(text)
        }
    }

    @Test("CONSUL_INDEX absent or empty")
    func absentConsulIndex() throws {
        #expect(try ConsulIndex.parse(nil) == nil)
        #expect(try ConsulIndex.parse("") == nil)
    }
}

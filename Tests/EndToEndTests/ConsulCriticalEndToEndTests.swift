import Foundation
import TestSupport
import Testing

/// The built `consul-critical`, run exactly as a Consul agent runs a watch handler: the payload on
/// stdin then EOF, the agent's environment plus `CONSUL_INDEX`, as an argv (`"args"`) or through
/// `sh -c` (the deprecated `"handler"` string). Exact stdout, stderr and exit status.
@Suite("consul-critical end to end")
struct ConsulCriticalEndToEndTests {
    /// The two ways Consul starts a handler.
    enum Mode: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case args, shell
        var testDescription: String { rawValue == "args" ? "argv (args)" : "sh -c (handler)" }
        var viaShell: Bool { self == .shell }
    }

    static let product = "consul-critical"

    static func run(
        _ mode: Mode, _ arguments: [String], stdin: [UInt8], consulIndex: String? = "48391", timeout: Double = 30
    ) throws -> ExecutableResult {
        var environment: [String: String] = [:]
        if let consulIndex { environment["CONSUL_INDEX"] = consulIndex }
        return try ExecutableHarness.run(
            product, arguments: arguments, stdin: stdin, environment: environment, viaShell: mode.viaShell, timeout: timeout)
    }

    /// No crash report of any kind: no signal, no Swift runtime error, no backtrace.
    static func expectNoCrash(_ result: ExecutableResult, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.signal == nil, "killed by signal \(result.signal ?? 0)", sourceLocation: sourceLocation)
        for marker in ["Fatal error", "Stack dump", "backtrace", "Backtrace", "Crash", "Current stack trace", "SIGSEGV", "SIGILL", "SIGTRAP"] {
            #expect(!result.stderr.contains(marker), "stderr contains \(marker): \(result.stderr.prefix(500))", sourceLocation: sourceLocation)
        }
    }

    static let webCheck48391 =
        #"{"kind":"service","service":"web","serviceID":"web","node":"web-02","checkID":"service:web","checkName":"Service 'web' check","status":"critical","#
        + #""output":"HTTP GET http://10.0.1.12:8080/health: 503 Service Unavailable Output: <html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>","#
        + #""notes":"","tags":["production","v2"],"consulIndex":48391}"#

    // MARK: Success

    @Test("jsonl from stdin, CONSUL_INDEX from the environment", arguments: Mode.allCases)
    func jsonl(mode: Mode) throws {
        for arguments in [[], ["--format", "jsonl"]] {
            let result = try Self.run(mode, arguments, stdin: Fixtures.bytes("checks-state-critical-one.json"))
            #expect(result.exitCode == 0)
            #expect(result.stdout == Self.webCheck48391 + "\n")
            #expect(result.stdoutBytes == Array((Self.webCheck48391 + "\n").utf8))
            #expect(result.stderr == "")
            Self.expectNoCrash(result)
        }
        // The cluster-wide payload gives the same line.
        let wide = try Self.run(mode, [], stdin: Fixtures.bytes("checks-one-critical.json"))
        #expect(wide.stdout == Self.webCheck48391 + "\n")
    }

    @Test("names, table, count, json", arguments: Mode.allCases)
    func otherFormats(mode: Mode) throws {
        let payload = Fixtures.bytes("checks-node-down-services-critical.json")
        let names = try Self.run(mode, ["--format=names"], stdin: payload, consulIndex: "48517")
        #expect(names.stdout == "web\n")
        #expect(names.stderr == "")
        #expect(names.exitCode == 0)

        let table = try Self.run(mode, ["--format", "table"], stdin: payload, consulIndex: "48517")
        #expect(
            table.stdout
                == "KIND     SERVICE  NODE    CHECK        STATUS    OUTPUT\n"
                + "node     -        web-02  serfHealth   critical  Agent not live or unreachable\n"
                + "service  web      web-02  service:web  critical  HTTP GET http://10.0.1.12:8080/health: 503 Service Unavailable Output: …\n")
        #expect(table.exitCode == 0)

        let count = try Self.run(mode, ["--count"], stdin: payload, consulIndex: "48517")
        #expect(count.stdout == "2\n")

        let json = try Self.run(mode, ["--format", "json"], stdin: Fixtures.bytes("checks-state-critical-one.json"))
        #expect(json.stdout == "[" + Self.webCheck48391 + "]\n")

        let service = try Self.run(mode, ["--format", "names"], stdin: Fixtures.bytes("service-health.json"))
        #expect(service.stdout == "web\n")
        #expect(service.exitCode == 0)
    }

    @Test("nothing critical: empty output, exit 0", arguments: Mode.allCases)
    func nothingSelected(mode: Mode) throws {
        for name in ["checks-empty.json", "checks-all-passing.json", "checks-maintenance.json", "service-health-passingonly.json"] {
            let result = try Self.run(mode, [], stdin: Fixtures.bytes(name))
            #expect(result.exitCode == 0, "\(name)")
            #expect(result.stdout == "", "\(name)")
            #expect(result.stderr == "", "\(name)")
        }
    }

    @Test("--exit-status: 1 when something is selected, 0 when not", arguments: Mode.allCases)
    func exitStatus(mode: Mode) throws {
        let selected = try Self.run(mode, ["--exit-status", "--format", "names"], stdin: Fixtures.bytes("checks-one-critical.json"))
        #expect(selected.exitCode == 1)
        #expect(selected.stdout == "web\n")
        #expect(selected.stderr == "")
        let none = try Self.run(mode, ["--exit-status"], stdin: Fixtures.bytes("checks-empty.json"))
        #expect(none.exitCode == 0)
        #expect(none.stdout == "")
    }

    @Test("an event-sized CONSUL_INDEX above Int64.max; no CONSUL_INDEX gives null", arguments: Mode.allCases)
    func consulIndexValues(mode: Mode) throws {
        let big = try Self.run(mode, [], stdin: Fixtures.bytes("checks-state-critical-one.json"), consulIndex: "11728876555923391317")
        #expect(big.stdout == Self.webCheck48391.replacingOccurrences(of: "48391}", with: "11728876555923391317}") + "\n")
        #expect(big.exitCode == 0)
    }

    @Test("arguments with spaces and quotes survive the shell form")
    func shellQuoting() throws {
        let payload = Fixtures.bytes("checks-state-critical-one.json")
        for mode in Mode.allCases {
            let odd = try Self.run(mode, ["--service", "it's a \"web\" $HOME `x`"], stdin: payload)
            #expect(odd.exitCode == 0)
            #expect(odd.stdout == "")
            #expect(odd.stderr == "")
            let node = try Self.run(mode, ["--node", "web-02", "--check=service:web", "--format", "names"], stdin: payload)
            #expect(node.stdout == "web\n")
        }
    }

    // MARK: Bad input

    struct BadInput: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String] = []
        var stdin: [UInt8]
        /// The whole of stderr.
        var stderr: String
        var exitCode: Int32 = 65
        var testDescription: String { name }
    }

    static let critical = Fixtures.bytes("checks-state-critical-one.json")

    static let badInputs: [BadInput] = [
        BadInput(name: "empty stdin", stdin: [], stderr: "consul-critical: stdin: empty input: expected a JSON watch payload\n"),
        BadInput(name: "white space only", stdin: Array(" \n\t\n".utf8), stderr: "consul-critical: stdin: empty input: expected a JSON watch payload\n"),
        BadInput(
            name: "truncated JSON", stdin: Array(critical.prefix(100)),
            stderr: "consul-critical: stdin: truncated JSON: input ends at line 1, column 101 (byte 100), expected the end of a string\n"),
        BadInput(
            name: "truncated after the last check", stdin: Array(critical.dropLast(2)),
            stderr: "consul-critical: stdin: truncated JSON: input ends at line 1, column 778 (byte 777), expected ',' or ']'\n"),
        BadInput(
            name: "non-UTF-8 in a string",
            stdin: Array(critical[..<14]) + [0xFF, 0xFE] + Array(critical[14...]),
            stderr: "consul-critical: stdin: invalid UTF-8 in a string at line 1, column 15 (byte 14)\n"),
        BadInput(
            name: "binary garbage", stdin: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00],
            stderr: "consul-critical: stdin: invalid JSON at line 1, column 1 (byte 0): unexpected byte 0x89, expected a value\n"),
        BadInput(
            name: "object instead of array (--type checks)", arguments: ["--type", "checks"], stdin: Fixtures.bytes("key.json"),
            stderr: "consul-critical: stdin: wrong type at $ (line 1, column 1 (byte 0)): expected an array, found an object\n"),
        BadInput(
            name: "one check object without the array", stdin: Array(critical.dropFirst().dropLast(2)) + [0x0A],
            stderr:
                "consul-critical: stdin: wrong type at $ (line 1, column 1 (byte 0)): expected a Consul watch payload (a key, or a services object of tag arrays), found an object of another shape\n"
        ),
        BadInput(
            name: "wrong field type",
            stdin: Array(
                String(decoding: critical, as: UTF8.self).replacingOccurrences(of: #""ServiceTags":["production","v2"]"#, with: #""ServiceTags":5"#).utf8),
            stderr: "consul-critical: stdin: wrong type at $[0].ServiceTags (line 1, column 406 (byte 405)): expected an array, found a number\n"),
        BadInput(
            name: "negative ModifyIndex",
            stdin: Array(String(decoding: critical, as: UTF8.self).replacingOccurrences(of: #""ModifyIndex":48391"#, with: #""ModifyIndex":-1"#).utf8),
            stderr: "consul-critical: stdin: wrong value at $[0].ModifyIndex (line 1, column 772 (byte 771)): -1 is not an unsigned integer\n"),
        BadInput(
            name: "trailing garbage", stdin: critical + Array("garbage".utf8),
            stderr: "consul-critical: stdin: invalid JSON at line 2, column 1 (byte 779): unexpected data after the payload\n"),
        BadInput(
            name: "10 000 nested arrays", stdin: [UInt8](repeating: UInt8(ascii: "["), count: 10_000),
            stderr: "consul-critical: stdin: invalid JSON at line 1, column 258 (byte 257): nested deeper than 256 levels\n"),
        BadInput(
            name: "a nodes payload", stdin: Fixtures.bytes("nodes.json"),
            stderr:
                "consul-critical: stdin: a `nodes` watch payload carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)\n"
        ),
        // A bare `null` is an empty checks payload (NamesAndNullEndToEndTests); read as a key, it has no checks.
        BadInput(
            name: "a missing key (null, --type key)", arguments: ["--type", "key"], stdin: Fixtures.bytes("key-missing.json"),
            stderr:
                "consul-critical: stdin: a `key` watch payload carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)\n"
        ),
    ]

    @Test("bad payloads: exit 65, exactly one line on stderr, nothing on stdout, no crash", arguments: Self.badInputs, Mode.allCases)
    func badPayload(input: BadInput, mode: Mode) throws {
        let result = try Self.run(mode, input.arguments, stdin: input.stdin)
        #expect(result.exitCode == input.exitCode)
        #expect(result.stdout == "")
        #expect(result.stderr == input.stderr)
        #expect(result.stderr.hasPrefix("consul-critical: "))
        #expect(result.stderr.filter { $0 == "\n" }.count == 1 && result.stderr.hasSuffix("\n"), "one line: \(result.stderr)")
        Self.expectNoCrash(result)
    }

    // MARK: Usage and I/O errors

    @Test("--help: stdout, exit 0, empty stderr, stdin not needed", arguments: Mode.allCases)
    func help(mode: Mode) throws {
        for option in ["--help", "-h"] {
            // A large stdin the command never reads must not hang or break anything.
            let result = try Self.run(mode, [option], stdin: [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20))
            #expect(result.exitCode == 0)
            #expect(result.stdout.hasPrefix("Usage: consul-critical [options] [FILE...]\n"))
            #expect(result.stdout.contains("--format FORMAT"))
            #expect(result.stdout.contains("65 input is not a Consul watch payload"))
            #expect(result.stderr == "")
            Self.expectNoCrash(result)
        }
    }

    @Test("unknown option: stderr, exit 64", arguments: Mode.allCases)
    func unknownOption(mode: Mode) throws {
        let result = try Self.run(mode, ["--bogus"], stdin: Self.critical)
        #expect(result.exitCode == 64)
        #expect(result.stdout == "")
        #expect(result.stderr == "consul-critical: unknown option --bogus\nTry 'consul-critical --help' for more information.\n")
        Self.expectNoCrash(result)
    }

    @Test("a bad CONSUL_INDEX: exit 64", arguments: Mode.allCases)
    func badConsulIndex(mode: Mode) throws {
        let result = try Self.run(mode, [], stdin: Self.critical, consulIndex: "not-a-number")
        #expect(result.exitCode == 64)
        #expect(result.stdout == "")
        #expect(
            result.stderr
                == "consul-critical: CONSUL_INDEX must be an unsigned integer, not 'not-a-number'\nTry 'consul-critical --help' for more information.\n")
    }

    @Test("a missing file operand: exit 74, one line naming it", arguments: Mode.allCases)
    func missingFile(mode: Mode) throws {
        let path = "/nonexistent-consul-critical-dir/checks.json"
        let result = try Self.run(mode, [path], stdin: [])
        #expect(result.exitCode == 74)
        #expect(result.stdout == "")
        #expect(result.stderr == "consul-critical: cannot open \(path): No such file or directory\n")
    }

    @Test("a file operand instead of stdin gives the same output")
    func fileOperand() throws {
        let result = try Self.run(.args, [Fixtures.url("checks-state-critical-one.json").path], stdin: [])
        #expect(result.stdout == Self.webCheck48391 + "\n")
        #expect(result.exitCode == 0)
    }

    // MARK: Pipes

    @Test("stdout closed early (| head -c 1): no crash, exit 0")
    func stdoutClosedEarly() throws {
        // About 1.5 MB of output: far more than a pipe holds once `head` has gone.
        var checks: [String] = []
        let template = String(decoding: Self.critical.dropFirst().dropLast(2), as: UTF8.self)
        for index in 0..<3000 {
            checks.append(template.replacingOccurrences(of: #""Node":"web-02""#, with: #""Node":"web-\#(index)""#))
        }
        let payload = Array(("[" + checks.joined(separator: ",") + "]\n").utf8)
        let executable = try ExecutableHarness.productURL(Self.product)
        let commandLine = "{ \(ExecutableHarness.shellQuote(executable.path)) --format jsonl; echo \"status=$?\" >&2; } | head -c 1"
        let result = try ExecutableHarness.runShell(commandLine, stdin: payload, environment: ["CONSUL_INDEX": "48391"])
        #expect(result.stdout == "{")
        #expect(result.stderr == "status=0\n", "consul-critical's own status and stderr")
        #expect(result.exitCode == 0)
        Self.expectNoCrash(result)
    }

    // MARK: Size

    @Test("a ~100 MB payload (under the 1 GiB input bound): read whole and answered", .timeLimit(.minutes(3)))
    func hundredMegabytes() throws {
        // Passing checks on many nodes (a whole-cluster `checks` watch), then one critical check.
        let passing = Array(
            String(decoding: Self.critical.dropFirst().dropLast(2), as: UTF8.self)
                .replacingOccurrences(of: #""Status":"critical""#, with: #""Status":"passing""#).utf8)
        // Split the check around its node name, to give every copy a node of its own cheaply.
        let nodeValue = Array(#"{"Node":""#.utf8)
        #expect(Array(passing.prefix(nodeValue.count)) == nodeValue)
        let tail = Array(passing.dropFirst(nodeValue.count + "web-02".utf8.count))
        var payload: [UInt8] = []
        payload.reserveCapacity(101 << 20)
        payload.append(UInt8(ascii: "["))
        var count = 0
        while payload.count < 100 << 20 {
            payload.append(contentsOf: nodeValue)
            payload.append(contentsOf: "node-\(count)".utf8)
            payload.append(contentsOf: tail)
            payload.append(UInt8(ascii: ","))
            count += 1
        }
        payload += Array(String(decoding: Self.critical.dropFirst().dropLast(2), as: UTF8.self).utf8)
        payload += Array("]\n".utf8)
        #expect(payload.count > 100 << 20)

        // On stdin, as Consul delivers it: well under the input bound (FileIO.maximumInputSize),
        // so it must be answered, not refused.
        let result = try Self.run(.args, ["--count"], stdin: payload, timeout: 170)
        Self.expectNoCrash(result)
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == "1\n")
        #expect(result.stderr == "")

        // The same payload cut short, from a file: a clean truncation error at the very end.
        let cut = Array(payload.dropLast(3))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("consul-critical-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("cut.json")
        try Data(cut).write(to: file)
        let truncated = try Self.run(.args, ["--format", "names", file.path], stdin: [], timeout: 120)
        Self.expectNoCrash(truncated)
        #expect(truncated.exitCode == 65)
        #expect(truncated.stdout == "")
        #expect(
            truncated.stderr
                == "consul-critical: \(file.path): truncated JSON: input ends at line 1, column \(cut.count + 1) (byte \(cut.count)), expected ',' or '}'\n")
    }
}

import CLI
import ConsulWatch
import Foundation
import Platform
import TestSupport
import Testing

/// What a command wrote, captured in process.
final class CriticalCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var _stdout: [UInt8] = []
    private var _stderr: [String] = []

    var stdoutBytes: [UInt8] { lock.withLock { _stdout } }
    var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }
    /// The diagnostic lines, one per call.
    var stderr: [String] { lock.withLock { _stderr } }

    func context(environment: [String: String], stdinIsTerminal: Bool) -> CommandContext {
        CommandContext(
            output: { bytes in self.lock.withLock { self._stdout += bytes } },
            diagnostics: { line in self.lock.withLock { self._stderr.append(line) } },
            environment: { environment[$0] },
            stdinIsTerminal: stdinIsTerminal)
    }
}

struct CriticalOutcome {
    var exitCode: ExitCode
    var stdout: String
    var stdoutBytes: [UInt8]
    var stderr: [String]
}

/// Runs `consul-critical` in process. Stdin is "a terminal", so a command line without files
/// never waits on the test runner's stdin.
func runCritical(_ arguments: [String], environment: [String: String] = [:]) -> CriticalOutcome {
    let capture = CriticalCapture()
    let code = CriticalCommand.execute(arguments, context: capture.context(environment: environment, stdinIsTerminal: true))
    return CriticalOutcome(exitCode: code, stdout: capture.stdout, stdoutBytes: capture.stdoutBytes, stderr: capture.stderr)
}

func fixturePath(_ name: String) -> String { Fixtures.url(name).path }

/// A payload written to a temporary file, removed when the value is released.
final class CriticalTemporaryPayload {
    let path: String

    init(_ bytes: [UInt8], name: String = "payload.json") throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("consul-critical-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    convenience init(_ text: String, name: String = "payload.json") throws {
        try self.init(Array(text.utf8), name: name)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}

/// CriticalGolden records, written out literally: the documented `jsonl` schema and key order.
enum CriticalGolden {
    static let webCheck48391 =
        #"{"kind":"service","service":"web","serviceID":"web","node":"web-02","checkID":"service:web","checkName":"Service 'web' check","status":"critical","#
        + #""output":"HTTP GET http://10.0.1.12:8080/health: 503 Service Unavailable Output: <html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>","#
        + #""notes":"","tags":["production","v2"],"consulIndex":48391}"#

    static let serf48517 =
        #"{"kind":"node","service":null,"serviceID":null,"node":"web-02","checkID":"serfHealth","checkName":"Serf Health Status","status":"critical","#
        + #""output":"Agent not live or unreachable","notes":"","tags":[],"consulIndex":48517}"#

    static let webCheck48517 = webCheck48391.replacingOccurrences(of: #""consulIndex":48391}"#, with: #""consulIndex":48517}"#)
}

@Suite("consul-critical in process")
struct CriticalCommandExecuteTests {
    // MARK: Formats

    @Test("jsonl (the default): exact bytes, CONSUL_INDEX copied in")
    func jsonlGolden() {
        let expected = CriticalGolden.webCheck48391 + "\n"
        for arguments in [[fixturePath("checks-state-critical-one.json")], ["--format", "jsonl", fixturePath("checks-state-critical-one.json")]] {
            let outcome = runCritical(arguments, environment: ["CONSUL_INDEX": "48391"])
            #expect(outcome.exitCode == .success)
            #expect(outcome.stdoutBytes == Array(expected.utf8))
            #expect(outcome.stderr == [])
        }
        // The same check read from the full cluster-wide payload and from the CLI dump.
        #expect(runCritical([fixturePath("checks-one-critical.json")], environment: ["CONSUL_INDEX": "48391"]).stdout == expected)
        #expect(runCritical([fixturePath("consul-watch-checks-state-critical.txt")], environment: ["CONSUL_INDEX": "48391"]).stdout == expected)
    }

    @Test("jsonl: one line per check, node failures with null service; consulIndex null without CONSUL_INDEX")
    func jsonlNodeFailure() {
        let outcome = runCritical([fixturePath("checks-node-down-services-critical.json")], environment: ["CONSUL_INDEX": "48517"])
        #expect(outcome.stdout == CriticalGolden.serf48517 + "\n" + CriticalGolden.webCheck48517 + "\n")

        let noIndex = runCritical([fixturePath("checks-state-critical-one.json")])
        #expect(noIndex.stdout == CriticalGolden.webCheck48391.replacingOccurrences(of: #""consulIndex":48391"#, with: #""consulIndex":null"#) + "\n")

        let eventIndex = runCritical([fixturePath("checks-state-critical-one.json")], environment: ["CONSUL_INDEX": "11728876555923391317"])
        #expect(eventIndex.stdout.hasSuffix(#""consulIndex":11728876555923391317}"# + "\n"))
    }

    @Test("jsonl records parse back as JSON with the documented keys in order")
    func jsonlSchema() throws {
        let outcome = runCritical(["--status", "any", fixturePath("checks-all-passing.json")], environment: ["CONSUL_INDEX": "48102"])
        let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 11)
        #expect(lines.last == "")
        let keys = ["kind", "service", "serviceID", "node", "checkID", "checkName", "status", "output", "notes", "tags", "consulIndex"]
        for line in lines.dropLast() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(object.keys) == Set(keys))
            var position = line.startIndex
            for key in keys {
                let range = try #require(line.range(of: "\"\(key)\":", range: position..<line.endIndex), "\(key) out of order in \(line)")
                position = range.upperBound
            }
            #expect(object["consulIndex"] as? Int == 48102)
        }
    }

    @Test("json: one array, exact bytes")
    func jsonGolden() {
        let outcome = runCritical(["--format", "json", fixturePath("checks-node-down-services-critical.json")], environment: ["CONSUL_INDEX": "48517"])
        #expect(outcome.exitCode == .success)
        #expect(outcome.stdout == "[" + CriticalGolden.serf48517 + "," + CriticalGolden.webCheck48517 + "]\n")
        #expect(runCritical(["--format=json", fixturePath("checks-empty.json")]).stdout == "[]\n")
        #expect(
            runCritical(["--format=json", fixturePath("checks-state-critical-one.json")], environment: ["CONSUL_INDEX": "48391"]).stdout == "["
                + CriticalGolden.webCheck48391 + "]\n")
    }

    @Test("names: unique service names, first-seen order, node failures left out, across files")
    func namesGolden() throws {
        #expect(runCritical(["--format", "names", fixturePath("checks-node-down-services-critical.json")]).stdout == "web\n")
        #expect(runCritical(["--format", "names", fixturePath("checks-node-down-state-critical.json")]).stdout == "")
        #expect(runCritical(["--format", "names", fixturePath("checks-empty.json")]).stdout == "")

        let payload = try CriticalTemporaryPayload(
            #"""
            [{"Node":"a","CheckID":"service:zeta","Status":"critical","ServiceID":"zeta","ServiceName":"zeta"},
             {"Node":"a","CheckID":"serfHealth","Status":"critical","ServiceID":""},
             {"Node":"b","CheckID":"service:alpha","Status":"critical","ServiceID":"alpha","ServiceName":"alpha"},
             {"Node":"c","CheckID":"service:zeta","Status":"critical","ServiceID":"zeta","ServiceName":"zeta"},
             {"Node":"c","CheckID":"service:mid","Status":"passing","ServiceID":"mid","ServiceName":"mid"}]
            """#)
        #expect(runCritical(["--format=names", payload.path]).stdout == "zeta\nalpha\n")
        #expect(runCritical(["--format=names", "--status", "any", payload.path]).stdout == "zeta\nalpha\nmid\n")
        // Across files: still unique, in first-seen order.
        #expect(runCritical(["--format=names", fixturePath("checks-state-critical-one.json"), payload.path]).stdout == "web\nzeta\nalpha\n")
        #expect(runCritical(["--format=names", payload.path, fixturePath("checks-state-critical-one.json"), payload.path]).stdout == "zeta\nalpha\nweb\n")
    }

    @Test("table: aligned columns, output cut to its first line and 72 characters")
    func tableGolden() {
        let outcome = runCritical(["--format", "table", fixturePath("checks-node-down-services-critical.json")])
        let expected =
            "KIND     SERVICE  NODE    CHECK        STATUS    OUTPUT\n"
            + "node     -        web-02  serfHealth   critical  Agent not live or unreachable\n"
            + "service  web      web-02  service:web  critical  HTTP GET http://10.0.1.12:8080/health: 503 Service Unavailable Output: …\n"
        #expect(outcome.stdout == expected)
        #expect(outcome.exitCode == .success)
        // Nothing selected: no header either.
        #expect(runCritical(["--format", "table", fixturePath("checks-all-passing.json")]).stdout == "")
    }

    @Test("table with a short multi-line output keeps only the first line")
    func tableFirstLine() throws {
        let payload = try CriticalTemporaryPayload(
            #"[{"Node":"db-1","CheckID":"pg","Status":"critical","ServiceID":"pg","ServiceName":"postgres","Output":"down\nsecond line"}]"#)
        #expect(
            runCritical(["--format", "table", payload.path]).stdout
                == "KIND     SERVICE   NODE  CHECK  STATUS    OUTPUT\n"
                + "service  postgres  db-1  pg     critical  down\n")
    }

    @Test("--count prints only the number")
    func count() {
        #expect(runCritical(["--count", fixturePath("checks-state-critical-one.json")]).stdout == "1\n")
        #expect(runCritical(["--count", fixturePath("checks-node-down-services-critical.json")]).stdout == "2\n")
        #expect(runCritical(["--count", fixturePath("checks-empty.json")]).stdout == "0\n")
        #expect(runCritical(["--count", "--format", "json", fixturePath("checks-all-passing.json")]).stdout == "0\n")
        #expect(runCritical(["--count", "--status", "any", fixturePath("checks-all-passing.json")]).stdout == "10\n")
        // Summed over files.
        #expect(
            runCritical(["--count", fixturePath("checks-state-critical-one.json"), fixturePath("checks-node-down-services-critical.json")]).stdout == "3\n")
        #expect(runCritical(["--count", fixturePath("checks-state-critical-one.json")]).exitCode == .success)
    }

    // MARK: Selection options

    @Test("selection options reach the selection")
    func selectionOptions() {
        let downAndFailing = fixturePath("checks-node-down-services-critical.json")
        #expect(runCritical(["--format=names", "--service", "web", downAndFailing]).stdout == "web\n")
        #expect(runCritical(["--count", "--service", "web", downAndFailing]).stdout == "1\n")
        #expect(runCritical(["--count", "--check", "serfHealth", downAndFailing]).stdout == "1\n")
        #expect(runCritical(["--count", "--node", "web-01", downAndFailing]).stdout == "0\n")
        #expect(runCritical(["--count", "--tag", "production", "--tag", "v2", downAndFailing]).stdout == "1\n")
        #expect(runCritical(["--count", "--tag", "canary", downAndFailing]).stdout == "0\n")
        #expect(runCritical(["--count", fixturePath("checks-state-warning.json")]).stdout == "0\n")
        #expect(runCritical(["--count", "--status", "critical,warning", fixturePath("checks-state-warning.json")]).stdout == "1\n")
        #expect(runCritical(["--count", "--status", "any", fixturePath("checks-maintenance.json")]).stdout == "0\n")
        #expect(runCritical(["--count", "--include-maintenance", fixturePath("checks-maintenance.json")]).stdout == "0\n")
        #expect(runCritical(["--count", fixturePath("service-health.json")]).stdout == "1\n")
        #expect(runCritical(["--count", "--type", "service", fixturePath("service-empty.json")]).stdout == "0\n")
    }

    // MARK: Exit status

    @Test("--exit-status: 1 when something is selected, 0 when not; without it always 0")
    func exitStatus() {
        for format in ["jsonl", "json", "names", "table"] {
            let selected = runCritical(["--exit-status", "--format", format, fixturePath("checks-state-critical-one.json")])
            #expect(selected.exitCode == .selected)
            #expect(selected.exitCode.rawValue == 1)
            #expect(!selected.stdout.isEmpty, "the output is still printed")
            #expect(runCritical(["--exit-status", "--format", format, fixturePath("checks-all-passing.json")]).exitCode == .success)
            #expect(runCritical(["--format", format, fixturePath("checks-state-critical-one.json")]).exitCode == .success)
        }
        #expect(runCritical(["--exit-status", "--count", fixturePath("checks-empty.json")]).exitCode == .success)
        let counted = runCritical(["--exit-status", "--count", fixturePath("checks-one-critical.json")])
        #expect(counted.exitCode == .selected)
        #expect(counted.stdout == "1\n")
        // Silenced checks are not selected.
        #expect(runCritical(["--exit-status", fixturePath("checks-maintenance.json")]).exitCode == .success)
    }

    // MARK: Errors

    @Test("a bad CONSUL_INDEX is a usage error (64)", arguments: ["abc", "-1", "18446744073709551616", "48391 "])
    func badConsulIndex(value: String) {
        let outcome = runCritical([fixturePath("checks-state-critical-one.json")], environment: ["CONSUL_INDEX": value])
        #expect(outcome.exitCode == .usage)
        #expect(outcome.exitCode.rawValue == 64)
        #expect(outcome.stdout == "")
        #expect(
            outcome.stderr == [
                "consul-critical: CONSUL_INDEX must be an unsigned integer, not '\(value)'",
                "Try 'consul-critical --help' for more information.",
            ])
    }

    @Test("an empty CONSUL_INDEX counts as absent")
    func emptyConsulIndex() {
        let outcome = runCritical([fixturePath("checks-state-critical-one.json")], environment: ["CONSUL_INDEX": ""])
        #expect(outcome.exitCode == .success)
        #expect(outcome.stdout.hasSuffix(#""consulIndex":null}"# + "\n"))
    }

    @Test("a file that does not exist: 74 and one line naming it")
    func missingFile() {
        let path = "/nonexistent-consul-critical-dir/payload.json"
        let outcome = runCritical([path])
        #expect(outcome.exitCode == .ioError)
        #expect(outcome.exitCode.rawValue == 74)
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == ["consul-critical: cannot open \(path): No such file or directory"])

        // After a good file: the good file is printed (as jq does), the missing one reported.
        let after = runCritical([fixturePath("checks-state-critical-one.json"), path])
        #expect(after.exitCode == .ioError)
        #expect(after.stdout.contains(#""service":"web""#))
        #expect(after.stderr == ["consul-critical: cannot open \(path): No such file or directory"])
    }

    @Test("a directory instead of a file: 74")
    func directoryOperand() throws {
        let payload = try CriticalTemporaryPayload("[]")
        let directory = (payload.path as NSString).deletingLastPathComponent
        let outcome = runCritical([directory])
        #expect(outcome.exitCode == .ioError)
        #expect(outcome.stderr.count == 1)
        #expect(outcome.stderr.first?.hasPrefix("consul-critical: cannot read \(directory): ") == true)
    }

    @Test(
        "payloads without health checks: 65 and one line",
        arguments: [
            ("nodes.json", "a `nodes` watch payload carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)"),
            ("services.json", "a `services` watch payload carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)"),
            ("key.json", "a `key` watch payload carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)"),
            ("event.json", "an `event` watch payload carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)"),
        ])
    func nonHealthPayload(name: String, message: String) {
        let outcome = runCritical([fixturePath(name)])
        #expect(outcome.exitCode == .dataError)
        #expect(outcome.exitCode.rawValue == 65)
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == ["consul-critical: \(fixturePath(name)): \(message)"])
    }

    @Test("null (a Go nil slice) means no checks: exit 0; forced to key, it is refused with 65")
    func nullPayload() {
        let plain = runCritical([fixturePath("key-missing.json")])
        #expect(plain.exitCode == .success)
        #expect(plain.stdout == "" && plain.stderr == [])
        let key = runCritical(["--type", "key", fixturePath("key-missing.json")])
        #expect(key.exitCode == .dataError)
        #expect(
            key.stderr == [
                "consul-critical: \(fixturePath("key-missing.json")): a `key` watch payload carries no health checks: use a `checks` or `service` watch (or --type to say what the payload is)"
            ])
    }

    @Test("malformed payload files: 65, one line with the file, the problem and the place")
    func malformedFiles() throws {
        let truncated = try CriticalTemporaryPayload(Array(Fixtures.bytes("checks-state-critical-one.json").prefix(100)))
        let outcome = runCritical([truncated.path])
        #expect(outcome.exitCode == .dataError)
        #expect(outcome.stdout == "")
        #expect(
            outcome.stderr == ["consul-critical: \(truncated.path): truncated JSON: input ends at line 1, column 101 (byte 100), expected the end of a string"])

        let wrongType = try CriticalTemporaryPayload(
            String(decoding: Fixtures.bytes("checks-state-critical-one.json"), as: UTF8.self)
                .replacingOccurrences(of: #""ServiceTags":["production","v2"]"#, with: #""ServiceTags":5"#))
        let wrong = runCritical([wrongType.path])
        #expect(wrong.exitCode == .dataError)
        #expect(
            wrong.stderr == [
                "consul-critical: \(wrongType.path): wrong type at $[0].ServiceTags (line 1, column 406 (byte 405)): expected an array, found a number"
            ])

        let object = runCritical(["--type", "checks", fixturePath("key.json")])
        #expect(object.exitCode == .dataError)
        #expect(
            object.stderr == ["consul-critical: \(fixturePath("key.json")): wrong type at $ (line 1, column 1 (byte 0)): expected an array, found an object"])

        let empty = try CriticalTemporaryPayload("")
        #expect(runCritical([empty.path]).stderr == ["consul-critical: \(empty.path): empty input: expected a JSON watch payload"])
    }

    @Test("a bad second file: 65, the first still printed")
    func badSecondFile() throws {
        let bad = try CriticalTemporaryPayload("[{")
        let outcome = runCritical([fixturePath("checks-state-critical-one.json"), bad.path])
        #expect(outcome.exitCode == .dataError)
        #expect(outcome.stdout.contains(#""checkID":"service:web""#))
        #expect(outcome.stderr.count == 1)
        #expect(outcome.stderr.first?.hasPrefix("consul-critical: \(bad.path): truncated JSON") == true)
    }

    @Test("--help: the help on stdout, exit 0, nothing on stderr")
    func help() {
        for option in ["--help", "-h"] {
            let outcome = runCritical([option])
            #expect(outcome.exitCode == .success)
            #expect(outcome.stdout == CriticalCommand.help)
            #expect(outcome.stderr == [])
        }
        let version = runCritical(["--version"])
        #expect(version.stdout == "consul-critical \(toolkitVersion)\n")
        #expect(version.exitCode == .success)
    }

    @Test("unknown option: 64, the error and a pointer to --help on stderr, nothing on stdout")
    func unknownOption() {
        let outcome = runCritical(["--bogus", fixturePath("checks-state-critical-one.json")])
        #expect(outcome.exitCode == .usage)
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == ["consul-critical: unknown option --bogus", "Try 'consul-critical --help' for more information."])
        #expect(runCritical(["--format"]).stderr.first == "consul-critical: option --format needs a value")
    }

    @Test("no file and a terminal on stdin: 64 instead of waiting for input")
    func terminalStdin() {
        for arguments in [[], ["-"], ["--count"]] {
            let outcome = runCritical(arguments)
            #expect(outcome.exitCode == .usage)
            #expect(outcome.stderr.first == "consul-critical: no input: pipe a Consul watch payload on standard input, or name a file")
        }
    }
}

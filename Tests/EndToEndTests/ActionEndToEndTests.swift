import Foundation
import TestSupport
import Testing

/// consul-redeploy and consul-log driven as a Consul agent drives them, with real child
/// processes and real files.
@Suite struct ActionEndToEndTests {
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("actions-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test(arguments: [false, true])
    func hostileServiceNamesArriveAsOneLiteralArgument(viaShell: Bool) throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("argv").path
        let names = ["web; rm -rf /", "$(id)", "`touch pwned`", "a'b\"c", "x\ny"]
        let payload = Payloads.checks(names.enumerated().map { Payloads.service($0.element, node: "n\($0.offset)") })
        // printf writes each argument NUL-terminated: exactly what arrived in argv.
        let result = try ExecutableHarness.run(
            "consul-redeploy",
            arguments: [
                "--no-state", "--blast-radius", "off", "--concurrency", "1", "--", "/bin/sh", "-c", #"printf '%s\0' "$@" >> "$OUT"; cat >/dev/null"#, "sh",
                "{service}", "svc={service}",
            ],
            stdin: payload, environment: ["CONSUL_INDEX": "7", "OUT": out], viaShell: viaShell)
        #expect(result.exitCode == 0, "\(result.stderr)")
        let words = try Data(contentsOf: URL(fileURLWithPath: out)).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(Set(words) == Set(names + names.map { "svc=" + $0 }))
        #expect(!FileManager.default.fileExists(atPath: "pwned"))
    }

    @Test func theCommandGetsTheIncidentAsEnvironmentAndJSON() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("env").path
        let result = try ExecutableHarness.run(
            "consul-redeploy",
            arguments: [
                "--no-state", "--", "/bin/sh", "-c",
                #"echo "$CONSUL_SERVICE|$CONSUL_SERVICE_ID|$CONSUL_NODE|$CONSUL_CHECK_ID|$CONSUL_STATUS|$CONSUL_INDEX" > "$OUT"; cat >> "$OUT""#,
            ],
            stdin: Fixtures.bytes("checks-state-critical-one.json"), environment: ["CONSUL_INDEX": "48391", "OUT": out])
        #expect(result.exitCode == 0)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.hasPrefix("web|web|web-02|service:web|critical|48391\n{\"id\":\"service:web\",\"groupBy\":\"service\""))
        #expect(
            result.stderr == "consul-redeploy: web: became critical: remediating\nconsul-redeploy: web: redeploy done: /bin/sh: exit 0 (" + result.stderr.split(
                separator: "("
            ).last!)
    }

    @Test func aHungCommandIsKilledWithItsWholeProcessGroupAndReported() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pidFile = dir.appendingPathComponent("grandchild").path
        let started = Date()
        let result = try ExecutableHarness.run(
            "consul-redeploy",
            arguments: [
                "--no-state", "--command-timeout", "1s", "--kill-grace", "1s", "--", "/bin/sh", "-c", #"sleep 60 & echo $! > "$PIDFILE"; trap "" TERM; wait"#,
            ],
            stdin: Fixtures.bytes("checks-state-critical-one.json"), environment: ["PIDFILE": pidFile], timeout: 30)
        #expect(Date().timeIntervalSince(started) < 30, "the 60 s sleep was not waited for")
        #expect(result.exitCode == 75)
        #expect(result.stderr.contains("timed out"))
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // The backgrounded grandchild went with the group (a zombie counts as gone).
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        #expect(status.isEmpty || status.contains("State:\tZ"))
    }

    @Test func largeOutputIsCappedAndNeverReachesConsulsPipe() throws {
        let result = try ExecutableHarness.run(
            "consul-redeploy",
            arguments: [
                "--no-state", "--output-limit", "1000", "--", "/bin/sh", "-c", "head -c 5000000 /dev/zero | tr '\\\\0' x; echo; echo last words >&2; exit 3",
            ],
            stdin: Fixtures.bytes("checks-state-critical-one.json"))
        #expect(result.exitCode == 75)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("exit 3: last words"))
        #expect(result.stderr.utf8.count < 2000)
    }

    @Test func aMissingProgramIsAOneLineFailure() throws {
        let result = try ExecutableHarness.run(
            "consul-redeploy", arguments: ["--no-state", "--", "/nonexistent/redeploy", "{service}"], stdin: Fixtures.bytes("checks-state-critical-one.json"))
        #expect(result.exitCode == 75)
        #expect(result.stderr.contains("/nonexistent/redeploy"))
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test func logRecordsFromManyConcurrentHandlersNeverInterleave() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("watchers.log").path
        // Big records (the HTML output is ~200 bytes, plus 60 checks per delivery) from 16 processes at once.
        let payload = Payloads.checks((0..<60).map { Payloads.service("svc\($0)", node: "n\($0)", output: String(repeating: "<html>503</html> ", count: 40)) })
        let codes = Mutex32()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let result = try? ExecutableHarness.run("consul-log", arguments: ["--file", log], stdin: payload, environment: ["CONSUL_INDEX": String(100 + i)])
            codes.append(result?.exitCode ?? -1)
        }
        #expect(codes.values == Array(repeating: 0, count: 16))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 16 * 61)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["event"] as? String == "check" || object?["event"] as? String == "delivery")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: log)
        #expect((attributes[.posixPermissions] as? Int) == 0o640)
    }

    @Test func logSummaryCarriesIndexCountsAndDigest() throws {
        let result = try ExecutableHarness.run(
            "consul-log", arguments: [], stdin: Fixtures.bytes("checks-one-critical.json"), environment: ["CONSUL_INDEX": "48391"])
        #expect(result.exitCode == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(summary["event"] as? String == "delivery")
        #expect(summary["consulIndex"] as? Int == 48391)
        #expect(summary["checks"] as? Int == 10)
        #expect(summary["selected"] as? Int == 1)
        #expect((summary["digest"] as? String)?.hasPrefix("fnv1a64:") == true)
    }

    @Test func anUnwritableLogIsExit74NotASilentDrop() throws {
        let result = try ExecutableHarness.run(
            "consul-log", arguments: ["--file", "/nonexistent-dir/watchers.log"], stdin: Fixtures.bytes("checks-one-critical.json"))
        #expect(result.exitCode == 74)
        #expect(result.stderr == "consul-log: cannot open /nonexistent-dir/watchers.log: No such file or directory\n")
    }

    @Test func aRejectedPayloadIsLoggedBeforeTheError() throws {
        let result = try ExecutableHarness.run("consul-log", arguments: [], stdin: Array("{\"nope\":1}".utf8), environment: ["CONSUL_INDEX": "9"])
        #expect(result.exitCode == 65)
        #expect(result.stdout.contains("\"event\":\"rejected\""))
        #expect(result.stderr.hasPrefix("consul-log: stdin: "))
    }
}

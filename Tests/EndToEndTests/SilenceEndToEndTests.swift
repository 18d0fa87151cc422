import Foundation
import TestSupport
import Testing

@testable import HandlerKit

/// `consul-heal silence | unsilence | reset | pause | resume` through the real executable,
/// between deliveries the way a Consul agent makes them.
@Suite(.serialized) struct SilenceEndToEndTests {
    final class Scenario {
        let directory: URL
        var index: UInt64 = 1000
        var state: String { directory.appendingPathComponent("state").path }
        var output: String { directory.appendingPathComponent("redeploys.txt").path }
        var journal: String { directory.appendingPathComponent("journal.jsonl").path }
        var config: String { directory.appendingPathComponent("config.json").path }

        var flag: String { directory.appendingPathComponent("peer-is-up").path }

        /// `flaky`: the redeploy exits 75 (retryable) until `flag` exists.
        init(budget: String = #"{"max": 3, "window": "1h", "reset": "30m"}"#, flaky: Bool = false) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("silence-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let script =
                flaky ? #"cat >/dev/null; if [ -e \"$FLAG\" ]; then echo \"$1\" >> \"$OUT\"; else exit 75; fi"# : #"echo \"$1\" >> \"$OUT\"; cat >/dev/null"#
            let command = #"["/bin/sh", "-c", "\#(script)", "redeploy", "{service}"]"#
            try Data(
                #"""
                {"watch": "books-critical", "stateDir": "\#(state)", "journal": {"file": "\#(journal)"},
                 "defaults": {"cooldown": "0s", "budget": \#(budget)},
                 "routes": [{"name": "all", "actions": [{"type": "redeploy", "command": \#(command)}]}]}
                """#.utf8
            ).write(to: URL(fileURLWithPath: config))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        @discardableResult
        func deliver(_ payload: [UInt8]) throws -> ExecutableResult {
            index += 1
            return try ExecutableHarness.run(
                "consul-heal", arguments: ["--config", config], stdin: payload, environment: ["CONSUL_INDEX": String(index), "OUT": output, "FLAG": flag])
        }

        /// An operator's command, run as user `alice`.
        @discardableResult
        func heal(_ arguments: [String]) throws -> ExecutableResult {
            try ExecutableHarness.run(
                "consul-heal", arguments: [arguments[0], "--config", config] + arguments.dropFirst(), stdin: [], environment: ["USER": "alice"])
        }

        var redeploys: [String] {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        var journalRecords: [[String: Any]] {
            ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
        }

        func stateFile() throws -> HealState {
            try HealState(decoding: Array(try Data(contentsOf: URL(fileURLWithPath: state + "/state.json"))))
        }

        /// Rewrites the state (a silence's end moved into the past): expiry tested without waiting.
        func age(_ change: (inout HealState) -> Void) throws {
            var value = try stateFile()
            change(&value)
            try Data(value.encoded()).write(to: URL(fileURLWithPath: state + "/state.json"))
        }
    }

    static let empty = Array("[]\n".utf8)
    static let booksDown = Payloads.checks([Payloads.service("books")])

    @Test func aSilencedServiceIsLeftAloneJournaledShownAndExpiresOnItsOwn() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let silenced = try s.heal(["silence", "books", "--for", "2h", "--reason", "schema migration"])
        #expect(silenced.exitCode == 0, "\(silenced.stderr)")
        #expect(silenced.stdout.hasPrefix("silenced service:books by alice until "))
        let run = try s.deliver(Self.booksDown)
        #expect(run.exitCode == 0)
        #expect(run.stderr.contains("silenced: service:books by alice until "))
        #expect(s.redeploys.isEmpty)
        let decision = try #require(s.journalRecords.last { $0["event"] as? String == "decision" })
        #expect(decision["decision"] as? String == "silenced")
        #expect((decision["reason"] as? String)?.hasSuffix(": schema migration") == true)
        let journaled = try #require(s.journalRecords.first { $0["event"] as? String == "silence" })
        #expect(
            journaled["by"] as? String == "alice" && journaled["target"] as? String == "service:books" && journaled["reason"] as? String == "schema migration")
        #expect(try s.stateFile().targets["service:books"]?.remediations.isEmpty == true)

        let status = try s.heal(["status"])
        #expect(status.stdout.contains("silences: 1\n  service:books by alice until "))
        #expect(status.stdout.contains("failing (silenced)"))
        let json = try s.heal(["status", "--json"])
        #expect(json.stdout.contains(#""silences":{"service:books":{"#))
        let payload = s.directory.appendingPathComponent("books.json")
        try Data(Self.booksDown).write(to: payload)
        let explain = try s.heal(["explain", payload.path])
        #expect(explain.stdout.contains("silenced") && explain.stdout.contains("schema migration"))

        // The silence ends (its end moved into the past): books still failing is the same
        // failure, left alone; the expiry is journaled; a new failure is acted on.
        try s.age { $0.silences["service:books"]?.until = Date().timeIntervalSince1970 - 1 }
        let after = try s.deliver(Self.booksDown)
        #expect(after.stderr.contains("silenced: the current failure began or went on under a silence"))
        #expect(s.redeploys.isEmpty)
        #expect(try s.stateFile().silences.isEmpty)
        #expect(s.journalRecords.contains { $0["event"] as? String == "silence-expired" && $0["target"] as? String == "service:books" })
        #expect(try s.heal(["status"]).stdout.contains("silences: 0\n"))
        try s.deliver(Self.empty)
        try s.deliver(Self.booksDown)
        #expect(s.redeploys == ["books"])
    }

    @Test func unsilenceLiftsItAndANewFailureIsActedOn() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        try s.heal(["silence", "service:books", "--for", "30m"])
        try s.deliver(Self.booksDown)
        let lifted = try s.heal(["unsilence", "books", "--reason", "done early"])
        #expect(lifted.exitCode == 0, "\(lifted.stderr)")
        #expect(
            s.journalRecords.contains { $0["event"] as? String == "unsilence" && $0["by"] as? String == "alice" && $0["reason"] as? String == "done early" })
        try s.deliver(Self.booksDown)
        #expect(s.redeploys.isEmpty)
        try s.deliver(Self.empty)
        try s.deliver(Self.booksDown)
        #expect(s.redeploys == ["books"])
        let again = try s.heal(["unsilence", "books"])
        #expect(again.exitCode == 64)
        #expect(again.stderr.hasPrefix("consul-heal: service:books is not silenced\n"))
    }

    @Test func resetClosesAnOpenCircuitAndTheNextFailureActs() throws {
        let s = try Scenario(budget: #"{"max": 1, "window": "1h", "reset": "1h"}"#)
        try s.deliver(Self.empty)
        try s.deliver(Self.booksDown)
        try s.deliver(Self.empty)
        let escalated = try s.deliver(Self.booksDown)
        #expect(escalated.stderr.contains("budget exhausted"))
        try s.deliver(Self.empty)
        #expect(try s.deliver(Self.booksDown).stderr.contains("budget exhausted"))
        #expect(try s.stateFile().targets["service:books"]?.circuitOpenSince != nil)
        let reset = try s.heal(["reset", "books", "--reason", "fixed the image"])
        #expect(reset.exitCode == 0, "\(reset.stderr)")
        #expect(reset.stdout.contains("reset service:books: circuit closed (open since "))
        let record = try #require(try s.stateFile().targets["service:books"])
        #expect(record.circuitOpenSince == nil && record.remediations.isEmpty)
        #expect(
            s.journalRecords.contains { $0["event"] as? String == "reset" && $0["by"] as? String == "alice" && $0["reason"] as? String == "fixed the image" })
        try s.deliver(Self.empty)
        try s.deliver(Self.booksDown)
        #expect(s.redeploys == ["books", "books"])
    }

    @Test func pauseSilencesTheWholeWatchUntilResumed() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let paused = try s.heal(["pause", "--reason", "datacenter move"])
        #expect(paused.exitCode == 0, "\(paused.stderr)")
        let both = Payloads.checks([Payloads.service("books"), Payloads.service("web", node: "web-03")])
        let run = try s.deliver(both)
        #expect(run.stderr.contains("silenced: watch books-critical paused by alice until resumed: datacenter move"))
        #expect(s.redeploys.isEmpty)
        #expect(try s.heal(["status"]).stdout.contains("PAUSED: watch books-critical by alice until resumed: datacenter move"))
        #expect(try s.heal(["resume"]).exitCode == 0)
        #expect(s.journalRecords.map { $0["event"] as? String }.contains("resume"))
        try s.deliver(both)  // the same failures: still left alone
        #expect(s.redeploys.isEmpty)
        try s.deliver(Payloads.checks([Payloads.service("web", node: "web-03")]))  // books recovered
        try s.deliver(both)  // books failing anew
        #expect(s.redeploys == ["books"])
        #expect(try s.heal(["resume"]).stderr.hasPrefix("consul-heal: watch books-critical is not paused\n"))
    }

    @Test func aPauseWithADurationEndsOnItsOwn() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        #expect(try s.heal(["pause", "--for", "10m"]).stdout.contains("paused watch books-critical by alice until "))
        try s.age { $0.pauses["books-critical"]?.until = Date().timeIntervalSince1970 - 1 }
        try s.deliver(Self.booksDown)
        #expect(s.redeploys == ["books"])
        #expect(s.journalRecords.contains { $0["event"] as? String == "pause-expired" })
    }

    @Test func aSpooledRetryWaitsWhileItsTargetIsSilenced() throws {
        let s = try Scenario(flaky: true)
        try s.deliver(Self.empty)
        #expect(try s.deliver(Self.booksDown).exitCode == 75)  // spooled
        try s.heal(["silence", "books", "--for", "1h"])
        FileManager.default.createFile(atPath: s.flag, contents: nil)
        let silenced = try s.deliver(Self.booksDown)
        #expect(silenced.exitCode == 0)
        #expect(s.redeploys.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.state + "/spool").filter { $0.hasSuffix(".json") }.count == 1)
        try s.deliver(Self.empty)  // recovered: the retry is dropped
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.state + "/spool").filter { $0.hasSuffix(".json") }.isEmpty)
        #expect(s.redeploys.isEmpty)
    }

    @Test func usageErrorsAreOneLineAndExit64() throws {
        let s = try Scenario()
        let cases: [([String], String)] = [
            (["silence", "nod:web-02", "--for", "1h"], "consul-heal: unknown target 'nod:web-02': give a service name (books) or an incident ID"),
            (["silence", "books", "--for", "soon"], "consul-heal: option --for takes a duration"),
            (["silence", "books", "--for", "0s"], "consul-heal: --for needs a duration above 0"),
            (["silence", "books"], "consul-heal: silence needs --for DURATION"),
            (["silence", "--for", "1h"], "consul-heal: silence needs one TARGET"),
            (["reset", "books"], "consul-heal: unknown target service:books: not in the state"),
            (["pause", "books"], "consul-heal: pause takes no operands"),
            (["status", "--for", "1h"], "consul-heal: status does not take --for"),
            (["pause", "--dry-run"], "consul-heal: pause has no --dry-run"),
        ]
        for (arguments, message) in cases {
            let result = try s.heal(arguments)
            #expect(result.exitCode == 64, "\(arguments)")
            let first = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(first.hasPrefix(message), "\(arguments): \(result.stderr)")
        }
        let silences = FileManager.default.fileExists(atPath: s.state + "/state.json") ? try s.stateFile().silences : [:]
        #expect(silences.isEmpty)
    }
}

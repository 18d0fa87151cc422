import Foundation
import TestSupport
import Testing

@testable import HandlerKit

/// The state directory and the files the handlers append to, against a hostile or failing
/// environment, through the real executables (issue 7: items 2, 3, 6, 8, 9, 10).
@Suite(.serialized) struct StateHardeningEndToEndTests {
    typealias Scenario = PolicyEndToEndTests.Scenario
    static let empty = Array("[]\n".utf8)

    /// Lines of a file, each of which must be a whole JSON object.
    static func jsonLines(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.isEmpty || text.hasSuffix("\n"), "a partial record at the end of \(path)")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not a whole record: \(line.prefix(80))")
        }
        return lines
    }

    // MARK: Item 2: a killed actor's incident is acted on again

    @Test func anIncidentWhoseActorWasKilledIsActedOnAgainOnceItsClaimExpires() throws {
        let s = try Scenario()
        let flag = s.directory.appendingPathComponent("slow-once").path
        let journal = s.directory.appendingPathComponent("journal.jsonl").path
        // The first run hangs in the command (long enough to be killed there); later ones are quick.
        let script = #"echo "$1" >> "$OUT"; cat >/dev/null; if [ ! -e "$FLAG" ]; then : > "$FLAG"; sleep 5; fi"#
        let args = s.redeploy(["--timeout", "1s", "--journal", journal], script: script)
        let env = ["FLAG": flag]
        try s.deliver(Self.empty, arguments: args, environment: env)

        // Deliver web failing and SIGKILL the handler while its redeploy command runs.
        s.index += 1
        let process = Process()
        process.executableURL = try ExecutableHarness.productURL("consul-redeploy")
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment.merge(["CONSUL_INDEX": String(s.index), "OUT": s.output, "FLAG": flag]) { $1 }
        process.environment = environment
        let input = Pipe()
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Payloads.checks([Payloads.service("web")]))
        try input.fileHandleForWriting.close()
        let started = Date()
        while !FileManager.default.fileExists(atPath: flag), Date().timeIntervalSince(started) < 20 { Thread.sleep(forTimeInterval: 0.02) }
        #expect(FileManager.default.fileExists(atPath: flag))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(s.redeploys == ["web"])
        let claimed = try #require(try s.stateFile().targets["service:web"])
        let until = try #require(claimed.claimedUntil)
        #expect(claimed.claimedBy != nil)

        // While the claim holds, the dead actor's target is in flight, not acted on again.
        let during = try s.deliver(Payloads.checks([Payloads.service("web", output: "503 again")]), arguments: args, environment: env)
        #expect(during.stderr.contains("in flight"))
        #expect(s.redeploys == ["web"])

        // After it expires, the next delivery acts once more, saying why, counted in the budget.
        let wait = until - Date().timeIntervalSince1970 + 0.5
        #expect(wait < 30)
        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        let after = try s.deliver(Payloads.checks([Payloads.service("web", output: "503 still")]), arguments: args, environment: env)
        #expect(after.exitCode == 0)
        #expect(after.stderr.contains("previous actor pid \(process.processIdentifier) did not record an outcome before its claim expired"))
        #expect(s.redeploys == ["web", "web"])
        let record = try #require(try s.stateFile().targets["service:web"])
        #expect(record.remediations.count == 2)
        #expect(record.claimedBy == nil)
        #expect(
            try String(contentsOfFile: journal, encoding: .utf8).contains(
                #""decision":"act","reason":"previous actor pid \#(process.processIdentifier) did not record an outcome"#))
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.state + "/spool").filter { $0.hasSuffix(".json") }.isEmpty)
        // And only once: the next delivery is a duplicate again.
        let again = try s.deliver(Payloads.checks([Payloads.service("web", output: "503 yet again")]), arguments: args, environment: env)
        #expect(again.stderr.contains("duplicate"))
        #expect(s.redeploys == ["web", "web"])
    }

    // MARK: Item 6: a journal that cannot be written

    @Test func aJournalPastTheFileSizeLimitIsExit74WithNoPartialRecordAndTheOutcomeRecorded() throws {
        let s = try Scenario()
        let journal = s.directory.appendingPathComponent("journal.jsonl").path
        try s.deliver(Self.empty)
        // 8 blocks of 512 bytes: room for the existing records and not for the next one whole.
        var filler = ""
        while filler.utf8.count < 4096 - 150 { filler += #"{"event":"filler","n":\#(filler.count)}"# + "\n" }
        try Data(filler.utf8).write(to: URL(fileURLWithPath: journal))
        s.index += 1
        let executable = try ExecutableHarness.productURL("consul-redeploy").path
        let command =
            (["ulimit", "-f", "8;", "exec", ExecutableHarness.shellQuote(executable)]
            + s.redeploy(["--journal", journal]).map(ExecutableHarness.shellQuote)).joined(separator: " ")
        let result = try ExecutableHarness.runShell(
            command, stdin: Payloads.checks([Payloads.service("web")]), environment: ["CONSUL_INDEX": String(s.index), "OUT": s.output])
        #expect(result.exitCode == 74)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.filter { $0.contains("journal") }.count == 1)
        #expect(lines.last?.hasPrefix("consul-redeploy: journal: cannot write \(journal): File too large") == true)
        // Nothing half written: the journal is the filler, whole.
        #expect(try Self.jsonLines(journal).count == filler.split(separator: "\n").count)
        // The action ran and its outcome is in the state (acted, claim released, nothing spooled).
        #expect(s.redeploys == ["web"])
        let record = try #require(try s.stateFile().targets["service:web"])
        #expect(record.acted && record.claimedBy == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.state + "/spool").filter { $0.hasSuffix(".json") }.isEmpty)
    }

    // MARK: Item 3: links and modes

    @Test func aSymbolicLinkAtAnAppendTargetIsRefusedNotFollowed() throws {
        let s = try Scenario()
        let victim = s.directory.appendingPathComponent("victim").path
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        let link = s.directory.appendingPathComponent("journal.jsonl").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: victim)
        let journaled = try s.deliver(Payloads.checks([Payloads.service("web")]), extra: ["--journal", link])
        #expect(journaled.exitCode == 74)
        #expect(
            journaled.stderr
                == "consul-redeploy: journal: cannot open \(link): it is a symbolic link (refused: files are appended to only where they are, never through a link)\n"
        )
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")

        // A dangling link does not create its target either (consul-log --file).
        let missing = s.directory.appendingPathComponent("created-through-link").path
        let dangling = s.directory.appendingPathComponent("watch.log").path
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: missing)
        let logged = try ExecutableHarness.run("consul-log", arguments: ["--file", dangling], stdin: Fixtures.bytes("checks-one-critical.json"))
        #expect(logged.exitCode == 74)
        #expect(logged.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test func aStateDirectoryOthersCanWriteIsRefused() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        try FileManager.default.setAttributes([.posixPermissions: 0o770], ofItemAtPath: s.state)
        let result = try s.deliver(Payloads.checks([Payloads.service("web")]))
        #expect(result.exitCode == 74)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("group- or world-writable (mode 770)"))
        #expect(s.redeploys.isEmpty)
    }

    @Test func aSpoolEntryWhoseNameDoesNotMatchItsKeyIsQuarantinedNeverRun() throws {
        let s = try Scenario()
        let flag = s.directory.appendingPathComponent("peer-is-up").path
        let script = #"cat >/dev/null; if [ -e "$FLAG" ]; then echo "$1" >> "$OUT"; else exit 75; fi"#
        let args = s.redeploy(script: script)
        let env = ["FLAG": flag]
        try s.deliver(Self.empty, arguments: args, environment: env)
        #expect(try s.deliver(Payloads.checks([Payloads.service("web")]), arguments: args, environment: env).exitCode == 75)
        let spool = s.state + "/spool"
        let entry = try #require(try FileManager.default.contentsOfDirectory(atPath: spool).first { $0.hasSuffix(".json") })
        try FileManager.default.moveItem(atPath: spool + "/" + entry, toPath: spool + "/planted.json")
        FileManager.default.createFile(atPath: flag, contents: nil)
        let next = try s.deliver(Payloads.checks([Payloads.service("web", output: "still 503")]), arguments: args, environment: env)
        #expect(next.stderr.contains("was moved to \(spool)/quarantine/planted.json and will not be run"))
        #expect(s.redeploys.isEmpty)
        #expect(FileManager.default.fileExists(atPath: spool + "/quarantine/planted.json"))
    }

    // MARK: Item 8: long names

    @Test func aThreeHundredCharacterServiceNameIsSpooledUnderAFixedLengthName() throws {
        let s = try Scenario()
        let name = String(repeating: "s", count: 300)
        let args = s.redeploy(script: "cat >/dev/null; exit 75")
        try s.deliver(Self.empty, arguments: args)
        let result = try s.deliver(Payloads.checks([Payloads.service(name)]), arguments: args)
        #expect(result.exitCode == 75)
        #expect(result.stderr.contains("1 action(s) spooled"))
        let entries = try FileManager.default.contentsOfDirectory(atPath: s.state + "/spool").filter { $0.hasSuffix(".json") }
        #expect(entries.count == 1)
        #expect(entries.allSatisfy { $0.count == 37 })
        #expect(try String(contentsOfFile: s.state + "/spool/" + entries[0], encoding: .utf8).contains(#""key":"consul-redeploy/service:\#(name)@"#))
    }

    // MARK: Item 9: leftovers and odd files

    @Test func temporaryFilesOfKilledWritersAreSweptOnceOld() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let old = [s.state + "/.state.json.tmp.99999.1", s.state + "/spool/.x.json.tmp.99999.2"]
        let young = s.state + "/.state.json.tmp.99999.3"
        for path in old + [young] { FileManager.default.createFile(atPath: path, contents: Data("{".utf8)) }
        for path in old { try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: path) }
        let result = try s.deliver(Payloads.checks([Payloads.service("web")]))
        #expect(result.exitCode == 0)
        #expect(old.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        #expect(FileManager.default.fileExists(atPath: young))
        #expect(result.stderr.contains("a temporary file left by a handler killed while writing"))
    }

    @Test func aFIFOAsTokenFileIsRefusedAtOnce() throws {
        let s = try Scenario()
        let fifo = s.directory.appendingPathComponent("token").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let result = try ExecutableHarness.run(
            "consul-jenkins", arguments: ["--url", "http://127.0.0.1:9/", "--no-state", "--token-file", fifo, "--job", "x"],
            stdin: Fixtures.bytes("checks-state-critical-one.json"), environment: ["JENKINS_USER": "u"], timeout: 20)
        #expect(result.exitCode == 64)
        #expect(result.stderr.hasPrefix("consul-jenkins: token file \(fifo) is not a regular file"))
    }

    // MARK: Item 10: numbers in the state

    @Test func aStateNumberTooLargeForAnIntegerMovesTheFileAsideInsteadOfCrashing() throws {
        let s = try Scenario()
        try s.deliver(Self.empty)
        let crafted =
            #"{"version":1,"watches":{"consul-redeploy":{"lastIndex":1,"deliveries":1e300,"lastDelivery":1}},"targets":{"service:web":{"target":"web","watch":"consul-redeploy","failing":true,"acted":true,"lastActionAt":1e300,"deliveriesFailing":1e300}}}"#
        try Data(crafted.utf8).write(to: URL(fileURLWithPath: s.state + "/state.json"))
        let result = try s.deliver(Payloads.checks([Payloads.service("web")]))
        #expect(result.signal == nil)
        #expect(result.exitCode == 0)
        #expect(result.stderr.contains("is unreadable"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.state).contains { $0.hasPrefix("state.json.corrupt-") })
        _ = try s.stateFile()
    }
}

import Dispatch
import Foundation
import Glibc
import Platform
import Synchronization
import Testing

@Suite struct SubprocessTests {
    @Test func exitStatusesAreValues() throws {
        let success = try Subprocess.run(shell("exit 0"))
        #expect(success.termination == .exited(0))
        #expect(success.termination.isSuccess)
        #expect(!success.timedOut)
        #expect(success.processID > 0)
        #expect(success.duration > 0 && success.duration < 10)

        for status: Int32 in [1, 3, 127, 255] {
            let result = try Subprocess.run(shell("exit \(status)"))
            #expect(result.termination == .exited(status))
            #expect(!result.termination.isSuccess)
        }
    }

    @Test func signaledChildIsAValue() throws {
        let terminated = try Subprocess.run(shell("kill -TERM $$; sleep 5"))
        #expect(terminated.termination == .signaled(SIGTERM))
        #expect(!terminated.termination.isSuccess)
        let killed = try Subprocess.run(shell("kill -KILL $$"))
        #expect(killed.termination == .signaled(SIGKILL))
        #expect(killed.termination.description == "killed by signal 9")
    }

    @Test func missingProgramThrowsNamingIt() throws {
        let name = "no-such-program-\(getpid())"
        let error = #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: name, environment: basicEnvironment))
        }
        #expect(error?.errno == ENOENT)
        #expect(error?.path == name)
        #expect(error?.description.contains(name) == true)

        let absolute = #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: "/nonexistent/\(name)", environment: [:]))
        }
        #expect(absolute?.errno == ENOENT)
        #expect(absolute?.description == "cannot run /nonexistent/\(name): No such file or directory")
    }

    @Test func notExecutableThrows() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let script = directory + "/script"
        try AtomicFile.write(Array("#!/bin/sh\nexit 0\n".utf8), to: script, mode: 0o644)
        let plain = #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: script, environment: [:]))
        }
        #expect(plain?.errno == EACCES)
        let folder = #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: directory, environment: [:]))
        }
        #expect(folder?.errno == EACCES)
        // Found in PATH but not executable, and nothing better later in PATH.
        let searched = #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: "script", environment: ["PATH": directory]))
        }
        #expect(searched?.errno == EACCES)
        #expect(searched?.path == "script")

        chmod(script, 0o755)
        let result = try Subprocess.run(SpawnRequest(executable: "script", environment: ["PATH": "/nonexistent:" + directory]))
        #expect(result.termination == .exited(0))
    }

    @Test func bareNamesAreLookedUpInTheChildsPath() throws {
        let found = try Subprocess.run(SpawnRequest(executable: "true", environment: ["PATH": "/nonexistent:/usr/bin:/bin"]))
        #expect(found.termination == .exited(0))
        #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: "true", environment: ["PATH": "/nonexistent"]))
        }
        // No PATH for the child: this process's PATH finds it.
        let fallback = try Subprocess.run(SpawnRequest(executable: "true", environment: [:]))
        #expect(fallback.termination == .exited(0))
        #expect(try Subprocess.locate("sh", searchPath: "/nonexistent:/bin") == "/bin/sh")
    }

    @Test func standardInputArrivesIntact() throws {
        let input = noise(count: 1 << 20, seed: 7)
        let result = try Subprocess.run(
            SpawnRequest(
                executable: "cat", environment: basicEnvironment, standardInput: input, outputLimit: 2 << 20))
        #expect(result.termination == .exited(0))
        #expect(result.standardOutput == input)
        #expect(result.outputBytesDiscarded == 0)
        #expect(result.standardError.isEmpty)
    }

    @Test func childThatNeverReadsInputStillFinishes() throws {
        let input = [UInt8](repeating: 0x41, count: 1 << 20)
        let quiet = try Subprocess.run(SpawnRequest(executable: "true", environment: basicEnvironment, standardInput: input, timeout: 20))
        #expect(quiet.termination == .exited(0))
        #expect(!quiet.timedOut)
        let failing = try Subprocess.run(shell("echo partial; exit 7", input: input, timeout: 20))
        #expect(failing.termination == .exited(7))
        #expect(text(failing.standardOutput) == "partial\n")
        // A child that reads a little, then leaves.
        let head = try Subprocess.run(
            SpawnRequest(
                executable: "head", arguments: ["-c", "5"], environment: basicEnvironment, standardInput: input, timeout: 20))
        #expect(head.termination == .exited(0))
        #expect(text(head.standardOutput) == "AAAAA")
    }

    @Test func largeOutputIsCappedAndCounted() throws {
        let size = 10 << 20
        let result = try Subprocess.run(
            SpawnRequest(
                executable: "head", arguments: ["-c", "\(size)", "/dev/zero"], environment: basicEnvironment, timeout: 60))
        #expect(result.termination == .exited(0))
        #expect(result.standardOutput.count == 64 * 1024)
        #expect(result.outputBytesDiscarded == size - 64 * 1024)

        let both = try Subprocess.run(
            shell(
                "head -c \(size) /dev/zero; head -c \(size) /dev/zero >&2; echo done >&2", timeout: 60, outputLimit: 1000))
        #expect(both.termination == .exited(0))
        #expect(both.standardOutput.count == 1000)
        #expect(both.standardError.count == 1000)
        #expect(both.outputBytesDiscarded == 2 * size + 5 - 2000)
    }

    @Test func tenMegabytesBothWaysDoNotDeadlock() throws {
        let input = noise(count: 10 << 20, seed: 42)
        let echoed = try Subprocess.run(
            SpawnRequest(
                executable: "cat", environment: basicEnvironment, standardInput: input, timeout: 60, outputLimit: 16 << 20))
        #expect(echoed.termination == .exited(0))
        #expect(echoed.standardOutput.count == input.count)
        #expect(echoed.standardOutput == input)

        // Writes 10 MB to standard error before reading any input, then 10 MB to standard output:
        // only works if we read while we write.
        let writerFirst = try Subprocess.run(
            shell(
                "head -c 10485760 /dev/zero >&2; wc -c; head -c 10485760 /dev/zero", input: input, timeout: 60))
        #expect(writerFirst.termination == .exited(0))
        let count = Array("\(10 << 20)\n".utf8)
        #expect(Array(writerFirst.standardOutput.prefix(count.count)) == count)
        #expect(writerFirst.standardOutput.count == 64 * 1024)
        #expect(writerFirst.standardError.count == 64 * 1024)
        #expect(writerFirst.outputBytesDiscarded == 2 * (10 << 20) + count.count - 2 * 64 * 1024)
    }

    @Test func timeoutKillsTheWholeGroup() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let pidFile = directory + "/grandchild"
        let result = try Subprocess.run(shell("sleep 30 & echo $! > \"$1\"; sleep 30", [pidFile], timeout: 0.5))
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGTERM))
        #expect(result.duration >= 0.5 && result.duration < 5)
        let grandchild = try #require(readPID(pidFile))
        #expect(waitUntilGone(grandchild), "the backgrounded sleep \(grandchild) survived the timeout")
        #expect(!isRunning(result.processID))
    }

    @Test func childIgnoringTerminateIsKilledAfterTheGrace() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let pidFile = directory + "/grandchild"
        let result = try Subprocess.run(
            shell(
                "trap '' TERM; sleep 30 & echo $! > \"$1\"; sleep 30", [pidFile], timeout: 0.3, killGrace: 0.5))
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        #expect(result.duration >= 0.8 && result.duration < 5)
        let grandchild = try #require(readPID(pidFile))
        #expect(waitUntilGone(grandchild), "the TERM-ignoring sleep \(grandchild) survived")
    }

    @Test func backgroundedGrandchildHoldingOutputDoesNotHoldRun() throws {
        let result = try Subprocess.run(shell("sleep 30 & echo $!; echo started >&2"))
        defer {
            if let pid = pid_t(text(result.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
        }
        #expect(result.termination == .exited(0))
        #expect(!result.timedOut)
        #expect(result.duration < 1.5, "run waited \(result.duration) s for a grandchild")
        #expect(text(result.standardError) == "started\n")
        #expect(pid_t(text(result.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)) != nil)
    }

    @Test func hostileArgumentsArriveByteForByte() throws {
        let arguments = [
            "web; rm -rf /", "$(id)", "`id`", "a'b\"c", "'", "\"", "line1\nline2", "", " spaced  out ",
            "--", "-e", "*", "?", "\\", "$HOME", "%s%n", "tab\there", "héllo ✓", "&& echo pwned |", ">/tmp/x",
        ]
        let result = try Subprocess.run(shell("printf '%s\\0' \"$@\"", arguments))
        #expect(result.termination == .exited(0))
        let received = result.standardOutput.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { text(Array($0)) }
        #expect(received == arguments)
        #expect(result.standardOutput == arguments.flatMap { Array($0.utf8) + [0] })
    }

    @Test func argumentWithNULByteIsRefused() throws {
        let error = #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: "true", arguments: ["a\0b"], environment: basicEnvironment))
        }
        #expect(error?.errno == EINVAL)
    }

    @Test func environmentIsPassedExactly() throws {
        let environment = ["PATH": "/usr/bin:/bin", "A": "1", "SPACES": " x  y ", "NEWLINE": "a\nb", "EMPTY": "", "QUOTE": "it's \"$(id)\""]
        let result = try Subprocess.run(SpawnRequest(executable: "env", arguments: ["-0"], environment: environment))
        #expect(result.termination == .exited(0))
        var received: [String: String] = [:]
        for entry in result.standardOutput.split(separator: 0) {
            let line = text(Array(entry))
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            received[String(parts[0])] = parts.count > 1 ? String(parts[1]) : nil
        }
        #expect(received == environment)

        let empty = try Subprocess.run(SpawnRequest(executable: "/usr/bin/env", environment: [:]))
        #expect(empty.termination == .exited(0))
        #expect(empty.standardOutput.isEmpty)
    }

    @Test func childHasOnlyItsThreePipes() throws {
        // A descriptor this process forgot to mark close-on-exec must not reach the child.
        let leaky = Glibc.open("/dev/null", O_RDONLY)
        #expect(leaky >= 0)
        defer { close(leaky) }
        let listing = try Subprocess.run(SpawnRequest(executable: "/bin/ls", arguments: ["/proc/self/fd"], environment: [:]))
        #expect(text(listing.standardOutput) == "0\n1\n2\n3\n")  // 3 is ls's own directory handle

        let links = try Subprocess.run(shell("readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2"))
        let lines = text(links.standardOutput).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.hasPrefix("pipe:[") })
    }

    @Test func childStartsWithDefaultSignalsInItsOwnGroup() throws {
        // Whatever this process ignores or blocks, the child starts clean.
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        var usr2 = sigset_t()
        sigemptyset(&usr2)
        sigaddset(&usr2, SIGUSR2)
        var savedMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &usr2, &savedMask)
        defer { pthread_sigmask(SIG_SETMASK, &savedMask, nil) }
        let status = try Subprocess.run(
            SpawnRequest(
                executable: "grep", arguments: ["-E", "^Sig(Blk|Ign):", "/proc/self/status"], environment: basicEnvironment))
        #expect(text(status.standardOutput) == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")

        let group = try Subprocess.run(shell("cut -d ' ' -f 5 /proc/$$/stat"))
        #expect(text(group.standardOutput) == "\(group.processID)\n")
    }

    @Test func brokenInputPipeDoesNotKillUsWithSIGPIPE() throws {
        // With SIGPIPE at its default action, a write to a child that stopped reading would end
        // this test process if run() did not block and then discard the signal.
        let previous = signal(SIGPIPE, SIG_DFL)
        defer { signal(SIGPIPE, previous) }
        let input = [UInt8](repeating: 0x42, count: 4 << 20)
        for _ in 0..<3 {
            let result = try Subprocess.run(
                SpawnRequest(
                    executable: "head", arguments: ["-c", "1"], environment: basicEnvironment, standardInput: input, timeout: 20))
            #expect(result.termination == .exited(0))
            #expect(text(result.standardOutput) == "B")
        }
        var mask = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &mask)
        #expect(sigismember(&mask, SIGPIPE) == 0, "run() left SIGPIPE blocked")
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0, "run() left a SIGPIPE pending")
    }

    @Test func childThatClosesItsOutputIsStillWaitedForAndTimed() throws {
        let late = try Subprocess.run(shell("exec >&- 2>&- <&-; sleep 0.3; exit 4"))
        #expect(late.termination == .exited(4))
        #expect(late.duration >= 0.3)
        let stuck = try Subprocess.run(shell("exec >&- 2>&- <&-; sleep 30", timeout: 0.3))
        #expect(stuck.timedOut)
        #expect(stuck.termination == .signaled(SIGTERM))
        #expect(stuck.duration < 5)
    }

    @Test func endlessOutputTimesOut() throws {
        let result = try Subprocess.run(SpawnRequest(executable: "yes", environment: basicEnvironment, timeout: 0.3, outputLimit: 10))
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGTERM))
        #expect(text(result.standardOutput) == "y\ny\ny\ny\ny\n")
        #expect(result.outputBytesDiscarded > 0)
        #expect(result.duration < 5)
    }

    @Test func workingDirectory() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let resolved = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        let result = try Subprocess.run(SpawnRequest(executable: "/bin/pwd", arguments: ["-P"], environment: [:], workingDirectory: directory))
        #expect(text(result.standardOutput) == resolved + "\n")

        let missing = directory + "/missing"
        let error = #expect(throws: SystemError.self) {
            try Subprocess.run(SpawnRequest(executable: "/bin/pwd", environment: [:], workingDirectory: missing))
        }
        #expect(error?.path == missing)
        #expect(error?.errno == ENOENT)
    }

    @Test func concurrentRunsStayApart() throws {
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            let input = Array("input-\(index)\n".utf8)
            do {
                let result = try Subprocess.run(shell("printf '%s\\n' \"$1\"; cat; ls /proc/self/fd", ["\(index)"], input: input, timeout: 30))
                let expected = "\(index)\ninput-\(index)\n0\n1\n2\n3\n"
                if result.termination != .exited(0) || text(result.standardOutput) != expected {
                    failures.withLock { $0.append("\(index): \(result.termination) \(text(result.standardOutput).debugDescription)") }
                }
            } catch {
                failures.withLock { $0.append("\(index): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }
}

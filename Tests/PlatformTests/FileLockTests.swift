import Dispatch
import Foundation
import Glibc
import Platform
import Testing

@Suite struct FileLockTests {
    static let flockCommand = "/usr/bin/flock"
    static var hasFlockCommand: Bool { FileManager.default.isExecutableFile(atPath: flockCommand) }

    /// `flock -n path true` in a child: 0 when it got the lock, 1 when someone else holds it.
    func otherProcessCanLock(_ path: String) throws -> Bool {
        let result = try Subprocess.run(
            SpawnRequest(
                executable: Self.flockCommand, arguments: ["-n", path, "true"], environment: basicEnvironment, timeout: 10))
        #expect(result.termination == .exited(0) || result.termination == .exited(1))
        return result.termination == .exited(0)
    }

    @Test(.enabled(if: hasFlockCommand)) func excludesOtherProcesses() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/handler.lock"
        let lock = try FileLock.acquire(path: path, timeout: 1)
        #expect(lock.isHeld)
        #expect(try FileIO.permissions(of: path) == 0o600)
        #expect(try !otherProcessCanLock(path))
        lock.release()
        #expect(!lock.isHeld)
        #expect(try otherProcessCanLock(path))
        lock.release()  // twice is fine
    }

    @Test(.enabled(if: hasFlockCommand)) func waitsForAnotherProcessThenTimesOut() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/handler.lock"
        let marker = directory + "/locked"
        let holder = DispatchGroup()
        holder.enter()
        DispatchQueue.global().async {
            _ = try? Subprocess.run(
                SpawnRequest(
                    executable: Self.flockCommand, arguments: [path, "/bin/sh", "-c", ": > \"$1\"; sleep 1.5", "sh", marker],
                    environment: basicEnvironment, timeout: 20))
            holder.leave()
        }
        defer { holder.wait() }
        var waited = 0
        while !FileIO.exists(marker) && waited < 500 {
            usleep(10_000)
            waited += 1
        }
        try #require(FileIO.exists(marker))

        let started = Date()
        let error = #expect(throws: SystemError.self) { try FileLock.acquire(path: path, timeout: 0.2) }
        #expect(Date().timeIntervalSince(started) >= 0.2)
        #expect(error?.errno == EWOULDBLOCK)
        #expect(error?.description == "cannot get the lock within 0.2 s on \(path): Resource temporarily unavailable")

        let lock = try FileLock.acquire(path: path, timeout: 20)
        #expect(lock.isHeld)
        #expect(Date().timeIntervalSince(started) >= 0.5)
    }

    @Test func excludesWithinTheProcessAndDeinitReleases() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/state.lock"
        do {
            let first = try FileLock.acquire(path: path, timeout: 0)
            #expect(first.isHeld)
            let error = #expect(throws: SystemError.self) { try FileLock.acquire(path: path, timeout: 0.1) }
            #expect(error?.errno == EWOULDBLOCK)
            #expect(error?.path == path)
        }
        let again = try FileLock.acquire(path: path, timeout: 0)
        #expect(again.isHeld)
    }

    @Test func missingDirectoryIsAnError() throws {
        let error = #expect(throws: SystemError.self) {
            try FileLock.acquire(path: "/nonexistent-\(getpid())/x.lock", timeout: 0)
        }
        #expect(error?.errno == ENOENT)
    }

    @Test func serializesReadModifyWriteAcrossThreads() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/counter.lock"
        let counter = directory + "/counter"
        try AtomicFile.write(Array("0".utf8), to: counter)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<25 {
                guard let lock = try? FileLock.acquire(path: path, timeout: 30) else { continue }
                defer { lock.release() }
                let value = (try? FileIO.readFile(counter)).flatMap { Int(text($0)) } ?? -1000
                try? AtomicFile.write(Array("\(value + 1)".utf8), to: counter)
            }
        }
        #expect(text(try FileIO.readFile(counter)) == "200")
    }
}

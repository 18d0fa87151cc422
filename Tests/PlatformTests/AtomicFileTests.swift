import Dispatch
import Foundation
import Glibc
import Platform
import Synchronization
import Testing

@Suite struct AtomicFileTests {
    @Test func writeReplacesAndLeavesNoTemporaryFiles() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/state.json"
        let first = noise(count: 100_000, seed: 1)
        try AtomicFile.write(first, to: path)
        #expect(try FileIO.readFile(path) == first)
        #expect(try FileIO.permissions(of: path) == 0o600)

        let second = Array("{\"short\":true}\n".utf8)
        try AtomicFile.write(second, to: path)
        #expect(try FileIO.readFile(path) == second)
        try AtomicFile.write([], to: path)
        #expect(try FileIO.readFile(path) == [])
        #expect(try AtomicFile.listDirectory(directory) == ["state.json"])
    }

    @Test func modeIsExactWhateverTheUmask() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/public"
        try AtomicFile.write(Array("x".utf8), to: path, mode: 0o664)
        #expect(try FileIO.permissions(of: path) == 0o664)
        try AtomicFile.write(Array("y".utf8), to: path, mode: 0o600)
        #expect(try FileIO.permissions(of: path) == 0o600)
    }

    @Test func failuresLeaveNothingBehind() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let missing = #expect(throws: SystemError.self) {
            try AtomicFile.write([1, 2, 3], to: directory + "/missing/state")
        }
        #expect(missing?.errno == ENOENT)

        // The target is a non-empty directory: rename fails, the temporary file goes.
        let occupied = directory + "/occupied"
        try AtomicFile.createDirectory(occupied + "/inside")
        #expect(throws: SystemError.self) { try AtomicFile.write([1, 2, 3], to: occupied) }
        #expect(try AtomicFile.listDirectory(directory) == ["occupied"])
        #expect(try AtomicFile.listDirectory(occupied) == ["inside"])
    }

    @Test func concurrentWritersNeverProduceAMix() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/state"
        let payloads = (0..<8).map { [UInt8](repeating: UInt8(0x41 + $0), count: 64 * 1024 + $0) }
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            for _ in 0..<20 {
                do { try AtomicFile.write(payloads[index], to: path) } catch { failures.withLock { $0 += 1 } }
                if let read = try? FileIO.readFile(path), !payloads.contains(read) { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(payloads.contains(try FileIO.readFile(path)))
        #expect(try AtomicFile.listDirectory(directory) == ["state"])
    }

    @Test func appendedRecordsFromManyThreadsNeverInterleave() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/journal.log"
        let threads = 16
        let records = 200
        let padding = String(repeating: "x", count: 300)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for record in 0..<records {
                let line = "thread=\(thread) record=\(record) \(padding) end\n"
                do { try AtomicFile.appendRecord(path: path, bytes: Array(line.utf8), mode: 0o640) } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let lines = text(try FileIO.readFile(path)).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "")
        var seen = Set<String>()
        for line in lines.dropLast() {
            let fields = line.split(separator: " ")
            #expect(fields.count == 4 && fields[2] == padding && fields[3] == "end", "torn line: \(line.prefix(60))")
            seen.insert(fields.prefix(2).joined(separator: " "))
        }
        #expect(lines.count - 1 == threads * records)
        #expect(seen.count == threads * records)
        #expect(try FileIO.permissions(of: path) == 0o640)
    }

    @Test func appendRecordKeepsAnExistingFilesMode() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/log"
        try AtomicFile.appendRecord(path: path, bytes: Array("one\n".utf8), mode: 0o600, fsync: true)
        try AtomicFile.appendRecord(path: path, bytes: Array("two\n".utf8), mode: 0o644, fsync: true)
        #expect(try FileIO.permissions(of: path) == 0o600)
        #expect(text(try FileIO.readFile(path)) == "one\ntwo\n")
    }

    @Test func createDirectoryIsLikeMkdirP() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let nested = directory + "/a/b//c/"
        try AtomicFile.createDirectory(nested)
        #expect(FileIO.isDirectory(directory + "/a/b/c"))
        #expect(try FileIO.permissions(of: directory + "/a/b/c") == 0o700)
        #expect(try FileIO.permissions(of: directory + "/a") == 0o700)
        try AtomicFile.createDirectory(nested)  // again: fine

        try AtomicFile.write([1], to: directory + "/file")
        let error = #expect(throws: SystemError.self) { try AtomicFile.createDirectory(directory + "/file/sub") }
        #expect(error?.errno == ENOTDIR)
        let itself = #expect(throws: SystemError.self) { try AtomicFile.createDirectory(directory + "/file") }
        #expect(itself?.errno == ENOTDIR)
    }

    @Test func listRenameRemove() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        #expect(try AtomicFile.listDirectory(directory) == [])
        for name in ["b", "a", "c.json", ".hidden"] { try AtomicFile.write([], to: directory + "/" + name) }
        try AtomicFile.createDirectory(directory + "/d")
        #expect(try AtomicFile.listDirectory(directory) == [".hidden", "a", "b", "c.json", "d"])

        try AtomicFile.rename(directory + "/a", to: directory + "/b")
        #expect(try AtomicFile.listDirectory(directory) == [".hidden", "b", "c.json", "d"])
        try AtomicFile.remove(directory + "/b")
        try AtomicFile.remove(directory + "/d")
        #expect(try AtomicFile.listDirectory(directory) == [".hidden", "c.json"])

        let gone = #expect(throws: SystemError.self) { try AtomicFile.remove(directory + "/b") }
        #expect(gone?.errno == ENOENT)
        let missing = #expect(throws: SystemError.self) { try AtomicFile.listDirectory(directory + "/nope") }
        #expect(missing?.errno == ENOENT)
        let renamed = #expect(throws: SystemError.self) { try AtomicFile.rename(directory + "/nope", to: directory + "/x") }
        #expect(renamed?.errno == ENOENT)
    }
}

@Suite struct NoFollowTests {
    @Test func appendRecordRefusesASymbolicLinkAndCreatesNothingThroughADanglingOne() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        try AtomicFile.write(Array("keep\n".utf8), to: directory + "/target")
        #expect(symlink(directory + "/target", directory + "/log") == 0)
        let error = #expect(throws: SystemError.self) { try AtomicFile.appendRecord(path: directory + "/log", bytes: Array("x\n".utf8)) }
        #expect(error?.errno == ELOOP)
        #expect(try FileIO.readFile(directory + "/target") == Array("keep\n".utf8))
        #expect(symlink(directory + "/absent", directory + "/dangling") == 0)
        #expect(throws: SystemError.self) { try AtomicFile.appendRecord(path: directory + "/dangling", bytes: Array("x\n".utf8)) }
        #expect(!FileIO.exists(directory + "/absent"))
    }

    @Test func aNewAppendTargetGetsExactlyItsModeWhateverTheUmask() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let old = umask(0o077)
        defer { umask(old) }
        let fd = try FileIO.openForAppend(directory + "/log", mode: 0o640)
        FileIO.closeDescriptor(fd)
        #expect(try FileIO.permissions(of: directory + "/log") == 0o640)
    }

    @Test func readRegularFileRefusesAFIFOWithoutBlocking() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        #expect(mkfifo(directory + "/fifo", 0o600) == 0)
        let error = #expect(throws: SystemError.self) { try FileIO.readRegularFile(directory + "/fifo", limit: 100) }
        #expect(error?.errno == EINVAL)
    }

    @Test func oldTemporaryFilesAreSweptYoungOnesKept() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        try AtomicFile.write([1], to: directory + "/.state.json.tmp.1.1")
        try AtomicFile.write([1], to: directory + "/state.json")
        let now = SystemTime.wallSeconds()
        #expect(AtomicFile.sweepTemporaryFiles(in: directory, olderThan: 3600, now: now).isEmpty)
        #expect(AtomicFile.sweepTemporaryFiles(in: directory, olderThan: 3600, now: now + 7200) == [".state.json.tmp.1.1"])
        #expect(try AtomicFile.listDirectory(directory) == ["state.json"])
    }
}

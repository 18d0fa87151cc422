import Foundation
import Platform
import Synchronization
import Testing

@testable import HandlerKit

/// The state directory's files: spool names, dead-letter caps, strict modes.
@Suite struct StateStoreTests {
    final class Warnings: Sendable {
        let lines = Mutex<[String]>([])
        func add(_ line: String) { lines.withLock { $0.append(line) } }
    }

    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }

    @Test func spoolFileNamesHaveAFixedLengthWhateverTheKey() {
        let short = StateStore.fileName("w/service:web@1")
        let long = StateStore.fileName("w/service:" + String(repeating: "x", count: 5000) + "@1")
        #expect(short.count == 37 && long.count == 37)
        #expect(short != long)
        #expect(short.allSatisfy { $0.isHexDigit || $0 == "." || $0 == "j" || $0 == "s" || $0 == "o" || $0 == "n" })
    }

    @Test func anEntryWithItsOldNameIsRenamedAndStillRead() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let warnings = Warnings()
        let store = try StateStore(directory: directory, warn: warnings.add)
        let entry = StateStore.SpoolEntry(
            key: "w/service:web@1", watch: "w", route: "default", incidentID: "service:web", incidentJSON: Array("{}".utf8),
            attempts: 1, firstFailure: 1, lastError: "")
        try store.writeSpool(entry)
        try FileManager.default.moveItem(
            atPath: store.spoolDirectory + "/" + StateStore.fileName(entry.key),
            toPath: store.spoolDirectory + "/" + StateStore.legacyFileName(entry.key))
        #expect(try store.spool().map(\.key) == [entry.key])
        #expect(FileManager.default.fileExists(atPath: store.spoolDirectory + "/" + StateStore.fileName(entry.key)))
        #expect(warnings.lines.withLock { $0 }.isEmpty)
    }

    @Test func deadLettersAreCappedOldestFirst() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let warnings = Warnings()
        let store = try StateStore(directory: directory, warn: warnings.add)
        var written: [String] = []
        for i in 0..<4 {
            written.append(try store.deadLetter(Array(repeating: 0x41, count: 1000), consulIndex: UInt64(i), error: "bad", time: 1_800_000_000 + Double(i)))
        }
        store.pruneDeadLetters(keeping: written.last!, maximumCount: 2)
        #expect(store.deadLetters().count == 2)
        #expect(store.deadLetters().map { store.deadLetterDirectory + "/" + $0 } == Array(written.suffix(2)))
        #expect(warnings.lines.withLock { $0 }.contains { $0.contains("removed 2 oldest dead letter(s)") })
        // By bytes: the newest is kept even when it alone is over the limit.
        store.pruneDeadLetters(keeping: written.last!, maximumBytes: 10)
        #expect(store.deadLetters().map { store.deadLetterDirectory + "/" + $0 } == [written.last!])
        // The .json beside each removed payload went with it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.deadLetterDirectory).count == 2)
    }

    @Test func aStateDirectoryOthersCanChangeIsRefused() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.setAttributes([.posixPermissions: 0o757], ofItemAtPath: directory)
        let error = #expect(throws: SystemError.self) { try StateStore(directory: directory, warn: { _ in }) }
        #expect(error?.description.contains("group- or world-writable (mode 757)") == true)
        #expect(throws: SystemError.self) { try StateStore(directory: directory, readOnly: true, warn: { _ in }) }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        _ = try StateStore(directory: directory, warn: { _ in })
    }
}

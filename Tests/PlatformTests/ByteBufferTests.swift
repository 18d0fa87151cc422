import Foundation
import Glibc
import Platform
import Testing

/// ByteBuffer: a pipe read to end of file in place, with the input bound kept.
@Suite struct ByteBufferTests {
    /// Writes `bytes` into a pipe from another thread (as Consul does) and reads it back.
    func throughPipe(_ bytes: [UInt8], limit: Int) throws(SystemError) -> ByteBuffer {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        let writer = fds[1]
        let thread = Thread {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { write(writer, $0.baseAddress! + offset, min(65536, $0.count - offset)) }
                if n <= 0 { break }
                offset += n
            }
            close(writer)
        }
        thread.start()
        defer { close(fds[0]) }
        return try ByteBuffer.read(fd: fds[0], name: "pipe", limit: limit)
    }

    @Test func aPipeIsReadWholeAndExactly() throws {
        let bytes = (0..<3_000_001).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let buffer = try throughPipe(bytes, limit: 4 << 20)
        #expect(buffer.count == bytes.count)
        #expect(buffer.array == bytes)
        #expect(buffer.withUnsafeBytes { $0.elementsEqual(bytes) })
        let empty = try throughPipe([], limit: 1024)
        #expect(empty.count == 0 && empty.array == [])
    }

    @Test func theInputBoundIsKept() throws {
        let exact = try throughPipe([UInt8](repeating: 7, count: 1 << 20), limit: 1 << 20)
        #expect(exact.count == 1 << 20)
        do {
            _ = try throughPipe([UInt8](repeating: 7, count: (1 << 20) + 1), limit: 1 << 20)
            Issue.record("more than the limit was accepted")
        } catch {
            #expect(error.description.contains("read more than 1048576 bytes from pipe"))
        }
    }

    @Test func aFileIsReadWhole() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let bytes = Array("[{\"Node\":\"n\"}]\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/p.json"))
        #expect(try ByteBuffer.readFile(directory + "/p.json").array == bytes)
        #expect(throws: SystemError.self) { try ByteBuffer.readFile(directory + "/missing.json") }
    }
}

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A small Python server a test runs on loopback (a TLS Jenkins, a proxy): `script` is written to
/// `directory`, run with `arguments`, and its first line of output is its port. `body` gets the
/// port; the server is killed afterwards.
enum PythonServer {
    static func with<T>(script: String, in directory: URL, arguments: [String], _ body: (_ port: Int) throws -> T) throws -> T {
        let path = directory.appendingPathComponent("server-\(UUID().uuidString).py").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let port = try #require(Int(line), "\(URL(fileURLWithPath: path).lastPathComponent) did not start: \(line)")
        return try body(port)
    }
}

import Foundation

/// The built `fake-consul` executable as a child process, for tests and benchmarks that want the fake outside
/// the test process. Closing its stdin (`stop()`) makes it print its JSON summary and exit.
public final class FakeConsulProcess {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Node name → port, in the order printed.
    public private(set) var agents: [(node: String, port: Int)] = []
    private let process = Process()
    private let stdin = Pipe()
    private let stdout = Pipe()
    private let stderr = Pipe()
    private var buffered = Data()

    /// Starts `fake-consul arguments…` and waits (at most `timeout` seconds) for one `port=` line per `--agent`
    /// (one when there is none).
    public init(arguments: [String], environment: [String: String] = [:], timeout: Double = 15) throws {
        process.executableURL = try ExecutableHarness.productURL("fake-consul")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let expected = max(1, arguments.filter { $0 == "--agent" }.count)
        let deadline = Date().addingTimeInterval(timeout)
        while agents.count < expected {
            guard Date() < deadline, let line = readLine(until: deadline) else {
                process.terminate()
                let err = String(decoding: stderr.fileHandleForReading.availableData, as: UTF8.self)
                throw Failure(description: "fake-consul printed \(agents.count) of \(expected) port lines; stderr: \(err)")
            }
            // `port=<N> node=<NAME>`
            let fields = line.split(separator: " ")
            guard fields.count == 2, fields[0].hasPrefix("port="), fields[1].hasPrefix("node="),
                let port = Int(fields[0].dropFirst(5))
            else { continue }
            agents.append((String(fields[1].dropFirst(5)), port))
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// `127.0.0.1:<port>` of the first agent (or of `node`).
    public func address(_ node: String? = nil) -> String? {
        agents.first { node == nil || $0.node == node }.map { "127.0.0.1:\($0.port)" }
    }

    /// Closes stdin, waits for the exit and returns the summary line (`{"requests":N,...}`).
    public func stop(timeout: Double = 15) throws -> String {
        try? stdin.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            guard let line = readLine(until: deadline) else {
                process.terminate()
                throw Failure(description: "fake-consul gave no summary within \(timeout) s")
            }
            if line.hasPrefix("{") {
                process.waitUntilExit()
                return line
            }
        }
    }

    /// The next stdout line, or nil at EOF or after the deadline.
    private func readLine(until deadline: Date) -> String? {
        let handle = stdout.fileHandleForReading
        while Date() < deadline {
            if let nl = buffered.firstIndex(of: 10) {
                let line = String(decoding: buffered[buffered.startIndex..<nl], as: UTF8.self)
                buffered = Data(buffered[buffered.index(after: nl)...])
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffered.append(chunk)
        }
        return nil
    }
}

import Foundation
import TestSupport
import Testing

/// `consul-heal serve`: the `handler_type: "http"` door, fed the bytes a Consul agent's Go HTTP
/// client sends (the recorded request in http-handler-request.txt, and requests of its shape).
@Suite struct HTTPHandlerEndToEndTests {
    static let handlers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("handlers")

    /// A request as Go's client writes it for a watch POST.
    static func request(index: String, body: [UInt8], method: String = "POST") -> [UInt8] {
        Array(
            """
            \(method) /hooks/consul/critical HTTP/1.1\r
            Host: 127.0.0.1:8088\r
            User-Agent: Go-http-client/1.1\r
            Content-Length: \(body.count)\r
            Connection: close\r
            Content-Type: application/json\r
            X-Consul-Index: \(index)\r
            Accept-Encoding: gzip\r
            \r

            """.utf8) + body
    }

    /// Sends raw bytes over loopback and returns the raw answer.
    static func exchange(_ bytes: [UInt8], port: Int) throws -> String {
        let result = try ExecutableHarness.runShell(
            "exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(port) && cat >&3 && cat <&3'", stdin: bytes, timeout: 30)
        return result.stdout
    }

    @Test func postsAreDeliveriesThroughTheSamePolicy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("redeploys.txt").path

        let process = Process()
        process.executableURL = try ExecutableHarness.productURL("consul-heal")
        process.arguments = [
            "serve", "--config", Self.handlers.appendingPathComponent("demo-config.json").path,
            "--state-dir", dir.appendingPathComponent("state").path, "--listen", "127.0.0.1:0",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["DEMO_OUT"] = out
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let banner = String(decoding: stdout.fileHandleForReading.availableData, as: UTF8.self)
        let port = try #require(banner.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "/\n"))) }, "\(banner)")

        let baseline = try Self.exchange(Self.request(index: "48102", body: Fixtures.bytes("checks-empty.json")), port: port)
        #expect(baseline.hasPrefix("HTTP/1.1 200 OK\r\n"))

        // The recorded request of a real agent, byte for byte.
        let recorded = try Self.exchange(Fixtures.bytes("http-handler-request.txt"), port: port)
        #expect(recorded.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(recorded)")
        #expect(recorded.contains(#"{"consulIndex":48391,"selected":1,"decisions":1,"actions":1,"unhandled":0,"spooled":0}"#))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "redeployed web\n")

        // Consul re-fires on an output change: the same incident, not a new redeploy.
        let again = try Self.exchange(Self.request(index: "48402", body: Fixtures.bytes("checks-state-critical-one.json")), port: port)
        #expect(again.contains(#""actions":0"#))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "redeployed web\n")

        let get = try Self.exchange(Self.request(index: "1", body: [], method: "GET"), port: port)
        #expect(get.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        let badIndex = try Self.exchange(Self.request(index: "x", body: Fixtures.bytes("checks-empty.json")), port: port)
        #expect(badIndex.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        let garbage = try Self.exchange(Self.request(index: "48500", body: Array("[{\"Node\":".utf8)), port: port)
        #expect(garbage.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(garbage.contains("truncated JSON"))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("state/dead-letter").path).contains {
                $0.hasSuffix("-48500-") == false && $0.contains("-48500-")
            })
        // Still serving after all that.
        let last = try Self.exchange(Self.request(index: "48600", body: Fixtures.bytes("checks-empty.json")), port: port)
        #expect(last.hasPrefix("HTTP/1.1 200 OK\r\n"))
    }
}

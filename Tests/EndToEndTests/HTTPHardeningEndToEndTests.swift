import Foundation
import Synchronization
import TestSupport
import Testing

/// `consul-heal serve` under clients that are slow, idle or too large (issue 7, items 1 and 5):
/// the real executable on port 0, with deliveries shaped as a Consul agent's.
@Suite struct ServeHardeningEndToEndTests {
    /// A running `consul-heal serve` with its state in a fresh directory.
    final class Serve {
        let process = Process()
        let directory: URL
        let port: Int
        var output: String { directory.appendingPathComponent("redeploys.txt").path }

        init(_ extra: [String] = []) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            process.executableURL = try ExecutableHarness.productURL("consul-heal")
            process.arguments =
                [
                    "serve", "--config", HTTPHandlerEndToEndTests.handlers.appendingPathComponent("demo-config.json").path,
                    "--state-dir", directory.appendingPathComponent("state").path, "--listen", "127.0.0.1:0",
                ] + extra
            var environment = ProcessInfo.processInfo.environment
            environment["DEMO_OUT"] = directory.appendingPathComponent("redeploys.txt").path
            process.environment = environment
            let stdout = Pipe()
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            let banner = String(decoding: stdout.fileHandleForReading.availableData, as: UTF8.self)
            guard let port = banner.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "/\n"))) }) else {
                kill(process.processIdentifier, SIGKILL)
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "no banner: \(banner)"])
            }
            self.port = port
        }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
        }

        /// The largest resident set the server has had, in bytes (VmHWM).
        var peakMemory: Int {
            let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
    }

    /// A POST as Go's client writes it for a watch.
    static func post(index: Int, body: [UInt8]) -> [UInt8] {
        HTTPHandlerEndToEndTests.request(index: String(index), body: body)
    }

    @Test func idleAndDrippingClientsDoNotDelayDeliveries() throws {
        let serve = try Serve()
        // Connections that send nothing, and connections that send one byte a second.
        let idle = try (0..<3).map { _ in try LoopbackHTTPClient(port: serve.port) }
        let drippers = try (0..<2).map { _ in try LoopbackHTTPClient(port: serve.port) }
        let stop = Atomic<Bool>(false)
        defer { stop.store(true, ordering: .relaxed) }
        let head = Self.post(index: 7, body: Fixtures.bytes("checks-empty.json"))
        for dripper in drippers {
            Thread.detachNewThread {
                for byte in head {
                    if stop.load(ordering: .relaxed) || !dripper.send([byte]) { break }
                    Thread.sleep(forTimeInterval: 1)
                }
            }
        }
        Thread.sleep(forTimeInterval: 1.5)  // all of them accepted (a one-at-a-time server is now stuck on the first)

        // Real deliveries are answered as if nobody else were connected.
        let deliveries: [(Int, [UInt8])] = [
            (48102, Fixtures.bytes("checks-empty.json")), (48391, Fixtures.bytes("checks-state-critical-one.json")),
            (48402, Fixtures.bytes("checks-empty.json")),
        ]
        for (index, payload) in deliveries {
            let started = Date()
            let answer = try LoopbackHTTPClient.exchange(Self.post(index: index, body: payload), port: serve.port, timeout: 8)
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "delivery \(index): \(answer.debugDescription)")
            #expect(Date().timeIntervalSince(started) < 8)
        }
        #expect(try String(contentsOfFile: serve.output, encoding: .utf8) == "redeployed web\n")

        // Each request must arrive whole within 10 s of its connection: a dripping client is
        // answered 408 although its bytes keep coming; an idle one too.
        let dripped = drippers[0].readToEnd(timeout: 20)
        #expect(dripped.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(dripped.debugDescription)")
        #expect(dripped.contains(#"{"error":"request not received whole within 10 s"}"#))
        #expect(idle[0].readToEnd(timeout: 5).hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        // Still serving.
        #expect(
            try LoopbackHTTPClient.exchange(Self.post(index: 48500, body: Fixtures.bytes("checks-empty.json")), port: serve.port).hasPrefix(
                "HTTP/1.1 200 OK\r\n"))
    }

    @Test func aGigabytePostIs413WithoutSpendingMemoryOnIt() throws {
        let serve = try Serve()
        let baseline = serve.peakMemory
        let client = try LoopbackHTTPClient(port: serve.port)
        // What `curl --data-binary @1GiB` sends: the header, then the body as fast as it goes,
        // until the server answers (it should, right after the header).
        client.send(Array("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\nX-Consul-Index: 9\r\n\r\n".utf8))
        let block = [UInt8](repeating: 0x20, count: 1 << 20)
        var sent = 0
        while sent < 1 << 30, !client.readable(within: 0) {
            guard client.send(block) else { break }
            sent += block.count
        }
        let answer = client.readToEnd(timeout: 20)
        #expect(answer.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(answer.prefix(300).debugDescription)")
        #expect(answer.contains(#"{"error":"request body larger than 64 MiB"}"#))
        let peak = serve.peakMemory
        #expect(peak - baseline < 64 << 20, "peak \(peak >> 20) MiB after \(sent >> 20) MiB sent")
        #expect(!FileManager.default.fileExists(atPath: serve.directory.appendingPathComponent("state/dead-letter").path))
        #expect(
            try LoopbackHTTPClient.exchange(Self.post(index: 10, body: Fixtures.bytes("checks-empty.json")), port: serve.port).hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func maxBodySetsTheLimit() throws {
        let serve = try Serve(["--max-body", "512"])
        let recorded = Fixtures.bytes("checks-state-critical-one.json")
        #expect(recorded.count > 512)
        let answer = try LoopbackHTTPClient.exchange(Self.post(index: 11, body: recorded), port: serve.port)
        #expect(answer.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(answer.debugDescription)")
        #expect(answer.contains(#"{"error":"request body larger than 512 bytes"}"#))
        #expect(
            try LoopbackHTTPClient.exchange(Self.post(index: 12, body: Fixtures.bytes("checks-empty.json")), port: serve.port).hasPrefix("HTTP/1.1 200 OK\r\n"))

        for bad in ["0", "2G", "64X", "-1", "99999999999999999999"] {
            let result = try ExecutableHarness.run(
                "consul-heal", arguments: ["serve", "--config", "/nonexistent", "--listen", "127.0.0.1:0", "--max-body", bad], stdin: [], timeout: 20)
            #expect(result.exitCode == 64, "\(bad): \(result.stderr)")
            #expect(result.stderr.contains("--max-body needs a size from 1 to 1G"), "\(bad): \(result.stderr)")
        }
    }
}

/// consul-jenkins against a Jenkins that answers chunked (as Jetty does for streamed output):
/// the client's chunked decoding, end to end.
@Suite struct ChunkedJenkinsEndToEndTests {
    @Test func aBuildIsTriggeredAndFollowedOverChunkedResponses() throws {
        var configuration = FakeJenkins.Configuration(
            users: [FakeJenkins.User("consul-bot", password: JenkinsEndToEndTests.password, apiTokens: [JenkinsEndToEndTests.token])],
            jobs: [.init("web", script: [.init(.success, durationMs: 1000)])], clock: .scaled(1000))
        configuration.chunkedResponses = true
        let fake = try FakeJenkins(configuration)
        defer { fake.stop() }
        // The fake really does answer chunked.
        let raw = try LoopbackHTTPClient.exchange(Array("GET /crumbIssuer/api/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8), port: fake.port)
        #expect(raw.contains("Transfer-Encoding: chunked\r\n") && !raw.contains("Content-Length"), "\(raw)")

        // Password auth: a crumb (JSON, chunked) in a session, the trigger, then polling to the result.
        let result = try JenkinsEndToEndTests.run(
            fake, ["--wait", "--poll-interval", "50ms"], environment: ["JENKINS_USER": "consul-bot", "JENKINS_PASSWORD": JenkinsEndToEndTests.password])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stderr.contains("web: jenkins done: build #1 of web SUCCESS"), "\(result.stderr)")
        #expect(fake.requests.first?.pathSegments == ["crumbIssuer", "api", "json"])
    }
}

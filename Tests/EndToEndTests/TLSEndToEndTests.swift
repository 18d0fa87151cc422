import Foundation
import TestSupport
import Testing

let tlsToolsPresent =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
    && ((try? ExecutableHarness.runShell("command -v python3").exitCode) == 0)

/// https through the system's OpenSSL: a verified handshake against a server whose certificate
/// the test makes, and a refusal when the certificate is not trusted or names another host.
/// The TLS peer is Python's ssl module on loopback (the Swift toolchain has no TLS server).
@Suite(.enabled(if: tlsToolsPresent, "needs /usr/bin/openssl and python3"))
struct TLSEndToEndTests {
    static let server = #"""
        import http.server, ssl, sys
        class Jenkins(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = self.headers.get("Authorization", "").startswith("Basic ") and self.path == "/job/web/build"
                self.send_response(201 if ok else 403)
                if ok: self.send_header("Location", "https://localhost/queue/item/7/")
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args): pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jenkins)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    /// A python https server on loopback with a fresh self-signed certificate for `localhost`;
    /// `body` gets the port and the certificate's path. The server is killed afterwards.
    static func withServer(name: String = "localhost", _ body: (_ port: Int, _ cert: String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try ExecutableHarness.runShell(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=\(name) -addext subjectAltName=DNS:\(name) -keyout '\(key)' -out '\(cert)' 2>&1")
        try #require(made.exitCode == 0, "\(made.stdout)")
        try PythonServer.with(script: Self.server, in: dir, arguments: [cert, key]) { port in try body(port, cert) }
    }

    @Test func httpsIsVerifiedAgainstTheGivenCAAndRefusedOtherwise() throws {
        try Self.withServer { port, cert in
            let payload = Fixtures.bytes("checks-state-critical-one.json")
            let environment = ["JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": "t0ken"]
            let trusted = try ExecutableHarness.run(
                "consul-jenkins", arguments: ["--no-state", "--url", "https://localhost:\(port)", "--ca-file", cert], stdin: payload, environment: environment)
            #expect(trusted.exitCode == 0, "\(trusted.stderr)")
            #expect(trusted.stderr.contains("web: jenkins done: job web queued as item 7"))

            let untrusted = try ExecutableHarness.run(
                "consul-jenkins", arguments: ["--no-state", "--retries", "0", "--url", "https://localhost:\(port)"], stdin: payload, environment: environment)
            #expect(untrusted.exitCode == 75)
            #expect(untrusted.stderr.contains("certificate verification failed for localhost"))

            let wrongName = try ExecutableHarness.run(
                "consul-jenkins", arguments: ["--no-state", "--retries", "0", "--url", "https://127.0.0.1:\(port)", "--ca-file", cert], stdin: payload,
                environment: environment)
            #expect(wrongName.exitCode == 75)
            #expect(wrongName.stderr.contains("certificate verification failed for 127.0.0.1"))
        }
    }

    /// A certificate that does not verify is not a passing fault: the run fails at once (one
    /// attempt, not four over seconds of back-off) and says how to trust the CA.
    @Test func anUntrustedCertificateFailsAtOnceWithAHint() throws {
        try Self.withServer { port, _ in
            let payload = Fixtures.bytes("checks-state-critical-one.json")
            let environment = ["JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": "t0ken"]
            let started = Date()
            let untrusted = try ExecutableHarness.run(
                "consul-jenkins", arguments: ["--no-state", "--retries", "3", "--url", "https://localhost:\(port)"], stdin: payload, environment: environment)
            #expect(untrusted.exitCode == 75)
            #expect(untrusted.stderr.contains("certificate verification failed for localhost"))
            #expect(untrusted.stderr.contains("not retried: trust its CA with --ca-file FILE"), "\(untrusted.stderr)")
            #expect(!untrusted.stderr.contains("attempts"), "\(untrusted.stderr)")
            #expect(Date().timeIntervalSince(started) < 30)
        }
    }
}

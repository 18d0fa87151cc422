import Foundation
import TestSupport
import Testing

/// consul-jenkins behind an HTTP proxy, as curl reads the variables: https tunnelled with
/// CONNECT (TLS end to end, the name resolved by the proxy), plain http in absolute form,
/// NO_PROXY and loopback direct. The proxy is a Python one on loopback that logs each request
/// line with its Proxy-Authorization, tunnels CONNECT to the test's https Jenkins, and answers
/// any other request itself as Jenkins would.
@Suite(.enabled(if: tlsToolsPresent, "needs /usr/bin/openssl and python3"))
struct ProxyEndToEndTests {
    static let proxy = #"""
        import select, socket, socketserver, sys
        upstream, log = int(sys.argv[1]), open(sys.argv[2], "a", buffering=1)
        class Proxy(socketserver.BaseRequestHandler):
            def handle(self):
                c, data = self.request, b""
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk: return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                auth = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("proxy-authorization:")), "-")
                log.write(lines[0] + " auth=" + auth + "\n")
                if lines[0].startswith("CONNECT "):
                    up = socket.create_connection(("127.0.0.1", upstream))
                    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    while True:
                        ready, _, _ = select.select([c, up], [], [], 10)
                        if not ready: break
                        chunks = [(s, s.recv(65536)) for s in ready]
                        if any(not d for _, d in chunks): break
                        for s, d in chunks: (up if s is c else c).sendall(d)
                    up.close()
                    return
                length = next((int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:")), 0)
                while len(rest) < length: rest += c.recv(4096)
                c.sendall(b"HTTP/1.1 201 Created\r\nLocation: http://jenkins.example/queue/item/9/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address, daemon_threads = True, True
        server = Server(("127.0.0.1", 0), Proxy)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    @Test func jenkinsIsReachedThroughTheProxyAsCurlWould() throws {
        try TLSEndToEndTests.withServer(name: "jenkins.example") { tlsPort, cert in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let log = dir.appendingPathComponent("proxy.log").path
            try PythonServer.with(script: Self.proxy, in: dir, arguments: [String(tlsPort), log]) { proxyPort in
                func logged() -> [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

                let payload = Fixtures.bytes("checks-state-critical-one.json")
                let credentials = ["JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": "t0ken"]
                let proxyWithUser = "http://bob:s3cret@127.0.0.1:\(proxyPort)"

                // https: CONNECT with the proxy's credentials, TLS verified end to end for jenkins.example.
                let https = try ExecutableHarness.run(
                    "consul-jenkins", arguments: ["--no-state", "--url", "https://jenkins.example:8443", "--ca-file", cert], stdin: payload,
                    environment: credentials.merging(["HTTPS_PROXY": proxyWithUser]) { $1 })
                #expect(https.exitCode == 0, "\(https.stderr)")
                #expect(https.stderr.contains("web: jenkins done: job web queued as item 7"))
                #expect(logged() == ["CONNECT jenkins.example:8443 HTTP/1.1 auth=Basic Ym9iOnMzY3JldA=="], "\(logged())")
                #expect(!https.stderr.contains("s3cret"))

                // http: the absolute URL to the proxy (http_proxy, lower case first).
                let http = try ExecutableHarness.run(
                    "consul-jenkins", arguments: ["--no-state", "--url", "http://jenkins.example:8080"], stdin: payload,
                    environment: credentials.merging(["http_proxy": "127.0.0.1:\(proxyPort)", "HTTP_PROXY": "http://127.0.0.1:9"]) { $1 })
                #expect(http.exitCode == 0, "\(http.stderr)")
                #expect(http.stderr.contains("web: jenkins done: job web queued as item 9"))
                #expect(logged().last == "POST http://jenkins.example:8080/job/web/build HTTP/1.1 auth=-", "\(logged())")

                // Loopback is direct: the "proxy" is reached as Jenkins itself, in origin form.
                let loopback = try ExecutableHarness.run(
                    "consul-jenkins", arguments: ["--no-state", "--url", "http://127.0.0.1:\(proxyPort)"], stdin: payload,
                    environment: credentials.merging(["http_proxy": "http://127.0.0.1:9"]) { $1 })
                #expect(loopback.exitCode == 0, "\(loopback.stderr)")
                #expect(logged().last == "POST /job/web/build HTTP/1.1 auth=-", "\(logged())")

                // NO_PROXY: direct, so jenkins.example must resolve here, and does not.
                let count = logged().count
                let direct = try ExecutableHarness.run(
                    "consul-jenkins", arguments: ["--no-state", "--retries", "0", "--url", "https://jenkins.example:8443", "--ca-file", cert], stdin: payload,
                    environment: credentials.merging(["HTTPS_PROXY": proxyWithUser, "NO_PROXY": "localhost,.example"]) { $1 })
                #expect(direct.exitCode == 75)
                #expect(direct.stderr.contains("cannot resolve jenkins.example"), "\(direct.stderr)")
                #expect(logged().count == count)

                // A proxy the handler cannot use is refused at start-up, without its password.
                let socks = try ExecutableHarness.run(
                    "consul-jenkins", arguments: ["--no-state", "--url", "https://jenkins.example:8443"], stdin: payload,
                    environment: credentials.merging(["HTTPS_PROXY": "socks5://bob:s3cret@127.0.0.1:1080"]) { $1 })
                #expect(socks.exitCode == 64)
                #expect(socks.stderr.hasPrefix("consul-jenkins: HTTPS_PROXY uses a socks5:// proxy: only http:// proxies are supported"), "\(socks.stderr)")
                #expect(!socks.stderr.contains("s3cret"))
            }
        }
    }
}

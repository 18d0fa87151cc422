import Foundation
import Platform
import Testing

@testable import HandlerKit

/// Resolving where the agent is and which token to send, the way the consul CLI does.
@Suite struct ConsulSettingsTests {
    static func resolve(
        _ env: [String: String], config: ConsulOverrides = ConsulOverrides(), flag: String? = nil,
        files: [String: String] = [:]
    ) throws(ConsulSettingsError) -> ConsulSettings {
        try ConsulSettings.resolve(environment: { env[$0] }, config: config, flagAddress: flag) { (path) throws(SecretFile.Failure) in
            guard let text = files[path] else { throw .system("cannot open: No such file or directory") }
            return Array(text.utf8)
        }
    }

    @Test func defaultIsLoopbackPlainHTTP() throws {
        let settings = try Self.resolve([:])
        #expect(settings.address == .tcp(host: "127.0.0.1", port: 8500, tls: false, pathPrefix: ""))
        #expect(settings.address.baseURL == "http://127.0.0.1:8500")
        #expect(settings.token == nil)
        #expect(settings.timeout == 5)
    }

    @Test func everyAddressForm() throws {
        let cases: [(String, ConsulAddress)] = [
            ("consul.local:8500", .tcp(host: "consul.local", port: 8500, tls: false, pathPrefix: "")),
            ("10.0.0.5", .tcp(host: "10.0.0.5", port: 80, tls: false, pathPrefix: "")),
            ("http://10.0.0.5:8500", .tcp(host: "10.0.0.5", port: 8500, tls: false, pathPrefix: "")),
            ("https://consul.example:8501", .tcp(host: "consul.example", port: 8501, tls: true, pathPrefix: "")),
            ("https://consul.example", .tcp(host: "consul.example", port: 443, tls: true, pathPrefix: "")),
            ("http://proxy:8080/consul/", .tcp(host: "proxy", port: 8080, tls: false, pathPrefix: "/consul")),
            ("[::1]:8500", .tcp(host: "::1", port: 8500, tls: false, pathPrefix: "")),
            ("unix:///run/consul/http.sock", .unix(path: "/run/consul/http.sock")),
        ]
        for (text, expected) in cases {
            #expect(try Self.resolve(["CONSUL_HTTP_ADDR": text]).address == expected, "\(text)")
        }
        #expect(ConsulAddress.tcp(host: "::1", port: 8500, tls: false, pathPrefix: "").baseURL == "http://[::1]:8500")
        #expect(ConsulAddress.unix(path: "/run/consul/http.sock").description == "unix:///run/consul/http.sock")
    }

    @Test func sslTurnsHostPortAndHTTPIntoHTTPSLikeTheCLI() throws {
        #expect(try Self.resolve(["CONSUL_HTTP_SSL": "true"]).address == .tcp(host: "127.0.0.1", port: 8500, tls: true, pathPrefix: ""))
        // The CLI never reverts to plain HTTP when TLS was asked for, even with http://.
        #expect(
            try Self.resolve(["CONSUL_HTTP_SSL": "1", "CONSUL_HTTP_ADDR": "http://c:8501"]).address == .tcp(host: "c", port: 8501, tls: true, pathPrefix: ""))
        #expect(
            try Self.resolve(["CONSUL_HTTP_SSL": "false", "CONSUL_HTTP_ADDR": "c:8500"]).address == .tcp(host: "c", port: 8500, tls: false, pathPrefix: ""))
        #expect(throws: ConsulSettingsError.boolean(variable: "CONSUL_HTTP_SSL", value: "yes")) { try Self.resolve(["CONSUL_HTTP_SSL": "yes"]) }
        #expect(throws: ConsulSettingsError.self) { try Self.resolve(["CONSUL_HTTP_SSL": "true", "CONSUL_HTTP_ADDR": "unix:///x.sock"]) }
    }

    @Test func flagThenConfigThenEnvironment() throws {
        let env = ["CONSUL_HTTP_ADDR": "env:1"]
        #expect(try Self.resolve(env).address == .tcp(host: "env", port: 1, tls: false, pathPrefix: ""))
        #expect(try Self.resolve(env, config: ConsulOverrides(address: "config:2")).address == .tcp(host: "config", port: 2, tls: false, pathPrefix: ""))
        #expect(
            try Self.resolve(env, config: ConsulOverrides(address: "config:2"), flag: "flag:3").address
                == .tcp(host: "flag", port: 3, tls: false, pathPrefix: ""))
    }

    @Test func badAddressesNameTheirSource() {
        let cases: [(String, String)] = [
            ("ftp://x", "CONSUL_HTTP_ADDR 'ftp://x': unknown scheme 'ftp'"),
            ("host:99999", "CONSUL_HTTP_ADDR 'host:99999': the port must be a number from 1 to 65535"),
            ("host:", "the port must be"),
            ("unix://relative.sock", "absolute path"),
            ("::1", "IPv6 address must be in brackets"),
            ("http://:8500", "has no host"),
        ]
        for (text, words) in cases {
            do {
                _ = try Self.resolve(["CONSUL_HTTP_ADDR": text])
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.contains(words), "\(error)")
                #expect(error.description.hasPrefix("CONSUL_HTTP_ADDR"), "\(error)")
                #expect(!error.description.contains("\n"))
            }
        }
        #expect(throws: ConsulSettingsError.self) { try Self.resolve([:], flag: "a b") }
        do {
            _ = try Self.resolve([:], config: ConsulOverrides(address: "ftp://y"))
        } catch {
            #expect(error.description.hasPrefix("$.consul.address"))
        }
        do {
            _ = try Self.resolve([:], flag: "http://user:s3cret@host:8500")
        } catch {
            #expect(error.description.hasPrefix("--consul-addr"))
            #expect(!error.description.contains("s3cret"))
        }
        let tooLong = "unix:///" + String(repeating: "a", count: 200)
        #expect(throws: ConsulSettingsError.self) { try Self.resolve(["CONSUL_HTTP_ADDR": tooLong]) }
    }

    @Test func tokenFileWinsOverTokenAndConfigFileOverBoth() throws {
        let files = ["/env.token": "from-env-file\n", "/config.token": "  from-config-file  \n", "/empty.token": "\n"]
        #expect(try Self.resolve(["CONSUL_HTTP_TOKEN": "from-env"], files: files).token?.secret == "from-env")
        let fromFile = try Self.resolve(["CONSUL_HTTP_TOKEN": "from-env", "CONSUL_HTTP_TOKEN_FILE": "/env.token"], files: files)
        #expect(fromFile.token?.secret == "from-env-file")
        #expect(fromFile.token?.source == "CONSUL_HTTP_TOKEN_FILE /env.token")
        let fromConfig = try Self.resolve(
            ["CONSUL_HTTP_TOKEN": "from-env", "CONSUL_HTTP_TOKEN_FILE": "/env.token"], config: ConsulOverrides(tokenFile: "/config.token"), files: files)
        #expect(fromConfig.token?.secret == "from-config-file")
        // An empty file falls through to CONSUL_HTTP_TOKEN, as in api.NewClient.
        #expect(try Self.resolve(["CONSUL_HTTP_TOKEN": "from-env", "CONSUL_HTTP_TOKEN_FILE": "/empty.token"], files: files).token?.secret == "from-env")
        // An empty variable counts as unset.
        #expect(try Self.resolve(["CONSUL_HTTP_TOKEN": ""]).token == nil)
    }

    @Test func unreadableTokenFileIsAnErrorNamingTheVariable() {
        do {
            _ = try Self.resolve(["CONSUL_HTTP_TOKEN_FILE": "/missing", "CONSUL_HTTP_TOKEN": "fallback-secret"])
            Issue.record("accepted a missing token file")
        } catch {
            #expect(error.description.hasPrefix("CONSUL_HTTP_TOKEN_FILE /missing "))
            #expect(!error.description.contains("fallback-secret"))
        }
    }

    @Test func tlsNamesCAFileAndTimeout() throws {
        let env = ["CONSUL_CACERT": "/etc/consul/ca.pem", "CONSUL_TLS_SERVER_NAME": "server.dc1.consul:8501"]
        let settings = try Self.resolve(env)
        #expect(settings.caFile == "/etc/consul/ca.pem")
        #expect(settings.tlsServerName == "server.dc1.consul")
        let overridden = try Self.resolve(env, config: ConsulOverrides(caFile: "/config/ca.pem", timeout: 2))
        #expect(overridden.caFile == "/config/ca.pem")
        #expect(overridden.timeout == 2)
        #expect(overridden.budget == 6)
        #expect(throws: ConsulSettingsError.self) { try Self.resolve([:], config: ConsulOverrides(timeout: 0)) }
    }

    @Test func descriptionNeverShowsTheToken() throws {
        let settings = try Self.resolve(["CONSUL_HTTP_TOKEN": "b1gs3cret-0000", "CONSUL_HTTP_ADDR": "https://c:8501"])
        for text in [settings.description, "\(settings)", String(describing: settings.token!), String(reflecting: settings.token!)] {
            #expect(!text.contains("b1gs3cret"), "\(text)")
        }
        #expect(settings.description.contains("token from CONSUL_HTTP_TOKEN"))
    }

    @Test func tokenWithAControlCharacterIsRefusedWithoutShowingIt() {
        do {
            _ = try Self.resolve(["CONSUL_HTTP_TOKEN": "abc\u{1}def"])
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("CONSUL_HTTP_TOKEN"))
            #expect(!error.description.contains("abc"))
        }
    }
}

/// The one secret-file reader (`--token-file`, `CONSUL_HTTP_TOKEN_FILE`) on real files.
@Suite struct SecretFileTests {
    static func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "secret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String, mode: Int) throws {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    @Test func readsOwnerOnlyRegularFiles() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.write("tok\n", to: directory + "/a", mode: 0o600)
        try Self.write("tok\n", to: directory + "/b", mode: 0o400)
        #expect(try SecretFile.read(directory + "/a") == Array("tok\n".utf8))
        #expect(try SecretFile.read(directory + "/b") == Array("tok\n".utf8))
    }

    @Test func refusesWideModesSymlinksDirectoriesAndFIFOsWithoutBlocking() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.write("tok", to: directory + "/wide", mode: 0o644)
        try Self.write("tok", to: directory + "/ok", mode: 0o600)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/ok")
        #expect(mkfifo(directory + "/fifo", 0o600) == 0)
        #expect(throws: SecretFile.Failure.mode(0o644)) { try SecretFile.read(directory + "/wide") }
        #expect(throws: SecretFile.Failure.symbolicLink) { try SecretFile.read(directory + "/link") }
        #expect(throws: SecretFile.Failure.notRegularFile) { try SecretFile.read(directory + "/fifo") }
        #expect(throws: SecretFile.Failure.notRegularFile) { try SecretFile.read(directory) }
        #expect(SecretFile.Failure.mode(0o644).description.contains("0644"))
        // Through the settings, a refused file names the variable.
        do {
            _ = try ConsulSettings.resolve(environment: { $0 == "CONSUL_HTTP_TOKEN_FILE" ? directory + "/wide" : nil })
            Issue.record("accepted a 0644 token file")
        } catch {
            #expect(error.description == "CONSUL_HTTP_TOKEN_FILE \(directory)/wide has mode 0644: a secret file must be 0600 or 0400")
        }
    }
}

import Platform
import Testing

@testable import HandlerKit

/// The proxy variables read as curl and Go read them (pure: an environment in, a choice out).
@Suite struct ProxySettingsTests {
    func settings(_ variables: [String: String]) throws -> ProxySettings {
        try ProxySettings(environment: { variables[$0] })
    }

    @Test func httpsAndHttpHaveTheirOwnVariablesLowerCaseFirst() throws {
        let proxies = try settings(["HTTPS_PROXY": "http://upper:3128", "https_proxy": "lower:8080", "HTTP_PROXY": "http://plain.example:3129"])
        #expect(proxies.proxy(forHost: "ci.example.com", tls: true) == HTTPConnection.Proxy(host: "lower", port: 8080))
        #expect(proxies.proxy(forHost: "ci.example.com", tls: false) == HTTPConnection.Proxy(host: "plain.example", port: 3129))
        #expect(try settings([:]) == .none)
        #expect(try settings(["HTTPS_PROXY": ""]).https == nil)
    }

    @Test func allProxyIsTheFallbackAndTheDefaultPortIs1080() throws {
        let proxies = try settings(["ALL_PROXY": "proxy.example"])
        #expect(proxies.proxy(forHost: "ci", tls: true) == HTTPConnection.Proxy(host: "proxy.example", port: 1080))
        #expect(proxies.proxy(forHost: "ci", tls: false) == HTTPConnection.Proxy(host: "proxy.example", port: 1080))
    }

    /// httpoxy: under CGI, HTTP_PROXY comes from a request header.
    @Test func upperCaseHTTPProxyIsIgnoredUnderCGI() throws {
        #expect(try settings(["HTTP_PROXY": "evil:80", "REQUEST_METHOD": "GET"]).http == nil)
        #expect(try settings(["http_proxy": "good:80", "REQUEST_METHOD": "GET"]).http?.host == "good")
    }

    @Test func credentialsBecomeProxyAuthorization() throws {
        let proxy = try #require(try settings(["https_proxy": "http://bob:p%40ss@[::1]:3128/"]).https)
        #expect(proxy.host == "::1" && proxy.port == 3128)
        #expect(proxy.authorization == "Basic Ym9iOnBAc3M=")  // bob:p@ss
        #expect(proxy.authority == "[::1]:3128")
    }

    @Test(arguments: [
        ("https_proxy", "socks5://proxy:1080", "only http:// proxies are supported"),
        ("HTTPS_PROXY", "https://proxy:443", "only http:// proxies are supported"),
        ("http_proxy", "http://proxy:http", "its port"),
        ("ALL_PROXY", "http://user:secret@:3128", "no host"),
    ])
    func unusableProxiesAreRefusedWithoutTheirCredentials(variable: String, value: String, problem: String) {
        let error = #expect(throws: ProxySettings.Error.self) { try settings([variable: value]) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix(variable) && text.contains(problem), "\(text)")
        #expect(!text.contains("secret"))
    }

    @Test func noProxyMatchesNamesSubdomainsAddressesAndRanges() throws {
        let proxies = try settings(["https_proxy": "proxy:3128", "NO_PROXY": "internal.example, .corp.example,10.0.0.0/8,192.168.1.7,ci.example:8443"])
        for direct in ["internal.example", "a.internal.example", "corp.example", "x.corp.example", "10.2.3.4", "192.168.1.7", "ci.example"] {
            #expect(proxies.proxy(forHost: direct, tls: true) == nil, "\(direct)")
        }
        for proxied in ["example.com", "notinternal.example", "11.0.0.1", "192.168.1.8"] {
            #expect(proxies.proxy(forHost: proxied, tls: true) != nil, "\(proxied)")
        }
        #expect(try settings(["https_proxy": "proxy:3128", "no_proxy": "*"]).proxy(forHost: "anything", tls: true) == nil)
    }

    @Test func loopbackIsNeverProxied() throws {
        let proxies = try settings(["https_proxy": "proxy:3128", "http_proxy": "proxy:3128"])
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "LOCALHOST", "agent.localhost"] {
            #expect(proxies.proxy(forHost: host, tls: false) == nil, "\(host)")
        }
    }
}

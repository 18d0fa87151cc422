import ConsulWatch
import FoundationEssentials
import Platform

/// HTTP proxies from the environment, as curl and Go read them, so that a handler reaches a
/// Jenkins or a webhook behind a corporate proxy with the variables the rest of the node uses:
///
/// - https URLs: `https_proxy`, else `HTTPS_PROXY`; http URLs: `http_proxy`, else `HTTP_PROXY`
///   (ignored when `REQUEST_METHOD` is set, as Go does: under CGI it comes from a request's
///   `Proxy:` header, "httpoxy"); then `all_proxy`/`ALL_PROXY` for both. Empty means unset.
/// - `no_proxy`/`NO_PROXY`: comma-separated host names (matching the name and its subdomains;
///   a leading dot is optional), IP addresses, IPv4 CIDR ranges, or `*` for every host.
/// - Loopback hosts (`localhost`, 127.0.0.0/8, `::1`) are never proxied, whatever the
///   variables say: the local Consul agent and test fakes stay direct.
///
/// Only `http://` proxies are supported (https is tunnelled through them with CONNECT); a
/// proxy URL's user and password become `Proxy-Authorization` and never appear in messages.
public struct ProxySettings: Sendable, Equatable {
    public var http: HTTPConnection.Proxy?
    public var https: HTTPConnection.Proxy?
    public var noProxy: [String] = []

    /// No proxy at all.
    public static let none = ProxySettings()

    public init(http: HTTPConnection.Proxy? = nil, https: HTTPConnection.Proxy? = nil, noProxy: [String] = []) {
        self.http = http
        self.https = https
        self.noProxy = noProxy
    }

    /// A proxy variable that cannot be used.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public var variable: String
        public var problem: String
        public var description: String { "\(variable) \(problem)" }
    }

    /// Reads the variables (see the type's documentation).
    public init(environment: (String) -> String?) throws(Error) {
        func value(_ name: String) -> (String, String)? {
            guard let text = environment(name)?.trimmingSpaces(), !text.isEmpty else { return nil }
            return (name, text)
        }
        let all = value("all_proxy") ?? value("ALL_PROXY")
        let cgi = environment("REQUEST_METHOD").map { !$0.isEmpty } ?? false
        if let (name, text) = value("https_proxy") ?? value("HTTPS_PROXY") ?? all { https = try Self.parse(text, variable: name) }
        if let (name, text) = value("http_proxy") ?? (cgi ? nil : value("HTTP_PROXY")) ?? all { http = try Self.parse(text, variable: name) }
        if let (_, text) = value("no_proxy") ?? value("NO_PROXY") {
            noProxy = text.split { $0 == "," || $0 == " " }.map { String($0).lowercased() }.filter { !$0.isEmpty }
        }
    }

    /// The proxy for a request to `host` (nil: connect directly).
    public func proxy(forHost host: String, tls: Bool) -> HTTPConnection.Proxy? {
        guard let proxy = tls ? https : http else { return nil }
        let host = host.lowercased()
        if Self.isLoopback(host) { return nil }
        for entry in noProxy where Self.matches(host: host, entry: entry) { return nil }
        return proxy
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        if let address = ipv4(host) { return address >> 24 == 127 }
        return false
    }

    /// One `NO_PROXY` entry: `*`, a name (and its subdomains), an IP address, or IPv4 CIDR.
    static func matches(host: String, entry: String) -> Bool {
        if entry == "*" { return true }
        var entry = Substring(entry)
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            entry = entry[entry.index(after: entry.startIndex)..<close]  // [::1]:8080
        } else if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
            entry = entry[..<colon]  // host:port: any port
        }
        if let slash = entry.firstIndex(of: "/") {
            guard let base = ipv4(String(entry[..<slash])), let bits = Int(entry[entry.index(after: slash)...]), (0...32).contains(bits),
                let address = ipv4(host)
            else { return false }
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            return address & mask == base & mask
        }
        if entry.hasPrefix(".") { entry = entry.dropFirst() }
        guard !entry.isEmpty else { return false }
        return host == entry || host.hasSuffix("." + entry)
    }

    /// `p%40ss` → `p@ss`; a malformed escape is kept as written.
    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
                let byte = UInt8(String(decoding: utf8[index + 1...index + 2], as: UTF8.self), radix: 16)
            {
                bytes.append(byte)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ ("0"..."9").contains($0) }), let byte = UInt32(part), byte <= 255 else { return nil }
            value = value << 8 | byte
        }
        return value
    }

    /// `http://user:password@proxy.example:3128`, or `proxy.example:3128` (http assumed, as curl
    /// does; port 1080 when none is given, curl's default).
    static func parse(_ text: String, variable: String) throws(Error) -> HTTPConnection.Proxy {
        var rest = Substring(text)
        if let scheme = rest.firstRange(of: "://") {
            let name = rest[..<scheme.lowerBound].lowercased()
            guard name == "http" else {
                throw Error(
                    variable: variable,
                    problem: "uses a \(DisplayText.escape(name)):// proxy: only http:// proxies are supported (https is tunnelled through them)")
            }
            rest = rest[scheme.upperBound...]
        }
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        var authorization: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let pieces = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(Self.percentDecoded)
            authorization = "Basic " + Data("\(pieces[0]):\(pieces.count > 1 ? pieces[1] : "")".utf8).base64EncodedString()
        }
        var host = rest
        var port = 1080
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { throw Error(variable: variable, problem: "is not a usable proxy URL (an unclosed '[')") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.first == ":" {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    throw Error(variable: variable, problem: "is not a usable proxy URL (its port)")
                }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else {
                throw Error(variable: variable, problem: "is not a usable proxy URL (its port)")
            }
            port = value
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "@" }) else {
            throw Error(variable: variable, problem: "is not a usable proxy URL (no host)")
        }
        return HTTPConnection.Proxy(host: String(host), port: port, authorization: authorization)
    }
}

import ConsulWatch
import FoundationEssentials
import Platform

/// Where the agent's HTTP API listens.
public enum ConsulAddress: Sendable, Hashable, CustomStringConvertible {
    /// `host:port` over TCP; `tls` for https. `pathPrefix` is a reverse proxy's prefix
    /// (`http://proxy/consul` → `/consul`), empty when none.
    case tcp(host: String, port: Int, tls: Bool, pathPrefix: String)
    /// A unix-domain socket (`unix:///run/consul/http.sock`), plain HTTP.
    case unix(path: String)

    /// The agent's default: `127.0.0.1:8500` over plain HTTP.
    public static let standard = ConsulAddress.tcp(host: "127.0.0.1", port: 8500, tls: false, pathPrefix: "")

    /// The URL requests start with (`http://127.0.0.1:8500`; `http://localhost` for a unix socket,
    /// whose transport ignores the host).
    public var baseURL: String {
        switch self {
        case .tcp(let host, let port, let tls, let prefix):
            let name = host.contains(":") ? "[\(host)]" : host
            return "\(tls ? "https" : "http")://\(name):\(port)\(prefix)"
        case .unix: return "http://localhost"
        }
    }

    public var description: String {
        switch self {
        case .tcp: return baseURL
        case .unix(let path): return "unix://\(path)"
        }
    }
}

/// The ACL token sent as `X-Consul-Token`. Its description names where it came from, never the
/// secret, so a settings value can be printed or logged safely.
public struct ConsulToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let secret: String
    /// Where it came from, in words (`CONSUL_HTTP_TOKEN_FILE /etc/consul-heal/token`).
    public let source: String

    public init(secret: String, source: String) {
        self.secret = secret
        self.source = source
    }

    public var description: String { "token from \(source)" }
    public var debugDescription: String { description }
}

/// What the `consul` object of consul-heal's configuration sets. Each field left nil falls
/// back to the environment (then the default).
public struct ConsulOverrides: Sendable, Hashable {
    public var address: String?
    public var tokenFile: String?
    public var caFile: String?
    /// Seconds per request.
    public var timeout: Double?

    public init(address: String? = nil, tokenFile: String? = nil, caFile: String? = nil, timeout: Double? = nil) {
        self.address = address
        self.tokenFile = tokenFile
        self.caFile = caFile
        self.timeout = timeout
    }
}

/// Why the settings could not be resolved. Each description is one line that names the
/// variable, option or configuration field at fault, and never contains a token.
public enum ConsulSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An address that cannot be used; `source` is `CONSUL_HTTP_ADDR`, `--consul-addr` or `$.consul.address`.
    case address(source: String, value: String, problem: String)
    /// A boolean variable (`CONSUL_HTTP_SSL`) with a value that is not one.
    case boolean(variable: String, value: String)
    /// A token file that was refused or could not be read.
    case tokenFile(source: String, path: String, problem: String)
    /// A token that cannot be sent.
    case token(source: String, problem: String)
    /// An empty or negative timeout.
    case timeout(source: String, value: String)

    public var description: String {
        switch self {
        case .address(let source, let value, let problem):
            return value.isEmpty ? "\(source): \(problem)" : "\(source) '\(value)': \(problem)"
        case .boolean(let variable, let value):
            return "\(variable) '\(value)' is not a boolean (use true or false)"
        case .tokenFile(let source, let path, let problem):
            return "\(source) \(path) \(problem)"
        case .token(let source, let problem):
            return "the token from \(source) \(problem)"
        case .timeout(let source, let value):
            return "\(source) '\(value)' is not a positive duration"
        }
    }
}

/// How to reach and authenticate to the local Consul agent, resolved the way the `consul`
/// CLI does (consul-api.md §5.5), with the toolkit's own overrides on top.
public struct ConsulSettings: Sendable, CustomStringConvertible {
    public var address: ConsulAddress
    public var token: ConsulToken?
    /// CA certificates (PEM) to trust for https instead of the system's.
    public var caFile: String?
    /// The name TLS sends and verifies instead of the address's host (`CONSUL_TLS_SERVER_NAME`).
    public var tlsServerName: String?
    /// Seconds one request may take.
    public var timeout: Double
    /// Seconds one call may take, retries included, when the caller gives no deadline.
    public var budget: Double
    public var retry: RetryPolicy

    public static let defaultTimeout: Double = 5

    public init(
        address: ConsulAddress = .standard, token: ConsulToken? = nil, caFile: String? = nil, tlsServerName: String? = nil,
        timeout: Double = ConsulSettings.defaultTimeout, budget: Double? = nil,
        retry: RetryPolicy = RetryPolicy(attempts: 4, baseDelay: 0.25, maximumDelay: 2)
    ) {
        self.address = address
        self.token = token
        self.caFile = caFile
        self.tlsServerName = tlsServerName
        self.timeout = timeout
        self.budget = budget ?? timeout * 3
        self.retry = retry
    }

    /// One line for dry runs and `explain`: where, how, and the token's source (never the token).
    public var description: String {
        var parts = ["agent \(address)"]
        if let caFile { parts.append("CA \(caFile)") }
        if let tlsServerName { parts.append("TLS name \(tlsServerName)") }
        parts.append(token.map(\.description) ?? "no token")
        parts.append("timeout \(timeout)s")
        return parts.joined(separator: ", ")
    }

    // MARK: Resolution

    /// Reads a token file's bytes; the real one is ``SecretFile/read(_:limit:)``.
    public typealias SecretReader = @Sendable (String) throws(SecretFile.Failure) -> [UInt8]

    /// Resolves the settings from the environment and the overrides, without other I/O than
    /// `readSecret` on the token file.
    ///
    /// Precedence, highest first:
    /// - address: `flagAddress` (`--consul-addr`), `config.address`, `CONSUL_HTTP_ADDR`, `127.0.0.1:8500`;
    ///   `CONSUL_HTTP_SSL=true` turns `host:port` and `http://` into https, as the CLI does;
    /// - token: `config.tokenFile`, `CONSUL_HTTP_TOKEN_FILE`, `CONSUL_HTTP_TOKEN`; a token file that is
    ///   empty after trimming falls through to `CONSUL_HTTP_TOKEN`, like the CLI;
    /// - CA: `config.caFile`, `CONSUL_CACERT`; TLS name: `CONSUL_TLS_SERVER_NAME` (its port, if any, dropped).
    ///
    /// Unlike the CLI, which logs and ignores them, unparseable values are errors: a handler
    /// that silently talks plain HTTP to a TLS agent fails later with a worse message.
    public static func resolve(
        environment: (String) -> String?, config: ConsulOverrides = ConsulOverrides(), flagAddress: String? = nil,
        readSecret: SecretReader = { (path) throws(SecretFile.Failure) in try SecretFile.read(path) }
    ) throws(ConsulSettingsError) -> ConsulSettings {
        func env(_ name: String) -> String? { environment(name).flatMap { $0.isEmpty ? nil : $0 } }

        var forceTLS = false
        if let text = env("CONSUL_HTTP_SSL") {
            guard let value = parseBool(text) else { throw .boolean(variable: "CONSUL_HTTP_SSL", value: text) }
            forceTLS = value
        }
        let address: ConsulAddress
        if let flag = flagAddress {
            address = try parseAddress(flag, source: "--consul-addr", forceTLS: forceTLS)
        } else if let configured = config.address {
            address = try parseAddress(configured, source: "$.consul.address", forceTLS: forceTLS)
        } else if let text = env("CONSUL_HTTP_ADDR") {
            address = try parseAddress(text, source: "CONSUL_HTTP_ADDR", forceTLS: forceTLS)
        } else {
            address = try parseAddress("127.0.0.1:8500", source: "the default address", forceTLS: forceTLS)
        }

        var token: ConsulToken?
        if let secret = env("CONSUL_HTTP_TOKEN") { token = ConsulToken(secret: secret.trimmingWhitespace(), source: "CONSUL_HTTP_TOKEN") }
        let tokenFile: (path: String, source: String)? =
            config.tokenFile.map { ($0, "$.consul.tokenFile") } ?? env("CONSUL_HTTP_TOKEN_FILE").map { ($0, "CONSUL_HTTP_TOKEN_FILE") }
        if let (path, source) = tokenFile {
            let bytes: [UInt8]
            do { bytes = try readSecret(path) } catch { throw .tokenFile(source: source, path: path, problem: error.description) }
            let secret = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
            if !secret.isEmpty { token = ConsulToken(secret: secret, source: "\(source) \(path)") }
        }
        if let secret = token?.secret, secret.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            // A header value cannot carry it; say where it came from, not what it is.
            throw .token(source: token!.source, problem: "holds a control character, which no HTTP header can carry")
        }

        var timeout = defaultTimeout
        if let value = config.timeout {
            guard value > 0, value.isFinite else { throw .timeout(source: "$.consul.timeout", value: String(value)) }
            timeout = value
        }
        let serverName = env("CONSUL_TLS_SERVER_NAME").map(stripPort)
        return ConsulSettings(address: address, token: token, caFile: config.caFile ?? env("CONSUL_CACERT"), tlsServerName: serverName, timeout: timeout)
    }

    /// Go's `strconv.ParseBool`: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    /// `CONSUL_TLS_SERVER_NAME` may carry a port (the CLI drops it): `consul.example:8501` → `consul.example`.
    static func stripPort(_ name: String) -> String {
        if name.hasPrefix("["), let close = name.firstIndex(of: "]") { return String(name[name.index(after: name.startIndex)..<close]) }
        if let colon = name.lastIndex(of: ":"), name.firstIndex(of: ":") == colon { return String(name[..<colon]) }
        return name
    }

    /// Parses one address form: `host:port`, `host`, `http://…`, `https://…`, `unix:///path`.
    static func parseAddress(_ text: String, source: String, forceTLS: Bool) throws(ConsulSettingsError) -> ConsulAddress {
        let value = text.trimmingWhitespace()
        guard !value.isEmpty else { throw .address(source: source, value: "", problem: "is empty") }
        if value.contains("@") {
            // Never echo it: it may hold a password.
            throw .address(source: source, value: "", problem: "credentials in the address are not supported; use CONSUL_HTTP_TOKEN_FILE")
        }
        guard !value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw .address(source: source, value: "", problem: "contains a space or control character")
        }
        var tls = forceTLS
        var rest = Substring(value)
        if let range = value.firstRange(of: "://") {
            let scheme = value[..<range.lowerBound]
            rest = value[range.upperBound...]
            switch scheme {
            case "http": break  // Never back to plain HTTP when CONSUL_HTTP_SSL asked for TLS (as the CLI).
            case "https": tls = true
            case "unix":
                guard rest.hasPrefix("/") else {
                    throw .address(source: source, value: value, problem: "a unix socket needs an absolute path (unix:///run/consul/http.sock)")
                }
                guard rest.utf8.count <= UnixSocket.maximumPathLength else {
                    throw .address(source: source, value: value, problem: "the socket path is longer than \(UnixSocket.maximumPathLength) bytes")
                }
                if forceTLS {
                    throw .address(source: source, value: value, problem: "CONSUL_HTTP_SSL=true asks for TLS, which is not supported over a unix socket")
                }
                return .unix(path: String(rest))
            default:
                throw .address(source: source, value: value, problem: "unknown scheme '\(scheme)' (use host:port, http://, https:// or unix:///path)")
            }
        }
        var prefix = ""
        if let slash = rest.firstIndex(of: "/") {
            prefix = String(rest[slash...])
            while prefix.hasSuffix("/") { prefix.removeLast() }
            rest = rest[..<slash]
        }
        guard !prefix.contains("?"), !prefix.contains("#") else {
            throw .address(source: source, value: value, problem: "a query or fragment is not part of an address")
        }
        var host = rest
        var port = tls ? 443 : 80
        if host.first == "[" {
            guard let close = host.firstIndex(of: "]") else { throw .address(source: source, value: value, problem: "unclosed '[' in an IPv6 address") }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.first == ":", let number = Int(after.dropFirst()), (1...65535).contains(number) else {
                    throw .address(source: source, value: value, problem: "the port must be a number from 1 to 65535")
                }
                port = number
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard host.firstIndex(of: ":") == colon else {
                throw .address(source: source, value: value, problem: "an IPv6 address must be in brackets ([::1]:8500)")
            }
            guard let number = Int(host[host.index(after: colon)...]), (1...65535).contains(number) else {
                throw .address(source: source, value: value, problem: "the port must be a number from 1 to 65535")
            }
            port = number
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw .address(source: source, value: value, problem: "has no host") }
        return .tcp(host: String(host), port: port, tls: tls, pathPrefix: prefix)
    }
}

extension String {
    /// Without leading and trailing white space and newlines (Go's `strings.TrimSpace` for ASCII).
    func trimmingWhitespace() -> String {
        var scalars = Substring(self).unicodeScalars[...]
        let space: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" }
        while let first = scalars.first, space(first) { scalars.removeFirst() }
        while let last = scalars.last, space(last) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}

import ConsulWatch

/// Start-up checks of a Jenkins base URL, so that a URL that can never work fails the command
/// line (64) or the configuration (78) instead of being spooled as retryable at 3 a.m., and so
/// that credentials are never carried in a URL (they would reach dry runs, errors, the journal
/// and the spool).
public enum JenkinsURL {
    /// Why a URL is refused. Descriptions never repeat a URL's userinfo or query.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case scheme(String)
        case credentials
        case malformed(String)

        public var description: String {
            switch self {
            case .scheme(let shown): return "must start with http:// or https://, not '\(shown)'"
            case .credentials:
                return "credentials in a URL are not accepted: they show up in dry runs, errors and the journal; "
                    + "use JENKINS_USER with JENKINS_API_TOKEN or JENKINS_PASSWORD in the environment, or a 0600 token file"
            case .malformed(let shown): return "'\(shown)' is not a usable URL (it needs a host, and a port from 1 to 65535 if any)"
            }
        }
    }

    /// Checks `text` as a Jenkins base URL: http(s), a host, a valid port, no `user:password@`.
    public static func validate(_ text: String) throws(Problem) {
        guard text.hasPrefix("http://") || text.hasPrefix("https://") else { throw .scheme(redacted(text)) }
        if userinfoRange(text) != nil { throw .credentials }
        guard ParsedURL(text) != nil else { throw .malformed(redacted(text)) }
    }

    /// `text` fit for messages: userinfo replaced by `REDACTED@`, the query (which may carry a
    /// build `token=`) by `?REDACTED`, control characters escaped.
    public static func redacted(_ text: String) -> String {
        var shown = text
        if let range = userinfoRange(shown) { shown.replaceSubrange(range, with: "REDACTED@") }
        if let question = shown.firstIndex(of: "?") { shown = String(shown[..<question]) + "?REDACTED" }
        return DisplayText.escape(shown)
    }

    /// The `user:password@` part of an http(s) URL's authority, with its `@`.
    static func userinfoRange(_ text: String) -> Range<String.Index>? {
        guard let scheme = text.firstRange(of: "://") else { return nil }
        let rest = text[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return nil }
        return rest.startIndex..<rest.index(after: at)
    }
}

/// A job template: `{service}`, `deploy/{service}`, `ops/restart-{service}`. A `/` in the
/// template separates folders; placeholders are substituted inside each segment, so a `/` in a
/// service name never creates a folder, and every segment is percent-encoded on its own
/// (jenkins.md §1.1).
public struct JenkinsJobTemplate: Sendable, Hashable, CustomStringConvertible {
    public let segments: [Template]
    public let text: String

    public init(_ text: String) throws(JenkinsJobError) {
        self.text = text
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var segments: [Template] = []
        for part in parts {
            if part.isEmpty { throw .emptySegment(text) }
            do { segments.append(try Template(part)) } catch { throw .template(error) }
        }
        self.segments = segments
    }

    /// The job's path for an incident.
    public func render(_ values: [String: String], kv: KVValues? = nil) throws(JenkinsJobError) -> JenkinsJobPath {
        var rendered: [String] = []
        for segment in segments {
            do { rendered.append(try segment.render(values, kv: kv)) } catch { throw .template(error) }
        }
        return try JenkinsJobPath(segments: rendered)
    }

    public var description: String { text }
}

/// The full name of a job as folder segments: `["ops", "restart-redis"]`.
public struct JenkinsJobPath: Sendable, Hashable, CustomStringConvertible {
    public let segments: [String]

    public init(segments: [String]) throws(JenkinsJobError) {
        for segment in segments {
            if segment.isEmpty { throw .emptyName(segments.joined(separator: "/")) }
            if segment == "." || segment == ".." { throw .reservedName(segment) }
        }
        self.segments = segments
    }

    /// `/job/ops/job/restart-redis`, each segment percent-encoded.
    public var urlPath: String {
        segments.map { "/job/" + PercentEncoding.encode($0) }.joined()
    }

    /// `ops/restart-redis`, the full name as Jenkins shows it.
    public var description: String { segments.joined(separator: "/") }
}

/// Why a job name cannot be used.
public enum JenkinsJobError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptySegment(String)
    case emptyName(String)
    case reservedName(String)
    case template(TemplateError)

    public var description: String {
        switch self {
        case .emptySegment(let text): return "job template '\(text)' has an empty folder segment (a leading, trailing or double '/')"
        case .emptyName(let name): return "job name '\(name)' has an empty segment (is a placeholder empty for this incident?)"
        case .reservedName(let name): return "'\(name)' cannot be a Jenkins job name"
        case .template(let error): return error.description
        }
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters. Encoding more than
/// needed is harmless: Jenkins decodes every `%XX` in a path segment as UTF-8.
public enum PercentEncoding {
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `a=1&b=x%20y` from ordered pairs.
    public static func form(_ pairs: [(String, String)]) -> String {
        pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }
}

import FoundationEssentials

/// The watch types whose payloads a handler can receive (`type` in a `watches` entry).
public enum WatchType: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case checks, service, nodes, services, key, keyprefix, event

    public var description: String { rawValue }

    /// True for the types whose payloads carry health checks.
    public var carriesHealth: Bool { self == .checks || self == .service }
}

/// A decoded watch payload: what a Consul agent wrote on the handler's stdin.
public enum WatchPayload: Sendable, Hashable {
    /// `checks`: an array of health checks.
    case checks([HealthCheck])
    /// `service`: an array of service instances with their node and checks.
    case service([ServiceEntry])
    /// `nodes`: an array of catalog nodes.
    case nodes([Node])
    /// `services`: service name → tags (tag order is arbitrary; Consul builds it from a map).
    case services([String: [String]])
    /// `key`: one pair, or `nil` when the key does not exist.
    case key(KVPair?)
    /// `keyprefix`: the pairs under the prefix, or `nil` when there are none.
    case keyprefix([KVPair]?)
    /// `event`: the user events newer than the last delivery.
    case event([UserEvent])

    /// The watch type of this payload.
    public var type: WatchType {
        switch self {
        case .checks: return .checks
        case .service: return .service
        case .nodes: return .nodes
        case .services: return .services
        case .key: return .key
        case .keyprefix: return .keyprefix
        case .event: return .event
        }
    }

    /// Decodes `bytes` as a watch payload of `type`, or of the type detected from the JSON itself.
    public static func decode<Bytes: ContiguousBytes>(_ bytes: Bytes, as type: WatchType? = nil) throws(JSONError) -> WatchPayload {
        try JSONReader.read(bytes) { (reader) throws(JSONError) in
            let detected: WatchType
            if let type { detected = type } else { detected = try WatchType.detect(&reader).type }
            return try WatchPayload(reading: &reader, as: detected)
        }
    }

    /// Reads a payload of a known type.
    public init(reading reader: inout JSONReader, as type: WatchType) throws(JSONError) {
        func array<T>(_ element: (inout JSONReader) throws(JSONError) -> T) throws(JSONError) -> [T] {
            var values: [T] = []
            // A Go nil slice is `null`: an empty list (older agents, nil results).
            if reader.readNullIfPresent() { return values }
            try reader.readArray { (reader) throws(JSONError) in values.append(try element(&reader)) }
            return values
        }
        switch type {
        case .checks: self = .checks(try array { (reader) throws(JSONError) in try HealthCheck(reading: &reader) })
        case .service: self = .service(try array { (reader) throws(JSONError) in try ServiceEntry(reading: &reader) })
        case .nodes: self = .nodes(try array { (reader) throws(JSONError) in try Node(reading: &reader) })
        case .event: self = .event(try array { (reader) throws(JSONError) in try UserEvent(reading: &reader) })
        case .services:
            var services: [String: [String]] = [:]
            try reader.readObject { (key, reader) throws(JSONError) in
                services[key.string] = try reader.readStringArrayField() ?? []
            }
            self = .services(services)
        case .key:
            self = .key(try reader.optional { (reader) throws(JSONError) in try KVPair(reading: &reader) })
        case .keyprefix:
            if reader.readNullIfPresent() {
                self = .keyprefix(nil)
            } else {
                self = .keyprefix(try array { (reader) throws(JSONError) in try KVPair(reading: &reader) })
            }
        }
    }
}

extension WatchType {
    /// The result of looking at a payload to tell its type.
    public struct Detection: Sendable, Equatable {
        public var type: WatchType
        /// True when the JSON fits several types (`[]`, `null`) and ``type`` is the default guess.
        public var ambiguous: Bool
    }

    /// Tells the watch type from the JSON itself, without consuming anything: `[]` and `null`
    /// read as `checks` (both ambiguous); otherwise the members of the first element
    /// decide (`CheckID` → checks, `Service` + `Checks` → service, `Key` → key/keyprefix,
    /// `LTime`/`Payload` → event, `Node` + `Address` → nodes; an object of arrays → services).
    public static func detect(_ reader: inout JSONReader) throws(JSONError) -> Detection {
        let saved = reader.position
        defer { reader.position = saved }
        switch try reader.peekKind() {
        case .null:
            // Health handlers are the toolkit's use: a bare `null` is an empty checks list
            // (a Go nil slice), as `[]` is; a key watch's `null` needs `--type key`.
            return Detection(type: .checks, ambiguous: true)
        case .array:
            var members: Set<String> = []
            var firstKind: JSONReader.Kind?
            let start = reader.position
            // Look at the first element only.
            let isEmpty = try !reader.readFirstElement { (reader) throws(JSONError) in
                firstKind = try reader.peekKind()
                if firstKind == .object {
                    try reader.readObject { (key, reader) throws(JSONError) in
                        members.insert(key.string)
                        try reader.skipValue()
                    }
                } else {
                    // Validate it like an object would be, so that malformed JSON (cut short,
                    // nested 10 000 deep) is reported as such, not as a wrong element type.
                    try reader.skipValue()
                }
            }
            if isEmpty { return Detection(type: .checks, ambiguous: true) }
            guard firstKind == .object else {
                reader.position = start
                var element = JSONError(
                    .typeMismatch(expected: "an object (a check, service entry, node, key or event)", found: firstKind?.description ?? "nothing"),
                    offset: start, line: 0, column: 0, path: [.index(0)])
                let located = reader.error(element.problem, at: start + 1)
                element.offset = located.offset
                element.line = located.line
                element.column = located.column
                throw element
            }
            // A check is told by CheckID, or (when that is what is missing) by Status / ServiceID.
            if members.contains("CheckID") || (members.contains("Status") && !members.contains("Service")) || members.contains("ServiceID") {
                return Detection(type: .checks, ambiguous: false)
            }
            if members.contains("Service") && (members.contains("Checks") || members.contains("Node")) {
                return Detection(type: .service, ambiguous: false)
            }
            if members.contains("Key") { return Detection(type: .keyprefix, ambiguous: false) }
            if members.contains("LTime") || members.contains("Payload") || members.contains("NodeFilter") {
                return Detection(type: .event, ambiguous: false)
            }
            if members.contains("Node") { return Detection(type: .nodes, ambiguous: false) }
            throw reader.error(
                .typeMismatch(
                    expected: "a Consul watch payload (an array of checks, service entries, nodes, keys or events)",
                    found: "an array of objects with members " + members.sorted().prefix(6).joined(separator: ", ")),
                at: start)
        case .object:
            var hasKey = false
            var allArrays = true
            let start = reader.position
            try reader.readObject { (key, reader) throws(JSONError) in
                if key.equals("Key") { hasKey = true }
                let kind = try reader.peekKind()
                if kind != .array && kind != .null { allArrays = false }
                try reader.skipValue()
            }
            if hasKey { return Detection(type: .key, ambiguous: false) }
            if allArrays { return Detection(type: .services, ambiguous: false) }
            throw reader.error(
                .typeMismatch(
                    expected: "a Consul watch payload (a key, or a services object of tag arrays)",
                    found: "an object of another shape"),
                at: start)
        case let kind:
            throw reader.error(.typeMismatch(expected: "a Consul watch payload (an array, an object or null)", found: kind.description))
        }
    }
}

import ConsulWatch

/// What failing checks are grouped into: the unit an action is taken for, and what the policy
/// remembers between deliveries.
public enum GroupBy: String, Sendable, Hashable, CaseIterable, Codable {
    /// One incident per service name (all instances together): one Jenkins job per service.
    case service
    /// One incident per service instance (node + service ID).
    case instance
    /// One incident per node.
    case node
}

/// A target that is failing, with the checks that show it.
///
/// Its ``id`` is stable across deliveries (it is built from names, never from outputs or
/// indexes), which is what lets the policy recognise "the same incident" in the next payload.
public struct Incident: Sendable, Hashable {
    /// How the target was chosen.
    public var groupBy: GroupBy
    /// The service name (nil for a node failure in a `checks` watch).
    public var service: String?
    /// The service instance ID of the first check (instance grouping: the instance's).
    public var serviceID: String?
    /// The node of the first check.
    public var node: String
    /// The failing checks, in payload order (never empty).
    public var checks: [SelectedCheck]
    /// Set when the incident is handed to an escalation: why (budget exhausted, every
    /// remediation failed, blast radius). Given to commands as `CONSUL_ALERT` and `"alert"`.
    public var alert: String?

    public init(groupBy: GroupBy, checks: [SelectedCheck]) {
        precondition(!checks.isEmpty, "an incident has at least one check")
        let first = checks[0]
        self.groupBy = groupBy
        self.checks = checks
        self.service = first.service
        self.serviceID = first.serviceID
        self.node = first.node
    }

    /// The stable identity: `service:web`, `instance:web-02/web`, `node:web-02`. A node failure
    /// in a `checks` watch under service grouping has no service and becomes `node:<node>`.
    ///
    /// Names are written with ``encodeName(_:)``, so an ID is plain ASCII and two IDs are equal
    /// exactly when their names are equal byte for byte: state keys, the spool and every
    /// dictionary keyed by ID then tell "café" (NFC) and "café" (NFD) apart, as Consul does.
    public var id: String { Self.id(of: checks[0], groupBy: groupBy) }

    /// The identity of the incident `check` belongs to.
    public static func id(of check: SelectedCheck, groupBy: GroupBy) -> String {
        switch groupBy {
        case .service:
            if let service = check.service { return "service:" + encodeName(service) }
            return "node:" + encodeName(check.node)
        case .instance:
            if let serviceID = check.serviceID { return "instance:" + encodeName(check.node) + "/" + encodeName(serviceID) }
            return "node:" + encodeName(check.node)
        case .node:
            return "node:" + encodeName(check.node)
        }
    }

    /// A name as it appears in an ID: printable ASCII as is, `%`, `/` and every other byte
    /// (controls, non-ASCII UTF-8) as `%XX`. `web` stays `web`; "café" in NFC is
    /// `caf%C3%A9`, in NFD `cafe%CC%81`.
    public static func encodeName(_ name: String) -> String {
        if name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x25 && $0 != 0x2F }) { return name }
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(name.utf8.count * 3)
        for byte in name.utf8 {
            if byte > 0x20 && byte < 0x7F && byte != 0x25 && byte != 0x2F {
                bytes.append(byte)
            } else {
                bytes += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A short name for people: the service, or `node <name>`.
    public var target: String {
        switch groupBy {
        case .service: return service ?? "node \(node)"
        case .instance: return serviceID.map { "\($0) on \(node)" } ?? "node \(node)"
        case .node: return "node \(node)"
        }
    }

    /// True when every check is a node-level check: the node, not a service, is failing.
    public var isNodeFailure: Bool { checks.allSatisfy { $0.kind == .node } }

    /// The worst status among the checks (critical > warning > anything else).
    public var status: CheckStatus {
        if checks.contains(where: { $0.status == .critical }) { return .critical }
        if checks.contains(where: { $0.status == .warning }) { return .warning }
        return checks[0].status
    }

    /// The `CONSUL_INDEX` of the delivery.
    public var consulIndex: UInt64? { checks[0].consulIndex }

    /// Groups selected checks into incidents, in order of first appearance.
    public static func group(_ checks: [SelectedCheck], by groupBy: GroupBy) -> [Incident] {
        var order: [String] = []
        var members: [String: [SelectedCheck]] = [:]
        for check in checks {
            let id = id(of: check, groupBy: groupBy)
            if members[id] == nil { order.append(id) }
            members[id, default: []].append(check)
        }
        return order.map { Incident(groupBy: groupBy, checks: members[$0]!) }
    }

    /// The values the `{placeholder}` templates of actions can use.
    public var placeholders: [String: String] {
        let first = checks[0]
        return [
            "service": service ?? "",
            "serviceID": serviceID ?? "",
            "node": node,
            "checkID": first.checkID,
            "checkName": first.checkName,
            "status": status.rawValue,
            "target": target,
            "incident": id,
            "consulIndex": consulIndex.map(String.init) ?? "",
            "cause": cause.rawValue,
        ]
    }

    /// The incident as the JSON an external action reads on stdin (schema in docs/actions.md):
    /// `{"id","groupBy","target","service","serviceID","node","status","consulIndex","checks":[…]}`.
    public func writeJSON(to writer: inout JSONWriter) {
        writer.object { object in
            object.field("id", id)
            object.field("groupBy", groupBy.rawValue)
            object.field("target", target)
            object.field("service", service)
            object.field("serviceID", serviceID)
            object.field("node", node)
            object.field("status", status.rawValue)
            object.field("cause", cause.rawValue)
            object.field("consulIndex", consulIndex)
            if let alert { object.field("alert", alert) }
            object.field("checks") { writer in
                writer.array(checks) { check, writer in check.writeJSON(to: &writer) }
            }
        }
    }

    /// ``writeJSON(to:)`` as bytes.
    public var json: [UInt8] {
        var writer = JSONWriter()
        writeJSON(to: &writer)
        return writer.bytes
    }
}

/// Substitutes `{name}` placeholders. Unknown names are an error (caught when options are
/// parsed, not at 3 a.m.); `{{` and `}}` stand for literal braces.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    /// The placeholder names an incident provides.
    public static let names: Set<String> = ["service", "serviceID", "node", "checkID", "checkName", "status", "target", "incident", "consulIndex", "cause"]

    public enum Part: Sendable, Hashable {
        case literal(String)
        case placeholder(String)
        /// `{kv:KEY}` / `{kv:KEY|DEFAULT}`: a Consul KV value (KEY and DEFAULT may hold placeholders).
        case kv(key: Template, fallback: Template?)
    }

    public let parts: [Part]

    /// Parses `text`; a placeholder outside `names` is an error (webhook bodies allow a few more).
    public init(_ text: String, names: Set<String> = Template.names) throws(TemplateError) {
        self.text = text
        var parts: [Part] = []
        var literal = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "{" {
                if next < text.endIndex, text[next] == "{" {
                    literal.append("{")
                    index = text.index(after: next)
                    continue
                }
                if text[next...].hasPrefix(Self.kvPrefix) {
                    let (part, after) = try Self.kvPart(text, from: text.index(next, offsetBy: Self.kvPrefix.count))
                    if !literal.isEmpty {
                        parts.append(.literal(literal))
                        literal = ""
                    }
                    parts.append(part)
                    index = after
                    continue
                }
                guard let close = text[next...].firstIndex(of: "}") else { throw .unclosed(text) }
                let name = String(text[next..<close])
                guard names.contains(name) else { throw .unknownPlaceholder(name, in: text) }
                if !literal.isEmpty {
                    parts.append(.literal(literal))
                    literal = ""
                }
                parts.append(.placeholder(name))
                index = text.index(after: close)
            } else if character == "}" {
                guard next < text.endIndex, text[next] == "}" else { throw .unclosed(text) }
                literal.append("}")
                index = text.index(after: next)
            } else {
                literal.append(character)
                index = next
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
    }

    /// The text with each placeholder replaced by its value, and each `{kv:…}` by the value
    /// `kv` reads (or its default). A KV value that cannot be had fails: never an empty value.
    public func render(_ values: [String: String], kv: KVValues? = nil) throws(TemplateError) -> String {
        var result = ""
        for part in parts {
            switch part {
            case .literal(let text): result += text
            case .placeholder(let name): result += values[name] ?? ""
            case .kv(let keyTemplate, let fallback):
                let key = try keyTemplate.render(values)
                guard let kv else { throw .kvUnavailable(key: key, reason: "no Consul agent is configured to read it") }
                let value: String?
                do { value = try kv.value(of: key) } catch { throw .kvUnavailable(key: key, reason: error.description) }
                if let value {
                    result += value
                } else if let fallback {
                    result += try fallback.render(values)
                } else {
                    throw .kvMissing(key: key)
                }
            }
        }
        return result
    }

    /// True when rendering reads Consul KV.
    public var readsKV: Bool { parts.contains { if case .kv = $0 { return true } else { return false } } }

    public var description: String { text }
}

/// A template that cannot be used.
public enum TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownPlaceholder(String, in: String)
    case unclosed(String)
    /// `{kv:}` with no key, or a `{kv:…}` inside a KV key or default.
    case badKV(String, in: String)
    /// The KV key does not exist and the placeholder has no default.
    case kvMissing(key: String)
    /// The KV value could not be read (agent unreachable, ACL).
    case kvUnavailable(key: String, reason: String)

    /// True when trying again later may succeed: the agent could not be asked. A missing key or a
    /// broken template needs a person.
    public var isRetryable: Bool {
        if case .kvUnavailable = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .unknownPlaceholder(let name, let text):
            return "unknown placeholder {\(name)} in '\(text)' (known: \(Template.names.sorted().map { "{\($0)}" }.joined(separator: " ")))"
        case .unclosed(let text):
            return "unbalanced brace in '\(text)' (write {{ or }} for a literal brace)"
        case .badKV(let detail, let text):
            return "\(detail) in '\(text)' (write {kv:KEY} or {kv:KEY|DEFAULT})"
        case .kvMissing(let key):
            return "Consul KV key '\(key)' does not exist and its placeholder has no default (write {kv:\(key)|DEFAULT}); not run with an empty value"
        case .kvUnavailable(let key, let reason):
            return "Consul KV key '\(key)' could not be read: \(reason); not run without it"
        }
    }
}

extension Incident {
    /// Reads an incident back from ``json`` (the spool keeps incidents in that form).
    public init?(json bytes: [UInt8]) {
        guard case .object(let root)? = try? JSONReader.read(bytes, { (reader) throws(JSONError) in try JSONValue(reading: &reader) }),
            let groupBy = root["groupBy"]?.string.flatMap(GroupBy.init(rawValue:)), case .array(let list)? = root["checks"]
        else { return nil }
        var checks: [SelectedCheck] = []
        for item in list {
            guard case .object(let f) = item, let kind = f["kind"]?.string.flatMap(SelectedCheck.Kind.init(rawValue:)),
                let node = f["node"]?.string, let checkID = f["checkID"]?.string
            else { return nil }
            var tags: [String] = []
            if case .array(let values)? = f["tags"] { tags = values.compactMap(\.string) }
            checks.append(
                SelectedCheck(
                    kind: kind, service: f["service"]?.string, serviceID: f["serviceID"]?.string, node: node, checkID: checkID,
                    checkName: f["checkName"]?.string ?? "", status: CheckStatus(f["status"]?.string ?? "critical"),
                    output: f["output"]?.string ?? "", notes: f["notes"]?.string ?? "", tags: tags, consulIndex: f["consulIndex"]?.uint64))
        }
        guard !checks.isEmpty else { return nil }
        self.init(groupBy: groupBy, checks: checks)
        alert = root["alert"]?.string
    }
}

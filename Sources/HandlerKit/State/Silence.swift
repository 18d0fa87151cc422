import ConsulWatch

/// An operator's silence (`consul-heal silence`) or pause (`consul-heal pause`): while active,
/// the failures it covers are decided `silenced` (docs/operations.md, "Silences"). Kept in
/// ``HealState``, so that whatever stores the state (a directory, Consul) shares them.
public struct Silence: Sendable, Equatable {
    public var since: Double
    /// When it ends on its own; nil: until lifted (a pause without `--for`).
    public var until: Double?
    /// Who set it (the user name).
    public var by: String
    public var reason: String

    public init(since: Double, until: Double?, by: String, reason: String) {
        self.since = since
        self.until = until
        self.by = by
        self.reason = reason
    }

    public func isActive(at now: Double) -> Bool { until.map { now < $0 } ?? true }

    /// "by alice until 2026-12-06T06:40:37Z: upgrading the database".
    public var summary: String {
        "by \(by) " + (until.map { "until \(Timestamp.iso8601($0))" } ?? "until resumed") + (reason.isEmpty ? "" : ": \(reason)")
    }
}

/// What a silence covers, as an operator names it: a service (`books`, `service:books`), a node
/// (`node:web-02`) or a service instance (`instance:web-02/books-1`). An incident is silenced
/// when every one of its failing checks is covered, so `node:web-02` silences what fails on
/// web-02 alone, whatever the grouping.
public enum SilenceTarget: Sendable, Hashable, CustomStringConvertible {
    /// Names are kept as incident IDs write them (``Incident/encodeName(_:)``).
    case service(String)
    case node(String)
    case instance(node: String, serviceID: String)

    /// The key in the state, the same spelling as incident IDs: `service:books`.
    public var id: String {
        switch self {
        case .service(let name): return "service:" + name
        case .node(let name): return "node:" + name
        case .instance(let node, let serviceID): return "instance:" + node + "/" + serviceID
        }
    }

    public var description: String { id }

    /// Reads a key of the state (names already encoded); nil for anything else.
    public init?(id: String) {
        guard let colon = id.firstIndex(of: ":") else { return nil }
        let kind = id[..<colon]
        let rest = String(id[id.index(after: colon)...])
        guard !rest.isEmpty else { return nil }
        switch kind {
        case "service" where !rest.contains("/"): self = .service(rest)
        case "node" where !rest.contains("/"): self = .node(rest)
        case "instance":
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            self = .instance(node: String(parts[0]), serviceID: String(parts[1]))
        default: return nil
        }
    }

    /// What an operator typed: an incident ID as `status` shows it (`service:books`,
    /// `node:web-02`, `instance:web-02/books-1`; `%XX` escapes as IDs write them are read back),
    /// or a bare name, which is a service name. Nil when it is neither.
    public init?(operand text: String) {
        guard !text.isEmpty, text.utf8.count <= 1024 else { return nil }
        guard let colon = text.firstIndex(of: ":"), ["service", "node", "instance"].contains(text[..<colon]) else {
            if text.contains(":") { return nil }  // `nod:web-02`, `check:x`: a typo, not a service
            self = .service(Incident.encodeName(Self.unescape(text)))
            return
        }
        let kind = text[..<colon]
        let rest = text[text.index(after: colon)...]
        if kind == "instance" {
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            self = .instance(node: Incident.encodeName(Self.unescape(String(parts[0]))), serviceID: Incident.encodeName(Self.unescape(String(parts[1]))))
            return
        }
        guard !rest.isEmpty else { return nil }
        let name = Incident.encodeName(Self.unescape(String(rest)))
        self = kind == "node" ? .node(name) : .service(name)
    }

    /// True when `check` is one this silence covers.
    public func covers(_ check: SelectedCheck) -> Bool {
        switch self {
        case .service(let name): return check.service.map(Incident.encodeName) == name
        case .node(let name): return Incident.encodeName(check.node) == name
        case .instance(let node, let serviceID):
            return Incident.encodeName(check.node) == node && check.serviceID.map(Incident.encodeName) == serviceID
        }
    }

    /// `%XX` escapes back to bytes (a `%` not followed by two hex digits stays as it is).
    static func unescape(_ text: String) -> String {
        guard text.contains("%") else { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension HealState {
    /// The silences and the pause active at `now` that cover `incident` of `watch`, in words for
    /// the decision's reason; nil when none does.
    public func silence(of incident: Incident, watch: String, now: Double) -> String? {
        if let pause = pauses[watch], pause.isActive(at: now) { return "watch \(watch) paused \(pause.summary)" }
        let active = silences.compactMap { key, silence in
            silence.isActive(at: now) ? SilenceTarget(id: key).map { ($0, silence) } : nil
        }.sorted { $0.0.id < $1.0.id }
        guard !active.isEmpty else { return nil }
        var covering: [(SilenceTarget, Silence)] = []
        for check in incident.checks {
            guard let match = active.first(where: { $0.0.covers(check) }) else { return nil }
            if !covering.contains(where: { $0.0 == match.0 }) { covering.append(match) }
        }
        return covering.map { "\($0.0.id) \($0.1.summary)" }.joined(separator: "; ")
    }

    /// Drops the silences and pauses that ended by `now`; returns them (journaled as expired).
    public mutating func expireSilences(now: Double) -> [(key: String, silence: Silence, pause: Bool)] {
        var expired: [(key: String, silence: Silence, pause: Bool)] = []
        for (key, silence) in silences.sorted(by: { $0.key < $1.key }) where !silence.isActive(at: now) {
            silences[key] = nil
            expired.append((key, silence, false))
        }
        for (key, silence) in pauses.sorted(by: { $0.key < $1.key }) where !silence.isActive(at: now) {
            pauses[key] = nil
            expired.append((key, silence, true))
        }
        return expired
    }
}

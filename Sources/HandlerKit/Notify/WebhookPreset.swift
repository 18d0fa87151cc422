import ConsulWatch

/// When an action runs: on a remediation (`act`), on an escalation (`escalate`), or when an
/// incident that was notified recovers (`resolved`).
public enum NotifyEvent: String, Sendable, Hashable, CaseIterable {
    case act, escalate, resolved

    /// The decision behind the event, in words (what the journal says for it).
    func reason(_ incident: Incident) -> String {
        switch self {
        case .act: return Decision(id: incident.id, target: incident.target, verdict: .act, incident: incident).reason
        case .escalate: return incident.alert ?? Decision(id: incident.id, target: incident.target, verdict: .escalate, incident: incident).reason
        case .resolved: return Decision(id: incident.id, target: incident.target, verdict: .resolved, incident: nil).reason
        }
    }
}

/// The shapes a webhook can send. Each is a pure function of the incident and the event, so
/// that what a receiver gets is tested without a network.
public enum WebhookPreset: String, Sendable, Hashable, CaseIterable {
    /// The incident JSON of docs/actions.md, with the event and the decision.
    case generic
    /// A Slack (or Mattermost) incoming webhook: `{"text": "…"}`, one line, no links.
    case slack
    /// PagerDuty Events API v2: trigger on act/escalate, resolve on resolved, `dedup_key` = incident id.
    case pagerduty

    /// Where PagerDuty's Events API v2 takes events.
    public static let pagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

    /// The request body. `routingKey` is used by ``pagerduty`` only; `time` is seconds since 1970.
    public func body(_ incident: Incident, event: NotifyEvent, routingKey: String? = nil, time: Double) -> [UInt8] {
        var writer = JSONWriter()
        switch self {
        case .generic:
            writer.object { object in
                object.field("event", event.rawValue)
                object.field("time", Timestamp.iso8601(time))
                object.field("decision") { writer in
                    writer.object { decision in
                        decision.field("name", event.rawValue)
                        decision.field("reason", event.reason(incident))
                    }
                }
                object.field("incident") { writer in incident.writeJSON(to: &writer) }
            }
        case .slack:
            writer.object { $0.field("text", Self.slackText(incident, event: event)) }
        case .pagerduty:
            writer.object { object in
                object.field("routing_key", routingKey ?? "")
                object.field("event_action", event == .resolved ? "resolve" : "trigger")
                object.field("dedup_key", Self.clip(incident.id, 255))
                guard event != .resolved else { return }
                object.field("client", "consul-heal")
                object.field("payload") { writer in
                    writer.object { payload in
                        payload.field("summary", Self.clip(Self.summary(incident, event: event), 1024))
                        payload.field("source", incident.node)
                        payload.field("severity", Self.pagerDutySeverity(incident.status))
                        payload.field("timestamp", Timestamp.iso8601(time))
                        if let service = incident.service { payload.field("component", service) }
                        payload.field("class", incident.checks[0].checkID)
                        payload.field("custom_details") { writer in
                            writer.object { details in
                                details.field("event", event.rawValue)
                                details.field("reason", event.reason(incident))
                                details.field("incident", incident.id)
                                details.field("checks", incident.checks.map(\.checkID))
                            }
                        }
                    }
                }
            }
        }
        return writer.bytes
    }

    /// PagerDuty knows critical, error, warning and info: critical → critical, warning → warning,
    /// anything else (a passing or unknown status selected on purpose) → info.
    public static func pagerDutySeverity(_ status: CheckStatus) -> String {
        switch status {
        case .critical: return "critical"
        case .warning: return "warning"
        default: return "info"
        }
    }

    /// One readable line: what, where, and what is being done.
    public static func summary(_ incident: Incident, event: NotifyEvent) -> String {
        let check = incident.checks[0]
        let checks = incident.checks.count > 1 ? " and \(incident.checks.count - 1) more" : ""
        switch event {
        case .act:
            return "\(incident.target) is \(incident.status.rawValue) (check \(check.checkID) on \(incident.node)\(checks)): remediating"
        case .escalate:
            return
                "\(incident.target) is \(incident.status.rawValue) (check \(check.checkID) on \(incident.node)\(checks)): escalated: \(event.reason(incident))"
        case .resolved:
            return "\(incident.target) recovered: incident \(incident.id) closed"
        }
    }

    /// The Slack line, link-free: `&`, `<` and `>` are escaped as Slack requires, so that no value
    /// becomes a link or a mention, and control characters become spaces so it stays one line.
    public static func slackText(_ incident: Incident, event: NotifyEvent) -> String {
        let prefix: String
        switch event {
        case .act: prefix = "consul-heal: "
        case .escalate: prefix = "consul-heal ESCALATION: "
        case .resolved: prefix = "consul-heal RESOLVED: "
        }
        var text = ""
        for scalar in (prefix + summary(incident, event: event)).unicodeScalars {
            switch scalar {
            case "&": text += "&amp;"
            case "<": text += "&lt;"
            case ">": text += "&gt;"
            default: text.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? " " : scalar)
            }
        }
        return clip(text, 3000)
    }

    static func clip(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}

/// A JSON body with `{placeholder}` in its strings: every string of the template is rendered and
/// written as a JSON string, so a value with quotes or newlines cannot change the JSON's shape.
/// The placeholders are those of commands (docs/actions.md) and `{event}`, `{reason}`, `{alert}`.
public struct BodyTemplate: Sendable {
    public static let names = Template.names.union(["event", "reason", "alert"])

    indirect enum Node: Sendable {
        case value(JSONValue)
        case string(Template)
        case array([Node])
        case object([(String, Node)])
    }

    let root: Node

    /// Checks every string of `value`; an unknown placeholder or a lone brace is an error.
    public init(_ value: JSONValue) throws(TemplateError) {
        root = try Self.node(value)
    }

    static func node(_ value: JSONValue) throws(TemplateError) -> Node {
        switch value {
        case .string(let text): return .string(try Template(text, names: names))
        case .array(let items):
            var nodes: [Node] = []
            for item in items { nodes.append(try node(item)) }
            return .array(nodes)
        case .object(let members):
            var nodes: [(String, Node)] = []
            for key in members.keys.sorted() { nodes.append((key, try node(members[key]!))) }
            return .object(nodes)
        default: return .value(value)
        }
    }

    /// The body for one incident and event; `{kv:…}` values are read through `kv` (a value that
    /// cannot be had fails the body, as it fails any template).
    public func render(_ incident: Incident, event: NotifyEvent, kv: KVValues? = nil) throws(TemplateError) -> [UInt8] {
        var values = incident.placeholders
        values["event"] = event.rawValue
        values["reason"] = event.reason(incident)
        values["alert"] = incident.alert ?? ""
        var writer = JSONWriter()
        try Self.write(root, values: values, kv: kv, to: &writer)
        return writer.bytes
    }

    static func write(_ node: Node, values: [String: String], kv: KVValues?, to writer: inout JSONWriter) throws(TemplateError) {
        switch node {
        case .value(let value): writer.value(value)
        case .string(let template): writer.string(try template.render(values, kv: kv))
        case .array(let nodes):
            var failure: TemplateError?
            writer.array(nodes) { node, writer in
                do throws(TemplateError) { try write(node, values: values, kv: kv, to: &writer) } catch { failure = failure ?? error }
            }
            if let failure { throw failure }
        case .object(let members):
            var failure: TemplateError?
            writer.object { object in
                for (key, node) in members {
                    object.field(key) { writer in
                        do throws(TemplateError) { try write(node, values: values, kv: kv, to: &writer) } catch { failure = failure ?? error }
                    }
                }
            }
            if let failure { throw failure }
        }
    }
}

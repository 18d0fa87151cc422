import Foundation

/// The JSON shapes Consul's HTTP API emits (field order as the real agent writes it; consul-watch.md §2.3–2.5,
/// consul-api.md §1.2, §4).
enum ConsulJSON {
    static func u(_ v: UInt64) -> JSONValue { .int(Int64(clamping: v)) }

    static func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }

    static func stringMap(_ map: [String: String]) -> JSONValue {
        .object(map.keys.sorted().map { ($0, .string(map[$0]!)) })
    }

    static func kvEntry(_ e: FakeConsul.KVEntry) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("LockIndex", u(e.lockIndex)), ("Key", .string(e.key)), ("Flags", u(e.flags)),
            ("Value", e.value.map { .string(Data($0).base64EncodedString()) } ?? .null),
        ]
        if let s = e.session { members.append(("Session", .string(s))) }
        members += [("CreateIndex", u(e.createIndex)), ("ModifyIndex", u(e.modifyIndex))]
        return .object(members)
    }

    static func node(_ n: ConsulState.Node, datacenter: String) -> JSONValue {
        .object([
            ("ID", .string(n.id)), ("Node", .string(n.name)), ("Address", .string(n.address)),
            ("Datacenter", .string(datacenter)),
            (
                "TaggedAddresses",
                stringMap(["lan": n.address, "lan_ipv4": n.address, "wan": n.address, "wan_ipv4": n.address])
            ),
            ("Meta", stringMap(n.meta)), ("CreateIndex", u(n.createIndex)), ("ModifyIndex", u(n.modifyIndex)),
        ])
    }

    static func service(_ s: ConsulState.ServiceInstance) -> JSONValue {
        let v = s.service
        var members: [(String, JSONValue)] = [
            ("ID", .string(v.id)), ("Service", .string(v.name)), ("Tags", strings(v.tags)),
            ("Meta", v.meta.isEmpty ? .null : stringMap(v.meta)), ("Port", .int(v.port)), ("Address", .string(v.address)),
        ]
        if !v.address.isEmpty {
            let tagged: JSONValue = .object([("Address", .string(v.address)), ("Port", .int(v.port))])
            members.append(("TaggedAddresses", .object([("lan_ipv4", tagged), ("wan_ipv4", tagged)])))
        }
        members += [
            ("Weights", .object([("Passing", .int(1)), ("Warning", .int(1))])), ("EnableTagOverride", .bool(false)),
            ("CreateIndex", u(s.createIndex)), ("ModifyIndex", u(s.modifyIndex)),
            ("Proxy", .object([("MeshGateway", .object([])), ("Expose", .object([]))])), ("Connect", .object([])),
        ]
        return .object(members)
    }

    static let emptyDefinition: JSONValue = .object([
        ("Interval", .string("0s")), ("Timeout", .string("0s")), ("DeregisterCriticalServiceAfter", .string("0s")),
        ("HTTP", .string("")), ("Header", .null), ("Method", .string("")), ("Body", .string("")),
        ("TLSServerName", .string("")), ("TLSSkipVerify", .bool(false)), ("TCP", .string("")),
        ("TCPUseTLS", .bool(false)), ("UDP", .string("")), ("GRPC", .string("")), ("OSService", .string("")),
        ("GRPCUseTLS", .bool(false)),
    ])

    static func check(_ c: FakeConsul.Check) -> JSONValue {
        .object([
            ("Node", .string(c.node)), ("CheckID", .string(c.checkID)), ("Name", .string(c.name)),
            ("Status", .string(c.status)), ("Notes", .string(c.notes)), ("Output", .string(c.output)),
            ("ServiceID", .string(c.serviceID)), ("ServiceName", .string(c.serviceName)),
            ("ServiceTags", strings(c.serviceTags)), ("Type", .string(c.type)), ("Interval", .string("")),
            ("Timeout", .string("")), ("ExposedPort", .int(0)), ("Definition", emptyDefinition),
            ("CreateIndex", u(c.createIndex)), ("ModifyIndex", u(c.modifyIndex)),
        ])
    }
}

extension JSONValue {
    /// Go's `json.MarshalIndent(v, "", "    ")` plus a newline, as `?pretty` and `-dev` agents answer.
    var prettySerialized: String {
        var out = ""
        writePretty(into: &out, depth: 0)
        return out + "\n"
    }

    private func writePretty(into out: inout String, depth: Int) {
        let pad = String(repeating: "    ", count: depth + 1)
        let closePad = String(repeating: "    ", count: depth)
        switch self {
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (n, item) in items.enumerated() {
                out += pad
                item.writePretty(into: &out, depth: depth + 1)
                out += n == items.count - 1 ? "\n" : ",\n"
            }
            out += closePad + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            for (n, (key, value)) in members.enumerated() {
                out += pad + JSONValue.string(key).serialized + ": "
                value.writePretty(into: &out, depth: depth + 1)
                out += n == members.count - 1 ? "\n" : ",\n"
            }
            out += closePad + "}"
        default:
            out += serialized
        }
    }
}

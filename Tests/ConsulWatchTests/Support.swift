import ConsulWatch
import Foundation
import TestSupport
import Testing

// Helpers shared by the ConsulWatch suites: payload builders that start from the recorded
// fixtures' shapes, both decoding paths, and both selection paths.

/// Builds small watch payloads from the recorded fixtures, changing only the fields a test is about.
enum Build {
    /// Element `index` of the array fixture `name`, as a mutable JSON object.
    static func element(_ name: String, _ index: Int = 0) -> [String: Any] {
        let array = try! JSONSerialization.jsonObject(with: Data(Fixtures.bytes(name))) as! [Any]
        return array[index] as! [String: Any]
    }

    /// A service check in the shape of `checks-state-critical-one.json` (web-02's HTTP check).
    static func serviceCheck(
        node: String = "web-02", service: String = "web", serviceID: String? = nil, checkID: String? = nil,
        status: String = "critical", tags: [String] = ["production", "v2"], output: String? = nil, name: String? = nil
    ) -> [String: Any] {
        var check = element("checks-state-critical-one.json")
        let id = serviceID ?? service
        check["Node"] = node
        check["ServiceName"] = service
        check["ServiceID"] = id
        check["CheckID"] = checkID ?? "service:\(id)"
        check["Name"] = name ?? "Service '\(service)' check"
        check["Status"] = status
        check["ServiceTags"] = tags
        if let output { check["Output"] = output }
        return check
    }

    /// A node-level check in the shape of the `serfHealth` entry of `checks-node-down-state-critical.json`.
    static func nodeCheck(node: String = "web-02", checkID: String = "serfHealth", status: String = "critical", output: String? = nil) -> [String: Any] {
        var check = element("checks-node-down-state-critical.json")
        check["Node"] = node
        check["CheckID"] = checkID
        check["Status"] = status
        if let output { check["Output"] = output }
        return check
    }

    /// Node maintenance on `node`, in the shape of `checks-maintenance.json` (reason in `Notes`).
    static func nodeMaintenance(node: String, reason: String? = nil) -> [String: Any] {
        var check = element("checks-maintenance.json", 0)
        check["Node"] = node
        if let reason { check["Notes"] = reason }
        return check
    }

    /// Service maintenance of instance `serviceID` on `node`, in the shape of `checks-maintenance.json`.
    static func serviceMaintenance(node: String, serviceID: String = "web", service: String = "web", reason: String? = nil) -> [String: Any] {
        var check = element("checks-maintenance.json", 1)
        check["Node"] = node
        check["CheckID"] = "_service_maintenance:\(serviceID)"
        check["ServiceID"] = serviceID
        check["ServiceName"] = service
        if let reason { check["Notes"] = reason }
        return check
    }

    /// A `service` watch entry in the shape of web-02's entry of `service-health.json`.
    static func serviceEntry(node: String, serviceID: String = "web", service: String = "web", tags: [String] = ["production", "v2"], checks: [[String: Any]])
        -> [String: Any]
    {
        var entry = element("service-health.json", 1)
        var nodeObject = entry["Node"] as! [String: Any]
        nodeObject["Node"] = node
        var serviceObject = entry["Service"] as! [String: Any]
        serviceObject["ID"] = serviceID
        serviceObject["Service"] = service
        serviceObject["Tags"] = tags
        entry["Node"] = nodeObject
        entry["Service"] = serviceObject
        entry["Checks"] = checks
        return entry
    }

    /// Encodes a payload the way the agent frames it: compact JSON and one newline.
    static func payload(_ elements: [[String: Any]]) -> [UInt8] {
        [UInt8](try! JSONSerialization.data(withJSONObject: elements)) + [0x0A]
    }
}

/// The two ways a payload reaches selection: streaming from bytes (what the executables do) and
/// from a decoded ``WatchPayload``. Every selection rule is checked on both.
enum SelectPath: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case bytes, decoded

    var testDescription: String { rawValue }

    func select(_ bytes: [UInt8], _ criteria: SelectionCriteria = SelectionCriteria(), type: WatchType? = nil, consulIndex: UInt64? = nil) throws -> Selection {
        switch self {
        case .bytes:
            return try Selection.select(from: bytes, criteria: criteria, type: type, consulIndex: consulIndex)
        case .decoded:
            let payload = try WatchPayload.decode(bytes, as: type)
            return try Selection.select(from: payload, criteria: criteria, consulIndex: consulIndex)
        }
    }
}

extension SelectionCriteria {
    static func with(
        statuses: Set<CheckStatus>? = nil, includeMaintenance: Bool = false, services: NameSet = [],
        tags: NameSet = [], nodes: NameSet = [], checkIDs: NameSet = []
    ) -> SelectionCriteria {
        var criteria = SelectionCriteria()
        if let statuses { criteria.statuses = statuses }
        criteria.includeMaintenance = includeMaintenance
        criteria.services = services
        criteria.tags = tags
        criteria.nodes = nodes
        criteria.checkIDs = checkIDs
        return criteria
    }
}

extension Selection {
    /// `node/checkID` of each selected check, in order: compact to compare.
    var ids: [String] { checks.map { "\($0.node)/\($0.checkID)" } }
}

extension WatchPayload {
    /// How many elements the payload holds (nil for a single key or a `null` payload).
    var elementCount: Int? {
        switch self {
        case .checks(let checks): return checks.count
        case .service(let entries): return entries.count
        case .nodes(let nodes): return nodes.count
        case .services(let services): return services.count
        case .key: return nil
        case .keyprefix(let pairs): return pairs?.count
        case .event(let events): return events.count
        }
    }

    var checks: [HealthCheck]? {
        if case .checks(let checks) = self { return checks }
        return nil
    }
}

/// Decodes with Foundation's `JSONDecoder` through the models' `Codable` conformances.
func foundationDecode(_ bytes: [UInt8], as type: WatchType) throws -> WatchPayload {
    let data = Data(bytes)
    let decoder = JSONDecoder()
    switch type {
    case .checks: return .checks(try decoder.decode([HealthCheck].self, from: data))
    case .service: return .service(try decoder.decode([ServiceEntry].self, from: data))
    case .nodes: return .nodes(try decoder.decode([Node].self, from: data))
    case .services: return .services(try decoder.decode([String: [String]].self, from: data))
    case .key: return .key(try decoder.decode(KVPair?.self, from: data))
    case .keyprefix: return .keyprefix(try decoder.decode([KVPair]?.self, from: data))
    case .event: return .event(try decoder.decode([UserEvent].self, from: data))
    }
}

/// Decodes `bytes` and expects a `JSONError`, which it returns.
func decodeError(_ bytes: [UInt8], as type: WatchType? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> JSONError? {
    do {
        let payload = try WatchPayload.decode(bytes, as: type)
        Issue.record("expected a JSONError, decoded \(payload.type) payload", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// The 1-based line and column of byte `offset` in `bytes`.
func lineAndColumn(of offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
    var line = 1
    var lineStart = 0
    for index in 0..<offset where bytes[index] == 0x0A {
        line += 1
        lineStart = index + 1
    }
    return (line, offset - lineStart + 1)
}

/// The byte offset of the first occurrence of `needle` in `bytes`.
func offset(of needle: String, in bytes: [UInt8]) -> Int? {
    let pattern = Array(needle.utf8)
    guard !pattern.isEmpty, bytes.count >= pattern.count else { return nil }
    for start in 0...(bytes.count - pattern.count) where bytes[start] == pattern[0] {
        if Array(bytes[start..<(start + pattern.count)]) == pattern { return start }
    }
    return nil
}

/// `bytes` with the first `old` replaced by `new`; fails the test when `old` is absent.
func replacing(_ old: String, with new: [UInt8], in bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8] {
    guard let start = offset(of: old, in: bytes) else {
        Issue.record("\(old) not found in the payload", sourceLocation: sourceLocation)
        return bytes
    }
    return Array(bytes[..<start]) + new + Array(bytes[(start + old.utf8.count)...])
}

func replacing(_ old: String, with new: String, in bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8] {
    replacing(old, with: Array(new.utf8), in: bytes, sourceLocation: sourceLocation)
}

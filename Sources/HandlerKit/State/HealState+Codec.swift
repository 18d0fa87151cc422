import ConsulWatch

/// The state file's format: versioned JSON, written and read field by field so that an old
/// file still loads and a newer one is refused, never misread (docs/operations.md).
extension HealState {
    /// The state as JSON bytes (compact, one object, keys in a fixed order).
    public func encoded() -> [UInt8] {
        var writer = JSONWriter()
        writer.object { object in
            object.field("version", Self.formatVersion)
            object.field("watches") { writer in
                writer.object { object in
                    for name in watches.keys.sorted() {
                        let record = watches[name]!
                        object.field(name) { writer in
                            writer.object { object in
                                object.field("lastIndex", record.lastIndex)
                                object.field("deliveries", record.deliveries)
                                object.field("lastDelivery", record.lastDelivery)
                            }
                        }
                    }
                }
            }
            object.field("targets") { writer in
                writer.object { object in
                    for id in targets.keys.sorted() {
                        let record = targets[id]!
                        object.field(id) { writer in Self.write(record, to: &writer) }
                    }
                }
            }
            object.field("knownServices", knownServices.sorted())
            object.field("recentFailures") { writer in
                writer.array(recentFailures) { entry, writer in
                    writer.object { object in
                        object.field("id", entry.id)
                        object.field("time", entry.time)
                    }
                }
            }
            if !downNodes.isEmpty {
                object.field("downNodes") { writer in
                    writer.object { object in
                        for name in downNodes.keys.sorted() {
                            let record = downNodes[name]!
                            object.field(name) { writer in Self.write(record, to: &writer) }
                        }
                    }
                }
            }
            object.field("breaker") { writer in
                if let breaker {
                    writer.object { object in
                        object.field("trippedAt", breaker.trippedAt)
                        object.field("targets", breaker.targets)
                    }
                } else {
                    writer.null()
                }
            }
            if !metrics.values.isEmpty { object.field("metrics") { writer in metrics.write(to: &writer) } }
            if !silences.isEmpty { object.field("silences") { writer in Self.write(silences, to: &writer) } }
            if !pauses.isEmpty { object.field("pauses") { writer in Self.write(pauses, to: &writer) } }
        }
        writer.append(raw: "\n")
        return writer.bytes
    }

    private static func write(_ record: DownNodeRecord, to writer: inout JSONWriter) {
        writer.object { object in
            object.field("watch", record.watch)
            object.field("since", record.since)
            if let services = record.services {
                object.field("services") { writer in
                    writer.array(services) { instance, writer in
                        writer.object { object in
                            object.field("service", instance.service)
                            object.field("serviceID", instance.serviceID)
                            object.field("tags", instance.tags)
                        }
                    }
                }
            }
            if let pending = record.pending { object.field("pending", pending) }
            object.field("checkName", record.checkName)
            object.field("output", record.output)
            object.field("consulIndex", record.consulIndex)
        }
    }

    static func write(_ record: TargetRecord, to writer: inout JSONWriter) {
        writer.object { object in
            object.field("target", record.target)
            object.field("watch", record.watch)
            object.field("failing", record.failing)
            object.field("failingSince", record.failingSince)
            object.field("deliveriesFailing", record.deliveriesFailing)
            object.field("baseline", record.baseline)
            object.field("acted", record.acted)
            object.field("lastActionAt", record.lastActionAt)
            object.field("remediations") { writer in
                writer.array(record.remediations) { time, writer in writer.number(time) }
            }
            object.field("circuitOpenSince", record.circuitOpenSince)
            object.field("circuitReset", record.circuitReset)
            object.field("passingSince", record.passingSince)
            object.field("claimedUntil", record.claimedUntil)
            object.field("claimedBy", record.claimedBy)
            object.field("lastDecision", record.lastDecision)
            object.field("lastDecisionAt", record.lastDecisionAt)
            if let notified = record.notified { object.field("notified", notified) }
            if record.silenced { object.field("silenced", true) }
        }
    }

    private static func write(_ silences: [String: Silence], to writer: inout JSONWriter) {
        writer.object { object in
            for key in silences.keys.sorted() {
                let silence = silences[key]!
                object.field(key) { writer in
                    writer.object { object in
                        object.field("since", silence.since)
                        object.field("until", silence.until)
                        object.field("by", silence.by)
                        object.field("reason", silence.reason)
                    }
                }
            }
        }
    }

    private static func silences(_ value: JSONValue?, _ name: String) throws(DecodeError) -> [String: Silence] {
        guard case .object(let entries)? = value else { return [:] }
        var result: [String: Silence] = [:]
        for (key, entry) in entries {
            guard case .object(let f) = entry else { throw .shape("\(name) \(key) is not an object") }
            result[key] = Silence(
                since: try time(f["since"], "\(name) \(key) since") ?? 0, until: try time(f["until"], "\(name) \(key) until"),
                by: f["by"]?.string ?? "", reason: f["reason"]?.string ?? "")
        }
        return result
    }

    /// Why a state file cannot be read.
    public enum DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
        case json(JSONError)
        case shape(String)
        case newerVersion(Int)

        public var description: String {
            switch self {
            case .json(let error): return error.description
            case .shape(let detail): return detail
            case .newerVersion(let version): return "state format version \(version) is newer than this handler understands (\(HealState.formatVersion))"
            }
        }
    }

    /// Reads a state file's bytes.
    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        let value: JSONValue
        do { value = try JSONReader.read(bytes) { (reader) throws(JSONError) in try JSONValue(reading: &reader) } } catch { throw .json(error) }
        try self.init(json: value)
    }

    /// Reads a state already parsed (a cluster record, whose other fields are read from the same parse).
    public init(json value: JSONValue) throws(DecodeError) {
        guard case .object(let root) = value else { throw .shape("the state is not a JSON object") }
        guard let version = root["version"]?.int else { throw .shape("the state has no version") }
        if version > Self.formatVersion { throw .newerVersion(version) }
        self.init()
        if case .object(let watches)? = root["watches"] {
            for (name, entry) in watches {
                guard case .object(let fields) = entry else { throw .shape("watch \(name) is not an object") }
                self.watches[name] = WatchRecord(
                    lastIndex: fields["lastIndex"]?.uint64, deliveries: try Self.count(fields["deliveries"], "watch \(name) deliveries"),
                    lastDelivery: try Self.time(fields["lastDelivery"], "watch \(name) lastDelivery") ?? 0)
            }
        }
        if case .object(let targets)? = root["targets"] {
            for (id, entry) in targets {
                guard case .object(let f) = entry else { throw .shape("target \(id) is not an object") }
                let record = try Self.target(id: id, fields: Array(f))
                self.targets[id] = record
            }
        }
        if case .array(let names)? = root["knownServices"] { knownServices = Set(names.compactMap(\.string)) }
        if case .array(let entries)? = root["recentFailures"] {
            for entry in entries {
                guard case .object(let f) = entry, let id = f["id"]?.string, let time = try Self.time(f["time"], "recentFailures \(id)") else { continue }
                recentFailures.append((id, time))
            }
        }
        if case .object(let nodes)? = root["downNodes"] {
            for (name, entry) in nodes {
                guard case .object(let f) = entry else { throw .shape("down node \(name) is not an object") }
                var services: [ServiceInstance]?
                if case .array(let list)? = f["services"] {
                    services = list.compactMap { item in
                        guard case .object(let i) = item, let service = i["service"]?.string else { return nil }
                        var tags: [String] = []
                        if case .array(let values)? = i["tags"] { tags = values.compactMap(\.string) }
                        return ServiceInstance(service: service, serviceID: i["serviceID"]?.string ?? service, tags: tags)
                    }
                }
                downNodes[name] = DownNodeRecord(
                    watch: f["watch"]?.string ?? "default", since: f["since"]?.double ?? 0, services: services, pending: f["pending"]?.string,
                    checkName: f["checkName"]?.string ?? "", output: f["output"]?.string ?? "", consulIndex: f["consulIndex"]?.uint64)
            }
        }
        if case .object(let f)? = root["breaker"], let trippedAt = try Self.time(f["trippedAt"], "breaker trippedAt") {
            var names: [String] = []
            if case .array(let list)? = f["targets"] { names = list.compactMap(\.string) }
            breaker = Breaker(trippedAt: trippedAt, targets: names)
        }
        if let value = root["metrics"] { metrics = MetricSeries(json: value) }
        silences = try Self.silences(root["silences"], "silence")
        pauses = try Self.silences(root["pauses"], "pause")
    }
}

extension HealState {
    /// The fields of one target record, from a reader positioned on it, in order: no dictionary
    /// of them is built (a cluster read decodes a hundred records per request). Make the record
    /// with ``target(id:fields:)``.
    static func readTargetFields(from reader: inout JSONReader) throws(JSONError) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = []
        try reader.readObject { (name, reader) throws(JSONError) in fields.append((name.string, try JSONValue(reading: &reader))) }
        return fields
    }

    static func target(id: String, fields: [(String, JSONValue)]) throws(DecodeError) -> TargetRecord {
        var record = TargetRecord(id: id, target: id, watch: "default", now: 0)
        for (name, value) in fields { try read(name, value, into: &record) }
        return record
    }

    /// One field of a target record. The one place that says how each is read, for
    /// ``init(json:)`` and ``target(id:fields:)``; unknown fields are ignored (a newer writer's).
    static func read(_ name: String, _ value: JSONValue, into record: inout TargetRecord) throws(DecodeError) {
        let id = record.id
        switch name {
        case "target": record.target = value.string ?? id
        case "watch": record.watch = value.string ?? "default"
        case "failing": record.failing = value.bool ?? false
        case "failingSince": record.failingSince = try time(value, "target \(id) failingSince")
        case "deliveriesFailing": record.deliveriesFailing = try count(value, "target \(id) deliveriesFailing")
        case "baseline": record.baseline = value.bool ?? false
        case "acted": record.acted = value.bool ?? false
        case "lastActionAt": record.lastActionAt = try time(value, "target \(id) lastActionAt")
        case "remediations":
            record.remediations = []
            if case .array(let times) = value {
                for time in times { if let time = try Self.time(time, "target \(id) remediations") { record.remediations.append(time) } }
            }
        case "circuitOpenSince": record.circuitOpenSince = try time(value, "target \(id) circuitOpenSince")
        case "circuitReset": record.circuitReset = try time(value, "target \(id) circuitReset")
        case "passingSince": record.passingSince = try time(value, "target \(id) passingSince")
        case "claimedUntil": record.claimedUntil = try time(value, "target \(id) claimedUntil")
        case "claimedBy": record.claimedBy = value.string
        case "lastDecision": record.lastDecision = value.string ?? ""
        case "lastDecisionAt": record.lastDecisionAt = try time(value, "target \(id) lastDecisionAt") ?? 0
        case "notified": record.notified = value.string
        case "silenced": record.silenced = value.bool ?? false
        default: break
        }
    }

    /// Times (Unix seconds) and durations beyond this are not ones we wrote: the file is corrupt
    /// (and `1e300` would overflow every conversion to a date or an integer).
    static let largestTime = 1e11

    /// A time field: absent or null is nil; anything but a number within ``largestTime`` is a
    /// corrupt file, moved aside rather than misread.
    static func time(_ value: JSONValue?, _ name: String) throws(DecodeError) -> Double? {
        guard let value else { return nil }
        if case .null = value { return nil }
        guard let number = value.double, abs(number) <= largestTime else { throw .shape("\(name) is not a time in seconds") }
        return number
    }

    /// A counter: absent is 0; anything but a non-negative integer is a corrupt file.
    static func count(_ value: JSONValue?, _ name: String) throws(DecodeError) -> Int {
        guard let value else { return 0 }
        guard let number = value.int, number >= 0 else { throw .shape("\(name) is not a count") }
        return number
    }
}

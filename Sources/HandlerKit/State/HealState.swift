import ConsulWatch

/// What the policy remembers between deliveries: one versioned JSON file in the state
/// directory (docs/operations.md shows it and how to read it).
public struct HealState: Sendable, Equatable {
    /// The format version written; a newer one is refused rather than misread.
    public static let formatVersion = 1

    /// The last delivery seen from each watch.
    public struct WatchRecord: Sendable, Equatable {
        public var lastIndex: UInt64?
        public var deliveries: Int
        public var lastDelivery: Double

        public init(lastIndex: UInt64?, deliveries: Int, lastDelivery: Double) {
            self.lastIndex = lastIndex
            self.deliveries = deliveries
            self.lastDelivery = lastDelivery
        }
    }

    /// One target (an incident identity) and its history.
    public struct TargetRecord: Sendable, Equatable {
        public var id: String
        /// Words for people (`web`, `node web-02`).
        public var target: String
        /// The watch whose deliveries decide this target's recovery.
        public var watch: String
        public var failing: Bool
        public var failingSince: Double?
        public var deliveriesFailing: Int
        /// Failing already in a baseline delivery: not acted on until it recovers and fails again.
        public var baseline: Bool
        /// An action was taken (or spooled) for the current failure.
        public var acted: Bool
        public var lastActionAt: Double?
        /// Times of remediations inside the budget window.
        public var remediations: [Double]
        /// Set while the circuit is open (the budget was exhausted).
        public var circuitOpenSince: Double?
        /// How long the target must pass before the open circuit closes (the route's budget reset).
        public var circuitReset: Double?
        public var passingSince: Double?
        /// A handler that is acting on this target right now, and until when its claim holds.
        public var claimedUntil: Double?
        public var claimedBy: String?
        public var lastDecision: String
        public var lastDecisionAt: Double
        /// The route whose actions told someone of the current incident: its `resolved` actions
        /// run when the target recovers (docs/notifications.md).
        public var notified: String?
        /// The current failure was seen under an operator's silence or pause: it is not acted
        /// on, even once the silence ends, until the target recovers and fails again.
        public var silenced = false

        /// When the open circuit closes; nil while it is closed.
        public var circuitClosing: CircuitClosing? {
            guard let open = circuitOpenSince else { return nil }
            let reset = circuitReset ?? 0
            let passing = !failing ? passingSince.flatMap { $0 >= open ? $0 : nil } : nil
            return CircuitClosing(openSince: open, reset: reset, closesAt: passing.map { $0 + reset })
        }

        public init(id: String, target: String, watch: String, now: Double) {
            self.id = id
            self.target = target
            self.watch = watch
            failing = false
            deliveriesFailing = 0
            baseline = false
            acted = false
            remediations = []
            lastDecision = ""
            lastDecisionAt = now
        }
    }

    /// When an open circuit closes: once the target has passed for the route's budget reset
    /// (``PolicyEngine`` closes it on the first delivery after that). Nil while it is closed.
    public struct CircuitClosing: Sendable, Equatable {
        public var openSince: Double
        /// Seconds of passing needed (the route's `budget.reset`).
        public var reset: Double
        /// When it closes, once the target is passing; nil while it still fails.
        public var closesAt: Double?

        /// `circuit open since 2026-12-06T05:00:00.000Z; closes after 30m passing` (and, once
        /// passing, `at 2026-12-06T05:40:00.000Z`).
        public var summary: String {
            "circuit open since \(Timestamp.iso8601(openSince)); closes after \(Self.words(reset)) passing"
                + (closesAt.map { " (at \(Timestamp.iso8601($0)))" } ?? "")
        }

        /// `30m`, `1h30m`, `45s`: Go's duration form, zero parts left out.
        public static func words(_ seconds: Double) -> String {
            let total = Int(max(0, seconds).rounded(.up))
            if total == 0 { return "0s" }
            let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60)
            return (h > 0 ? "\(h)h" : "") + (m > 0 ? "\(m)m" : "") + (s > 0 ? "\(s)s" : "")
        }
    }

    /// The blast-radius breaker, when tripped.
    public struct Breaker: Sendable, Equatable {
        public var trippedAt: Double
        public var targets: [String]
    }

    public var watches: [String: WatchRecord] = [:]
    public var targets: [String: TargetRecord] = [:]
    /// Every service name seen in any delivery (the denominator of the blast-radius percentage).
    public var knownServices: Set<String> = []
    /// Targets that started failing recently: (id, time), pruned to the blast-radius window.
    public var recentFailures: [(id: String, time: Double)] = []
    public var breaker: Breaker?
    /// Down nodes whose services were looked up (or could not be): a dead node costs one catalog
    /// request when first seen, none while it stays down, and a failed lookup is retried.
    public var downNodes: [String: DownNodeRecord] = [:]

    /// A down node, by name.
    public struct DownNodeRecord: Sendable, Equatable {
        /// The watch that saw it go down (its deliveries decide when it is forgotten).
        public var watch: String
        public var since: Double
        /// Its service instances; nil while the lookup is pending.
        public var services: [ServiceInstance]?
        /// Why the lookup failed, while pending.
        public var pending: String?
        /// The `serfHealth` check's name and output, to rebuild incidents on `flush`.
        public var checkName: String
        public var output: String
        public var consulIndex: UInt64?

        public init(watch: String, since: Double, services: [ServiceInstance]?, pending: String?, checkName: String, output: String, consulIndex: UInt64?) {
            self.watch = watch
            self.since = since
            self.services = services
            self.pending = pending
            self.checkName = checkName
            self.output = output
            self.consulIndex = consulIndex
        }
    }
    /// Counters and times kept for the Prometheus metrics (docs/metrics.md).
    public var metrics = MetricSeries()
    /// Operators' silences by target (``SilenceTarget/id``: `service:books`), and pauses by watch.
    public var silences: [String: Silence] = [:]
    public var pauses: [String: Silence] = [:]

    public init() {}

    public static func == (lhs: HealState, rhs: HealState) -> Bool {
        lhs.watches == rhs.watches && lhs.targets == rhs.targets && lhs.knownServices == rhs.knownServices
            && lhs.breaker == rhs.breaker && lhs.recentFailures.map(\.id) == rhs.recentFailures.map(\.id)
            && lhs.recentFailures.map(\.time) == rhs.recentFailures.map(\.time) && lhs.downNodes == rhs.downNodes && lhs.metrics == rhs.metrics
            && lhs.silences == rhs.silences && lhs.pauses == rhs.pauses
    }

    /// How long a target that resolved is remembered (docs/operations.md): long past any
    /// budget window, so forgetting it changes no decision, and the state does not grow with
    /// every target that ever failed.
    public static let resolvedRetention: Double = 7 * 86_400

    /// Forgets targets that have been quiet (passing, or silenced and never failing) for longer
    /// than `retention`, with no open circuit, no claim and no remediation inside it. Returns
    /// how many were forgotten.
    @discardableResult
    public mutating func pruneResolved(now: Double, retention: Double = resolvedRetention) -> Int {
        let horizon = now - retention
        let stale = targets.values.filter { record in
            !record.failing && record.claimedBy == nil && record.circuitOpenSince == nil
                && (record.passingSince ?? record.lastDecisionAt) < horizon
                && (record.lastActionAt ?? -Double.infinity) < horizon
                && record.remediations.allSatisfy { $0 < horizon }
        }
        for record in stale { targets[record.id] = nil }
        return stale.count
    }

    /// Open incidents: targets failing now.

    // MARK: Encoding

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
                var record = TargetRecord(id: id, target: f["target"]?.string ?? id, watch: f["watch"]?.string ?? "default", now: 0)
                record.failing = f["failing"]?.bool ?? false
                record.failingSince = try Self.time(f["failingSince"], "target \(id) failingSince")
                record.deliveriesFailing = try Self.count(f["deliveriesFailing"], "target \(id) deliveriesFailing")
                record.baseline = f["baseline"]?.bool ?? false
                record.acted = f["acted"]?.bool ?? false
                record.lastActionAt = try Self.time(f["lastActionAt"], "target \(id) lastActionAt")
                if case .array(let times)? = f["remediations"] {
                    for time in times { if let time = try Self.time(time, "target \(id) remediations") { record.remediations.append(time) } }
                }
                record.circuitOpenSince = try Self.time(f["circuitOpenSince"], "target \(id) circuitOpenSince")
                record.circuitReset = try Self.time(f["circuitReset"], "target \(id) circuitReset")
                record.passingSince = try Self.time(f["passingSince"], "target \(id) passingSince")
                record.claimedUntil = try Self.time(f["claimedUntil"], "target \(id) claimedUntil")
                record.claimedBy = f["claimedBy"]?.string
                record.lastDecision = f["lastDecision"]?.string ?? ""
                record.lastDecisionAt = try Self.time(f["lastDecisionAt"], "target \(id) lastDecisionAt") ?? 0
                record.notified = f["notified"]?.string
                record.silenced = f["silenced"]?.bool ?? false
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

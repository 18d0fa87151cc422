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
}

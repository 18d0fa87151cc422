/// The judgement a route applies before it acts (docs/policy.md explains each knob).
public struct PolicySettings: Sendable, Hashable {
    /// A target must be failing for this many deliveries, or this many seconds, before an
    /// action is taken (whichever is reached first; both 0/1 means at once).
    public struct Threshold: Sendable, Hashable {
        public var deliveries: Int = 1
        public var seconds: Double = 0
        public init(deliveries: Int = 1, seconds: Double = 0) {
            self.deliveries = max(1, deliveries)
            self.seconds = max(0, seconds)
        }
    }

    /// At most `maximum` remediations of a target within `window` seconds; then the circuit
    /// opens, escalation runs once, and nothing more is tried until the target has been passing
    /// for `reset` seconds (monit's "N restarts within M cycles", systemd's StartLimit*, with
    /// the automatic reset their users ask for).
    public struct Budget: Sendable, Hashable {
        public var maximum: Int = 3
        public var window: Double = 3600
        public var reset: Double = 1800
        public init(maximum: Int = 3, window: Double = 3600, reset: Double = 1800) {
            self.maximum = max(1, maximum)
            self.window = window
            self.reset = reset
        }
    }

    /// What to do with targets already failing in the first delivery a state sees for a watch
    /// (agent start, a new state directory) and in deliveries whose `CONSUL_INDEX` did not advance.
    public enum OnStart: String, Sendable, Hashable, CaseIterable {
        /// Record them as the baseline and act only on targets that fail afterwards (default:
        /// every check starts critical when it is registered, and every watch fires at agent
        /// start and reload, so acting at once is the redeploy storm the seed produced).
        case wait
        /// Treat them as new failures.
        case act
    }

    public var threshold = Threshold()
    /// Minimum seconds between two actions on the same target.
    public var cooldown: Double = 300
    public var budget = Budget()
    public var onStart: OnStart = .wait

    public init(threshold: Threshold = Threshold(), cooldown: Double = 300, budget: Budget = Budget(), onStart: OnStart = .wait) {
        self.threshold = threshold
        self.cooldown = cooldown
        self.budget = budget
        self.onStart = onStart
    }
}

/// The fleet-level breaker: when more than `maximumTargets` targets, or more than
/// `maximumPercent` % of the known services, turn critical within `window` seconds, remediation
/// is suspended and one alert is raised: that is a Consul, network or datacenter failure that
/// redeploys will not fix.
public struct BlastRadius: Sendable, Hashable {
    public var maximumTargets: Int = 5
    public var maximumPercent: Double = 50
    public var window: Double = 120
    /// The percentage rule applies only when at least this many services are known.
    public var minimumKnownServices: Int = 4
    public var enabled = true

    public init(maximumTargets: Int = 5, maximumPercent: Double = 50, window: Double = 120, minimumKnownServices: Int = 4, enabled: Bool = true) {
        self.maximumTargets = maximumTargets
        self.maximumPercent = maximumPercent
        self.window = window
        self.minimumKnownServices = minimumKnownServices
        self.enabled = enabled
    }
}

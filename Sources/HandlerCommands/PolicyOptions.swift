import CLI
import HandlerKit
import Platform

/// The policy flags of the action executables: state, transitions, thresholds, cooldown,
/// budget, blast radius, journal.
public struct PolicyOptions: Sendable {
    public var stateDirectory: String?
    public var stateless = false
    public var watch: String?
    public var settings = PolicySettings()
    public var blastRadius = BlastRadius()
    public var journal: String?
    /// `--consul-state PREFIX`: the policy state in Consul KV under `<PREFIX>/<watch>/`, shared by
    /// every agent running the same watch (docs/cluster.md); nil: the local state directory alone.
    public var consulStatePrefix: String?
    /// `--claim-lease DURATION`: how long a claim holds (with `--consul-state`).
    public var claimLease: Double?

    public init() {}

    /// The help text of these options for `command` (the default watch name).
    public static func help(command: String) -> String {
        """
        Policy (state is kept between runs so that a failure is acted on once):
          --state-dir DIR         state directory (default $CONSUL_HANDLERS_STATE_DIR, else
                                  $XDG_STATE_HOME/consul-handlers, else ~/.local/state/consul-handlers)
          --no-state              stateless: act on every failing target on every delivery
          --watch NAME            this watch's name in the state (default: \(command));
                                  give each watch sharing a state directory its own
          --on-start wait|act     targets already failing in a watch's first delivery, or one
                                  whose CONSUL_INDEX did not advance: wait (default) or act
          --threshold N|DUR       act only after N deliveries, or DUR (30s, 5m) of failing
          --cooldown DUR          minimum time between two actions on a target (default 5m)
          --budget N/DUR          at most N remediations per target in DUR (default 3/1h); then
                                  stop until it has passed for --budget-reset (default 30m)
          --budget-reset DUR      how long a target must pass before its budget resets
          --blast-radius N        suspend remediation when more than N targets fail within
                                  2 minutes (default 5); --blast-radius off disables it
          --journal FILE          append a JSON record per decision to FILE
          --consul-state PREFIX   keep the policy state in Consul KV under PREFIX/<watch>/
                                  (every change a check-and-set), so that every agent running
                                  the same watch acts once per incident; the agent from
                                  --consul-addr; while Consul is unavailable nothing is acted
                                  on, the delivery is kept and decided on the next one (exit 75)
          --claim-lease DURATION  with --consul-state: how long a claim holds before another
                                  agent takes over an action whose actor died (default:
                                  --timeout plus up to 60s)
        """
    }

    public mutating func consume(_ option: String, attached: String?, from scanner: inout ArgumentScanner) throws(CommandError) -> Bool {
        switch option {
        case "--state-dir": stateDirectory = try scanner.value(for: option, attached: attached)
        case "--no-state":
            try ArgumentScanner.flag(option, attached: attached)
            stateless = true
        case "--watch": watch = try scanner.value(for: option, attached: attached)
        case "--on-start":
            settings.onStart = try scanner.choice(PolicySettings.OnStart.self, for: option, attached: attached)
        case "--threshold":
            let text = try scanner.value(for: option, attached: attached)
            if let count = Int(text), count >= 1 {
                settings.threshold = .init(deliveries: count)
            } else if let seconds = Duration.parseSeconds(text, bareSeconds: false) {
                settings.threshold = .init(seconds: seconds)
            } else {
                throw .usage("--threshold takes a number of deliveries (3) or a duration (90s), not '\(text)'")
            }
        case "--cooldown": settings.cooldown = try scanner.duration(for: option, attached: attached)
        case "--budget":
            let text = try scanner.value(for: option, attached: attached)
            let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let count = Int(parts[0]), count >= 1, let window = Duration.parseSeconds(parts[1], bareSeconds: false), window > 0 else {
                throw .usage("--budget takes COUNT/DURATION such as 3/1h, not '\(text)'")
            }
            settings.budget = .init(maximum: count, window: window, reset: settings.budget.reset)
        case "--budget-reset":
            settings.budget.reset = try scanner.duration(for: option, attached: attached)
        case "--blast-radius":
            let text = try scanner.value(for: option, attached: attached)
            if text == "off" {
                blastRadius.enabled = false
            } else if let count = Int(text), count >= 1 {
                blastRadius.maximumTargets = count
            } else {
                throw .usage("--blast-radius takes a number of targets or off, not '\(text)'")
            }
        case "--journal": journal = try scanner.value(for: option, attached: attached)
        case "--consul-state":
            let prefix = try scanner.value(for: option, attached: attached)
            guard ClusterKey.isSafePrefix(prefix) else {
                throw .usage(
                    "--consul-state '\(prefix)': use segments of letters, digits, '-', '_' and '.' joined by '/', none empty or starting or ending with '.'"
                )
            }
            consulStatePrefix = prefix
        case "--claim-lease":
            let seconds = try scanner.duration(for: option, attached: attached)
            if seconds < 1 { throw .usage("--claim-lease must be at least 1s") }
            claimLease = seconds
        default: return false
        }
        return true
    }

    /// Opens the state directory, or nil with --no-state. An unusable directory is exit 74.
    /// `readOnly` with `mayBeMissing` is a dry run's store: it reads the state if there is one
    /// and writes nothing, not even the directory or its lock.
    public func openStore(
        environment: (String) -> String?, readOnly: Bool = false, mayBeMissing: Bool = false, warn: @escaping @Sendable (String) -> Void
    ) throws(CommandError) -> StateStore? {
        if stateless {
            // The local directory holds the shared state's lock, cache and kept deliveries.
            if consulStatePrefix != nil { throw .usage("--consul-state needs a state directory; it cannot be used with --no-state") }
            return nil
        }
        guard let directory = stateDirectory ?? StateStore.defaultDirectory(environment: environment) else {
            throw .usage("no state directory: give --state-dir, set CONSUL_HANDLERS_STATE_DIR, or use --no-state")
        }
        do {
            return try StateStore(directory: directory, readOnly: readOnly, mayBeMissing: mayBeMissing, warn: warn)
        } catch {
            throw CommandError(.ioError, "state directory \(directory): \(error.description) (use --state-dir, or --no-state to run without memory)")
        }
    }

    /// Opens the journal file, if one was asked for.
    public func openJournal() throws(CommandError) -> LogSink? {
        guard let journal else { return nil }
        let sink = LogSink(destination: .file(journal, fsync: false), format: .jsonl)
        do { try sink.prepare() } catch { throw CommandError(.ioError, "journal: \(error.description)") }
        return sink
    }
}

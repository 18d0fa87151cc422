import CLI
import ConsulWatch
import HandlerKit
import Platform

/// `consul-heal silence | unsilence | reset | pause | resume`: an operator's word to the policy,
/// written under the state lock, journaled with who said it and why (docs/operations.md,
/// "Silences"). They live in the state, so they hold for every handler sharing it.
extension HealCommand {
    static let operatorSubcommands: Set<Subcommand> = [.silence, .unsilence, .reset, .pause, .resume]
    /// A silence always ends; a year and a day is longer than any maintenance.
    static let longestSilence: Double = 366 * 86_400
    static let longestReason = 1024
    static let targetForms = "a service name (books) or an incident ID (service:books, node:web-02, instance:web-02/books-1)"

    /// The operands and options of the operator subcommands (and `--for`/`--reason` nowhere else).
    static func checkOperatorOptions(_ options: Options) throws(CommandError) {
        let subcommand = options.subcommand
        if options.duration != nil, subcommand != .silence, subcommand != .pause { throw .usage("--for applies to silence and pause only") }
        guard operatorSubcommands.contains(subcommand) else {
            if options.reason != nil { throw .usage("--reason applies to silence, unsilence, reset, pause and resume only") }
            return
        }
        if options.dryRun { throw .usage("\(subcommand.rawValue) has no --dry-run: it only writes the state (status shows the result)") }
        if let duration = options.duration, !(duration > 0 && duration <= longestSilence) {
            throw .usage("--for needs a duration above 0 and at most 366d, such as 2h")
        }
        if let reason = options.reason, reason.utf8.count > longestReason { throw .usage("--reason is longer than \(longestReason) bytes") }
        switch subcommand {
        case .silence, .unsilence, .reset:
            guard options.operands.count == 1 else { throw .usage("\(subcommand.rawValue) needs one TARGET: \(targetForms)") }
            guard SilenceTarget(operand: options.operands[0]) != nil else {
                throw .usage("unknown target '\(DisplayText.escape(String(options.operands[0].prefix(200))))': give \(targetForms)")
            }
            if subcommand == .silence, options.duration == nil { throw .usage("silence needs --for DURATION, such as --for 2h (a silence always ends)") }
        default:
            if !options.operands.isEmpty { throw .usage("\(subcommand.rawValue) takes no operands") }
        }
    }

    static func operate(_ options: Options, config: HealConfig, context: CommandContext, log: @escaping @Sendable (String) -> Void) throws(CommandError)
        -> ExitCode
    {
        let subcommand = options.subcommand.rawValue
        guard let store = try openStore(options, config: config, context: context, log: log) else {
            throw .usage("\(subcommand) needs the state directory (stateDir, --state-dir or CONSUL_HANDLERS_STATE_DIR), not --no-state")
        }
        let journal = Journal(sink: try journal(config, options: options), watch: watchName(config), dryRun: false)
        let who = UserName.current(environment: context.environment)
        let now = SystemTime.wallSeconds()
        let reason = options.reason ?? ""
        let watch = watchName(config)
        let target = options.operands.first.flatMap(SilenceTarget.init(operand:))
        func update<T>(_ body: (inout HealState) -> T) throws(CommandError) -> T {
            do { return try store.update { (state) throws(SystemError) -> T in body(&state) } } catch { throw CommandError(.ioError, error.description) }
        }
        let message: String
        switch options.subcommand {
        case .silence:
            let target = target!
            let silence = Silence(since: now, until: now + options.duration!, by: who, reason: reason)
            let replaced = try update { state in
                defer { state.silences[target.id] = silence }
                return state.silences[target.id].flatMap { $0.isActive(at: now) ? $0 : nil }
            }
            journal.record("silence", time: now) { record in
                record.add("target", target.id)
                record.add("until", Timestamp.iso8601(silence.until!))
                record.add("by", who)
                record.add("reason", reason)
                if let replaced { record.add("replaces", replaced.summary) }
            }
            message = "silenced \(target.id) \(silence.summary)" + (replaced.map { " (replacing the silence \($0.summary))" } ?? "")
        case .unsilence:
            let target = target!
            let (removed, others) = try update { state in
                defer { state.silences[target.id] = nil }
                return (state.silences[target.id], state.silences.filter { $0.value.isActive(at: now) && $0.key != target.id }.keys.sorted())
            }
            guard let removed, removed.isActive(at: now) else {
                throw .usage("\(target.id) is not silenced" + (others.isEmpty ? "" : " (silenced: \(others.prefix(10).joined(separator: ", ")))"))
            }
            journal.record("unsilence", time: now) { record in
                record.add("target", target.id)
                record.add("by", who)
                record.add("reason", reason)
                record.add("silencedBy", removed.by)
            }
            message = "unsilenced \(target.id) (silenced \(removed.summary)); a failure seen under the silence is left alone until it recovers"
        case .reset:
            let target = target!
            let (before, known) = try update { state -> (HealState.TargetRecord?, [String]) in
                guard var record = state.targets[target.id] else { return (nil, state.targets.keys.sorted()) }
                let before = record
                record.circuitOpenSince = nil
                record.circuitReset = nil
                record.remediations = []
                record.lastDecision = "reset"
                record.lastDecisionAt = now
                state.targets[target.id] = record
                return (before, [])
            }
            guard let before else {
                throw .usage("unknown target \(target.id): not in the state" + (known.isEmpty ? "" : " (known: \(known.prefix(10).joined(separator: ", ")))"))
            }
            journal.record("reset", time: now) { record in
                record.add("target", target.id)
                record.add("by", who)
                record.add("reason", reason)
                record.add("circuitOpenSince", before.circuitOpenSince.map(Timestamp.iso8601))
                record.add("remediations", before.remediations.count)
            }
            message =
                "reset \(target.id): circuit " + (before.circuitOpenSince.map { "closed (open since \(Timestamp.iso8601($0)))" } ?? "was closed")
                + ", \(before.remediations.count) remediation(s) forgotten"
        case .pause:
            let pause = Silence(since: now, until: options.duration.map { now + $0 }, by: who, reason: reason)
            try update { state in state.pauses[watch] = pause }
            journal.record("pause", time: now) { record in
                record.add("until", pause.until.map(Timestamp.iso8601))
                record.add("by", who)
                record.add("reason", reason)
            }
            message = "paused watch \(watch) \(pause.summary)"
        case .resume:
            let removed = try update { state in
                defer { state.pauses[watch] = nil }
                return state.pauses[watch]
            }
            guard let removed, removed.isActive(at: now) else { throw .usage("watch \(watch) is not paused") }
            journal.record("resume", time: now) { record in
                record.add("by", who)
                record.add("reason", reason)
                record.add("pausedBy", removed.by)
            }
            message = "resumed watch \(watch) (paused \(removed.summary)); a failure seen while paused is left alone until it recovers"
        default:
            throw CommandError(.internalError, "\(subcommand) is not an operator subcommand")
        }
        context.print(DisplayText.escape(message))
        if let error = journal.error { throw CommandError(.ioError, "journal: \(error.description) (the state was changed)") }
        return .success
    }

    /// The active pause and silences, one line each, for `status`.
    static func silenceLines(_ state: HealState, now: Double) -> String {
        var text = ""
        for (watch, pause) in state.pauses.sorted(by: { $0.key < $1.key }) where pause.isActive(at: now) {
            text += DisplayText.escape("PAUSED: watch \(watch) \(pause.summary)") + "\n"
        }
        let silences = state.silences.sorted(by: { $0.key < $1.key }).filter { $0.value.isActive(at: now) }
        text += "silences: \(silences.count)\n"
        for (key, silence) in silences {
            let left = silence.until.map { " (\(duration($0 - now)) left)" } ?? ""
            text += DisplayText.escape("  \(key) \(silence.summary)\(left)") + "\n"
        }
        return text
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds.rounded(.up)))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        return "\(s / 3600)h\(s % 3600 / 60)m"
    }
}

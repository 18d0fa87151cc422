import CLI
import ConsulWatch
import HandlerKit
import Platform

extension HealCommand {
    static func status(_ options: Options, config: HealConfig, context: CommandContext) throws(CommandError) -> ExitCode {
        guard let store = try openStore(options, config: config, context: context, readOnly: true, log: { _ in }) else {
            throw .usage("status needs a state directory")
        }
        let state: HealState
        let spool: [StateStore.SpoolEntry]
        do {
            state = try store.snapshot()
            spool = try store.spool()
        } catch { throw CommandError(.ioError, error.description) }
        let now = SystemTime.wallSeconds()
        if let spec = config.consulState {
            return try clusterStatus(options, spec: spec, config: config, store: store, spool: spool, context: context, now: now)
        }
        if options.json {
            context.output(
                statusDocument(
                    state: state, stateLocation: store.directory, spool: spool, deadLetters: store.deadLetters(),
                    deadLetterDirectory: store.deadLetterDirectory, now: now))
            return .success
        }
        var text = "state: \(store.directory)\n"
        for (name, watch) in state.watches.sorted(by: { $0.key < $1.key }) {
            text +=
                "watch \(DisplayText.escape(name)): \(watch.deliveries) deliveries, last index \(watch.lastIndex.map(String.init) ?? "-"), last at \(Timestamp.iso8601(watch.lastDelivery))\n"
        }
        if let breaker = state.breaker {
            text +=
                "BLAST RADIUS BREAKER TRIPPED at \(Timestamp.iso8601(breaker.trippedAt)): \(DisplayText.escape(breaker.targets.joined(separator: ", "))); remediation suspended\n"
        }
        text += silenceLines(state, now: now)  // HealCommand+Silence.swift
        var rows: [[String]] = [["TARGET", "STATE", "SINCE", "REMEDIATIONS", "CIRCUIT", "LAST DECISION"]]
        for record in state.targets.values.sorted(by: { $0.id < $1.id }) {
            let phase =
                record.failing
                ? (record.baseline ? "failing (baseline)" : record.silenced ? "failing (silenced)" : record.acted ? "failing (acted)" : "failing") : "passing"
            let since = record.failing ? record.failingSince : record.passingSince
            let circuit = record.circuitClosing.map { String($0.summary.dropFirst("circuit ".count)) } ?? "closed"
            rows.append([record.target, phase, since.map { age(now - $0) } ?? "-", String(record.remediations.count), circuit, record.lastDecision])
        }
        text += rows.count > 1 ? table(rows) : "no targets known yet\n"
        text += "spool: \(spool.count) action(s) waiting\n"
        for entry in spool {
            text += DisplayText.escape("  \(entry.incidentID) (route \(entry.route)): \(entry.attempts) attempt(s), last error: \(entry.lastError)") + "\n"
        }
        let dead = store.deadLetters()
        text += "dead letters: \(dead.count)\(dead.isEmpty ? "" : " in \(store.deadLetterDirectory)")\n"
        context.output(Array(text.utf8))
        return .success
    }

    /// `status` with `consulState`: the cluster view from Consul KV (read-only): each target, who
    /// last claimed it, from which node and when; then this agent's spool.
    static func clusterStatus(
        _ options: Options, spec: HealConfig.ConsulStateSpec, config: HealConfig, store: StateStore, spool: [StateStore.SpoolEntry], context: CommandContext,
        now: Double
    ) throws(CommandError) -> ExitCode {
        let backend = try consulState(spec, config: config, store: store, context: context)
        let view: ConsulStateBackend.View
        let node: String
        do throws(PolicyStateError) {
            view = try backend.read()
            node = try backend.nodeName()
        } catch {
            throw CommandError(.actionFailed, "cluster state unavailable: \(error.description) (the local cache: \(store.statePath))")
        }
        if options.json {
            context.output(
                statusDocument(
                    state: view.state, stateLocation: backend.base, spool: spool, deadLetters: store.deadLetters(),
                    deadLetterDirectory: store.deadLetterDirectory, now: now, cluster: (backend.base, node, view)))
            return .success
        }
        var text = "cluster state: \(backend.base) (this agent: node \(DisplayText.escape(node)))\n"
        if let watch = view.state.watches[backend.watch] {
            text +=
                "this agent: \(watch.deliveries) deliveries, last index \(watch.lastIndex.map(String.init) ?? "-"), last at \(Timestamp.iso8601(watch.lastDelivery))\n"
        }
        if let breaker = view.state.breaker {
            text +=
                "BLAST RADIUS BREAKER TRIPPED at \(Timestamp.iso8601(breaker.trippedAt)): \(DisplayText.escape(breaker.targets.joined(separator: ", "))); remediation suspended\n"
        }
        var rows: [[String]] = [["TARGET", "STATE", "SINCE", "LAST CLAIM", "FROM NODE", "CLAIMED", "LAST DECISION"]]
        for record in view.state.targets.values.sorted(by: { $0.id < $1.id }) {
            let phase = record.failing ? (record.baseline ? "failing (baseline)" : record.acted ? "failing (acted)" : "failing") : "passing"
            let since = record.failing ? record.failingSince : record.passingSince
            let actor = view.actors[record.id]
            var claim = "-"
            if let by = record.claimedBy, let until = record.claimedUntil {
                claim = until > now ? "in flight until \(Timestamp.iso8601(until))" : "lapsed at \(Timestamp.iso8601(until)) (\(by))"
            } else if actor != nil {
                claim = "released"
            }
            rows.append([
                record.target, phase, since.map { age(now - $0) } ?? "-", claim, actor?.node ?? "-", actor.map { Timestamp.iso8601($0.at) } ?? "-",
                record.lastDecision,
            ])
        }
        text += rows.count > 1 ? table(rows) : "no targets known yet\n"
        if !view.unreadable.isEmpty { text += "unreadable keys (left alone): \(DisplayText.escape(view.unreadable.joined(separator: ", ")))\n" }
        text += "spool (this agent): \(spool.count) action(s) waiting\n"
        switch store.pending(watch: backend.watch) {
        case .none: break
        case .kept: text += "a delivery is pending (kept while Consul was unavailable): consul-heal flush decides it\n"
        case .unreadable(let reason):
            text += "a kept delivery cannot be read (\(DisplayText.escape(reason))): consul-heal flush moves it aside; the next delivery decides\n"
        }
        context.output(Array(text.utf8))
        return .success
    }

    static func age(_ seconds: Double) -> String {
        let s = Int(max(0, seconds))
        if s < 120 { return "\(s)s ago" }
        if s < 7200 { return "\(s / 60)m ago" }
        return "\(s / 3600)h ago"
    }

    /// Columns aligned; cells come from payloads, so control characters are escaped.
    static func table(_ rawRows: [[String]]) -> String {
        let rows = rawRows.map { $0.map { DisplayText.escape($0) } }
        var widths = [Int](repeating: 0, count: rows.map(\.count).max() ?? 0)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }
}

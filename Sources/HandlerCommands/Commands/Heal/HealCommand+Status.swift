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
        let now = Time.wallSeconds()
        if options.json {
            context.output(state.encoded())
            return .success
        }
        var text = "state: \(store.directory)\n"
        for (name, watch) in state.watches.sorted(by: { $0.key < $1.key }) {
            text += "watch \(DisplayText.escape(name)): \(watch.deliveries) deliveries, last index \(watch.lastIndex.map(String.init) ?? "-"), last at \(Timestamp.iso8601(watch.lastDelivery))\n"
        }
        if let breaker = state.breaker {
            text += "BLAST RADIUS BREAKER TRIPPED at \(Timestamp.iso8601(breaker.trippedAt)): \(DisplayText.escape(breaker.targets.joined(separator: ", "))); remediation suspended\n"
        }
        text += silenceLines(state, now: now)  // HealCommand+Silence.swift
        var rows: [[String]] = [["TARGET", "STATE", "SINCE", "REMEDIATIONS", "CIRCUIT", "LAST DECISION"]]
        for record in state.targets.values.sorted(by: { $0.id < $1.id }) {
            let phase = record.failing ? (record.baseline ? "failing (baseline)" : record.silenced ? "failing (silenced)" : record.acted ? "failing (acted)" : "failing") : "passing"
            let since = record.failing ? record.failingSince : record.passingSince
            let circuit = record.circuitOpenSince.map { "open since \(Timestamp.iso8601($0))" } ?? "closed"
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

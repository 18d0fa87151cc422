import CLI
import ConsulWatch
import HandlerKit
import Platform

extension HealCommand {
    static func replay(_ options: Options, config: HealConfig, context: CommandContext) throws(CommandError) -> ExitCode {
        let directory = options.operands[0]
        let names: [String]
        do { names = try AtomicFile.listDirectory(directory).filter { $0.hasSuffix(".json") }.sorted() } catch {
            throw CommandError(.ioError, error.description)
        }
        guard !names.isEmpty else { throw CommandError(.ioError, "\(directory) holds no recorded payloads (*.json)") }
        var state = HealState()
        let (engine, _) = plannedEngine(config)
        var virtualTime = 0.0
        for (number, file) in names.enumerated() {
            let recorded = RecordedName(file)
            let time = recorded.time ?? (virtualTime + 60)
            virtualTime = time
            let bytes: [UInt8]
            do { bytes = try FileIO.readFile(directory + "/" + file) } catch { throw CommandError(.ioError, error.description) }
            let header = "#\(number + 1) \(file) index \(recorded.index.map(String.init) ?? "-") at \(Timestamp.iso8601(time))"
            let selection: Selection
            do { selection = try Selection.select(from: bytes, criteria: config.selection, type: options.type, consulIndex: recorded.index) } catch {
                context.print(DisplayText.escape("\(header): unreadable: \(error.description)"))
                continue
            }
            let (delivery, nodeFailures) = delivery(selection, config: config, consulIndex: recorded.index, time: time)
            let result = engine.decide(delivery, state: &state)
            context.print("\(header): \(selection.checks.count) selected\(result.baseline ? " (baseline)" : "")")
            for failure in nodeFailures { context.print(DisplayText.escape("  \(failure.target): node-failure: not remediated")) }
            if let tripped = result.breakerTripped { context.print(DisplayText.escape("  ALERT blast radius: \(tripped.joined(separator: ", "))")) }
            for decision in result.decisions { context.print(DisplayText.escape("  \(decision.target): \(decision.reason)")) }
        }
        return .success
    }

    /// Names written by `--record`: `<millis>-<index>.json`.
    struct RecordedName {
        var time: Double?
        var index: UInt64?
        init(_ file: String) {
            let parts = file.dropLast(5).split(separator: "-")
            if parts.count >= 2, let millis = Double(parts[0]) { time = millis / 1000 }
            if parts.count >= 2 { index = UInt64(parts[1]) }
        }
    }

    static func recordPayload(_ bytes: ByteBuffer, consulIndex: UInt64?, in directory: String) throws(CommandError) {
        do {
            try AtomicFile.createDirectory(directory, mode: 0o700)
            let millis = Int(SystemTime.wallSeconds() * 1000)
            try AtomicFile.write(bytes.array, to: "\(directory)/\(millis)-\(consulIndex.map(String.init) ?? "none").json", mode: 0o600)
        } catch {
            throw CommandError(.ioError, "--record: \(error.description)")
        }
    }
}

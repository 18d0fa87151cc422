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
        let times = deliveryTimes(names, in: directory, interval: options.interval)
        context.print("times: \(times.source)")
        if let warning = times.warning { context.print(warning) }
        for (number, file) in names.enumerated() {
            let recorded = RecordedName(file)
            let time = times.values[number]
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

    /// The virtual time of each delivery, and where it came from (printed first, so that a
    /// reader knows what cooldowns and windows were measured against): the names `--record`
    /// wrote when every file has one; else `--interval` apart from the first file's time; else
    /// the files' modification times, in name order and never going backwards.
    static func deliveryTimes(_ names: [String], in directory: String, interval: Double?) -> (values: [Double], source: String, warning: String?) {
        let recorded = names.map { RecordedName($0).time }
        let modified = names.map { FileIO.regularFileInfo(directory + "/" + $0)?.modified }
        if interval == nil, recorded.allSatisfy({ $0 != nil }) {
            return (recorded.map { $0! }, "as recorded by --record (from the file names)", nil)
        }
        if let interval {
            let start = recorded[0] ?? modified[0] ?? SystemTime.wallSeconds()
            let values = names.indices.map { start + Double($0) * interval }
            return (values, "every \(HealState.CircuitClosing.words(interval)) (--interval) from \(Timestamp.iso8601(start)), the first file's time", nil)
        }
        var values: [Double] = []
        for index in names.indices {
            let time = recorded[index] ?? modified[index] ?? values.last ?? SystemTime.wallSeconds()
            values.append(max(time, values.last ?? time))
        }
        var warning: String? = nil
        if values.count > 1, values.first == values.last {
            warning = "warning: all \(values.count) files have the same time, so every delivery happens at once; give --interval DURATION to space them"
        }
        return (values, "the files' modification times, in name order (--interval DURATION spaces them evenly instead)", warning)
    }

    /// Names written by `--record`: `<millis>-<index>.json` (`<millis>-none.json` without an
    /// index). Any other name (`01-web.json`) has neither.
    struct RecordedName {
        var time: Double?
        var index: UInt64?
        init(_ file: String) {
            let parts = file.dropLast(5).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0].count >= 10, parts[0].allSatisfy({ ("0"..."9").contains($0) }), let millis = Double(parts[0]),
                parts[1] == "none" || (!parts[1].isEmpty && parts[1].allSatisfy({ ("0"..."9").contains($0) }))
            else { return }
            time = millis / 1000
            index = UInt64(parts[1])
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

import CLI
import ConsulWatch
import HandlerKit
import Platform

extension HealCommand {
    /// `consul-heal [run]`: each payload (stdin, or the files named) is one delivery.
    static func deliver(_ options: Options, config: HealConfig, context: CommandContext, log: @escaping @Sendable (String) -> Void) throws(CommandError)
        -> ExitCode
    {
        let store = try openStore(options, config: config, context: context, log: log)
        let healer = try makeHealer(config, store: store, options: options, context: context, log: log)
        let consulIndex = try ConsulIndex.parse(context.environment("CONSUL_INDEX"))
        let selection = selectionOptions(config, options: options)
        let selfCheck = try Self.selfCheck(config, context: context)
        var summary = SelfCheck.Summary()
        var failed = false
        // The self check is updated however the run ends (a bad payload, a journal error too).
        defer { if let selfCheck, !options.dryRun { log(selfCheck.update(summary).line) } }
        for input in try Input.read(files: options.operands, stdinIsTerminal: context.stdinIsTerminal) {
            if let directory = options.record { try recordPayload(input.bytes, consulIndex: consulIndex, in: directory) }
            let chosen: Selection
            do { chosen = try input.select(selection, consulIndex: consulIndex, deadLetters: store, log: log).excludingCheck(selfCheck?.id) } catch {
                if error.exitCode == .dataError { summary.deadLetters += 1 }
                throw error
            }
            let report: Healer.Report
            do { report = try healer.handle(chosen, consulIndex: consulIndex, digest: PayloadDigest.fnv1a64(input.bytes)) } catch {
                throw CommandError(.ioError, "state directory: \(error.description)")
            }
            summary.add(report)
            // After the outcome is in the state: the journal failing is exit 74, never silent.
            if let error = report.journalError { throw CommandError(.ioError, "journal: \(error.description)") }
            if let reason = report.stateUnavailable, let store {
                log(SharedStateText.unavailable(reason, store: store, flush: "consul-heal flush"))
                failed = true
            }
            failed = report.failed || failed
        }
        writeMetrics(config, store: store, dryRun: options.dryRun, log: log)
        return failed ? .actionFailed : .success
    }

    /// `consul-heal flush`: retries this watch's spooled actions now, without a delivery.
    static func flush(_ options: Options, config: HealConfig, context: CommandContext, log: @escaping @Sendable (String) -> Void) throws(CommandError)
        -> ExitCode
    {
        guard let store = try openStore(options, config: config, context: context, log: log) else { throw .usage("flush needs a state directory") }
        let healer = try makeHealer(config, store: store, options: options, context: context, log: log)
        let report: Healer.Report
        let others: Int
        do {
            report = try healer.flush()
            writeMetrics(config, store: store, dryRun: options.dryRun, log: log)
            others = try store.spool().filter { $0.watch != healer.watch }.count
        } catch { throw CommandError(.ioError, "state directory: \(error.description)") }
        if let selfCheck = try Self.selfCheck(config, context: context), !options.dryRun {
            var summary = SelfCheck.Summary()
            summary.add(report)
            log(selfCheck.update(summary).line)
        }
        if let error = report.journalError { throw CommandError(.ioError, "journal: \(error.description)") }
        if let reason = report.stateUnavailable {
            log(SharedStateText.unavailable(reason, store: store, flush: "consul-heal flush"))
            return .actionFailed
        }
        context.print(SharedStateText.flushed(watch: healer.watch, report: report, dryRun: options.dryRun, othersLeft: others))
        return report.failed ? .actionFailed : .success
    }

    /// What to select from a payload: the configuration's criteria, and `--type` if given.
    static func selectionOptions(_ config: HealConfig, options: Options) -> SelectionOptions {
        var selection = SelectionOptions()
        selection.criteria = config.selection
        selection.type = options.type
        return selection
    }
}

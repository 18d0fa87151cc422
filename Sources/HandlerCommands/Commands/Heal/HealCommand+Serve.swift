import CLI
import ConsulWatch
import HandlerKit
import Platform

extension HealCommand {
    static func listenAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : (host, port)
    }

    /// The `handler_type: "http"` door: every POST is one delivery, handled like stdin, answered
    /// 200 when every incident was handled, 400 for a payload that cannot be read (kept as a dead
    /// letter), 500 when an action failed (spooled when it can be retried). Consul logs non-2xx
    /// answers, with their body, at ERROR.
    static func serve(_ options: Options, config: HealConfig, context: CommandContext, log: @escaping @Sendable (String) -> Void) throws(CommandError) -> ExitCode {
        let (host, port) = listenAddress(options.listen!)!
        let listener: HTTPListener
        do { listener = try HTTPListener(host: host, port: port) } catch { throw CommandError(.ioError, error.description) }
        let store = try openStore(options, config: config, context: context, log: log)
        let healer = try makeHealer(config, store: store, options: options, context: context, log: log)
        let selection = selectionOptions(config, options: options)
        // The handler's own TTL check: updated after each delivery, and refreshed with the last
        // status before half its TTL passes while no delivery comes.
        let selfCheck = options.dryRun ? nil : try Self.selfCheck(config, context: context)
        var lastSummary = SelfCheck.Summary()
        var lastUpdate = -Double.infinity
        func updateSelfCheck(_ summary: SelfCheck.Summary) {
            guard let selfCheck else { return }
            lastSummary = summary
            lastUpdate = Time.monotonicSeconds()
            log(selfCheck.update(summary).line)
        }
        updateSelfCheck(lastSummary)
        context.print("listening on http://\(host):\(listener.port)/")
        while true {
            let next: (HTTPListener.Request, (Int, String, [UInt8]) -> Void)?
            do { next = try listener.next(maximumBody: FileIO.maximumInputSize, timeout: 30) } catch { throw CommandError(.ioError, error.description) }
            if let selfCheck, Time.monotonicSeconds() - lastUpdate >= selfCheck.ttl / 2 { updateSelfCheck(lastSummary) }
            guard let (request, respond) = next else { continue }
            func answer(_ status: Int, _ reason: String, _ fill: (inout JSONWriter.ObjectWriter) -> Void) {
                var writer = JSONWriter()
                writer.object(fill)
                writer.append(raw: "\n")
                respond(status, reason, writer.bytes)
            }
            guard request.method == "POST" || request.method == "PUT" else {
                answer(405, "Method Not Allowed") { $0.field("error", "a watch delivers with POST (or PUT)") }
                continue
            }
            let consulIndex: UInt64?
            do { consulIndex = try ConsulIndex.parse(request.header("X-Consul-Index")) } catch {
                answer(400, "Bad Request") { $0.field("error", "X-Consul-Index must be an unsigned integer") }
                continue
            }
            let input = Input(name: "http", bytes: request.body)
            do throws(CommandError) {
                if let directory = options.record { try recordPayload(input.bytes, consulIndex: consulIndex, in: directory) }
                let chosen: Selection
                do { chosen = try input.select(selection, consulIndex: consulIndex, deadLetters: store, log: log).excludingCheck(selfCheck?.id) } catch {
                    var summary = SelfCheck.Summary()
                    if error.exitCode == .dataError { summary.deadLetters = 1 }
                    updateSelfCheck(summary)
                    throw error
                }
                let report: Healer.Report
                do { report = try healer.handle(chosen, consulIndex: consulIndex, digest: PayloadDigest.fnv1a64(input.bytes)) } catch {
                    throw CommandError(.ioError, "state directory: \(error.description)")
                }
                if let error = report.journalError { log("journal: \(error.description)") }
                var summary = SelfCheck.Summary()
                summary.add(report)
                updateSelfCheck(summary)
                answer(report.failed ? 500 : 200, report.failed ? "Internal Server Error" : "OK") { object in
                    object.field("consulIndex", consulIndex)
                    object.field("selected", chosen.checks.count)
                    object.field("decisions", report.decisions.count)
                    object.field("actions", report.actions.count)
                    object.field("unhandled", report.unresolved)
                    object.field("spooled", report.spooled)
                }
            } catch {
                log(error.message)
                answer(error.exitCode == .dataError ? 400 : 500, error.exitCode == .dataError ? "Bad Request" : "Internal Server Error") {
                    $0.field("error", error.message)
                }
            }
        }
    }
}

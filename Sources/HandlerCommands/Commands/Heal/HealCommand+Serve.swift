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

    /// `--max-body`: bytes, or a number with a K, M or G suffix (binary: 64M is 64 MiB).
    static func byteSize(_ text: String) -> Int? {
        var digits = Substring(text)
        var shift = 0
        for (suffixes, bits) in [(["KiB", "K", "k"], 10), (["MiB", "M", "m"], 20), (["GiB", "G", "g"], 30)] {
            if let suffix = suffixes.first(where: { digits.hasSuffix($0) }) {
                digits = digits.dropLast(suffix.count)
                shift = bits
                break
            }
        }
        guard !digits.isEmpty, digits.utf8.count <= 10, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(digits) else { return nil }
        return value << shift
    }

    /// The `handler_type: "http"` door: every POST is one delivery, handled like stdin, answered
    /// 200 when every incident was handled, 400 for a payload that cannot be read (kept as a dead
    /// letter), 500 when an action failed (spooled when it can be retried). Consul logs non-2xx
    /// answers, with their body, at ERROR. Requests are read concurrently by `HTTPServer` (so a
    /// slow or idle client never holds up a delivery) and decided one at a time.
    static func serve(_ options: Options, config: HealConfig, context: CommandContext, log: @escaping @Sendable (String) -> Void) throws(CommandError)
        -> ExitCode
    {
        let (host, port) = listenAddress(options.listen!)!
        var limits = HTTPServer.Limits()
        limits.bodySize = options.maximumBody
        let server: HTTPServer
        do { server = try HTTPServer(host: host, port: port, limits: limits) } catch { throw CommandError(.ioError, error.description) }
        let store = try openStore(options, config: config, context: context, log: log)
        let healer = try makeHealer(config, store: store, options: options, context: context, log: log)
        let selection = selectionOptions(config, options: options)
        // The handler's own TTL check: reported after each delivery, refreshed while idle.
        let keeper = options.dryRun ? nil : try Self.selfCheck(config, context: context).map { SelfCheckKeeper($0, log: log) }
        keeper?.start()
        context.print("listening on http://\(host):\(server.port)/")
        do {
            try server.serve(log: log) { [selection] request in
                deliver(request, options: options, config: config, selection: selection, store: store, healer: healer, selfCheck: keeper, log: log)
            }
        } catch {
            throw CommandError(.ioError, error.description)
        }
        return .success
    }

    /// One POST: called by the server with its deliveries serialised.
    private static func deliver(
        _ request: HTTPMessage.Request, options: Options, config: HealConfig, selection: SelectionOptions, store: StateStore?, healer: Healer,
        selfCheck: SelfCheckKeeper? = nil, log: @escaping @Sendable (String) -> Void
    ) -> HTTPServer.Reply {
        func answer(_ status: Int, _ reason: String, _ fill: (inout JSONWriter.ObjectWriter) -> Void) -> HTTPServer.Reply {
            var writer = JSONWriter()
            writer.object(fill)
            writer.append(raw: "\n")
            return HTTPServer.Reply(status: status, reason: reason, headers: status == 405 ? [("Allow", "POST, PUT")] : [], body: writer.bytes)
        }
        if request.method == "GET", request.target.prefix(while: { $0 != "?" }) == "/metrics" {  // docs/metrics.md
            return metricsReply(store, log: log)
        }
        guard request.method == "POST" || request.method == "PUT" else {
            return answer(405, "Method Not Allowed") { $0.field("error", "a watch delivers with POST (or PUT)") }
        }
        let consulIndex: UInt64?
        do { consulIndex = try ConsulIndex.parse(request.header("X-Consul-Index")) } catch {
            return answer(400, "Bad Request") { $0.field("error", "X-Consul-Index must be an unsigned integer") }
        }
        let input = Input(name: "http", bytes: request.body)
        do throws(CommandError) {
            if let directory = options.record { try recordPayload(input.bytes, consulIndex: consulIndex, in: directory) }
            let chosen: Selection
            do { chosen = try input.select(selection, consulIndex: consulIndex, deadLetters: store, log: log).excludingCheck(selfCheck?.check.id) } catch {
                var summary = SelfCheck.Summary()
                if error.exitCode == .dataError { summary.deadLetters = 1 }
                selfCheck?.report(summary)
                throw error
            }
            let report: Healer.Report
            do { report = try healer.handle(chosen, consulIndex: consulIndex, digest: PayloadDigest.fnv1a64(input.bytes)) } catch {
                throw CommandError(.ioError, "state directory: \(error.description)")
            }
            if let error = report.journalError { log("journal: \(error.description)") }
            writeMetrics(config, store: store, dryRun: options.dryRun, log: log)
            var summary = SelfCheck.Summary()
            summary.add(report)
            selfCheck?.report(summary)
            if let reason = report.stateUnavailable, let store { log(SharedStateText.unavailable(reason, store: store, flush: "consul-heal flush")) }
            return answer(report.failed ? 500 : 200, report.failed ? "Internal Server Error" : "OK") { object in
                object.field("consulIndex", consulIndex)
                if let reason = report.stateUnavailable { object.field("stateUnavailable", reason) }
                object.field("selected", chosen.checks.count)
                object.field("decisions", report.decisions.count)
                object.field("actions", report.actions.count)
                object.field("unhandled", report.unresolved)
                object.field("spooled", report.spooled)
            }
        } catch {
            log(error.message)
            return answer(error.exitCode == .dataError ? 400 : 500, error.exitCode == .dataError ? "Bad Request" : "Internal Server Error") {
                $0.field("error", error.message)
            }
        }
    }
}

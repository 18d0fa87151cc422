import CLI
import ConsulWatch
import HandlerKit
import Platform

/// Webhook actions and the metrics file: from the configuration to running parts.
extension HealCommand {
    /// Builds webhook actions, sharing one transport per CA file so that the connection bound
    /// (the configuration's concurrency) holds across every webhook, and reading each secret
    /// file once.
    struct WebhookWiring {
        var transports: [String: SocketHTTPTransport] = [:]
        var secrets: [String: String] = [:]
        /// The environment's HTTP proxies (``ProxySettings``).
        var proxies = ProxySettings.none

        mutating func secret(_ path: String, option: String) throws(CommandError) -> String {
            if let known = secrets[path] { return known }
            let value = try Secrets.readFile(path, option: option)
            secrets[path] = value
            return value
        }

        mutating func action(_ spec: HealConfig.ActionSpec, config: HealConfig) throws(CommandError) -> any Action {
            let hook = spec.webhook
            let url: String
            if let file = hook.urlFile {
                url = try secret(file, option: "webhook urlFile")
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw CommandError(.configError, "webhook urlFile \(file): the URL must start with http:// or https://")
                }
            } else {
                url = spec.url!
            }
            var headers: [HTTPHeader] = []
            for (name, file) in hook.headerFiles {
                let value = try secret(file, option: "webhook header file for \(name)")
                guard !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                    throw CommandError(.configError, "webhook header file \(file) for \(name) holds more than one line")
                }
                headers.append(HTTPHeader(name, value))
            }
            let routingKey = try hook.routingKeyFile.map { (file) throws(CommandError) in try secret(file, option: "webhook routingKeyFile") }
            let key = hook.caFile ?? ""
            if transports[key] == nil {
                transports[key] = SocketHTTPTransport(
                    maximumConnections: config.concurrency, caFile: hook.caFile, caHint: "\"caFile\" in the webhook's config", proxies: proxies)
            }
            let shape: WebhookAction.Shape = hook.body.map { .template($0) } ?? .preset(hook.preset)
            return WebhookAction(
                url: url, shape: shape, headers: headers, routingKey: routingKey, event: spec.event, transport: transports[key]!,
                requestTimeout: hook.requestTimeout, retry: RetryPolicy(attempts: hook.retries + 1))
        }
    }

    /// The metrics exposition for the state directory (docs/metrics.md).
    static func metricsText(_ store: StateStore) throws(SystemError) -> String {
        let state = try store.snapshot()
        var spool: [String: Int] = [:]
        for entry in try store.spool() { spool[entry.watch, default: 0] += 1 }
        return PrometheusText.render(HealMetrics.families(state, spool: spool, deadLetters: store.deadLetters().count))
    }

    /// Writes the textfile-collector file, atomically (node_exporter never reads half a file),
    /// mode 0644 so that node_exporter's user can read it. A failure is reported, and does not
    /// fail the delivery: the metrics are an account of the healing, not part of it.
    static func writeMetrics(_ config: HealConfig, store: StateStore?, dryRun: Bool, log: @Sendable (String) -> Void) {
        guard let file = config.metrics?.file, let store, !dryRun else { return }
        do throws(SystemError) {
            try AtomicFile.write(Array(try metricsText(store).utf8), to: file, mode: 0o644)
        } catch {
            log("metrics: cannot write \(file): \(error.description)")
        }
    }
}

extension HealCommand {
    /// `GET /metrics` on `serve`: the same exposition as the textfile.
    static func metricsReply(_ store: StateStore?, log: @Sendable (String) -> Void) -> HTTPServer.Reply {
        guard let store else {
            return HTTPServer.Reply(
                status: 404, reason: "Not Found", body: Array(#"{"error":"no metrics without a state directory (--no-state)"}"#.utf8) + [10])
        }
        do throws(SystemError) {
            return HTTPServer.Reply(
                status: 200, reason: "OK", headers: [("Content-Type", PrometheusText.contentType)], body: Array(try metricsText(store).utf8))
        } catch {
            log("metrics: \(error.description)")
            return HTTPServer.Reply(status: 500, reason: "Internal Server Error", body: Array(#"{"error":"cannot read the state"}"#.utf8) + [10])
        }
    }
}

import ConsulWatch
import Platform

/// POSTs JSON about an incident to a URL: a preset shape (generic, Slack, PagerDuty) or a body
/// template. Sent over the same transport as the Jenkins client (TLS verification, the
/// connection bound) with the same retries (back-off, `Retry-After`, never past the deadline);
/// a retryable failure is spooled by the healer like any ladder action.
///
/// Header values and the PagerDuty routing key are secrets read from files by the caller: they
/// are sent, never printed. The URL is printed as its scheme and host only, since an incoming
/// webhook URL (Slack's) carries its secret in the path.
public struct WebhookAction: Action {
    public enum Shape: Sendable {
        case preset(WebhookPreset)
        case template(BodyTemplate)
    }

    public let name = "webhook"
    public var url: String
    public var shape: Shape
    /// Extra header fields (secrets: never printed).
    public var headers: [HTTPHeader]
    /// PagerDuty's routing key (a secret).
    public var routingKey: String?
    /// The event this instance is wired for: a route lists an action once per event it runs on.
    public var event: NotifyEvent
    public var transport: any HTTPTransport
    public var requestTimeout: Double
    public var retry: RetryPolicy

    public init(
        url: String, shape: Shape, headers: [HTTPHeader] = [], routingKey: String? = nil, event: NotifyEvent,
        transport: any HTTPTransport, requestTimeout: Double = 10, retry: RetryPolicy = RetryPolicy()
    ) {
        self.url = url
        self.shape = shape
        self.headers = headers
        self.routingKey = routingKey
        self.event = event
        self.transport = transport
        self.requestTimeout = requestTimeout
        self.retry = retry
    }

    /// The body for an incident, as sent.
    public func body(_ incident: Incident, time: Double, kv: KVValues? = nil) throws(TemplateError) -> [UInt8] {
        switch shape {
        case .preset(let preset): return preset.body(incident, event: event, routingKey: routingKey, time: time)
        case .template(let template): return try template.render(incident, event: event, kv: kv)
        }
    }

    /// What the body is, in words (`pagerduty trigger`, `slack`, `template`).
    var shapeName: String {
        switch shape {
        case .preset(.pagerduty): return event == .resolved ? "pagerduty resolve" : "pagerduty trigger"
        case .preset(let preset): return preset.rawValue
        case .template: return "template"
        }
    }

    /// The URL as printed: scheme and host, the rest hidden.
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://") else { return "(invalid URL)" }
        let rest = url[scheme.upperBound...]
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostOnly = host.split(separator: "@").last.map(String.init) ?? ""
        return String(url[..<scheme.upperBound]) + hostOnly + (rest.count > host.count ? "/…" : "")
    }

    public func perform(_ incident: Incident, context: ActionContext) -> Outcome {
        let target = Self.redacted(url)
        let bytes: [UInt8]
        do { bytes = try body(incident, time: context.clock.now(), kv: context.kv) } catch {
            return .failed(reason: "body for \(target): \(error.description)", retryable: error.isRetryable)
        }
        if context.dryRun {
            return .skipped(
                reason: "dry run: would POST \(shapeName) (\(bytes.count) bytes) to \(target)"
                    + (headers.isEmpty ? "" : " with header(s) \(headers.map(\.name).joined(separator: ", ")) (values redacted)"))
        }
        let request = HTTPRequest(method: "POST", url: url, headers: [HTTPHeader("Content-Type", "application/json")] + headers, body: bytes)
        var attempt = 0
        while true {
            attempt += 1
            let remaining = context.remaining
            if remaining <= 0 { return .failed(reason: "deadline reached before POST to \(target) (attempt \(attempt))", retryable: true) }
            let result = transport.send(request, timeout: min(requestTimeout, remaining))
            var retryAfter: Double? = nil
            let failure: String
            switch result {
            case .success(let response) where (200...299).contains(response.status):
                return .done(detail: "\(shapeName) delivered to \(target) (\(response.status))")
            case .success(let response) where response.status >= 500 || response.status == 429:
                failure = "\(target) answered \(response.status)"
                retryAfter = RetryPolicy.retryAfter(response.header("Retry-After"))
            case .success(let response):
                return .failed(reason: explain(response, target: target), retryable: false)
            case .failure(let error):
                guard error.isRetryable else { return .failed(reason: "\(target): \(error.description)", retryable: false) }
                failure = "\(target): \(error.description)"
            }
            let delay = retryAfter ?? retry.delay(after: attempt)
            if attempt >= retry.attempts || delay >= context.remaining {
                return .failed(reason: "\(failure) (after \(attempt) attempt\(attempt == 1 ? "" : "s"))", retryable: true)
            }
            context.clock.sleep(delay)
        }
    }

    /// A 4xx answer with its likely cause; the receiver's own words are shown only when they
    /// contain none of our secrets.
    func explain(_ response: HTTPResponse, target: String) -> String {
        var reason: String
        switch response.status {
        case 400: reason = "\(target) rejected the body (400): check the preset or body template"
        case 401, 403: reason = "\(target) refused the request (\(response.status)): check the headerFiles credentials or the routing key"
        case 404: reason = "\(target) has no such webhook (404): check the URL"
        case 413: reason = "\(target) found the body too large (413)"
        default: reason = "\(target) answered \(response.status)"
        }
        let secrets = headers.map(\.value) + (routingKey.map { [$0] } ?? [])
        var excerpt = String(response.text.prefix(200).map { $0.isNewline || $0 == "\t" ? " " : $0 })
        excerpt.unicodeScalars.removeAll { $0.value < 0x20 || $0.value == 0x7F }
        if !excerpt.isEmpty, !secrets.contains(where: { !$0.isEmpty && excerpt.contains($0) }) { reason += ": \(excerpt)" }
        return reason
    }
}

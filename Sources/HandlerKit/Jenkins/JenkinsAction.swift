/// The Jenkins build trigger as an action: renders the job and parameters from the incident,
/// triggers, and optionally waits for the build's result.
public struct JenkinsAction: Action {
    public let name = "jenkins"
    public let client: JenkinsClient
    public let job: JenkinsJobTemplate
    /// `--param NAME=TEMPLATE` pairs, in order; nil → `/build`.
    public let parameters: [(name: String, value: Template)]?
    /// Follow the build to its result.
    public let wait: Bool

    public init(client: JenkinsClient, job: JenkinsJobTemplate, parameters: [(name: String, value: Template)]?, wait: Bool) {
        self.client = client
        self.job = job
        self.parameters = parameters
        self.wait = wait
    }

    /// A KV value the agent could not give is worth retrying; a bad template or a missing key is not.
    static func failure(_ error: JenkinsJobError) -> Outcome {
        if case .template(let template) = error { return .failed(reason: error.description, retryable: template.isRetryable) }
        return .failed(reason: error.description, retryable: false)
    }

    public func perform(_ incident: Incident, context: ActionContext) -> Outcome {
        let values = incident.placeholders
        let path: JenkinsJobPath
        do { path = try job.render(values, kv: context.kv) } catch { return Self.failure(error) }
        var rendered: [(String, String)]?
        if let parameters {
            rendered = []
            for parameter in parameters {
                do { rendered?.append((parameter.name, try parameter.value.render(values, kv: context.kv))) } catch {
                    return Self.failure(.template(error))
                }
            }
        }
        if context.dryRun {
            let request = client.triggerRequest(job: path, parameters: rendered)
            var detail = "would \(request.method) \(client.redacted(request.url)) as \(client.configuration.credentials.summary)"
            if !request.body.isEmpty { detail += " with form " + String(decoding: request.body, as: UTF8.self) }
            return .skipped(reason: detail)
        }
        switch client.trigger(job: path, parameters: rendered, context: context) {
        case .failure(let error):
            return .failed(reason: error.description, retryable: error.retryable)
        case .success(let trigger):
            let queued =
                trigger.queueItem.map { trigger.merged ? "merged into queued item \($0)" : "queued as item \($0)" }
                ?? "accepted (no queue item given)"
            guard wait else { return .done(detail: "job \(path) \(queued)") }
            guard let item = trigger.queueItem else {
                return .failed(reason: "job \(path) \(queued): cannot follow the build without a queue item", retryable: false)
            }
            switch client.waitForResult(queueItem: item, job: path, context: context) {
            case .failure(let error):
                return .failed(reason: "job \(path) \(queued), then: \(error.description)", retryable: false)
            case .success(let (build, result)):
                let what = build.map { "build #\($0) of \(path)" } ?? "job \(path) (queue item \(item))"
                if result == .success { return .done(detail: "\(what) SUCCESS") }
                return .failed(reason: "\(what) ended \(result.rawValue)", retryable: false)
            }
        }
    }
}

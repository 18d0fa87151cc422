import ConsulWatch
import FoundationEssentials
import Platform
import Synchronization

/// `--wait`: from the queue item a trigger returned, to its build, to the build's result.
extension JenkinsClient {
    /// Follows a queue item to its build and the build to its result, polling with growing
    /// intervals until `context.deadline`.
    public func waitForResult(queueItem: Int, job: JenkinsJobPath, context: ActionContext) -> Result<(build: Int?, result: BuildResult), JenkinsError> {
        var interval = configuration.pollInterval
        var buildNumber: Int?
        while buildNumber == nil {
            var request = HTTPRequest(method: "GET", url: configuration.baseURL + "/queue/item/\(queueItem)/api/json")
            if let authorization = configuration.credentials.authorization { request.headers.append(HTTPHeader("Authorization", authorization)) }
            let response: HTTPResponse
            switch sendWithRetries(request, context: context) {
            case .success(let value): response = value
            case .failure(let error): return .failure(error)
            }
            if response.status == 404 {
                return .failure(
                    .http(
                        status: 404, explanation: "queue item \(queueItem) no longer exists (Jenkins forgets items about 5 minutes after they leave the queue)",
                        retryable: false))
            }
            guard response.status == 200,
                case .object(let item)? = try? JSONReader.read(response.body, { (reader) throws(JSONError) in try JSONValue(reading: &reader) })
            else {
                return .failure(explain(response, job: job, parameters: nil))
            }
            if case .bool(true)? = item["cancelled"] { return .success((nil, .cancelled)) }
            if case .object(let executable)? = item["executable"], case .number(let text)? = executable["number"], let number = Int(text) {
                buildNumber = number
                break
            }
            // Waiting, blocked, buildable, or left but not yet started (the race in jenkins.md §4.1).
            if !pause(&interval, context: context) { return .failure(.deadline("while queue item \(queueItem) waited to start")) }
        }
        interval = configuration.pollInterval
        let number = buildNumber!
        while true {
            var request = HTTPRequest(method: "GET", url: configuration.baseURL + job.urlPath + "/\(number)/api/json?tree=building,result,number")
            if let authorization = configuration.credentials.authorization { request.headers.append(HTTPHeader("Authorization", authorization)) }
            let response: HTTPResponse
            switch sendWithRetries(request, context: context) {
            case .success(let value): response = value
            case .failure(let error): return .failure(error)
            }
            guard response.status == 200,
                case .object(let build)? = try? JSONReader.read(response.body, { (reader) throws(JSONError) in try JSONValue(reading: &reader) })
            else {
                return .failure(explain(response, job: job, parameters: nil))
            }
            // Terminal only when not building AND a result is set (a pipeline may set it early).
            if case .bool(false)? = build["building"], case .string(let text)? = build["result"] {
                return .success((number, BuildResult(rawValue: text) ?? .failure))
            }
            if !pause(&interval, context: context) { return .failure(.deadline("while build #\(number) of \(job) was running")) }
        }
    }

    private func pause(_ interval: inout Double, context: ActionContext) -> Bool {
        let wait = min(interval, context.remaining)
        if wait <= 0 { return false }
        context.clock.sleep(wait)
        interval = min(configuration.maximumPollInterval, interval * 1.5)
        return context.remaining > 0
    }
}

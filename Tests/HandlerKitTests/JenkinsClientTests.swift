import ConsulWatch
import Foundation
import Synchronization
import Testing

@testable import HandlerKit

/// The Jenkins client against a closure-backed transport: what it sends, and how it reads answers.
@Suite struct JenkinsClientTests {

    /// Records requests and answers from a script.
    final class Script: Sendable {
        let requests = Mutex<[HTTPRequest]>([])
        let answers: Mutex<[Result<HTTPResponse, TransportError>]>
        init(_ answers: [Result<HTTPResponse, TransportError>]) { self.answers = Mutex(answers) }
        var transport: ClosureTransport {
            ClosureTransport { request, _ in
                self.requests.withLock { $0.append(request) }
                return self.answers.withLock { $0.isEmpty ? .success(HTTPResponse(status: 599)) : $0.removeFirst() }
            }
        }
        var sent: [HTTPRequest] { requests.withLock { $0 } }
    }

    static func created(_ id: Int) -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: 201, headers: ["Location": ["http://internal-host:8080/jenkins/queue/item/\(id)/"]]))
    }

    static func incident(_ service: String) -> Incident {
        Incident(
            groupBy: .service,
            checks: [
                SelectedCheck(
                    kind: .service, service: service, serviceID: service, node: "web-02", checkID: "service:\(service)", checkName: "c", status: .critical)
            ])
    }

    func client(_ script: Script, credentials: JenkinsCredentials = .apiToken(user: "bot", token: "11abcdef"), buildToken: String? = nil, attempts: Int = 3)
        -> JenkinsClient
    {
        JenkinsClient(
            configuration: JenkinsConfiguration(
                baseURL: "http://jenkins:8080/ci/", credentials: credentials, buildToken: buildToken, retry: RetryPolicy(attempts: attempts, random: { 0.5 })),
            transport: script.transport)
    }

    func context(_ clock: VirtualClock = VirtualClock(), timeout: Double = 60) -> ActionContext {
        ActionContext(clock: clock, deadline: clock.now() + timeout)
    }

    @Test func apiTokenTriggerIsOnePreemptiveBasicPostWithoutCrumbOrCookie() throws {
        let script = Script([Self.created(17)])
        let job = try JenkinsJobTemplate("deploy/{service}").render(["service": "books service"])
        let result = client(script).trigger(job: job, parameters: nil, context: context())
        #expect(try result.get() == TriggerResult(queueItem: 17, merged: false))
        #expect(script.sent.count == 1)
        let request = script.sent[0]
        #expect(request.method == "POST")
        #expect(request.url == "http://jenkins:8080/ci/job/deploy/job/books%20service/build")
        #expect(request.header("Authorization") == "Basic Ym90OjExYWJjZGVm")  // bot:11abcdef
        #expect(request.header("Cookie") == nil)
        #expect(request.header("Jenkins-Crumb") == nil)
    }

    @Test func hostileNamesNeverLeaveTheirPathSegment() throws {
        let template = try JenkinsJobTemplate("{service}")
        for (name, segment) in [
            ("a/b", "a%2Fb"), ("../../script", "..%2F..%2Fscript"), ("x?y#z", "x%3Fy%23z"), ("déploy prod", "d%C3%A9ploy%20prod"),
            ("feature%2Fx", "feature%252Fx"),
        ] {
            #expect(try template.render(["service": name]).urlPath == "/job/" + segment)
        }
        #expect(throws: JenkinsJobError.self) { try template.render(["service": ".."]) }
        #expect(throws: JenkinsJobError.self) { try template.render(["service": ""]) }
        #expect(throws: JenkinsJobError.self) { try JenkinsJobTemplate("a//{service}") }
        #expect(throws: JenkinsJobError.self) { try JenkinsJobTemplate("{servce}") }
    }

    @Test func parametersGoToBuildWithParametersAsAFormBody() throws {
        let script = Script([Self.created(3)])
        let job = try JenkinsJobPath(segments: ["redeploy"])
        _ = client(script).trigger(job: job, parameters: [("SERVICE", "web & api"), ("CHECK", "service:web")], context: context())
        let request = script.sent[0]
        #expect(request.url == "http://jenkins:8080/ci/job/redeploy/buildWithParameters")
        #expect(String(decoding: request.body, as: UTF8.self) == "SERVICE=web%20%26%20api&CHECK=service%3Aweb")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
    }

    @Test func aMergedTriggerIs303AndCountsAsSuccess() throws {
        let script = Script([.success(HTTPResponse(status: 303, headers: ["Location": ["http://j/queue/item/9/"]]))])
        let result = client(script).trigger(job: try JenkinsJobPath(segments: ["web"]), parameters: [("A", "1")], context: context())
        #expect(try result.get() == TriggerResult(queueItem: 9, merged: true))
    }

    @Test func passwordModeFetchesACrumbKeepsTheSessionCookieAndRefreshesOnceOn403() throws {
        let crumb = #"{"_class":"hudson.security.csrf.DefaultCrumbIssuer","crumb":"abc123","crumbRequestField":"Jenkins-Crumb"}"#
        let script = Script([
            .success(HTTPResponse(status: 200, headers: ["Set-Cookie": ["JSESSIONID.1a2b3c4d=node0abc; Path=/; HttpOnly"]], body: Array(crumb.utf8))),
            .success(HTTPResponse(status: 403, body: Array("<title>Error 403 No valid crumb was included in the request</title>".utf8))),
            .success(
                HTTPResponse(
                    status: 200, headers: ["Set-Cookie": ["JSESSIONID.1a2b3c4d=node0def; Path=/"]],
                    body: Array(crumb.replacingOccurrences(of: "abc123", with: "def456").utf8))),
            Self.created(5),
        ])
        let result = client(script, credentials: .password(user: "bot", password: "pw")).trigger(
            job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: context())
        #expect(try result.get().queueItem == 5)
        let sent = script.sent
        #expect(sent.map(\.method) == ["GET", "POST", "GET", "POST"])
        #expect(sent[0].url == "http://jenkins:8080/ci/crumbIssuer/api/json")
        #expect(sent[1].header("Jenkins-Crumb") == "abc123")
        #expect(sent[1].header("Cookie") == "JSESSIONID.1a2b3c4d=node0abc")
        #expect(sent[3].header("Jenkins-Crumb") == "def456")
        #expect(sent[3].header("Cookie") == "JSESSIONID.1a2b3c4d=node0def")
    }

    @Test func crumbIssuer404MeansCSRFIsOff() throws {
        let script = Script([.success(HTTPResponse(status: 404)), Self.created(1)])
        _ = client(script, credentials: .anonymous).trigger(job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: context())
        #expect(script.sent.count == 2)
        #expect(script.sent[1].header("Jenkins-Crumb") == nil)
    }

    @Test func anonymousBuildTokenUsesGetWithTheTokenAndNeedsNoCrumb() throws {
        let script = Script([Self.created(2)])
        let client = client(script, credentials: .anonymous, buildToken: "s3cr3t")
        _ = client.trigger(job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: context())
        #expect(script.sent.count == 1)
        #expect(script.sent[0].method == "GET")
        #expect(script.sent[0].url.hasSuffix("/job/web/build?token=s3cr3t"))
        #expect(client.redacted(script.sent[0].url).hasSuffix("token=REDACTED"))
        #expect(!client.redacted(script.sent[0].url).contains("s3cr3t"))
    }

    @Test func retriesConnectionErrorsAnd5xxWithBackoffAndHonoursRetryAfter() throws {
        let clock = VirtualClock()
        let script = Script([
            .failure(.cannotConnect("connection refused")),
            .success(HTTPResponse(status: 503, headers: ["Retry-After": ["7"]])),
            Self.created(4),
        ])
        let result = client(script).trigger(job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: context(clock))
        #expect(try result.get().queueItem == 4)
        #expect(script.sent.count == 3)
        // Equal jitter with random 0.5: 0.5 s step → 0.375 s; then Retry-After 7 s.
        #expect(clock.slept.withLock { $0 } == [0.375, 7])
    }

    @Test(arguments: [400, 401, 403, 404, 405, 409])
    func clientErrorsAreNotRetriedAndAreExplained(status: Int) throws {
        let script = Script([.success(HTTPResponse(status: status))])
        let result = client(script).trigger(job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: context())
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(script.sent.count == 1)
        #expect(!error.retryable)
        #expect(error.description.contains("\(status)"))
    }

    @Test func crumb403IsExplainedAsUseAnAPIToken() throws {
        let script = Script([.success(HTTPResponse(status: 403, body: Array("No valid crumb was included in the request".utf8)))])
        let result = client(script).trigger(job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: context())
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.description.contains("API token"))
    }

    @Test func givesUpAtTheDeadlineAndSaysSo() throws {
        let clock = VirtualClock()
        let script = Script(Array(repeating: .failure(.timedOut(10)), count: 10))
        let result = client(script, attempts: 10).trigger(job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: context(clock, timeout: 2))
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.retryable)
        #expect(clock.now() - 1000 <= 2)
    }

    @Test func waitFollowsTheQueueItemToTheBuildAndItsResult() throws {
        let left =
            #"{"_class":"hudson.model.Queue$LeftItem","cancelled":false,"executable":{"_class":"hudson.model.FreeStyleBuild","number":12,"url":"http://j/job/web/12/"}}"#
        let script = Script([
            .success(HTTPResponse(status: 200, body: Array(#"{"_class":"hudson.model.Queue$WaitingItem","why":"In the quiet period."}"#.utf8))),
            .success(HTTPResponse(status: 200, body: Array(#"{"_class":"hudson.model.Queue$LeftItem","cancelled":false,"executable":null}"#.utf8))),
            .success(HTTPResponse(status: 200, body: Array(left.utf8))),
            .success(HTTPResponse(status: 200, body: Array(#"{"building":true,"result":null}"#.utf8))),
            .success(HTTPResponse(status: 200, body: Array(#"{"building":true,"result":"FAILURE"}"#.utf8))),
            .success(HTTPResponse(status: 200, body: Array(#"{"building":false,"result":"UNSTABLE"}"#.utf8))),
        ])
        let result = client(script).waitForResult(queueItem: 4, job: try JenkinsJobPath(segments: ["web"]), context: context())
        let (build, outcome) = try result.get()
        #expect(build == 12)
        #expect(outcome == .unstable)
        #expect(script.sent[0].url == "http://jenkins:8080/ci/queue/item/4/api/json")
        #expect(script.sent[3].url.hasPrefix("http://jenkins:8080/ci/job/web/12/api/json"))
    }

    @Test func aCancelledQueueItemIsReported() throws {
        let script = Script([
            .success(HTTPResponse(status: 200, body: Array(#"{"_class":"hudson.model.Queue$LeftItem","cancelled":true,"executable":null}"#.utf8)))
        ])
        let (_, outcome) = try client(script).waitForResult(queueItem: 4, job: try JenkinsJobPath(segments: ["web"]), context: context()).get()
        #expect(outcome == .cancelled)
    }

    @Test func dryRunSendsNothingAndRedactsSecrets() throws {
        let script = Script([])
        let action = JenkinsAction(client: client(script, buildToken: "tok3n"), job: try JenkinsJobTemplate("{service}"), parameters: nil, wait: false)
        var dry = context()
        dry.dryRun = true
        let outcome = action.perform(Self.incident("web"), context: dry)
        #expect(script.sent.isEmpty)
        guard case .skipped(let detail) = outcome else {
            Issue.record("expected skipped")
            return
        }
        #expect(detail.contains("/job/web/build"))
        #expect(!detail.contains("tok3n") && !detail.contains("11abcdef"))
    }
}

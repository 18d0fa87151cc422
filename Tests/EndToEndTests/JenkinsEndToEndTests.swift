import Foundation
import TestSupport
import Testing

/// consul-jenkins, run as a Consul agent runs it, against the loopback fake Jenkins that
/// follows jenkins.md §9 (the acceptance scenarios of §9.5, through the real executable).
@Suite struct JenkinsEndToEndTests {
    static let token = "11aabbccddeeff00112233445566778899"
    static let password = "correct horse battery staple"

    static func jenkins(jobs: [FakeJenkins.Job], clock: FakeJenkins.ClockMode = .manual, csrf: Bool = true, anonymous: FakeJenkins.Permissions = .init()) throws
        -> FakeJenkins
    {
        var configuration = FakeJenkins.Configuration(
            users: [FakeJenkins.User("consul-bot", password: password, apiTokens: [token])], anonymous: anonymous, jobs: jobs, csrfEnabled: csrf, clock: clock)
        configuration.executors = 2
        return try FakeJenkins(configuration)
    }

    /// Runs consul-jenkins statelessly (the policy has its own tests) with a payload on stdin.
    static func run(
        _ fake: FakeJenkins, _ arguments: [String], payload: [UInt8] = Fixtures.bytes("checks-state-critical-one.json"),
        environment: [String: String] = ["JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": token], stateful: Bool = false, viaShell: Bool = false
    ) throws -> ExecutableResult {
        var env = environment
        env["CONSUL_INDEX"] = env["CONSUL_INDEX"] ?? "48391"
        let base = ["--url", fake.baseURL.absoluteString] + (stateful ? [] : ["--no-state"])
        return try ExecutableHarness.run("consul-jenkins", arguments: base + arguments, stdin: payload, environment: env, viaShell: viaShell, timeout: 60)
    }

    static func triggers(_ fake: FakeJenkins) -> [FakeJenkins.RecordedRequest] {
        fake.requests.filter { $0.pathSegments.last == "build" || $0.pathSegments.last == "buildWithParameters" }
    }

    // §9.5 (1): API token, a folder job with parameters, no crumb → 201; --wait follows it to FAILURE.
    @Test(arguments: [false, true])
    func apiTokenTriggersAFolderJobWithParametersAndWaitsForTheResult(viaShell: Bool) throws {
        let fake = try Self.jenkins(
            jobs: [.init("a/web", parameters: [.init("CHECK"), .init("NODE", default: "?")], quietPeriod: 5, script: [.init(.failure, durationMs: 3000)])],
            clock: .scaled(1000))
        defer { fake.stop() }
        let result = try Self.run(
            fake, ["--job", "a/{service}", "--param", "CHECK={checkID}", "--param", "NODE={node}", "--wait", "--poll-interval", "50ms"], viaShell: viaShell)
        #expect(result.exitCode == 75, "\(result.stderr)")
        #expect(result.stderr.contains("web: jenkins failed: build #1 of a/web ended FAILURE"))
        let trigger = try #require(Self.triggers(fake).first)
        #expect(trigger.method == "POST")
        #expect(trigger.pathSegments == ["job", "a", "job", "web", "buildWithParameters"])
        #expect(trigger.headers["Jenkins-Crumb"] == nil)
        #expect(fake.builds(of: "a/web").first?.result == .failure)
        #expect(result.stdout.isEmpty)
    }

    @Test func aSuccessfulBuildIsDoneWithWait() throws {
        let fake = try Self.jenkins(jobs: [.init("web", script: [.init(.success, durationMs: 1000)])], clock: .scaled(1000))
        defer { fake.stop() }
        let result = try Self.run(fake, ["--wait", "--poll-interval", "50ms"])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stderr.contains("web: jenkins done: build #1 of web SUCCESS"))
    }

    // §9.5 (2): password auth fetches a crumb in the same session and keeps its cookie.
    @Test func passwordAuthUsesACrumbBoundToItsSessionCookie() throws {
        let fake = try Self.jenkins(jobs: [.init("web")])
        defer { fake.stop() }
        let result = try Self.run(fake, [], environment: ["JENKINS_USER": "consul-bot", "JENKINS_PASSWORD": Self.password])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stderr.contains("web: jenkins done: job web queued as item 1"))
        let requests = fake.requests
        #expect(requests.map(\.method) == ["GET", "POST"])
        #expect(requests[0].pathSegments == ["crumbIssuer", "api", "json"])
        #expect(requests[1].headers["Cookie"]?.contains(fake.cookieName + "=") == true)
        #expect(requests[1].headers["Jenkins-Crumb"] != nil)
    }

    // §9.5 (3): bad credentials → 401; anonymous → 403, each explained in one line.
    @Test func badCredentialsAndAnonymousAreExplained() throws {
        let fake = try Self.jenkins(jobs: [.init("web")])
        defer { fake.stop() }
        let bad = try Self.run(fake, [], environment: ["JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": "wrong-token"])
        #expect(bad.exitCode == 75)
        #expect(bad.stderr.contains("401"))
        #expect(bad.stderr.contains("JENKINS_API_TOKEN"))
        let anonymous = try Self.run(fake, [], environment: [:])
        #expect(anonymous.exitCode == 75)
        #expect(anonymous.stderr.contains("403"))
        #expect(Self.triggers(fake).count <= 2)
    }

    // §9.5 (4), (5): unknown job, disabled job, the wrong endpoint for the job's kind.
    @Test func jobErrorsAreExplainedAndNotRetried() throws {
        let fake = try Self.jenkins(jobs: [.init("off", disabled: true), .init("param", parameters: [.init("X")]), .init("plain")])
        defer { fake.stop() }
        let cases: [([String], String)] = [
            (["--job", "missing-{service}"], "job 'missing-web' not found (404)"),
            (["--job", "off"], "job 'off' is disabled or not buildable (409)"),
            (["--job", "param"], "Nothing is submitted"),
            (["--job", "plain", "--param", "X=1"], "is not parameterized"),
        ]
        for (arguments, message) in cases {
            fake.resetRequestLog()
            let result = try Self.run(fake, arguments)
            #expect(result.exitCode == 75)
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(fake.requests.count == 1, "a client error is not retried")
        }
    }

    // §9.5 (6): the same parameters twice in the quiet period → 201, then 303 to the same item.
    @Test func aDuplicateTriggerIsMergedAndCountsAsSuccess() throws {
        let fake = try Self.jenkins(jobs: [.init("web", parameters: [.init("CHECK")]), .init("plain")])
        defer { fake.stop() }
        let first = try Self.run(fake, ["--param", "CHECK={checkID}"])
        let second = try Self.run(fake, ["--param", "CHECK={checkID}"])
        #expect(first.exitCode == 0 && second.exitCode == 0)
        #expect(first.stderr.contains("queued as item 1"))
        #expect(second.stderr.contains("merged into queued item 1"))
        let plainFirst = try Self.run(fake, ["--job", "plain"])
        let plainSecond = try Self.run(fake, ["--job", "plain"])
        #expect(plainFirst.stderr.contains("queued as item 2"))
        #expect(plainSecond.stderr.contains("queued as item 2"))
    }

    // §9.5 (8): spaces, unicode and %2F in names reach the right job, one segment each.
    @Test func unusualNamesRoundTripToTheRightJob() throws {
        let names = ["déploy prod", "feature%2Fx", "a+b (c)"]
        let fake = try Self.jenkins(jobs: names.map { .init("ops/\($0)") })
        defer { fake.stop() }
        let payload = Payloads.checks(names.enumerated().map { Payloads.service($0.element, node: "n\($0.offset)") })
        let result = try Self.run(fake, ["--job", "ops/{service}", "--blast-radius", "off"], payload: payload)
        #expect(result.exitCode == 0, "\(result.stderr)")
        for name in names { #expect(fake.builds(of: "ops/\(name)").count + fake.queueItems.filter { $0.jobName == "ops/\(name)" }.count >= 1) }
    }

    @Test func aHostileServiceNameNeverEscapesItsPathSegment() throws {
        let fake = try Self.jenkins(jobs: [.init("deploy")])
        defer { fake.stop() }
        let payload = Payloads.checks([Payloads.service("../../script?x=1#")])
        let result = try Self.run(fake, ["--job", "deploy-{service}"], payload: payload)
        #expect(result.exitCode == 75)
        let request = try #require(fake.requests.last)
        #expect(request.pathSegments == ["job", "deploy-../../script?x=1#", "build"])
        #expect(request.queryItems.isEmpty)
    }

    @Test func retriesOn503HonouringRetryAfterAndOnDroppedConnections() throws {
        let fake = try Self.jenkins(jobs: [.init("web")])
        defer { fake.stop() }
        fake.failNext(1, status: 503, headers: ["Retry-After": "1"], pathPrefix: "/job/")
        fake.dropNext(1, pathPrefix: "/job/")
        let started = Date()
        let result = try Self.run(fake, ["--retries", "3"])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) >= 1)
        #expect(fake.triggerCount == 1)
        #expect(Self.triggers(fake).count == 3)
    }

    @Test func aSlowJenkinsHitsTheDeadlineInsteadOfHangingTheWatch() throws {
        let fake = try Self.jenkins(jobs: [.init("web")])
        defer { fake.stop() }
        fake.delayNext(5, ms: 5000)
        let started = Date()
        let result = try Self.run(fake, ["--timeout", "2s", "--request-timeout", "1s"])
        // Waiting for the delayed answers would take 5 × 5 s; the 2 s deadline cuts that short.
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(result.exitCode == 75)
    }

    @Test func neverMoreConnectionsThanConcurrency() throws {
        let fake = try Self.jenkins(jobs: [], anonymous: .init())
        defer { fake.stop() }
        let services = (0..<24).map { "svc\($0)" }
        for name in services { fake.setJob(.init(name)) }
        fake.delayNext(24, ms: 100, pathPrefix: "/job/")
        let payload = Payloads.checks(services.enumerated().map { Payloads.service($0.element, node: "n\($0.offset)") })
        let result = try Self.run(fake, ["--concurrency", "3", "--blast-radius", "off"], payload: payload)
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(fake.triggerCount == 24)
        #expect(fake.maxConcurrentConnections <= 3)
        #expect(fake.maxConcurrentConnections >= 2, "the work was spread over connections")
    }

    @Test func secretsNeverAppearInOutputLogsOrDryRuns() throws {
        let fake = try Self.jenkins(jobs: [.init("web", buildToken: "build-s3cret")])
        defer { fake.stop() }
        let secrets = [Self.token, Self.password, "build-s3cret"]
        let runs = [
            try Self.run(fake, []),
            try Self.run(fake, [], environment: ["JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": "wrong-\(Self.token)"]),
            try Self.run(fake, [], environment: ["JENKINS_USER": "consul-bot", "JENKINS_PASSWORD": Self.password, "JENKINS_BUILD_TOKEN": "build-s3cret"]),
            try Self.run(fake, ["--dry-run"], environment: ["JENKINS_BUILD_TOKEN": "build-s3cret"]),
        ]
        #expect(runs[3].stderr.contains("token=REDACTED"))
        for run in runs {
            for secret in secrets {
                #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret))
            }
        }
        let onArgv = try Self.run(fake, ["--token", Self.token])
        #expect(onArgv.exitCode == 64)
        #expect(!onArgv.stderr.contains(Self.token))
    }

    @Test func secretFilesMustBeOwnerOnly() throws {
        let fake = try Self.jenkins(jobs: [.init("web")])
        defer { fake.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data((Self.token + "\n").utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let open = try Self.run(fake, ["--token-file", file.path], environment: ["JENKINS_USER": "consul-bot"])
        #expect(open.exitCode == 64)
        #expect(open.stderr.contains("0600 or 0400"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        let closed = try Self.run(fake, ["--token-file", file.path], environment: ["JENKINS_USER": "consul-bot"])
        #expect(closed.exitCode == 0, "\(closed.stderr)")
    }

    // Issue 4: a Jenkins outage spools the trigger; the next invocation delivers it exactly once.
    @Test func aJenkinsOutageIsSpooledAndDeliveredExactlyOnce() throws {
        let fake = try Self.jenkins(jobs: [.init("web")])
        defer { fake.stop() }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("jenkins-spool-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let arguments = ["--state-dir", state, "--retries", "1"]
        var environment = ["JENKINS_USER": "consul-bot", "JENKINS_API_TOKEN": Self.token, "CONSUL_INDEX": "100"]
        _ = try Self.run(fake, arguments, payload: Array("[]\n".utf8), environment: environment, stateful: true)
        fake.failNext(10, status: 503, pathPrefix: "/job/")
        environment["CONSUL_INDEX"] = "101"
        let down = try Self.run(fake, arguments, environment: environment, stateful: true)
        #expect(down.exitCode == 75)
        #expect(down.stderr.contains("spooled"))
        #expect(fake.triggerCount == 0)
        fake.clearFaults()
        for index in 102...104 {
            environment["CONSUL_INDEX"] = String(index)
            let again = try Self.run(fake, arguments, environment: environment, stateful: true)
            #expect(again.exitCode == 0, "\(again.stderr)")
        }
        #expect(fake.triggerCount == 1)
    }
}

import ConsulWatch
import Platform
import Synchronization
import Testing

@testable import HandlerKit

/// The command action (redeploy / external) against a closure-backed process runner, and the
/// log sink's formats.
@Suite struct ActionTests {
    static func incident(_ service: String, node: String = "web-02") -> Incident {
        Incident(
            groupBy: .service,
            checks: [
                SelectedCheck(
                    kind: .service, service: service, serviceID: service + "-1", node: node, checkID: "service:\(service)",
                    checkName: "Service '\(service)' check", status: .critical, output: "HTTP 503\n<html>", tags: ["v2"], consulIndex: 48391)
            ])
    }

    static let context = ActionContext(clock: SystemClock(), deadline: SystemClock().now() + 60)

    final class Recorder: Sendable {
        let requests = Mutex<[SpawnRequest]>([])
        func runner(_ termination: Termination, stderr: String = "", timedOut: Bool = false) -> ClosureProcessRunner {
            ClosureProcessRunner { request in
                self.requests.withLock { $0.append(request) }
                return SpawnResult(
                    termination: termination, standardOutput: [], standardError: Array(stderr.utf8), outputBytesDiscarded: 0,
                    timedOut: timedOut, duration: 0.01, processID: 42)
            }
        }
    }

    func action(_ command: [String], runner: ClosureProcessRunner) throws -> CommandAction {
        CommandAction(
            name: "redeploy", command: try command.map { try Template($0) }, runner: runner, baseEnvironment: ["PATH": "/usr/bin", "HOME": "/root"], timeout: 30
        )
    }

    @Test func placeholdersAreSubstitutedInsideEachArgumentWithNoShell() throws {
        let recorder = Recorder()
        let action = try action(["/usr/local/bin/redeploy", "--service={service}", "{node}", "{checkID}"], runner: recorder.runner(.exited(0)))
        let outcome = action.perform(Self.incident("web; rm -rf / $(id)"), context: Self.context)
        #expect(outcome.label == "done")
        let request = try #require(recorder.requests.withLock { $0.first })
        #expect(request.executable == "/usr/local/bin/redeploy")
        #expect(request.arguments == ["--service=web; rm -rf / $(id)", "web-02", "service:web; rm -rf / $(id)"])
    }

    @Test func theIncidentArrivesAsEnvironmentAndAsJSONOnStdin() throws {
        let recorder = Recorder()
        let action = try action(["notify"], runner: recorder.runner(.exited(0)))
        _ = action.perform(Self.incident("web"), context: Self.context)
        let request = try #require(recorder.requests.withLock { $0.first })
        #expect(request.environment["CONSUL_SERVICE"] == "web")
        #expect(request.environment["CONSUL_SERVICE_ID"] == "web-1")
        #expect(request.environment["CONSUL_NODE"] == "web-02")
        #expect(request.environment["CONSUL_CHECK_ID"] == "service:web")
        #expect(request.environment["CONSUL_STATUS"] == "critical")
        #expect(request.environment["CONSUL_INDEX"] == "48391")
        #expect(request.environment["CONSUL_INCIDENT"] == "service:web")
        #expect(request.environment["CONSUL_CAUSE"] == "check")
        #expect(request.environment["PATH"] == "/usr/bin")
        let json = String(decoding: request.standardInput, as: UTF8.self)
        #expect(
            json
                == #"{"id":"service:web","groupBy":"service","target":"web","service":"web","serviceID":"web-1","node":"web-02","status":"critical","cause":"check","consulIndex":48391,"checks":[{"kind":"service","service":"web","serviceID":"web-1","node":"web-02","checkID":"service:web","checkName":"Service 'web' check","status":"critical","output":"HTTP 503\n<html>","notes":"","tags":["v2"],"consulIndex":48391}]}"#
                + "\n")
        // The spool reads incidents back from this JSON.
        #expect(Incident(json: Array(json.utf8)) == Self.incident("web"))
    }

    @Test func exitStatusesBecomeOutcomes() throws {
        let recorder = Recorder()
        let failed = try action(["x"], runner: recorder.runner(.exited(3), stderr: "deploy: image not found\n")).perform(
            Self.incident("web"), context: Self.context)
        #expect(failed == .failed(reason: "x: exit 3: deploy: image not found", retryable: false))
        let tempfail = try action(["x"], runner: recorder.runner(.exited(75))).perform(Self.incident("web"), context: Self.context)
        #expect(tempfail == .failed(reason: "x: exit 75", retryable: true))
        let killed = try action(["x"], runner: recorder.runner(.signaled(9), timedOut: true)).perform(Self.incident("web"), context: Self.context)
        #expect(killed == .failed(reason: "x: timed out, killed by signal 9", retryable: true))
    }

    @Test func aProgramThatCannotStartIsAFailureNotACrash() throws {
        let runner = ClosureProcessRunner { request throws(SystemError) in throw SystemError("run", path: request.executable, errno: 2) }
        let outcome = try action(["/nonexistent/redeploy"], runner: runner).perform(Self.incident("web"), context: Self.context)
        #expect(outcome.isFailure)
        #expect(outcome.detail.contains("/nonexistent/redeploy"))
    }

    @Test func dryRunRunsNothingAndQuotesForPeople() throws {
        let recorder = Recorder()
        var context = Self.context
        context.dryRun = true
        let outcome = try action(["redeploy", "{service}"], runner: recorder.runner(.exited(0))).perform(Self.incident("web api"), context: context)
        #expect(outcome == .skipped(reason: "would run redeploy 'web api'"))
        #expect(recorder.requests.withLock { $0.isEmpty })
    }

    @Test func logFormatsKeepARecordOnOneLine() {
        var record = LogRecord.check(Self.incident("web").checks[0], time: 0)
        record.add("incident", "service:web")
        let jsonl = String(decoding: LogFormat.jsonl.render(record), as: UTF8.self)
        #expect(
            jsonl
                == #"{"time":"1970-01-01T00:00:00.000Z","event":"check","consulIndex":48391,"kind":"service","service":"web","serviceID":"web-1","node":"web-02","checkID":"service:web","checkName":"Service 'web' check","status":"critical","output":"HTTP 503\n<html>","notes":"","tags":["v2"],"incident":"service:web"}"#
                + "\n")
        let logfmt = String(decoding: LogFormat.logfmt.render(record), as: UTF8.self)
        #expect(
            logfmt
                == #"time=1970-01-01T00:00:00.000Z event=check consulIndex=48391 kind=service service=web serviceID=web-1 node=web-02 checkID=service:web checkName="Service 'web' check" status=critical output="HTTP 503\n<html>" notes="" tags=v2 incident=service:web"#
                + "\n")
        for format in LogFormat.allCases {
            #expect(LogFormat.allCases.count == 3)
            #expect(format.render(record).filter { $0 == 0x0A }.count == 1)
        }
    }

    @Test func timestampsAreUTCISO8601() {
        #expect(Timestamp.iso8601(0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(1_795_720_846.123) == "2026-11-26T19:20:46.123Z")
        #expect(Timestamp.iso8601(951_782_400) == "2000-02-29T00:00:00.000Z")
    }

    @Test func incidentsGroupByServiceInstanceOrNodeWithStableIDs() {
        let checks = [
            SelectedCheck(kind: .service, service: "web", serviceID: "web", node: "web-01", checkID: "service:web", checkName: "", status: .critical),
            SelectedCheck(kind: .service, service: "web", serviceID: "web", node: "web-02", checkID: "service:web", checkName: "", status: .critical),
            SelectedCheck(kind: .node, service: nil, serviceID: nil, node: "web-02", checkID: "serfHealth", checkName: "", status: .critical),
        ]
        #expect(Incident.group(checks, by: .service).map(\.id) == ["service:web", "node:web-02"])
        #expect(Incident.group(checks, by: .instance).map(\.id) == ["instance:web-01/web", "instance:web-02/web", "node:web-02"])
        #expect(Incident.group(checks, by: .node).map(\.id) == ["node:web-01", "node:web-02"])
        #expect(Incident.group(checks, by: .service)[0].checks.count == 2)
    }

    @Test func templatesRejectUnknownPlaceholdersAndUnbalancedBraces() throws {
        #expect(throws: TemplateError.unknownPlaceholder("servce", in: "{servce}")) { try Template("{servce}") }
        #expect(throws: TemplateError.self) { try Template("{service") }
        #expect(throws: TemplateError.self) { try Template("a}b") }
        #expect(try Template("{{literal}} {service}").render(["service": "web"]) == "{literal} web")
    }
}

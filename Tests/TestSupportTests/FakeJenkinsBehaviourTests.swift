import Foundation
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Behaviour beyond the §9.5 list: fault injection, connection counting, and finer points of §1–§4 and §9.
@Suite("FakeJenkins fault injection and connections")
struct FakeJenkinsFaultTests {
    @Test func forcedStatusWithRetryAfterThenNormal() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        fake.failNext(2, status: 503, headers: ["Retry-After": "1"], body: "busy", pathPrefix: "/job/", method: "POST")
        let client = TestClient(user: "bot", secret: "tok")
        // A GET does not match the rule (method filter) and is not consumed.
        #expect(try await client.get(fake.url("job/plain/api/json")).status == 200)
        for _ in 0..<2 {
            let reply = try await client.post(fake.url("job/plain/build"))
            #expect(reply.status == 503)
            #expect(reply.header("Retry-After") == "1")
            #expect(reply.text == "busy")
        }
        #expect(fake.queueItems.isEmpty, "forced answers have no side effects")
        #expect(try await client.post(fake.url("job/plain/build")).status == 201)
        #expect(fake.requests.map(\.status) == [200, 503, 503, 201])
    }

    @Test func droppedConnectionThenRecovery() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        fake.dropNext(1, pathPrefix: "/job/plain/build")
        let client = TestClient(user: "bot", secret: "tok")
        await #expect(throws: (any Error).self) { try await client.post(fake.url("job/plain/build")) }
        #expect(fake.queueItems.isEmpty)
        #expect(try await client.post(fake.url("job/plain/build")).status == 201)
        #expect(fake.requests.first?.status == nil)
    }

    @Test func omittedLocation() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        fake.omitLocationNext()
        let client = TestClient(user: "bot", secret: "tok")
        let reply = try await client.post(fake.url("job/plain/build"))
        #expect(reply.status == 201)
        #expect(reply.header("Location") == nil)
        #expect(fake.queueItems.count == 1, "the trigger itself was processed")
        #expect(try await client.post(fake.url("job/plain/build")).header("Location") != nil)
    }

    @Test func delayedResponse() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        fake.delayNext(ms: 300, pathPrefix: "/queue/")
        let client = TestClient(user: "bot", secret: "tok")
        _ = try await client.post(fake.url("job/plain/build"))
        let start = Date()
        #expect(try await client.get(fake.url("queue/item/1/api/json")).status == 200)
        #expect(Date().timeIntervalSince(start) >= 0.29)
        // The rule fired once and is gone.
        #expect(try await client.get(fake.url("queue/item/1/api/json")).status == 200)
        #expect(fake.requests.count == 3)
    }

    @Test func latencyDoesNotSerializeConcurrentClients() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("plain")]
            $0.latencyMs = 400
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    // Separate sessions = separate connections.
                    try await TestClient(user: "bot", secret: "tok").get(fake.url("job/plain/api/json")).status
                }
            }
            for try await status in group { #expect(status == 200) }
        }
        // Concurrency is shown by the connection counter, not by wall time (tests are not timed).
        #expect(fake.maxConcurrentConnections >= 2)
        #expect(fake.maxConcurrentConnections <= 6)
        #expect(fake.acceptedConnections == 6)
    }

    @Test func requestLogRecordsWhatArrived() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("a b", parameters: [.init("K")])] }
        let client = TestClient(user: "bot", secret: "tok")
        _ = try await client.post(fake.url("job/a%20b/buildWithParameters?K=x%2By&delay=0sec"), form: "L=1")
        let entry = try #require(fake.requests.first)
        #expect(entry.method == "POST")
        #expect(entry.path == "/job/a%20b/buildWithParameters")
        #expect(entry.target == "/job/a%20b/buildWithParameters?K=x%2By&delay=0sec")
        #expect(entry.pathSegments == ["job", "a b", "buildWithParameters"])
        #expect(entry.query("K") == "x+y")
        #expect(entry.bodyText == "L=1")
        #expect(entry.headers["authorization"]?.hasPrefix("Basic ") == true)
        #expect(entry.principal == "bot")
        #expect(entry.viaApiToken)
        #expect(entry.status == 201)
        #expect(!entry.hadValidSession)
        fake.resetRequestLog()
        #expect(fake.requests.isEmpty)
    }
}

@Suite("FakeJenkins fidelity details")
struct FakeJenkinsFidelityTests {
    @Test func contextPathIsInEveryURL() async throws {
        let fake = try makeFake {
            $0.contextPath = "/jenkins"
            $0.jobs = [FakeJenkins.Job("plain")]
        }
        #expect(fake.baseURL.absoluteString == "http://127.0.0.1:\(fake.port)/jenkins/")
        let client = TestClient(user: "bot", secret: "pw")
        let crumb = try await client.get(fake.url("crumbIssuer/api/json"))
        #expect(crumb.header("Set-Cookie")?.contains("Path=/jenkins") == true)
        let value = try #require(try crumb.json()["crumb"] as? String)
        let reply = try await client.post(fake.url("job/plain/build"), headers: ["Jenkins-Crumb": value])
        #expect(reply.status == 201)
        #expect(reply.header("Location") == "http://127.0.0.1:\(fake.port)/jenkins/queue/item/1/")
        let job = try await client.get(fake.url("job/plain/api/json")).json()
        #expect(job["url"] as? String == "http://127.0.0.1:\(fake.port)/jenkins/job/plain/")
        let outside = try await client.get(URL(string: "http://127.0.0.1:\(fake.port)/job/plain/api/json")!)
        #expect(outside.status == 404)
    }

    @Test func locationFollowsTheRequestHostWhileJSONUsesTheRootURL() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("plain", quietPeriod: 0)]
            $0.rootURL = "https://jenkins.example.com/"
        }
        let client = TestClient(user: "bot", secret: "tok")
        let reply = try await client.post(URL(string: "http://localhost:\(fake.port)/job/plain/build")!)
        #expect(reply.header("Location") == "http://localhost:\(fake.port)/queue/item/1/")
        let item = try await client.get(fake.url("queue/item/1/api/json")).json()
        #expect(item[path: "executable.url"] as? String == "https://jenkins.example.com/job/plain/1/")
    }

    @Test func buildTokenTriggers() async throws {
        let fake = try makeFake {
            $0.anonymous = .init(canRead: true, canBuild: false)
            $0.jobs = [FakeJenkins.Job("t", buildToken: "s3cret", quietPeriod: 0)]
        }
        let anonymous = TestClient()
        let get = try await anonymous.get(fake.url("job/t/build?token=s3cret&cause=flapping"))
        #expect(get.status == 201)
        #expect(fake.builds(of: "t").first?.causes == ["Started by remote host 127.0.0.1 with note: flapping"])
        let wrong = try await anonymous.get(fake.url("job/t/build?token=nope"))
        #expect(wrong.status == 403)
        #expect(wrong.text.contains("Invalid token provided."))
        // No token: anonymous lacks Job/Build.
        #expect(try await anonymous.get(fake.url("job/t/build")).status == 403)
        // A POST with a valid token still needs a crumb (CrumbFilter has no ?token= exemption).
        let post = try await anonymous.post(fake.url("job/t/build?token=s3cret"))
        #expect(post.status == 403)
        #expect(post.text.contains("No valid crumb"))
        // A plain job: GET /buildWithParameters with a valid token → 400 not parameterized.
        #expect(try await anonymous.get(fake.url("job/t/buildWithParameters?token=s3cret")).status == 400)
    }

    @Test func anonymousBuildWithCrumb() async throws {
        let fake = try makeFake {
            $0.anonymous = .init(canRead: true, canBuild: true)
            $0.jobs = [FakeJenkins.Job("plain")]
        }
        let client = TestClient()
        #expect(try await client.post(fake.url("job/plain/build")).status == 403)
        let crumb = try await client.crumb(fake)
        #expect(try await client.post(fake.url("job/plain/build"), headers: [crumb.field: crumb.value]).status == 201)
        #expect(fake.queueItem(1)?.causes == ["Started by user anonymous"])
        // The crumb is hex(SHA-256("anonymous;" + sessionId + salt)); the cookie value is "<sessionId>.node0".
        let cookie = try #require(fake.requests.last?.headers["Cookie"])
        let value = try #require(
            cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix(fake.cookieName + "=") })
        let sessionId = String(value.dropFirst(fake.cookieName.count + 1).split(separator: ".")[0])
        #expect(crumb.value == fake.expectedCrumb(principal: "anonymous", sessionId: sessionId))
        #expect(crumb.value != fake.expectedCrumb(principal: "bot", sessionId: sessionId))
    }

    @Test func crumbIssuerVariants() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        let client = TestClient(user: "bot", secret: "pw")
        let json = try await client.crumb(fake)
        let xml = try await client.get(fake.url("crumbIssuer/api/xml?xpath=concat(//crumbRequestField,%22:%22,//crumb)"))
        #expect(xml.status == 200)
        #expect(xml.header("Content-Type") == "text/plain;charset=UTF-8")
        #expect(xml.text == "Jenkins-Crumb:\(json.value)")
        #expect(try await client.get(fake.url("crumbIssuer/api/xml?xpath=//crumb")).status == 403)
        #expect(try await client.get(fake.url("crumbIssuer/api/json?jsonp=cb")).status == 403)
        // The crumb is bound to the user too.
        fake.setUser(FakeJenkins.User("other", password: "pw2"))
        let asOther = try await client.send(
            "POST", fake.url("job/plain/build"), headers: ["Jenkins-Crumb": json.value],
            authorization: "Basic " + Data("other:pw2".utf8).base64EncodedString())
        #expect(asOther.status == 403)
        // Sessions can be invalidated (crumb no longer accepted).
        fake.invalidateSessions()
        #expect(try await client.post(fake.url("job/plain/build"), headers: ["Jenkins-Crumb": json.value]).status == 403)
    }

    @Test func csrfDisabled() async throws {
        let fake = try makeFake {
            $0.csrfEnabled = false
            $0.jobs = [FakeJenkins.Job("plain")]
        }
        let client = TestClient(user: "bot", secret: "pw")
        #expect(try await client.get(fake.url("crumbIssuer/api/json")).status == 404)
        #expect(try await client.post(fake.url("job/plain/build")).status == 201)
    }

    @Test func apiTokenWithSessionOfSameUserMayNeedACrumb() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("plain")]
            $0.sessionSkipsReauthentication = true
        }
        let client = TestClient(user: "bot", secret: "tok")
        #expect(try await client.post(fake.url("job/plain/build")).status == 201)
        _ = try await client.crumb(fake)  // the session now belongs to bot
        let reply = try await client.post(fake.url("job/plain/build"))
        #expect(reply.status == 403)
        #expect(reply.text.contains("No valid crumb"))
    }

    @Test func permissionsOfAuthenticatedUsers() async throws {
        let fake = try makeFake {
            $0.users = [
                FakeJenkins.User("blind", apiTokens: ["t1"], canRead: false, canBuild: true),
                FakeJenkins.User("viewer", apiTokens: ["t2"], canRead: true, canBuild: false),
            ]
            $0.jobs = [FakeJenkins.Job("plain")]
        }
        let blind = TestClient(user: "blind", secret: "t1")
        #expect(try await blind.post(fake.url("job/plain/build")).status == 404)
        #expect(try await blind.get(fake.url("job/plain/api/json")).status == 404)
        #expect(try await blind.get(fake.url("queue/item/1/api/json")).status == 404)
        let viewer = TestClient(user: "viewer", secret: "t2")
        let denied = try await viewer.post(fake.url("job/plain/build"))
        #expect(denied.status == 403)
        #expect(denied.header("X-You-Are-Authenticated-As") == "viewer")
        #expect(denied.header("X-Required-Permission") == "hudson.model.Item.Build")
        #expect(try await viewer.get(fake.url("job/plain/api/json")).status == 200)
    }

    @Test func buildWithParametersFormBodyDefaultsAndErrors() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("p", parameters: [.init("A", default: "a0"), .init("B", default: "b0")])]
        }
        let client = TestClient(user: "bot", secret: "tok", followRedirects: false)
        let viaForm = try await client.post(fake.url("job/p/buildWithParameters"), form: "A=1&unknown=z&json=%7B%7D")
        #expect(viaForm.status == 201)
        #expect(fake.queueItem(1)?.parameters == [FakeJenkins.QueryItem(name: "A", value: "1"), FakeJenkins.QueryItem(name: "B", value: "b0")])
        let item = try await client.get(fake.url("queue/item/1/api/json")).json()
        #expect(item["params"] as? String == "\nA=1\nB=b0")
        // Query string and form body are the same trigger.
        let viaQuery = try await client.post(fake.url("job/p/buildWithParameters?A=1"))
        #expect(viaQuery.status == 303)
        // Repeated key (even split between query and body) → 500.
        #expect(try await client.post(fake.url("job/p/buildWithParameters?A=1&A=2")).status == 500)
        #expect(try await client.post(fake.url("job/p/buildWithParameters?A=1"), form: "A=2").status == 500)
        // Invalid delay → 500.
        let badDelay = try await client.post(fake.url("job/p/buildWithParameters?delay=soon"))
        #expect(badDelay.status == 500)
        #expect(badDelay.text.contains("Invalid time duration value: soon"))
    }

    @Test func delayIsMillisecondsUnlessSec() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("p", parameters: [.init("K")])] }
        let client = TestClient(user: "bot", secret: "tok")
        let cases: [(String, Int64)] = [("1500", 1000), ("10", 0), ("10sec", 10_000), ("3%20secs", 3000), ("0sec", 0)]
        for (n, (delay, expected)) in cases.enumerated() {
            let reply = try await client.post(fake.url("job/p/buildWithParameters?K=\(n)&delay=\(delay)"))
            #expect(reply.status == 201)
            let id = try #require(reply.queueId)
            let item = try #require(fake.queueItem(id))
            if expected == 0 {
                #expect(item.state == .left || item.state == .buildable || item.state == .blocked, "\(delay)")
            } else {
                #expect(item.dueAt == item.inQueueSince + expected, "\(delay)")
            }
        }
        // No delay → the job's quiet period.
        let reply = try await client.post(fake.url("job/p/buildWithParameters?K=q"))
        let id = try #require(reply.queueId)
        let item = try #require(fake.queueItem(id))
        #expect(item.dueAt == item.inQueueSince + 5000)
    }

    @Test func buildWithJSONOnParameterizedJob() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("p", parameters: [.init("A", default: "a0"), .init("B")])] }
        let client = TestClient(user: "bot", secret: "tok", followRedirects: false)
        let json = #"{"parameter":[{"name":"A","value":"1"}]}"#
        let form = "json=" + json.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let created = try await client.post(fake.url("job/p/build"), form: form)
        #expect(created.status == 201)
        #expect(fake.queueItem(1)?.parameters == [FakeJenkins.QueryItem(name: "A", value: "1")], "no defaults on /build json")
        let merged = try await client.post(fake.url("job/p/build"), form: form)
        #expect(merged.status == 302)
        #expect(merged.header("Location") == "http://127.0.0.1:\(fake.port)/job/p/")
        let unknown = "json=" + #"{"parameter":{"name":"Z","value":"1"}}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(try await client.post(fake.url("job/p/build"), form: unknown).status == 500)
    }

    @Test func executorsAndBuildableItems() async throws {
        let fake = try makeFake {
            $0.jobs = [
                FakeJenkins.Job("one", quietPeriod: 0, script: [.init(.success, durationMs: 10_000)]),
                FakeJenkins.Job("two", quietPeriod: 0, script: [.init(.unstable, durationMs: 1_000)]),
            ]
        }
        let client = TestClient(user: "bot", secret: "tok")
        _ = try await client.post(fake.url("job/one/build"))
        _ = try await client.post(fake.url("job/two/build"))
        let waiting = try await client.get(fake.url("queue/item/2/api/json")).json()
        #expect(waiting["_class"] as? String == "hudson.model.Queue$BuildableItem")
        #expect(waiting["why"] as? String == "Waiting for next available executor")
        #expect(waiting["pending"] as? Bool == false)
        #expect(waiting["buildable"] as? Bool == true)
        #expect(waiting["buildableStartMilliseconds"] as? Int == Int(fake.now))
        let job = try await client.get(fake.url("job/one/api/json")).json()
        #expect(job["color"] as? String == "notbuilt_anime")
        // Build one finishes at +10 s, two starts then and finishes at +11 s.
        fake.advance(seconds: 11)
        let two = try #require(fake.builds(of: "two").first)
        #expect(two.startedAt == fake.now - 1000)
        #expect(two.result == .unstable)
        let jobTwo = try await client.get(fake.url("job/two/api/json")).json()
        #expect(jobTwo["color"] as? String == "yellow")
        #expect(jobTwo["nextBuildNumber"] as? Int == 2)
        #expect(try await client.get(fake.url("job/two/lastBuild/api/json")).json()["number"] as? Int == 1)
    }

    @Test func jobJSONDescribesParameters() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("ops/p", parameters: [.init("CHECK", default: "all")], disabled: true)]
        }
        let client = TestClient(user: "bot", secret: "tok")
        let json = try await client.get(fake.url("job/ops/job/p/api/json")).json()
        #expect(json["buildable"] as? Bool == false)
        #expect(json["color"] as? String == "disabled")
        let property = try #require((json["property"] as? [[String: Any]])?.first)
        #expect(property["_class"] as? String == "hudson.model.ParametersDefinitionProperty")
        let definition = try #require((property["parameterDefinitions"] as? [[String: Any]])?.first)
        #expect(definition["name"] as? String == "CHECK")
        #expect(definition[path: "defaultParameterValue.value"] as? String == "all")
        let folder = try await client.get(fake.url("job/ops/api/json")).json()
        #expect(folder["_class"] as? String == "com.cloudbees.hudson.plugins.folder.Folder")
        #expect(try await client.get(fake.url("job/ops/build")).status == 404)
    }

    @Test func startingWindowShowsLeftItemWithoutExecutableOnce() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("plain", quietPeriod: 0)]
            $0.startingWindow = true
        }
        let client = TestClient(user: "bot", secret: "tok")
        _ = try await client.post(fake.url("job/plain/build"))
        let first = try await client.get(fake.url("queue/item/1/api/json")).json()
        #expect(first["_class"] as? String == "hudson.model.Queue$LeftItem")
        #expect(first["cancelled"] as? Bool == false)
        #expect(first["executable"] is NSNull)
        let second = try await client.get(fake.url("queue/item/1/api/json")).json()
        #expect(second[path: "executable.number"] as? Int == 1)
    }

    @Test func legacyQueueItemIndex() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("p", parameters: [.init("K")])]
            $0.legacyQueueItemIndex404 = true
        }
        let client = TestClient(user: "bot", secret: "tok")
        _ = try await client.post(fake.url("job/p/buildWithParameters?K=1"))
        // Following the 303 ends in 404 on 2.308–2.468.
        #expect(try await client.post(fake.url("job/p/buildWithParameters?K=1")).status == 404)
    }

    @Test func autoAdvancingClock() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("plain", script: [.init(.failure, durationMs: 20_000)])]
            $0.clock = .scaled(5)  // 1 real ms = 5 virtual ms
        }
        let client = TestClient(user: "bot", secret: "tok")
        let id = try #require(try await client.post(fake.url("job/plain/build")).queueId)
        // Quiet period 5 s = 1 real s, build 20 s = 4 real s; the left item lives 300 s = 60 real s
        // (a loaded machine once took more than 15 real s between the POST and the first GET).
        // Poll as a client would (bounded), so a loaded machine only makes it slower.
        var number: Int?
        for _ in 0..<400 where number == nil {
            let answer = try await client.get(fake.url("queue/item/\(id)/api/json"))
            try #require(answer.status == 200, "the queue item vanished before it was seen to start")
            number = try answer.json()[path: "executable.number"] as? Int
            if number == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(number == 1)
        for _ in 0..<800 where fake.builds(of: "plain").first?.result == nil {
            try await Task.sleep(for: .milliseconds(50))
        }
        let build = try await client.get(fake.url("job/plain/1/api/json")).json()
        #expect(build["result"] as? String == "FAILURE")
        #expect(build["duration"] as? Int == 20_000)
    }

    @Test func autoCreatedJobs() async throws {
        let fake = try makeFake { $0.autoCreateJobs = true }
        let client = TestClient(user: "bot", secret: "tok")
        #expect(try await client.post(fake.url("job/svc-1/build")).status == 201)
        #expect(try await client.post(fake.url("job/team/job/svc-2/buildWithParameters?CHECK=x")).status == 201)
        #expect(fake.job("team/svc-2")?.parameters == [FakeJenkins.Parameter("CHECK")])
        #expect(try await client.get(fake.url("job/never/api/json")).status == 404)
        #expect(fake.jobNames == ["svc-1", "team/svc-2"])
        #expect(fake.triggerCount == 2)
    }

    @Test func timeSpanFormatting() {
        #expect(Renderer.timeSpan(5000) == "5 sec")
        #expect(Renderer.timeSpan(4900) == "4.9 sec")
        #expect(Renderer.timeSpan(12_345) == "12 sec")
        #expect(Renderer.timeSpan(65_000) == "1 min 5 sec")
        #expect(Renderer.timeSpan(250) == "0.25 sec")
        #expect(Renderer.timeSpan(40) == "40 ms")
    }

    @Test func delayParsing() {
        func seconds(_ raw: String?) -> Int? {
            if case .seconds(let s) = Model.parseDelay(raw) { return s }
            return nil
        }
        #expect(seconds("0sec") == 0)
        #expect(seconds("10sec") == 10)
        #expect(seconds(" 7 secs ") == 7)
        #expect(seconds("2999") == 2)
        #expect(seconds("-5sec") == -5)
        #expect(seconds("1.5sec") == nil)
        #expect(seconds("") == nil)
        if case .absent = Model.parseDelay(nil) {} else { Issue.record("nil delay should be absent") }
    }
}

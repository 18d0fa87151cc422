import Foundation
import Testing

@testable import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// jenkins.md §9.5: one test per acceptance scenario, over real loopback HTTP with URLSession.
@Suite("FakeJenkins §9.5 acceptance scenarios")
struct FakeJenkinsAcceptanceTests {
    @Test("1. API token, no crumb: 201 → Waiting → Left #1 → building → FAILURE")
    func apiTokenTriggerAndFollow() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("a/b", parameters: [.init("CHECK")], script: [.init(.failure, durationMs: 30_000)])]
        }
        let client = TestClient(user: "bot", secret: "tok")
        let trigger = try await client.post(fake.url("job/a/job/b/buildWithParameters?CHECK=x"))
        #expect(trigger.status == 201)
        #expect(trigger.header("Location") == "http://127.0.0.1:\(fake.port)/queue/item/1/")
        #expect(trigger.body.isEmpty)
        #expect(trigger.header("Content-Length") == "0")

        let waiting = try await client.get(fake.url("queue/item/1/api/json?tree=why,executable[number,url],cancelled")).json()
        #expect(waiting["_class"] as? String == "hudson.model.Queue$WaitingItem")
        #expect(waiting["why"] as? String == "In the quiet period. Expires in 5 sec")
        #expect(waiting["url"] as? String == "queue/item/1/")
        #expect(waiting["params"] as? String == "\nCHECK=x")
        #expect(waiting["stuck"] as? Bool == false)
        #expect(waiting["timestamp"] as? Int == Int(fake.now + 5000))
        #expect(waiting[path: "task.name"] as? String == "b")
        #expect(waiting[path: "task.url"] as? String == "http://127.0.0.1:\(fake.port)/job/a/job/b/")

        fake.advance(ms: 1_100)
        let later = try await client.get(fake.url("queue/item/1/api/json")).json()
        #expect(later["why"] as? String == "In the quiet period. Expires in 3.9 sec")

        fake.advance(seconds: 4)
        let left = try await client.get(fake.url("queue/item/1/api/json")).json()
        #expect(left["_class"] as? String == "hudson.model.Queue$LeftItem")
        #expect(left["cancelled"] as? Bool == false)
        #expect(left.keys.contains("why") && left["why"] is NSNull)
        let executable = try #require(left["executable"] as? [String: Any])
        #expect(executable["number"] as? Int == 1)
        #expect(executable["url"] as? String == "http://127.0.0.1:\(fake.port)/job/a/job/b/1/")

        let running = try await client.get(fake.url("job/a/job/b/1/api/json?tree=building,result,number")).json()
        #expect(running["building"] as? Bool == true)
        #expect(running["inProgress"] as? Bool == true)
        #expect(running["result"] is NSNull)
        #expect(running["duration"] as? Int == 0)
        #expect(running["queueId"] as? Int == 1)
        #expect(running["id"] as? String == "1")
        #expect(running["displayName"] as? String == "#1")

        fake.advance(seconds: 30)
        let done = try await client.get(fake.url("job/a/job/b/1/api/json")).json()
        #expect(done["building"] as? Bool == false)
        #expect(done["inProgress"] as? Bool == false)
        #expect(done["result"] as? String == "FAILURE")
        #expect(done["duration"] as? Int == 30_000)
        #expect(fake.builds(of: "a/b").map(\.result) == [.failure])
    }

    @Test("2. Password auth: crumb needed, bound to the session that fetched it")
    func passwordNeedsSessionBoundCrumb() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        let sessionA = TestClient(user: "bot", secret: "pw")
        let sessionB = TestClient(user: "bot", secret: "pw")

        let noCrumb = try await sessionA.post(fake.url("job/plain/build"))
        #expect(noCrumb.status == 403)
        #expect(noCrumb.text.contains("No valid crumb was included in the request"))

        let crumbReply = try await sessionA.get(fake.url("crumbIssuer/api/json"))
        #expect(crumbReply.status == 200)
        #expect(crumbReply.header("Content-Type") == "application/json;charset=UTF-8")
        let cookie = try #require(crumbReply.header("Set-Cookie"))
        #expect(cookie.hasPrefix(fake.cookieName + "="))
        #expect(cookie.contains("HttpOnly"))
        #expect(fake.cookieName.wholeMatch(of: /JSESSIONID\.[0-9a-f]{8}/) != nil)
        let json = try crumbReply.json()
        #expect(json["_class"] as? String == "hudson.security.csrf.DefaultCrumbIssuer")
        #expect(json["crumbRequestField"] as? String == "Jenkins-Crumb")
        let crumb = try #require(json["crumb"] as? String)
        #expect(crumb.wholeMatch(of: /[0-9a-f]{64}/) != nil)

        // Same crumb on a repeated call in the same session; no new session.
        let again = try await sessionA.crumb(fake)
        #expect(again.value == crumb)
        #expect(fake.sessionCount == 1)

        // Crumb used from another session: rejected.
        let otherSession = try await sessionB.post(fake.url("job/plain/build"), headers: ["Jenkins-Crumb": crumb])
        #expect(otherSession.status == 403)
        #expect(otherSession.text.contains("No valid crumb"))

        // The same session (cookie sent back automatically): accepted.
        let ok = try await sessionA.post(fake.url("job/plain/build"), headers: ["Jenkins-Crumb": crumb])
        #expect(ok.status == 201)
        #expect(fake.requests.last?.hadValidSession == true)

        // A crumb is also accepted as a form field.
        fake.advance(seconds: 10)
        let asField = try await sessionA.post(fake.url("job/plain/build"), form: "Jenkins-Crumb=\(crumb)")
        #expect(asField.status == 201)

        // Different sessions get different crumbs.
        let crumbB = try await sessionB.crumb(fake)
        #expect(crumbB.value != crumb)
    }

    @Test("3. Bad credentials → 401 with WWW-Authenticate; anonymous → 403, never 401")
    func unauthorizedAndAnonymous() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("x")] }
        let cases: [(String, String)] = [("bot", "wrong-token"), ("bot", "wrong-password"), ("nobody", "tok")]
        for (user, secret) in cases {
            let reply = try await TestClient(user: user, secret: secret).get(fake.url("job/x/api/json"))
            #expect(reply.status == 401, "\(user):\(secret)")
            #expect(reply.viaAuthChallenge)
            #expect(reply.header("WWW-Authenticate") == "Basic realm=\"Jenkins\"")
        }
        // On the wire: status line, challenge header, HTML body.
        let socket = try RawSocket(port: fake.port)
        socket.send("GET /job/x/api/json HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic \(Data("bot:bad".utf8).base64EncodedString())\r\n\r\n")
        let raw = try #require(socket.readResponse())
        #expect(raw.status == 401)
        #expect(raw.header("WWW-Authenticate") == "Basic realm=\"Jenkins\"")
        #expect(raw.body.contains("<html>"))
        let malformed = try await TestClient().get(fake.url("job/x/api/json"), headers: ["Authorization": "Basic %%%not-base64"])
        #expect(malformed.status == 401)
        let noColon = try await TestClient().get(
            fake.url("job/x/api/json"), headers: ["Authorization": "Basic " + Data("bot".utf8).base64EncodedString()])
        #expect(noColon.status == 401)
        // 401 comes before CSRF and routing.
        let badPost = try await TestClient(user: "bot", secret: "nope").post(fake.url("job/missing/build"))
        #expect(badPost.status == 401)

        let anonymous = TestClient()
        for path in ["job/x/api/json", "job/unknown/api/json", "crumbIssuer/api/json", "queue/item/1/api/json"] {
            let reply = try await anonymous.get(fake.url(path))
            #expect(reply.status == 403, "\(path)")
            #expect(reply.header("WWW-Authenticate") == nil)
            #expect(reply.header("X-Jenkins") == "2.479.3")
            #expect(reply.text.contains("Authentication required"))
        }
    }

    @Test("4. GET /build → 405; unknown job → 404 (token) / 403 (password, no crumb); disabled → 409")
    func methodNotFoundAndDisabled() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("x"), FakeJenkins.Job("off", disabled: true)]
        }
        let token = TestClient(user: "bot", secret: "tok")
        let get = try await token.get(fake.url("job/x/build"))
        #expect(get.status == 405)
        #expect(get.header("Allow") == "POST")
        #expect(get.text.contains("This URL requires POST"))
        let getBWP = try await token.get(fake.url("job/x/buildWithParameters"))
        #expect(getBWP.status == 405)

        let unknownWithToken = try await token.post(fake.url("job/nope/build"))
        #expect(unknownWithToken.status == 404)
        let unknownWithPassword = try await TestClient(user: "bot", secret: "pw").post(fake.url("job/nope/build"))
        #expect(unknownWithPassword.status == 403)
        #expect(unknownWithPassword.text.contains("No valid crumb"))

        let disabled = try await token.post(fake.url("job/off/build"))
        #expect(disabled.status == 409)
        #expect(disabled.text.contains("off is not buildable"))
        let disabledGet = try await token.get(fake.url("job/off/build"))
        #expect(disabledGet.status == 409)
        #expect(fake.queueItems.isEmpty)
    }

    @Test("5. Wrong endpoint for the job kind → 400")
    func wrongEndpoint() async throws {
        let fake = try makeFake {
            $0.jobs = [FakeJenkins.Job("p", parameters: [.init("CHECK", default: "all")]), FakeJenkins.Job("plain")]
        }
        let client = TestClient(user: "bot", secret: "tok")
        let nothing = try await client.post(fake.url("job/p/build"))
        #expect(nothing.status == 400)
        #expect(nothing.text.contains("Nothing is submitted"))
        let someParams = try await client.post(fake.url("job/p/build?delay=0sec"))
        #expect(someParams.status == 400)
        #expect(someParams.text.contains("This page expects a form submission"))
        let notParameterized = try await client.post(fake.url("job/plain/buildWithParameters?CHECK=x"))
        #expect(notParameterized.status == 400)
        #expect(notParameterized.text.contains("plain is not parameterized"))
        // GET /build on a parameterized job shows the form.
        let form = try await client.get(fake.url("job/p/build"))
        #expect(form.status == 200)
        #expect(form.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(fake.queueItems.isEmpty)
    }

    @Test("6. Coalescing: 201 then 303 (same id); new params → new id; /build twice → same 201; after start → Blocked")
    func coalescing() async throws {
        let fake = try makeFake {
            $0.jobs = [
                FakeJenkins.Job("p", parameters: [.init("CHECK", default: "all")], script: [.init(.success, durationMs: 60_000)]),
                FakeJenkins.Job("plain", script: [.init(.success, durationMs: 60_000)]),
            ]
            $0.executors = 4
        }
        let client = TestClient(user: "bot", secret: "tok", followRedirects: false)

        let first = try await client.post(fake.url("job/p/buildWithParameters?CHECK=redis"))
        #expect(first.status == 201)
        fake.advance(seconds: 2)
        let second = try await client.post(fake.url("job/p/buildWithParameters"), form: "CHECK=redis")
        #expect(second.status == 303)
        #expect(second.header("Location") == first.header("Location"))
        #expect(fake.queueItem(1)?.causes == ["Started by user bot", "Started by user bot"])
        let different = try await client.post(fake.url("job/p/buildWithParameters?CHECK=db"))
        #expect(different.status == 201)
        #expect(different.queueId == 2)
        // "CHECK omitted" and "CHECK=all" (the default) are the same trigger.
        let defaults = try await client.post(fake.url("job/p/buildWithParameters"))
        #expect(defaults.status == 201)
        let explicitDefault = try await client.post(fake.url("job/p/buildWithParameters?CHECK=all"))
        #expect(explicitDefault.status == 303)
        #expect(explicitDefault.queueId == defaults.queueId)

        // A plain job: /build twice → 201 both times, same Location. The second trigger never delays the first:
        // the item still leaves 5 s after the first trigger.
        let plain1 = try await client.post(fake.url("job/plain/build"))
        fake.advance(seconds: 3)
        let plain2 = try await client.post(fake.url("job/plain/build"))
        #expect(plain1.status == 201)
        #expect(plain2.status == 201)
        #expect(plain1.header("Location") == plain2.header("Location"))
        let plainItem = try #require(plain1.queueId)
        #expect(fake.queueItem(plainItem)?.state == .waiting)
        fake.advance(seconds: 2)
        #expect(fake.queueItem(plainItem)?.state == .left)
        #expect(fake.builds(of: "plain").first?.building == true)

        // A trigger after the build started queues a new item, Blocked while the first build runs.
        let afterStart = try await client.post(fake.url("job/plain/build"))
        #expect(afterStart.status == 201)
        #expect(afterStart.queueId != plainItem)
        fake.advance(seconds: 5)
        let blocked = try await client.get(fake.url("queue/item/\(afterStart.queueId!)/api/json")).json()
        #expect(blocked["_class"] as? String == "hudson.model.Queue$BlockedItem")
        #expect(blocked["blocked"] as? Bool == true)
        #expect(blocked["why"] as? String == "Build #1 is already in progress")
        // Further triggers merge into the blocked item.
        let merged = try await client.post(fake.url("job/plain/build"))
        #expect(merged.queueId == afterStart.queueId)
        // When build #1 finishes, the blocked item starts build #2.
        fake.advance(seconds: 60)
        #expect(fake.queueItem(afterStart.queueId!)?.buildNumber == 2)
    }

    @Test("7. A left queue item expires after 300 s; the build stays")
    func queueItemExpiry() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        let client = TestClient(user: "bot", secret: "tok")
        let trigger = try await client.post(fake.url("job/plain/build?delay=0sec"))
        let id = try #require(trigger.queueId)
        #expect(
            try await client.get(fake.url("queue/item/\(id)/api/json")).json()["_class"] as? String
                == "hudson.model.Queue$LeftItem")
        fake.advance(seconds: 299)
        #expect(try await client.get(fake.url("queue/item/\(id)/api/json")).status == 200)
        fake.advance(seconds: 2)
        #expect(try await client.get(fake.url("queue/item/\(id)/api/json")).status == 404)
        #expect(try await client.get(fake.url("queue/item/\(id)/")).status == 404)
        let build = try await client.get(fake.url("job/plain/1/api/json"))
        #expect(build.status == 200)
        #expect(try build.json()["result"] as? String == "SUCCESS")
    }

    @Test("8. Spaces, unicode, '+' and %252F names round-trip to the right job")
    func encodedNames() async throws {
        let names = ["ops team/déploy prod", "multi/feature%2Fx", "a+b", "a b", "ünï/cödé/ジョブ"]
        let fake = try makeFake { $0.jobs = names.map { FakeJenkins.Job($0, quietPeriod: 0) } }
        let client = TestClient(user: "bot", secret: "tok")
        for name in names {
            var path = jobPath(name) + "build"
            if name == "a+b" { path = "job/a+b/build" }  // '+' in a path is a literal plus
            let reply = try await client.post(fake.url(path))
            #expect(reply.status == 201, "\(name) via \(path)")
            #expect(fake.builds(of: name).count == 1, "\(name)")
        }
        #expect(fake.requests.first?.pathSegments == ["job", "ops team", "job", "déploy prod", "build"])
        #expect(fake.requests.first?.path == "/job/ops%20team/job/d%C3%A9ploy%20prod/build")
        #expect(fake.requests[1].pathSegments == ["job", "multi", "job", "feature%2Fx", "build"])
        // Wrong folder syntax does not find the job.
        #expect(try await client.post(fake.url("job/ops%20team%2Fd%C3%A9ploy%20prod/build")).status == 404)
        #expect(try await client.post(fake.url("job/ops%20team/d%C3%A9ploy%20prod/build")).status == 404)
        // URLs Jenkins sends back use Util.rawEncode.
        let json = try await client.get(fake.url(jobPath("multi/feature%2Fx") + "api/json")).json()
        #expect(json["url"] as? String == "http://127.0.0.1:\(fake.port)/job/multi/job/feature%252Fx/")
        #expect(json["fullName"] as? String == "multi/feature%2Fx")
    }

    @Test("9. A cancelled queue item: LeftItem cancelled:true executable:null")
    func cancelledItem() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("plain")] }
        let client = TestClient(user: "bot", secret: "tok")
        let id = try #require(try await client.post(fake.url("job/plain/build")).queueId)
        let cancel = try await client.post(fake.url("queue/cancelItem?id=\(id)"))
        #expect(cancel.status == 204)
        let json = try await client.get(fake.url("queue/item/\(id)/api/json")).json()
        #expect(json["_class"] as? String == "hudson.model.Queue$LeftItem")
        #expect(json["cancelled"] as? Bool == true)
        #expect(json["executable"] is NSNull)
        fake.advance(seconds: 10)
        #expect(fake.builds(of: "plain").isEmpty)
        #expect(try await client.post(fake.url("queue/cancelItem?id=\(id)")).status == 500)
        #expect(try await client.post(fake.url("queue/cancelItem?id=999")).status == 404)
        #expect(try await client.get(fake.url("queue/cancelItem?id=\(id)")).status == 405)
        // A password POST needs a crumb like any POST.
        #expect(try await TestClient(user: "bot", secret: "pw").post(fake.url("queue/cancelItem?id=\(id)")).status == 403)
    }

    @Test("10. 303: raw with the redirect-refusing delegate; followed → 200 text, id from response.url")
    func redirectHandling() async throws {
        let fake = try makeFake { $0.jobs = [FakeJenkins.Job("p", parameters: [.init("CHECK")])] }
        let raw = TestClient(user: "bot", secret: "tok", followRedirects: false)
        let following = TestClient(user: "bot", secret: "tok", followRedirects: true)
        let first = try await raw.post(fake.url("job/p/buildWithParameters?CHECK=x"))
        #expect(first.status == 201)

        let seeOther = try await raw.post(fake.url("job/p/buildWithParameters?CHECK=x"))
        #expect(seeOther.status == 303)
        #expect(seeOther.header("Location") == "http://127.0.0.1:\(fake.port)/queue/item/1/")

        let followed = try await following.post(fake.url("job/p/buildWithParameters?CHECK=x"))
        #expect(followed.status == 200)
        #expect(followed.header("Location") == nil)
        #expect(followed.header("Content-Type") == "text/plain;charset=UTF-8")
        #expect(followed.text == "Queue item exists. For details check, for example, /queue/item/1/api/json?tree=cancelled,executable[url]")
        let finalURL = try #require(followed.url)
        #expect(queueIdFrom(finalURL.absoluteString) == 1)
        // The followed request was a GET.
        #expect(fake.requests.last?.method == "GET")
        #expect(fake.requests.last?.path == "/queue/item/1/")
    }
}

import ConsulWatch
import Testing

@testable import HandlerKit

/// Issue 7 (items 4, 9, 11), unit level: Jenkins URL checks, withheld environment, byte-exact
/// incident identities and routes.
@Suite struct InputHardeningTests {
    @Test func jenkinsURLsAreCheckedAtStartUp() throws {
        for good in ["http://jenkins:8080", "https://ci.example.com/jenkins/", "http://[::1]:8080/", "http://127.0.0.1:65535"] {
            #expect(throws: Never.self) { try JenkinsURL.validate(good) }
        }
        #expect(throws: JenkinsURL.Problem.credentials) { try JenkinsURL.validate("http://u:p@host/") }
        #expect(throws: JenkinsURL.Problem.credentials) { try JenkinsURL.validate("https://token@host:8443/x") }
        #expect(throws: JenkinsURL.Problem.malformed("http://host:99999/")) { try JenkinsURL.validate("http://host:99999/") }
        #expect(throws: JenkinsURL.Problem.malformed("http://host:0")) { try JenkinsURL.validate("http://host:0") }
        #expect(throws: JenkinsURL.Problem.malformed("http://")) { try JenkinsURL.validate("http://") }
        #expect(throws: JenkinsURL.Problem.scheme("ftp://REDACTED@host/")) { try JenkinsURL.validate("ftp://u:p@host/") }
        // The @ in a path or query is not userinfo.
        #expect(throws: Never.self) { try JenkinsURL.validate("http://host/job/a@b") }
    }

    @Test func noMessageRepeatsUserinfoOrAQuery() {
        #expect(JenkinsURL.redacted("http://u:secret@host:1/job/x/build?token=abc") == "http://REDACTED@host:1/job/x/build?REDACTED")
        #expect(JenkinsURL.redacted("http://host/\n") == "http://host/\\n")
        #expect(TransportError.invalidURL("http://u:secret@host:99999/build?token=t").description == "invalid URL http://REDACTED@host:99999/build?REDACTED")
    }

    @Test func commandsDoNotInheritTheHandlersSecrets() throws {
        var base = ["PATH": "/usr/bin", "JENKINS_USER": "deployer"]
        for name in CommandAction.withheldEnvironment { base[name] = "secret" }
        let action = CommandAction(name: "redeploy", command: [try Template("true")], baseEnvironment: base, timeout: 5)
        let incident = Incident(
            groupBy: .service,
            checks: [SelectedCheck(kind: .service, service: "web", serviceID: "web", node: "n", checkID: "c", checkName: "", status: .critical)])
        let environment = action.environment(for: incident)
        #expect(environment["PATH"] == "/usr/bin" && environment["JENKINS_USER"] == "deployer")
        for name in ["JENKINS_API_TOKEN", "JENKINS_PASSWORD", "JENKINS_BUILD_TOKEN", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE"] {
            #expect(environment[name] == nil, "\(name)")
        }
        #expect(!environment.values.contains("secret"))
    }

    static func check(_ service: String, node: String = "n1") -> SelectedCheck {
        SelectedCheck(kind: .service, service: service, serviceID: service, node: node, checkID: "service:" + service, checkName: "", status: .critical)
    }

    @Test func incidentIdentitiesAreByteExact() {
        let nfc = "caf\u{E9}"
        let nfd = "cafe\u{301}"
        #expect(Incident.encodeName("web-01.api_v2") == "web-01.api_v2")
        #expect(Incident.encodeName(nfc) == "caf%C3%A9")
        #expect(Incident.encodeName(nfd) == "cafe%CC%81")
        #expect(Incident.encodeName("a/b%c d\n") == "a%2Fb%25c%20d%0A")
        let incidents = Incident.group([Self.check(nfc), Self.check(nfd), Self.check(nfc, node: "n2")], by: .service)
        #expect(incidents.map(\.id) == ["service:caf%C3%A9", "service:cafe%CC%81"])
        #expect(incidents.map(\.checks.count) == [2, 1])
        #expect(incidents[1].service.map { Array($0.utf8) } == Array(nfd.utf8))
        // Instance IDs cannot collide through a '/' in a name.
        let a = Incident.id(
            of: SelectedCheck(kind: .service, service: "s", serviceID: "c", node: "a/b", checkID: "x", checkName: "", status: .critical), groupBy: .instance)
        let b = Incident.id(
            of: SelectedCheck(kind: .service, service: "s", serviceID: "b/c", node: "a", checkID: "x", checkName: "", status: .critical), groupBy: .instance)
        #expect(a != b)
    }

    @Test func routesMatchByteForByte() {
        let match = RouteMatch(services: ["caf\u{E9}"])
        #expect(match.matches(Incident(groupBy: .service, checks: [Self.check("caf\u{E9}")])))
        #expect(!match.matches(Incident(groupBy: .service, checks: [Self.check("cafe\u{301}")])))
    }
}

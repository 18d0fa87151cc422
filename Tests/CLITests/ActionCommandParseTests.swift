import CLI
import ConsulWatch
import Foundation
import HandlerKit
import Testing

@testable import HandlerCommands

/// The action executables' command lines, parsed as pure functions.
@Suite struct ActionCommandParseTests {
    func options<O>(_ invocation: Invocation<O>) throws -> O {
        guard case .run(let options) = invocation else { throw CommandError.usage("not a run") }
        return options
    }

    @Test func jenkinsDefaultsAndEveryOption() throws {
        let defaults = try options(JenkinsCommand.parse([]))
        #expect(defaults.job == "{service}")
        #expect(defaults.actions.concurrency == 4)
        #expect(defaults.actions.groupBy == .service)
        #expect(defaults.actions.policy.settings == PolicySettings())
        let all = try options(
            JenkinsCommand.parse([
                "--url", "http://j:8080", "--job=deploy/{service}", "--param", "CHECK={checkID}", "--param", "EMPTY=", "--wait",
                "--concurrency", "8", "--timeout", "90s", "--group-by", "instance", "--retries", "5", "--request-timeout", "500ms",
                "--status", "critical,warning", "--service", "web", "--tag", "v2", "--dry-run", "--no-state", "--cooldown", "10m",
                "--budget", "5/2h", "--budget-reset", "1h", "--threshold", "3", "--on-start", "act", "--blast-radius", "off", "payload.json",
            ]))
        #expect(all.url == "http://j:8080")
        #expect(all.job == "deploy/{service}")
        #expect(all.parameters.map(\.name) == ["CHECK", "EMPTY"])
        #expect(all.parameters.map(\.value) == ["{checkID}", ""])
        #expect(all.wait && all.actions.dryRun && all.actions.policy.stateless)
        #expect(all.actions.concurrency == 8 && all.actions.timeout == 90 && all.actions.groupBy == .instance)
        #expect(all.retries == 5 && all.requestTimeout == 0.5)
        #expect(all.actions.selection.criteria.statuses == [.critical, .warning])
        #expect(all.actions.policy.settings.cooldown == 600)
        #expect(all.actions.policy.settings.budget == .init(maximum: 5, window: 7200, reset: 3600))
        #expect(all.actions.policy.settings.threshold == .init(deliveries: 3))
        #expect(all.actions.policy.settings.onStart == .act)
        #expect(!all.actions.policy.blastRadius.enabled)
        #expect(all.actions.files == ["payload.json"])
    }

    @Test(arguments: [
        (["--token", "x"], "secrets on the command line"),
        (["--password=x"], "secrets on the command line"),
        (["--job", "{servce}"], "unknown placeholder"),
        (["--job", "a//b"], "empty folder segment"),
        (["--param", "=x"], "NAME=TEMPLATE"),
        (["--concurrency", "0"], "from 1 to 64"),
        (["--budget", "3"], "COUNT/DURATION"),
        (["--threshold", "soon"], "--threshold"),
        (["--timeout", "-5s"], "duration"),
        (["--frobnicate"], "unknown option --frobnicate"),
    ])
    func jenkinsUsageErrors(arguments: [String], message: String) {
        do {
            _ = try JenkinsCommand.parse(arguments)
            Issue.record("expected a usage error for \(arguments)")
        } catch {
            #expect(error.exitCode == .usage)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func redeployTakesItsCommandAfterDoubleDash() throws {
        let parsed = try options(
            RedeployCommand.parse(["--command-timeout", "30s", "--kill-grace", "2s", "a.json", "--", "/bin/redeploy", "--name", "{service}"]))
        #expect(parsed.command == ["/bin/redeploy", "--name", "{service}"])
        #expect(parsed.commandTimeout == 30 && parsed.killGrace == 2)
        #expect(parsed.actions.files == ["a.json"])
        #expect(throws: CommandError.self) { try RedeployCommand.parse(["--no-state"]) }
        #expect(throws: CommandError.self) { try RedeployCommand.parse(["--", "x", "{nope}"]) }
    }

    @Test func logOptions() throws {
        let parsed = try options(LogCommand.parse(["--file", "/var/log/w.log", "--format", "logfmt", "--fsync", "--status", "any"]))
        #expect(parsed.file == "/var/log/w.log" && parsed.format == .logfmt && parsed.fsync)
        #expect(parsed.selection.criteria.statuses.isEmpty)
        #expect(throws: CommandError.self) { try LogCommand.parse(["--format", "xml"]) }
    }

    @Test func healSubcommands() throws {
        #expect(try options(HealCommand.parse(["--config", "c.json"])).subcommand == .run)
        let explain = try options(HealCommand.parse(["explain", "--config", "c.json", "--fresh", "a.json", "b.json"]))
        #expect(explain.subcommand == .explain && explain.fresh && explain.operands == ["a.json", "b.json"])
        #expect(try options(HealCommand.parse(["replay", "--config", "c.json", "dir"])).subcommand == .replay)
        #expect(try options(HealCommand.parse(["status", "--config", "c.json", "--json"])).json)
        #expect(throws: CommandError.self) { try HealCommand.parse(["explain", "--config", "c.json"]) }
        #expect(throws: CommandError.self) { try HealCommand.parse(["status"]) }
        #expect(throws: CommandError.self) { try HealCommand.parse(["flush", "--config", "c.json", "extra"]) }
        guard case .help = try HealCommand.parse(["--help"]) else {
            Issue.record("--help")
            return
        }
    }

    @Test func durations() {
        #expect(Duration.parseSeconds("30") == 30)
        #expect(Duration.parseSeconds("30s") == 30)
        #expect(Duration.parseSeconds("500ms") == 0.5)
        #expect(Duration.parseSeconds("5m") == 300)
        #expect(Duration.parseSeconds("1.5h") == 5400)
        #expect(Duration.parseSeconds("1d") == 86400)
        #expect(Duration.parseSeconds("-1s") == nil)
        #expect(Duration.parseSeconds("soon") == nil)
        #expect(Duration.parseSeconds("") == nil)
    }

    /// Consul writes durations as Go does; a bare number on the command line is refused.
    @Test func goDurations() throws {
        #expect(Duration.parseSeconds("1h30m") == 5400)
        #expect(Duration.parseSeconds("1m0s") == 60)
        #expect(Duration.parseSeconds("2h45m30.5s") == 9930.5)
        #expect(Duration.parseSeconds("1500us") == 0.0015)
        #expect(Duration.parseSeconds("30", bareSeconds: false) == nil)
        #expect(Duration.parseSeconds("0", bareSeconds: false) == 0)
        #expect(Duration.parseSeconds("1h30", bareSeconds: false) == nil)
        #expect(Duration.parseSeconds("h", bareSeconds: false) == nil)
        let parsed = try options(JenkinsCommand.parse(["--url", "http://127.0.0.1:1", "--job", "j", "--request-timeout", "1m30s"]))
        #expect(parsed.requestTimeout == 90)
        #expect(throws: CommandError.self) {
            try JenkinsCommand.parse(["--url", "http://127.0.0.1:1", "--job", "j", "--request-timeout", "30"])
        }
    }
}

/// The consul-heal configuration: validation that names the JSON path, and the shipped files.
@Suite struct HealConfigTests {
    static let handlers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("handlers")

    func config(_ json: String) throws(HealConfig.Error) -> HealConfig { try HealConfig(bytes: Array(json.utf8)) }

    @Test func theShippedConfigurationsAreValid() throws {
        for name in ["consul-heal.json", "demo-config.json"] {
            let config = try HealConfig(bytes: Array(try Data(contentsOf: Self.handlers.appendingPathComponent(name))))
            #expect(!config.routes.isEmpty)
            #expect(config.routes.last?.match == nil, "the last route is the default")
        }
        let books = try HealConfig(bytes: Array(try Data(contentsOf: Self.handlers.appendingPathComponent("consul-heal.json"))))
        let route = try #require(books.routes.first)
        #expect(route.name == "books" && route.match?.services == ["books-service"])
        #expect(route.actions.map(\.kind) == [.log, .jenkins, .redeploy, .external])
        #expect(route.actions.map(\.escalation) == [false, false, false, true])
    }

    @Test func theShippedWatchEntriesParseAndUseArgv() throws {
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.handlers.path) where file.hasPrefix("watches") && file.hasSuffix(".json") {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.handlers.appendingPathComponent(file))) as? [String: Any]
            let watches = try #require(object?["watches"] as? [[String: Any]], "\(file)")
            #expect(!watches.isEmpty)
            for watch in watches {
                #expect(watch["type"] as? String != nil)
                #expect(watch["handler"] == nil, "\(file): use args, not the deprecated handler string")
                if watch["handler_type"] as? String == "http" {
                    let config = watch["http_handler_config"] as? [String: Any]
                    #expect((config?["path"] as? String)?.hasPrefix("http://127.0.0.1:") == true)
                    #expect(watch["args"] == nil, "\(file): an http watch takes no args")
                } else {
                    #expect(watch["args"] is [String], "\(file): use args")
                }
            }
        }
    }

    @Test(arguments: [
        (#"{"routes":[{"actions":[{"type":"jenkinz"}]}]}"#, "$.routes[0].actions[0].type: unknown action type 'jenkinz'"),
        (#"{"routes":[]}"#, "$.routes: expected a non-empty array"),
        (#"{"routes":[{"actions":[{"type":"jenkins"}]}]}"#, "$.routes[0].actions[0].url: no Jenkins URL"),
        (#"{"routes":[{"actions":[{"type":"redeploy","command":[]}]}]}"#, "$.routes[0].actions[0].command"),
        (#"{"routes":[{"actions":[{"type":"log"}]},{"actions":[{"type":"log"}]}]}"#, "$.routes[1]: unreachable"),
        (#"{"routes":[{"actions":[{"type":"log"}],"policy":{"cooldown":"soon"}}]}"#, "$.routes[0].policy.cooldown: expected a duration"),
        (#"{"timeout":"2m","routez":[]}"#, "$.routez: unknown setting"),
        (
            #"{"routes":[{"match":{"service":"web"},"actions":[{"type":"external","command":["x","{servce}"]}]}]}"#,
            "$.routes[0].actions[0].command[1]: unknown placeholder"
        ),
        (#"{"routes":[{"actions":[{"type":"log","format":"xml"}]}]}"#, "$.routes[0].actions[0].format"),
        ("{\"routes\":[{\"actions\":[{\"type\":\"log\"}]}]", "line 1"),
    ])
    func errorsNameTheJSONPath(json: String, message: String) {
        do {
            _ = try config(json)
            Issue.record("expected an error for \(json)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test func defaultsAndOverrides() throws {
        let parsed = try config(
            #"""
            {"defaults":{"cooldown":"1m","budget":{"max":2}},"onStart":"act",
             "routes":[{"name":"db","match":{"tag":["db"]},"policy":{"cooldown":"10m"},"actions":[{"type":"log"}]},
                       {"actions":[{"type":"log"}]}]}
            """#.replacingOccurrences(of: #""onStart":"act","#, with: ""))
        #expect(parsed.routes[0].policy.cooldown == 600)
        #expect(parsed.routes[0].policy.budget.maximum == 2)
        #expect(parsed.routes[1].policy.cooldown == 60)
        #expect(parsed.routes[1].name == "route-2")
    }
}

extension ActionCommandParseTests {
    @Test func nodeFailuresAndTheConsulAgent() throws {
        let defaults = try options(RedeployCommand.parse(["--", "/bin/true"]))
        #expect(defaults.actions.nodeFailures == .services)
        #expect(defaults.actions.consulAddress == nil)
        let set = try options(JenkinsCommand.parse(["--url", "http://j:8080", "--node-failures", "node", "--consul-addr", "unix:///run/consul.sock"]))
        #expect(set.actions.nodeFailures == .node)
        #expect(set.actions.consulAddress == "unix:///run/consul.sock")
        #expect(throws: CommandError.self) { try JenkinsCommand.parse(["--url", "http://j:8080", "--node-failures", "all"]) }
        #expect(throws: CommandError.self) { try JenkinsCommand.parse(["--url", "http://j:8080", "--job", "{kv:services/{service}/color"]) }
        _ = try options(JenkinsCommand.parse(["--url", "http://j:8080", "--param", "COLOR={kv:services/{service}/color|blue}"]))
    }
}

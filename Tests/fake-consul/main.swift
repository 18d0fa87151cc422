// fake-consul: the in-process FakeConsul (consul-api.md "Fake Consul spec") as a process, for benchmarks and
// multi-process tests: one or more simulated agents over one cluster state.
//
// Prints one line `port=<N> node=<NAME>` per agent once all listen. On SIGTERM/SIGINT, or when stdin reaches EOF,
// prints one JSON line {"requests":N,"byEndpoint":{...},"raftIndex":N} and exits 0. Bad arguments: exit 2.

import Foundation
import Synchronization
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

let usageText = """
    usage: fake-consul [options]
      --agent NODE[:PORT]      start an agent for NODE on 127.0.0.1:PORT (default port 0 = ephemeral); repeatable.
                               Default: one agent, node-1
      --node NAME[:ADDRESS]    add a catalog node (passing serfHealth)
      --service NODE:NAME[:PORT]  add a service instance (ID = NAME)
      --fail-node NAME         mark NAME's serfHealth critical ("Agent not live or unreachable")
      --seed FILE              seed from FILE: a recorded HealthCheck or ServiceEntry array, or
                               {"nodes":[{"name":..,"address":..,"down":bool,"services":[{"id","name","tags","port"}],
                                          "checks":[{"id","name","status","output","serviceID","type"}]}],
                                "kv":{"key":"value",...}}
      --kv KEY=VALUE           store a key
      --acl-default allow|deny enable ACLs with this default policy
      --acl-token-env VAR      with ACLs on: a token allowed everything, its secret read from environment variable VAR
      --fault SPEC             ENDPOINTS:ACTION[:every=N][:times=N], ENDPOINTS = all or a comma list such as
                               kv,txn,catalog/node; ACTION = 500 (No cluster leader), 403, 429, drop,
                               cas-conflict, hang=SECONDS, delay=SECONDS
      --index-base N           first Raft index - 1 (default 1000)
      --pretty                 indented JSON everywhere, like a -dev agent
      --no-stdin               do not exit when stdin reaches EOF
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fake-consul: \(message)\n\(usageText)\n".utf8))
    exit(2)
}

struct Options {
    var agents: [(String, Int)] = []
    var nodes: [(String, String)] = []
    var services: [(String, FakeConsul.Service)] = []
    var failNodes: [String] = []
    var seeds: [String] = []
    var kv: [(String, String)] = []
    var aclDefault: Bool?
    var tokenEnvs: [String] = []
    var faults: [FakeConsul.Fault] = []
    var configuration = FakeConsul.Configuration()
    var watchStdin = true
}

func parseFault(_ spec: String) -> FakeConsul.Fault {
    let parts = spec.split(separator: ":").map(String.init)
    guard parts.count >= 2 else { fail("--fault: expected ENDPOINTS:ACTION, got \(spec)") }
    var endpoints: Set<FakeConsul.Endpoint>?
    if parts[0] != "all" {
        endpoints = Set(
            parts[0].split(separator: ",").map { name in
                guard let e = FakeConsul.Endpoint(rawValue: String(name)) else { fail("--fault: unknown endpoint \(name)") }
                return e
            })
    }
    let action: FakeConsul.FaultAction
    let a = parts[1]
    switch a {
    case "500": action = .status(500, body: "No cluster leader")
    case "403": action = .status(403, body: "Permission denied")
    case "429": action = .status(429)
    case "drop": action = .dropConnection()
    case "cas-conflict": action = .casConflict
    default:
        if a.hasPrefix("hang="), let s = Double(a.dropFirst(5)) {
            action = .hang(seconds: s)
        } else if a.hasPrefix("delay="), let s = Double(a.dropFirst(6)) {
            action = .delay(seconds: s)
        } else {
            fail("--fault: unknown action \(a)")
        }
    }
    var fault = FakeConsul.Fault(action, endpoints: endpoints)
    for option in parts.dropFirst(2) {
        if option.hasPrefix("every="), let n = Int(option.dropFirst(6)), n > 0 {
            fault.every = n
        } else if option.hasPrefix("times="), let n = Int(option.dropFirst(6)), n >= 0 {
            fault.times = n
        } else {
            fail("--fault: unknown option \(option)")
        }
    }
    return fault
}

func parseOptions(_ arguments: [String]) -> Options {
    var o = Options()
    var i = 0
    func value(_ flag: String) -> String {
        i += 1
        guard i < arguments.count else { fail("\(flag) needs a value") }
        return arguments[i]
    }
    while i < arguments.count {
        let flag = arguments[i]
        switch flag {
        case "--agent":
            let v = value(flag)
            let parts = v.split(separator: ":", maxSplits: 1).map(String.init)
            var port = 0
            if parts.count == 2 {
                guard let p = Int(parts[1]), (0...65535).contains(p) else { fail("--agent: bad port in \(v)") }
                port = p
            }
            guard !parts[0].isEmpty else { fail("--agent: empty node name") }
            o.agents.append((parts[0], port))
        case "--node":
            let parts = value(flag).split(separator: ":", maxSplits: 1).map(String.init)
            o.nodes.append((parts[0], parts.count > 1 ? parts[1] : "10.0.0.1"))
        case "--service":
            let v = value(flag)
            let parts = v.split(separator: ":").map(String.init)
            guard parts.count >= 2 else { fail("--service: expected NODE:NAME[:PORT], got \(v)") }
            let port = parts.count > 2 ? Int(parts[2]) ?? 0 : 0
            o.services.append((parts[0], FakeConsul.Service(name: parts[1], port: port)))
        case "--fail-node": o.failNodes.append(value(flag))
        case "--seed": o.seeds.append(value(flag))
        case "--kv":
            let v = value(flag)
            guard let eq = v.firstIndex(of: "=") else { fail("--kv: expected KEY=VALUE, got \(v)") }
            o.kv.append((String(v[..<eq]), String(v[v.index(after: eq)...])))
        case "--acl-default":
            switch value(flag) {
            case "allow": o.aclDefault = true
            case "deny": o.aclDefault = false
            case let other: fail("--acl-default: expected allow or deny, got \(other)")
            }
        case "--acl-token-env": o.tokenEnvs.append(value(flag))
        case "--fault": o.faults.append(parseFault(value(flag)))
        case "--index-base":
            guard let n = UInt64(value(flag)) else { fail("--index-base: not a non-negative integer") }
            o.configuration.indexBase = n
        case "--pretty": o.configuration.prettyJSON = true
        case "--no-stdin": o.watchStdin = false
        case "-h", "--help":
            print(usageText)
            exit(0)
        default: fail("unknown argument \(flag)")
        }
        i += 1
    }
    if o.agents.isEmpty { o.agents = [("node-1", 0)] }
    return o
}

/// Applies a seed file: a recorded payload array, or the seed object described in the usage text.
func applySeed(_ path: String, to fake: FakeConsul) {
    guard let data = FileManager.default.contents(atPath: path) else { fail("--seed: cannot read \(path)") }
    guard let json = try? JSONSerialization.jsonObject(with: data) else { fail("--seed: \(path) is not JSON") }
    if json is [Any] {
        do { try fake.seed(fromHealthJSON: data) } catch { fail("--seed: \(path): \(error)") }
        return
    }
    guard let object = json as? [String: Any] else { fail("--seed: \(path): expected an array or an object") }
    for node in object["nodes"] as? [[String: Any]] ?? [] {
        guard let name = node["name"] as? String, !name.isEmpty else { fail("--seed: \(path): a node without a name") }
        fake.addNode(name, address: node["address"] as? String ?? "10.0.0.1")
        for s in node["services"] as? [[String: Any]] ?? [] {
            guard let serviceName = s["name"] as? String else { fail("--seed: \(path): a service without a name") }
            fake.addService(
                node: name,
                FakeConsul.Service(
                    id: s["id"] as? String, name: serviceName, tags: s["tags"] as? [String] ?? [],
                    port: s["port"] as? Int ?? 0))
        }
        for c in node["checks"] as? [[String: Any]] ?? [] {
            guard let id = c["id"] as? String else { fail("--seed: \(path): a check without an id") }
            fake.setCheck(
                node: name, checkID: id, name: c["name"] as? String, status: c["status"] as? String ?? "passing",
                output: c["output"] as? String ?? "", serviceID: c["serviceID"] as? String ?? "",
                type: c["type"] as? String ?? "")
        }
        if node["down"] as? Bool == true { fake.failNode(name) }
    }
    for (key, value) in object["kv"] as? [String: String] ?? [:] { fake.putKey(key, value) }
}

/// Runs `body` once, whichever of SIGTERM, SIGINT or stdin EOF comes first.
func run() -> Never {
    signal(SIGPIPE, SIG_IGN)
    let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
    let environment = ProcessInfo.processInfo.environment
    let fake = FakeConsul(options.configuration)
    for (name, address) in options.nodes { fake.addNode(name, address: address) }
    for seed in options.seeds { applySeed(seed, to: fake) }
    for (node, service) in options.services { fake.addService(node: node, service) }
    for (key, value) in options.kv { fake.putKey(key, value) }
    for node in options.failNodes { fake.failNode(node) }
    if let allow = options.aclDefault {
        fake.enableACL(defaultAllow: allow)
        for variable in options.tokenEnvs {
            guard let secret = environment[variable], !secret.isEmpty else { fail("environment variable \(variable) is not set") }
            fake.addToken(secret, rules: .all)
        }
    } else if !options.tokenEnvs.isEmpty {
        fail("--acl-token-env needs --acl-default")
    }
    for fault in options.faults { fake.inject(fault) }
    var lines: [String] = []
    for (node, port) in options.agents {
        do {
            let agent = try fake.addAgent(node: node, port: port)
            lines.append("port=\(agent.port) node=\(node)")
        } catch {
            FileHandle.standardError.write(Data("fake-consul: agent \(node): \(error)\n".utf8))
            exit(1)
        }
    }
    print(lines.joined(separator: "\n"))
    fflush(nil)

    FakeProcess.serveUntilStopped(watchStdin: options.watchStdin) {
        let counts = fake.requestCounts
        let byEndpoint = counts.keys.sorted { $0.rawValue < $1.rawValue }.map { "\"\($0.rawValue)\":\(counts[$0]!)" }
        let total = counts.values.reduce(0, +)
        print("{\"requests\":\(total),\"byEndpoint\":{\(byEndpoint.joined(separator: ","))},\"raftIndex\":\(fake.raftIndex)}")
        fflush(nil)
        exit(0)
    }
}

run()

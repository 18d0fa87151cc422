// fake-jenkins: the in-process FakeJenkins (jenkins.md §9) as a process, for benchmarks and end-to-end runs.
//
// Prints exactly one line `port=<N>` when it listens. On SIGTERM/SIGINT, or when stdin reaches EOF, prints one
// JSON line {"requests":N,"triggers":N,"maxConcurrentConnections":N,"connections":N} and exits 0.

import Foundation
import Synchronization
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

let usageText = """
    usage: fake-jenkins [options]
      --port N                 listen on 127.0.0.1:N (default 0 = ephemeral)
      --latency-ms N           wait N real ms before answering each request (per connection; default 0)
      --csrf on|off            CSRF protection (default on)
      --anonymous-build        anonymous may read and build every job (a POST still needs a crumb with --csrf on)
      --user NAME              add a user (may read and build); follow with:
        --api-token-env VAR      the user's API token, read from environment variable VAR
        --password-env VAR       the user's password, read from environment variable VAR
      --auto-advance FACTOR    virtual time = real time x FACTOR (1000: 1 real ms = 1 virtual s); default: frozen
      --job NAME[:P=default,P2,...]   add a job (repeatable); with ':' the job takes string parameters
      --any-job                create unknown jobs on their first trigger (/build: plain, /buildWithParameters:
                               parameterized with the keys sent)
      --quiet-period SEC       quiet period of --job/--any-job jobs (default 5)
      --executors N            executors (default 1)
      --context-path PATH      serve under PATH, for example /jenkins
      --no-stdin               do not exit when stdin reaches EOF
    """

struct UserOption {
    var name: String
    var tokenEnv: String?
    var passwordEnv: String?
}

struct Options {
    var port = 0
    var latencyMs = 0
    var csrf = true
    var anonymousBuild = false
    var users: [UserOption] = []
    var autoAdvance: Double?
    var jobs: [String] = []
    var anyJob = false
    var quietPeriod = 5
    var executors = 1
    var contextPath = ""
    var watchStdin = true
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fake-jenkins: \(message)\n\(usageText)\n".utf8))
    exit(2)
}

func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var i = 0
    func value(_ flag: String) -> String {
        i += 1
        guard i < arguments.count else { fail("\(flag) needs a value") }
        return arguments[i]
    }
    func integer(_ flag: String) -> Int {
        let text = value(flag)
        guard let n = Int(text), n >= 0 else { fail("\(flag): not a non-negative integer: \(text)") }
        return n
    }
    while i < arguments.count {
        let flag = arguments[i]
        switch flag {
        case "--port": options.port = integer(flag)
        case "--latency-ms": options.latencyMs = integer(flag)
        case "--csrf":
            switch value(flag) {
            case "on": options.csrf = true
            case "off": options.csrf = false
            case let other: fail("--csrf: expected on or off, got \(other)")
            }
        case "--anonymous-build": options.anonymousBuild = true
        case "--user": options.users.append(UserOption(name: value(flag)))
        case "--api-token-env", "--password-env":
            let variable = value(flag)
            guard !options.users.isEmpty else { fail("\(flag) must follow --user") }
            if flag == "--api-token-env" {
                options.users[options.users.count - 1].tokenEnv = variable
            } else {
                options.users[options.users.count - 1].passwordEnv = variable
            }
        case "--auto-advance":
            let text = value(flag)
            guard let factor = Double(text), factor > 0 else { fail("--auto-advance: not a positive number: \(text)") }
            options.autoAdvance = factor
        case "--job": options.jobs.append(value(flag))
        case "--any-job": options.anyJob = true
        case "--quiet-period": options.quietPeriod = integer(flag)
        case "--executors": options.executors = integer(flag)
        case "--context-path": options.contextPath = value(flag)
        case "--no-stdin": options.watchStdin = false
        case "-h", "--help":
            print(usageText)
            exit(0)
        default: fail("unknown argument \(flag)")
        }
        i += 1
    }
    return options
}

/// `NAME` or `NAME:P=default,P2` (job names cannot contain ':').
func parseJob(_ spec: String, quietPeriod: Int) -> FakeJenkins.Job {
    guard let colon = spec.firstIndex(of: ":") else { return FakeJenkins.Job(spec, quietPeriod: quietPeriod) }
    let parameters = spec[spec.index(after: colon)...].split(separator: ",").map { piece in
        if let eq = piece.firstIndex(of: "=") {
            return FakeJenkins.Parameter(String(piece[..<eq]), default: String(piece[piece.index(after: eq)...]))
        }
        return FakeJenkins.Parameter(String(piece))
    }
    return FakeJenkins.Job(String(spec[..<colon]), parameters: parameters, quietPeriod: quietPeriod)
}

/// Runs `body` once, whichever of SIGTERM, SIGINT or stdin EOF comes first.
func run() -> Never {
    signal(SIGPIPE, SIG_IGN)
    let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
    let environment = ProcessInfo.processInfo.environment

    var config = FakeJenkins.Configuration()
    config.csrfEnabled = options.csrf
    config.latencyMs = options.latencyMs
    config.executors = options.executors
    config.contextPath = options.contextPath
    config.autoCreateJobs = options.anyJob
    config.autoCreateQuietPeriod = options.quietPeriod
    if let factor = options.autoAdvance { config.clock = .scaled(factor) }
    if options.anonymousBuild { config.anonymous = FakeJenkins.Permissions(canRead: true, canBuild: true) }
    for user in options.users {
        var tokens: [String] = []
        var password: String?
        if let variable = user.tokenEnv {
            guard let token = environment[variable], !token.isEmpty else { fail("environment variable \(variable) is not set") }
            tokens.append(token)
        }
        if let variable = user.passwordEnv {
            guard let secret = environment[variable], !secret.isEmpty else { fail("environment variable \(variable) is not set") }
            password = secret
        }
        config.users.append(FakeJenkins.User(user.name, password: password, apiTokens: tokens))
    }
    config.jobs = options.jobs.map { parseJob($0, quietPeriod: options.quietPeriod) }

    let fake: FakeJenkins
    do {
        fake = try FakeJenkins(config, port: options.port)
    } catch {
        FileHandle.standardError.write(Data("fake-jenkins: \(error)\n".utf8))
        exit(1)
    }
    print("port=\(fake.port)")
    fflush(nil)

    FakeProcess.serveUntilStopped(watchStdin: options.watchStdin) {
        let summary = """
            {"requests":\(fake.requestCount),"triggers":\(fake.triggerCount),\
            "maxConcurrentConnections":\(fake.maxConcurrentConnections),"connections":\(fake.acceptedConnections)}
            """
        print(summary)
        fflush(nil)
        exit(0)
    }
}

run()

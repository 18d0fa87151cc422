import CLI
import HandlerCommands
import Platform

// The five commands in one executable, chosen by the name it is run as (argv[0], as busybox
// does): the release ships this binary once with five links, because five static binaries
// each carry their own copy of the Swift runtime and FoundationEssentials (see docs/install.md).
// `consul-handlers <command> [arguments]` works too.

let arguments = CommandLine.arguments
let invokedAs = arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""

func dispatch(_ name: String, _ rest: [String]) -> Never {
    switch name {
    case CriticalCommand.name: CriticalCommand.main(arguments: rest)
    case JenkinsCommand.name: JenkinsCommand.main(arguments: rest)
    case RedeployCommand.name: RedeployCommand.main(arguments: rest)
    case LogCommand.name: LogCommand.main(arguments: rest)
    case HealCommand.name: HealCommand.main(arguments: rest)
    case "--version":
        try? FileIO.writeStandardOutput(Array("consul-handlers \(toolkitVersion)\n".utf8))
        exitProcess(ExitCode.success.rawValue)
    default:
        let names = [CriticalCommand.name, JenkinsCommand.name, RedeployCommand.name, LogCommand.name, HealCommand.name]
        let unknown = name.isEmpty || name == "consul-handlers" ? "" : "unknown command '\(name)'; "
        FileIO.writeStandardError(
            "consul-handlers: \(unknown)run me through a link named \(names.joined(separator: ", ")), or as `consul-handlers <command> [arguments]`\n")
        exitProcess(ExitCode.usage.rawValue)
    }
}

if invokedAs == "consul-handlers" {
    dispatch(arguments.count > 1 ? arguments[1] : "", Array(arguments.dropFirst(2)))
} else {
    dispatch(invokedAs, Array(arguments.dropFirst()))
}

// swift-tools-version: 6.2
// consul-handlers: small executables that a Consul agent runs as watch handlers.
// Toolchain only: no package dependencies.

import PackageDescription

/// Settings shared by every target (see apple/swift-log's Package.swift for the pattern).
let swiftSettings: [SwiftSetting] = [
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0335-existential-any.md
    .enableUpcomingFeature("ExistentialAny")
]

/// The executables, one folder each under Sources/, named after the command.
let commands = ["consul-critical", "consul-jenkins", "consul-redeploy", "consul-log", "consul-heal"]

let package = Package(
    name: "consul-handlers",
    products: commands.map { .executable(name: $0, targets: [$0]) } + [
        // The five commands in one binary, chosen by argv[0]: what `make release` ships.
        .executable(name: "consul-handlers", targets: ["consul-handlers"]),
        .library(name: "ConsulWatch", targets: ["ConsulWatch"]),
        .library(name: "HandlerKit", targets: ["HandlerKit"]),
    ],
    targets: [
        // Models for every watch payload, the fast JSON reader, payload detection and selection. No I/O.
        .target(name: "ConsulWatch"),
        // The one place that calls libc: files, locks, process spawning, signals, stdin.
        .target(name: "Platform"),
        // Incidents, policy and state, actions (Jenkins, redeploy, log, external), dispatch, config, journal.
        .target(name: "HandlerKit", dependencies: ["ConsulWatch", "Platform"]),
        // Argument parsing into values, exit codes, input reading, output formats, the command
        // runner, and consul-critical. Not HandlerKit: consul-critical, the hot path, links only
        // what reading and selecting need.
        .target(name: "CLI", dependencies: ["ConsulWatch", "Platform"]),
        // The action executables' commands: shared action and policy flags, consul-jenkins,
        // consul-redeploy, consul-log, consul-heal.
        .target(name: "HandlerCommands", dependencies: ["CLI", "ConsulWatch", "HandlerKit", "Platform"]),
        .executableTarget(name: "consul-critical", dependencies: ["CLI"]),
    ]
        + commands.dropFirst().map {
            .executableTarget(name: $0, dependencies: ["HandlerCommands"])
        } + [
            .executableTarget(name: "consul-handlers", dependencies: ["CLI", "HandlerCommands", "Platform"]),
            // Loopback fake Jenkins (jenkins.md §9), process spawning helpers, the recorded fixtures.
            // Foundation only, so it can be built and reasoned about without the code under test.
            .target(
                name: "TestSupport",
                path: "Tests/TestSupport",
                resources: [.copy("Fixtures")]
            ),
            // The fake Jenkins as a process, for benchmarks against the seed's bash + jq + curl.
            .executableTarget(name: "fake-jenkins", dependencies: ["TestSupport"], path: "Tests/fake-jenkins"),
            // The fake Consul (consul-api.md "Fake Consul spec") as a process: several agents over one cluster state.
            .executableTarget(name: "fake-consul", dependencies: ["TestSupport"], path: "Tests/fake-consul"),
            .testTarget(name: "TestSupportTests", dependencies: ["TestSupport"]),
            .testTarget(name: "PlatformTests", dependencies: ["Platform", "TestSupport"]),
            .testTarget(name: "ConsulWatchTests", dependencies: ["ConsulWatch", "TestSupport"]),
            .testTarget(name: "HandlerKitTests", dependencies: ["HandlerKit", "CLI", "TestSupport"]),
            .testTarget(name: "CLITests", dependencies: ["CLI", "HandlerCommands", "HandlerKit", "ConsulWatch", "TestSupport"]),
            .testTarget(name: "EndToEndTests", dependencies: ["ConsulWatch", "HandlerKit", "TestSupport"]),
        ],
    swiftLanguageModes: [.v6]
)

for target in package.targets {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}

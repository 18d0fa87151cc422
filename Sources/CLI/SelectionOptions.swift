import ConsulWatch
import Platform

/// The selection flags every executable shares: `--status`, `--service`, `--tag`, `--node`,
/// `--check`, `--include-maintenance` and `--type`.
public struct SelectionOptions: Sendable, Equatable {
    public var criteria = SelectionCriteria()
    /// Overrides payload-type detection (needed for ambiguous payloads such as `[]` or `null`).
    public var type: WatchType?

    public init() {}

    /// The help text for these options, to include in a command's usage.
    public static let help = """
        Selection:
          --status LIST           statuses to select, comma-separated: critical (default),
                                  warning, passing, or any
          --service NAME          only this service (repeatable)
          --tag TAG               only services carrying this tag (repeatable: all must match)
          --node NAME             only this node (repeatable)
          --check ID              only this check ID (repeatable)
          --include-maintenance   do not let maintenance mode silence its node or service
          --type TYPE             read the payload as this watch type instead of detecting it:
                                  checks, service, nodes, services, key, keyprefix, event
        """

    /// Consumes `option` if it is a selection option; returns false if it is not one.
    public mutating func consume(_ option: String, attached: String?, from scanner: inout ArgumentScanner) throws(CommandError) -> Bool {
        switch option {
        case "--status":
            let text = try scanner.value(for: option, attached: attached)
            var statuses: Set<CheckStatus> = []
            for word in text.split(separator: ",", omittingEmptySubsequences: false) {
                let name = String(word).trimmingSpaces().lowercased()
                switch name {
                case "any":
                    statuses = []
                    criteria.statuses = []
                    return true
                case "critical", "warning", "passing": statuses.insert(CheckStatus(name))
                default: throw .usage("--status takes critical, warning, passing or any (comma-separated), not '\(word)'")
                }
            }
            criteria.statuses = statuses
        case "--service": criteria.services.insert(try nonEmpty(scanner.value(for: option, attached: attached), option))
        case "--tag": criteria.tags.insert(try nonEmpty(scanner.value(for: option, attached: attached), option))
        case "--node": criteria.nodes.insert(try nonEmpty(scanner.value(for: option, attached: attached), option))
        case "--check": criteria.checkIDs.insert(try nonEmpty(scanner.value(for: option, attached: attached), option))
        case "--include-maintenance":
            try ArgumentScanner.flag(option, attached: attached)
            criteria.includeMaintenance = true
        case "--type":
            type = try scanner.choice(WatchType.self, for: option, attached: attached)
        default:
            return false
        }
        return true
    }

    private func nonEmpty(_ value: String, _ option: String) throws(CommandError) -> String {
        if value.isEmpty { throw .usage("option \(option) needs a non-empty value") }
        return value
    }
}

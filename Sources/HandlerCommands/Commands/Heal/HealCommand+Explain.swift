import CLI
import ConsulWatch
import HandlerKit
import Platform

extension HealCommand {
    /// What explain says of one check of a payload: a value, rendered once at the end.
    enum Explanation {
        /// The check's status is not among those selected.
        case notSelected(CheckStatus)
        /// A maintenance check: it silences its node or service.
        case maintenanceCheck(HealthCheck.Maintenance)
        /// Selected, but no route takes its incident.
        case noRoute
        /// A node-level check of a failing node.
        case nodeFailure
        /// Silenced by a maintenance check before the policy saw it.
        case silencedBeforePolicy(Selection.Silenced)
        /// What the policy decided for its incident, and the route that would act.
        case decided(Decision, route: Route?)
        /// Selected, yet no decision names its incident (cannot happen with a consistent engine;
        /// shown rather than hidden).
        case undecided

        var name: String {
            switch self {
            case .notSelected: return "not selected"
            case .maintenanceCheck: return "maintenance"
            case .noRoute: return "no-route"
            case .nodeFailure: return "node-failure"
            case .silencedBeforePolicy: return "silenced"
            case .decided(let decision, _): return decision.name
            case .undecided: return "undecided"
            }
        }

        func reason(selecting statuses: Set<CheckStatus>) -> String {
            switch self {
            case .notSelected(let status):
                return "status \(status) (selecting \(statuses.isEmpty ? "any" : statuses.map(\.rawValue).sorted().joined(separator: ",")))"
            case .maintenanceCheck(.node(let node)): return "maintenance check: silences node \(node)"
            case .maintenanceCheck(.service(let node, let id)): return "maintenance check: silences service \(id) on \(node)"
            case .noRoute: return "no route matches it; nothing is done"
            case .nodeFailure: return "the node is failing; its services' checks are stale, nothing is redeployed"
            case .silencedBeforePolicy(let silenced): return Healer.describe(silenced)
            case .decided(let decision, let route):
                switch decision.verdict {
                case .skip(.silenced(let detail)): return detail
                case .act:
                    guard let route else { return decision.reason }
                    return decision.reason + " via route \(route.name): " + route.ladder.map(\.name).joined(separator: " → ")
                default: return decision.reason
                }
            case .undecided: return "selected, but the policy made no decision for it"
            }
        }
    }

    /// `consul-heal explain`: for each check of recorded payloads, the decision a run would make
    /// against the current state (or none, with `--fresh`), and why. Executes nothing.
    static func explain(_ options: Options, config: HealConfig, context: CommandContext) throws(CommandError) -> ExitCode {
        var state = HealState()
        if !options.fresh, !options.stateless, let spec = config.consulState, let directory = options.stateDirectory ?? config.stateDirectory ?? StateStore.defaultDirectory(environment: context.environment) {
            // The cluster view, read-only (the local directory only lends its lock-free path).
            do {
                let store = try StateStore(directory: directory, readOnly: true, warn: { _ in })
                state = try consulState(spec, config: config, store: store, context: context).read().state
            } catch let error as PolicyStateError {
                throw CommandError(.ioError, "cluster state: \(error.description) (explain --fresh ignores the state)")
            } catch {
                throw CommandError(.ioError, "\(error) (explain --fresh ignores the state)")
            }
        } else if !options.fresh, !options.stateless, let directory = options.stateDirectory ?? config.stateDirectory ?? StateStore.defaultDirectory(environment: context.environment),
            FileIO.exists(directory + "/state.json")
        {
            do {
                state = try StateStore(directory: directory, readOnly: true, warn: { _ in }).snapshot()
            } catch {
                throw CommandError(.ioError, "\(error.description) (explain --fresh ignores the state)")
            }
        }
        let watch = watchName(config)
        if state.watches[watch] == nil {
            // Explain as a running handler would decide, not as a first (baseline) delivery.
            state.watches[watch] = .init(lastIndex: nil, deliveries: 1, lastDelivery: 0)
        }
        let (engine, routing) = plannedEngine(config)
        let now = Time.wallSeconds()
        var rows: [[String]] = [["PAYLOAD", "NODE", "CHECK", "STATUS", "DECISION", "REASON"]]
        for path in options.operands {
            let label = String(path.split(separator: "/").last ?? Substring(path))
            let bytes: [UInt8]
            do { bytes = try FileIO.readFile(path) } catch { throw CommandError(.ioError, error.description) }
            let payload: WatchPayload
            do { payload = try WatchPayload.decode(bytes, as: options.type) } catch { throw CommandError(.dataError, "\(path): \(error.description)") }
            let selection: Selection
            do { selection = try Selection.select(from: payload, criteria: config.selection) } catch {
                rows.append([label, "-", "-", "-", "ignored", error.description])
                continue
            }
            let (delivery, nodeFailures) = delivery(selection, config: config, consulIndex: nil, time: now)
            var scratch = state  // each payload is explained against the same starting state
            let decisions = Dictionary(engine.decide(delivery, state: &scratch).decisions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let nodeFailureIDs = Set(nodeFailures.map(\.id))
            let checks: [HealthCheck]
            switch payload {
            case .checks(let list): checks = list
            case .service(let entries): checks = entries.flatMap(\.checks)
            default: checks = []
            }
            var shown: Set<[ExactName]> = []  // byte for byte, as Consul compares names
            for check in checks where shown.insert([ExactName(check.node), ExactName(check.checkID)]).inserted {
                let explanation = explain(check, selection: selection, decisions: decisions, nodeFailures: nodeFailureIDs, routing: routing, groupBy: config.groupBy)
                rows.append([label, check.node, check.checkID, check.status.rawValue, explanation.name, explanation.reason(selecting: config.selection.statuses)])
            }
            if checks.isEmpty { rows.append([label, "-", "-", "-", "nothing", "no checks in this payload (\(payload.type))"]) }
        }
        context.output(Array(table(rows).utf8))
        return .success
    }

    /// What became of one check: selected or not, then routed, then decided.
    static func explain(
        _ check: HealthCheck, selection: Selection, decisions: [String: Decision], nodeFailures: Set<String>, routing: RoutingTable, groupBy: GroupBy
    ) -> Explanation {
        if let maintenance = check.maintenance { return .maintenanceCheck(maintenance) }
        let node = ExactName(check.node), checkID = ExactName(check.checkID)
        guard let selected = selection.checks.first(where: { ExactName($0.node) == node && ExactName($0.checkID) == checkID }) else {
            if let silenced = selection.silenced.first(where: { ExactName($0.check.node) == node && ExactName($0.check.checkID) == checkID }) {
                return .silencedBeforePolicy(silenced)
            }
            return .notSelected(check.status)
        }
        let id = Incident.id(of: selected, groupBy: groupBy)
        if nodeFailures.contains(id) { return .nodeFailure }
        guard let incident = Incident.group([selected], by: groupBy).first, let route = routing.route(for: incident) else { return .noRoute }
        guard let decision = decisions[id] else { return .undecided }
        return .decided(decision, route: route)
    }
}

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
        /// A node-level check of a failing node (why it is not remediated).
        case nodeFailure(String)
        /// The serfHealth check of a down node whose services are acted on (or not known yet).
        case nodeDown(String)
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
            case .nodeDown: return "node-down"
            case .silencedBeforePolicy: return "silenced"
            case .decided(let decision, _): return decision.name
            case .undecided: return "undecided"
            }
        }

        func reason(selecting statuses: Set<CheckStatus>, kv: KVValues? = nil) -> String {
            switch self {
            case .notSelected(let status):
                return "status \(status) (selecting \(statuses.isEmpty ? "any" : statuses.map(\.rawValue).sorted().joined(separator: ",")))"
            case .maintenanceCheck(.node(let node)): return "maintenance check: silences node \(node)"
            case .maintenanceCheck(.service(let node, let id)): return "maintenance check: silences service \(id) on \(node)"
            case .noRoute: return "no route matches it; nothing is done"
            case .nodeFailure(let why): return why
            case .nodeDown(let what): return what
            case .silencedBeforePolicy(let silenced): return Healer.describe(silenced)
            case .decided(let decision, let route):
                switch decision.verdict {
                case .skip(.silenced(let detail)): return detail
                case .act:
                    guard let route else { return decision.reason }
                    let ladder = route.ladder.map { action in
                        guard let planned = action as? PlannedAction, let incident = decision.incident else { return action.name }
                        return planned.describe(incident, kv: kv)
                    }
                    return decision.reason + " via route \(route.name): " + ladder.joined(separator: " → ")
                default: return decision.reason
                }
            case .undecided: return "selected, but the policy made no decision for it"
            }
        }
    }

    /// `consul-heal explain`: for each check of recorded payloads, the decision a run would make
    /// against the current state, with `CONSUL_INDEX` taken from the environment as a run takes
    /// it. Without a state (none yet, `--fresh`, `--no-state`) it says so and decides as a first
    /// delivery would: a baseline, unless `onStart` is `act`. Executes nothing.
    static func explain(_ options: Options, config: HealConfig, context: CommandContext) throws(CommandError) -> ExitCode {
        var state = HealState()
        let directory = options.stateDirectory ?? config.stateDirectory ?? StateStore.defaultDirectory(environment: context.environment)
        if options.stateless {
            context.diagnostics("\(name): explain: --no-state: every target is decided as new, with no history")
        } else if options.fresh {
            context.diagnostics("\(name): explain: --fresh: assuming an empty state, as on a first delivery (which only sets the baseline)")
        } else if let spec = config.consulState, let directory {
            // The cluster view, read-only (the local directory only lends its lock-free path).
            do {
                let store = try StateStore(directory: directory, readOnly: true, warn: { _ in })
                state = try consulState(spec, config: config, store: store, context: context).read().state
            } catch let error as PolicyStateError {
                throw CommandError(.ioError, "cluster state: \(error.description) (explain --fresh ignores the state)")
            } catch {
                throw CommandError(.ioError, "\(error) (explain --fresh ignores the state)")
            }
            context.diagnostics(DisplayText.escape("\(name): explain: reading the cluster state under \(spec.prefix)/ in Consul KV"))
        } else if let directory, FileIO.exists(directory + "/state.json") {
            do {
                state = try StateStore(directory: directory, readOnly: true, warn: { _ in }).snapshot()
            } catch {
                throw CommandError(.ioError, "\(error.description) (explain --fresh ignores the state)")
            }
            context.diagnostics(DisplayText.escape("\(name): explain: reading the state in \(directory)"))
        } else {
            context.diagnostics(
                DisplayText.escape(
                    "\(name): explain: no state in \(directory ?? "(no state directory)"); assuming an empty state, as on a first delivery (which only sets the baseline)"
                ))
        }
        let watch = watchName(config)
        if options.stateless, state.watches[watch] == nil {
            // --no-state runs decide every delivery as if the watch were already running.
            state.watches[watch] = .init(lastIndex: nil, deliveries: 1, lastDelivery: 0)
        }
        let consulIndex = try ConsulIndex.parse(context.environment("CONSUL_INDEX"))
        let (engine, routing) = plannedEngine(config)
        // Read-only questions to the agent: a down node's services, `{kv:…}` values.
        let agent = try consulAgent(config, context: context)
        let kv = KVValues(reader: agent)
        let now = SystemTime.wallSeconds()
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
            let down = DownNodes.resolve(
                selection, mode: config.nodeFailures, groupBy: config.groupBy, remembered: { [state] in state.downNodes[$0]?.services }, lookup: agent)
            let (delivery, nodeFailures) = delivery(selection, config: config, consulIndex: consulIndex, time: now, down: down)
            var scratch = state  // each payload is explained against the same starting state
            let decisions = Dictionary(engine.decide(delivery, state: &scratch).decisions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let nodeFailureIDs = Dictionary(nodeFailures.map { ($0.id, Healer.describeNodeFailure($0)) }, uniquingKeysWith: { first, _ in first })
            let checks: [HealthCheck]
            switch payload {
            case .checks(let list): checks = list
            case .service(let entries): checks = entries.flatMap(\.checks)
            default: checks = []
            }
            var shown: Set<[ExactName]> = []  // byte for byte, as Consul compares names
            for check in checks where shown.insert([ExactName(check.node), ExactName(check.checkID)]).inserted {
                var explanation = explain(
                    check, selection: selection, decisions: decisions, nodeFailures: nodeFailureIDs, routing: routing, groupBy: config.groupBy)
                if check.checkID == HealthCheck.serfHealthCheckID, let node = down.node(check.node) { explanation = .nodeDown(down.describe(node)) }
                rows.append([
                    label, check.node, check.checkID, check.status.rawValue, explanation.name, explanation.reason(selecting: config.selection.statuses, kv: kv),
                ])
            }
            // The service instances a down node takes with it, one row per incident they join.
            for incident in delivery.incidents where incident.cause == .nodeDown {
                guard let decision = decisions[incident.id] else { continue }
                let explanation = Explanation.decided(decision, route: routing.route(for: incident))
                rows.append([
                    label, incident.node, "node-down:" + (incident.service ?? "?"), incident.status.rawValue, explanation.name,
                    explanation.reason(selecting: config.selection.statuses, kv: kv),
                ])
            }
            if checks.isEmpty { rows.append([label, "-", "-", "-", "nothing", "no checks in this payload (\(payload.type))"]) }
        }
        context.output(Array(table(rows).utf8))
        return .success
    }

    /// What became of one check: selected or not, then routed, then decided.
    static func explain(
        _ check: HealthCheck, selection: Selection, decisions: [String: Decision], nodeFailures: [String: String], routing: RoutingTable, groupBy: GroupBy
    ) -> Explanation {
        if let maintenance = check.maintenance { return .maintenanceCheck(maintenance) }
        let node = ExactName(check.node)
        let checkID = ExactName(check.checkID)
        guard let selected = selection.checks.first(where: { ExactName($0.node) == node && ExactName($0.checkID) == checkID }) else {
            if let silenced = selection.silenced.first(where: { ExactName($0.check.node) == node && ExactName($0.check.checkID) == checkID }) {
                return .silencedBeforePolicy(silenced)
            }
            return .notSelected(check.status)
        }
        let id = Incident.id(of: selected, groupBy: groupBy)
        if let why = nodeFailures[id] { return .nodeFailure(why) }
        guard let incident = Incident.group([selected], by: groupBy).first, let route = routing.route(for: incident) else { return .noRoute }
        guard let decision = decisions[id] else { return .undecided }
        return .decided(decision, route: route)
    }
}

import ConsulWatch
import HandlerKit

extension HealCommand {
    /// The one JSON document `status --json` prints (docs/operations.md, "status --json"): the
    /// same facts as the text, times in ISO 8601 as the journal writes them (never epoch
    /// seconds), and the spool and dead-letter counts. `cluster` adds the Consul-backed view's
    /// claims; its absence means the local state directory.
    static func statusDocument(
        state: HealState, stateLocation: String, spool: [StateStore.SpoolEntry], deadLetters: [String], deadLetterDirectory: String, now: Double,
        cluster: (base: String, node: String, view: ConsulStateBackend.View)? = nil
    ) -> [UInt8] {
        func time(_ seconds: Double?) -> String? { seconds.map(Timestamp.iso8601) }
        var writer = JSONWriter()
        writer.object { object in
            object.field("statusVersion", 1)
            object.field("at", time(now))
            object.field("state", stateLocation)
            if let cluster {
                object.field("cluster") { writer in
                    writer.object { object in
                        object.field("base", cluster.base)
                        object.field("node", cluster.node)
                        object.field("unreadableKeys", cluster.view.unreadable)
                    }
                }
            }
            object.field("watches") { writer in
                writer.object { object in
                    for name in state.watches.keys.sorted() {
                        let watch = state.watches[name]!
                        object.field(name) { writer in
                            writer.object { object in
                                object.field("deliveries", watch.deliveries)
                                object.field("lastIndex", watch.lastIndex)
                                object.field("lastDelivery", time(watch.lastDelivery))
                                if let pause = state.pauses[name], pause.isActive(at: now) { object.field("paused", true) }
                            }
                        }
                    }
                }
            }
            object.field("targets") { writer in
                writer.object { object in
                    for id in state.targets.keys.sorted() {
                        let record = state.targets[id]!
                        object.field(id) { writer in writeTarget(record, actor: cluster?.view.actors[id], now: now, to: &writer) }
                    }
                }
            }
            object.field("breaker") { writer in
                guard let breaker = state.breaker else { return writer.null() }
                writer.object { object in
                    object.field("trippedAt", time(breaker.trippedAt))
                    object.field("targets", breaker.targets)
                }
            }
            object.field("silences") { writer in writeSilences(state.silences, now: now, to: &writer) }
            object.field("pauses") { writer in writeSilences(state.pauses, now: now, to: &writer) }
            object.field("spool") { writer in
                writer.object { object in
                    object.field("count", spool.count)
                    object.field("entries") { writer in
                        writer.array(spool) { entry, writer in
                            writer.object { object in
                                object.field("incident", entry.incidentID)
                                object.field("route", entry.route)
                                object.field("watch", entry.watch)
                                object.field("attempts", entry.attempts)
                                object.field("firstFailure", time(entry.firstFailure))
                                object.field("lastError", entry.lastError)
                            }
                        }
                    }
                }
            }
            object.field("deadLetters") { writer in
                writer.object { object in
                    object.field("count", deadLetters.count)
                    object.field("directory", deadLetterDirectory)
                }
            }
        }
        writer.append(raw: "\n")
        return writer.bytes
    }

    private static func writeTarget(_ record: HealState.TargetRecord, actor: ConsulStateBackend.Actor?, now: Double, to writer: inout JSONWriter) {
        func time(_ seconds: Double?) -> String? { seconds.map(Timestamp.iso8601) }
        writer.object { object in
            object.field("target", record.target)
            object.field("watch", record.watch)
            object.field("failing", record.failing)
            object.field("failingSince", time(record.failingSince))
            object.field("passingSince", time(record.passingSince))
            object.field("deliveriesFailing", record.deliveriesFailing)
            object.field("baseline", record.baseline)
            object.field("silenced", record.silenced)
            object.field("acted", record.acted)
            object.field("lastActionAt", time(record.lastActionAt))
            object.field("remediations", record.remediations.map(Timestamp.iso8601))
            object.field("circuit") { writer in
                guard let closing = record.circuitClosing else { return writer.null() }
                writer.object { object in
                    object.field("openSince", time(closing.openSince))
                    object.field("resetSeconds", closing.reset)
                    object.field("closesAt", time(closing.closesAt))
                    object.field("summary", closing.summary)
                }
            }
            object.field("claimedBy", record.claimedBy)
            object.field("claimedUntil", time(record.claimedUntil))
            if let actor {
                object.field("lastClaim") { writer in
                    writer.object { object in
                        object.field("node", actor.node)
                        object.field("at", time(actor.at))
                    }
                }
            }
            object.field("lastDecision", record.lastDecision)
            object.field("lastDecisionAt", time(record.lastDecisionAt))
        }
    }

    private static func writeSilences(_ silences: [String: Silence], now: Double, to writer: inout JSONWriter) {
        writer.object { object in
            for key in silences.keys.sorted() {
                let silence = silences[key]!
                object.field(key) { writer in
                    writer.object { object in
                        object.field("active", silence.isActive(at: now))
                        object.field("since", Timestamp.iso8601(silence.since))
                        object.field("until", silence.until.map(Timestamp.iso8601))
                        object.field("by", silence.by)
                        object.field("reason", silence.reason)
                    }
                }
            }
        }
    }
}

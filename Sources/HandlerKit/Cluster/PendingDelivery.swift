import ConsulWatch
import Platform

/// A delivery kept in the local state directory while the shared policy state (Consul KV) could
/// not be used: nothing was acted on, and it is decided again by `consul-heal flush` (a new
/// delivery supersedes it, since Consul sends the whole current view each time).
/// `<dir>/pending/<sha256(watch)>.json`, mode 0600.
extension StateStore {
    public var pendingDirectory: String { directory + "/pending" }

    func pendingPath(watch: String) -> String { pendingDirectory + "/" + String(SHA256.hex(watch).prefix(32)) + ".json" }

    public func writePending(_ delivery: Delivery) throws(SystemError) {
        var writer = JSONWriter()
        writer.object { object in
            object.field("watch", delivery.watch)
            object.field("consulIndex", delivery.consulIndex)
            object.field("time", delivery.time)
            object.field("incidents") { writer in
                writer.array(delivery.incidents) { incident, writer in incident.writeJSON(to: &writer) }
            }
            object.field("silenced") { writer in
                writer.array(delivery.silenced) { entry, writer in
                    writer.object { object in
                        object.field("reason", entry.reason)
                        object.field("incident") { writer in entry.incident.writeJSON(to: &writer) }
                    }
                }
            }
            object.field("services", delivery.services.sorted())
        }
        try AtomicFile.createDirectory(pendingDirectory, mode: 0o700)
        try AtomicFile.write(writer.bytes, to: pendingPath(watch: watch(delivery)), mode: 0o600)
    }

    private func watch(_ delivery: Delivery) -> String { delivery.watch }

    /// The kept delivery of `watch`, or nil (none, or unreadable: a newer delivery will do).
    public func pendingDelivery(watch: String) -> Delivery? {
        let path = pendingPath(watch: watch)
        guard FileIO.exists(path), let bytes = try? FileIO.readRegularFile(path, limit: FileIO.maximumInputSize).bytes,
            case .object(let root)? = try? JSONReader.read(bytes, { (reader) throws(JSONError) in try JSONValue(reading: &reader) }),
            root["watch"]?.string == watch
        else { return nil }
        func incident(_ value: JSONValue?) -> Incident? {
            guard let value else { return nil }
            var writer = JSONWriter()
            writer.value(value)
            return Incident(json: writer.bytes)
        }
        var incidents: [Incident] = []
        if case .array(let list)? = root["incidents"] { incidents = list.compactMap { incident($0) } }
        var silenced: [(incident: Incident, reason: String)] = []
        if case .array(let list)? = root["silenced"] {
            for entry in list {
                guard case .object(let f) = entry, let found = incident(f["incident"]) else { continue }
                silenced.append((found, f["reason"]?.string ?? "maintenance"))
            }
        }
        var services: Set<String> = []
        if case .array(let list)? = root["services"] { services = Set(list.compactMap(\.string)) }
        return Delivery(
            watch: watch, consulIndex: root["consulIndex"]?.uint64, time: root["time"]?.double ?? 0, incidents: incidents, silenced: silenced,
            services: services)
    }

    public func removePending(watch: String) throws(SystemError) {
        let path = pendingPath(watch: watch)
        if FileIO.exists(path) { try AtomicFile.remove(path) }
    }
}

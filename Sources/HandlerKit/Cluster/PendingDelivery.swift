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

    /// What `pending/` holds for a watch.
    public enum Pending: Sendable {
        case none
        case kept(Delivery)
        /// The file is there but is not a delivery this version wrote (edited, truncated, or a
        /// newer version's): `reason` says why.
        case unreadable(String)
    }

    /// The kept delivery of `watch`.
    public func pending(watch: String) -> Pending {
        let path = pendingPath(watch: watch)
        guard FileIO.exists(path) else { return .none }
        let bytes: [UInt8]
        do { bytes = try FileIO.readRegularFile(path, limit: FileIO.maximumInputSize).bytes } catch { return .unreadable(error.description) }
        let value: JSONValue
        do { value = try JSONReader.read(bytes, { (reader) throws(JSONError) in try JSONValue(reading: &reader) }) } catch {
            return .unreadable(error.description)
        }
        guard case .object(let root) = value, root["watch"]?.string == watch else { return .unreadable("it is not a delivery of watch \(watch)") }
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
        return .kept(
            Delivery(
                watch: watch, consulIndex: root["consulIndex"]?.uint64, time: root["time"]?.double ?? 0, incidents: incidents,
                silenced: silenced, services: services))
    }

    /// Moves an unreadable kept delivery aside (the spool's quarantine), where an operator can
    /// read it and nothing decides it. Returns where it went.
    public func quarantinePending(watch: String) throws(SystemError) -> String {
        try AtomicFile.createDirectory(quarantineDirectory, mode: 0o700)
        let destination = quarantineDirectory + "/pending-" + String(SHA256.hex(watch).prefix(32)) + ".json"
        try AtomicFile.rename(pendingPath(watch: watch), to: destination)
        return destination
    }

    public func removePending(watch: String) throws(SystemError) {
        let path = pendingPath(watch: watch)
        if FileIO.exists(path) { try AtomicFile.remove(path) }
    }
}

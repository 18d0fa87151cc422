import ConsulWatch
import Platform

/// What a target key holds: its record and who last claimed it (docs/cluster.md).
extension ConsulStateBackend {
    static func encode(_ record: HealState.TargetRecord, actor: Actor?) -> [UInt8] {
        var writer = JSONWriter()
        writer.object { object in
            object.field("version", HealState.formatVersion)
            object.field("targets") { writer in
                writer.object { object in object.field(record.id) { writer in HealState.write(record, to: &writer) } }
            }
            if let actor {
                object.field("actor") { writer in
                    writer.object { object in
                        object.field("node", actor.node)
                        object.field("claimant", actor.claimant)
                        object.field("at", actor.at)
                        object.field("until", actor.until)
                    }
                }
            }
        }
        return writer.bytes
    }

    /// A target key's value, `{"version": N, "targets": {"<id>": {…}}, "actor": {…}}`, read in one
    /// pass: its one record and who last claimed it.
    static func decodeTarget(_ bytes: [UInt8]) throws(HealState.DecodeError) -> (HealState.TargetRecord, Actor?) {
        var version: Int?
        var targets: [(String, [(String, JSONValue)])] = []
        var actor: JSONValue?
        do {
            try JSONReader.read(bytes) { (reader) throws(JSONError) in
                try reader.readObject { (key, reader) throws(JSONError) in
                    switch key {
                    case "version": version = try JSONValue(reading: &reader).int
                    case "targets":
                        try reader.readObject { (id, reader) throws(JSONError) in
                            targets.append((id.string, try HealState.readTargetFields(from: &reader)))
                        }
                    case "actor": actor = try JSONValue(reading: &reader)
                    default: try reader.skipValue()
                    }
                }
            }
        } catch { throw .json(error) }
        guard let version else { throw .shape("the record has no version") }
        if version > HealState.formatVersion { throw .newerVersion(version) }
        guard targets.count == 1, let (id, fields) = targets.first else { throw .shape("a target key holds \(targets.count) records") }
        return (try HealState.target(id: id, fields: fields), actor.flatMap(Self.actor))
    }

    static func actor(_ value: JSONValue) -> Actor? {
        guard case .object(let f) = value, let node = f["node"]?.string, let claimant = f["claimant"]?.string, let at = f["at"]?.double else { return nil }
        return Actor(node: node, claimant: claimant, at: at, until: f["until"]?.double)
    }
}

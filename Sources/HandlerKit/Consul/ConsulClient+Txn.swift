import ConsulWatch
import FoundationEssentials

/// One KV operation of a transaction (`PUT /v1/txn`, consul-api.md §1.6). Only the verbs the
/// toolkit needs: a write guarded by an index, and a delete guarded by one.
public struct KVTxnOperation: Sendable, Hashable {
    public enum Verb: String, Sendable, Hashable {
        /// Set `key` to `value` if its ModifyIndex is `index` (`0`: only if it is absent).
        case cas
        /// Delete `key` if its ModifyIndex is `index`.
        case deleteCAS = "delete-cas"
    }

    public var verb: Verb
    public var key: String
    public var value: [UInt8]?
    public var index: UInt64

    public static func cas(_ key: String, value: [UInt8], index: UInt64) -> KVTxnOperation {
        KVTxnOperation(verb: .cas, key: key, value: value, index: index)
    }

    public static func deleteCAS(_ key: String, index: UInt64) -> KVTxnOperation {
        KVTxnOperation(verb: .deleteCAS, key: key, value: nil, index: index)
    }

    /// The bytes this operation adds to a request body (for batching under Consul's size limit).
    var encodedSize: Int { key.utf8.count + ((value?.count ?? 0) + 2) / 3 * 4 + 80 }
}

/// A failed operation of a rolled-back transaction: its position and Consul's words
/// (`failed to set key "a/b", index is stale`).
public struct KVTxnError: Sendable, Hashable {
    public var opIndex: Int
    public var what: String

    public init(opIndex: Int, what: String) {
        self.opIndex = opIndex
        self.what = what
    }

    /// True when the operation lost a race (a stale index, a key that exists or not): reading
    /// again and deciding again is the answer. Anything else is a fault to report.
    public var isConflict: Bool { what.hasSuffix("index is stale") || what.hasSuffix("exists") }
}

/// What Consul did with a transaction: applied every operation, or none.
public enum KVTxnOutcome: Sendable, Hashable {
    /// Applied at one Raft index; the entries written (values left out, as Consul answers).
    case committed([KVPair])
    /// Rolled back: every operation that failed, by position.
    case rolledBack([KVTxnError])
}

extension ConsulClient {
    /// Operations Consul takes in one transaction (`maxTxnOps`: 64 up to 1.x, raised later; the
    /// lower figure works on every version).
    public static let maximumTransactionOperations = 64
    /// The request bytes one transaction may carry (`txn_max_req_len`, default 512 KiB), with room
    /// for the JSON around the operations.
    public static let maximumTransactionBytes = 384 * 1024

    /// Applies `operations` atomically (`PUT /v1/txn`): all of them or none. At most
    /// ``maximumTransactionOperations``. A denied operation (Consul reports it inside the rolled-
    /// back transaction, not as a 403) throws ``ConsulError/aclDenied(needs:token:)``; a lost answer
    /// is ``ConsulError/outcomeUnknown(operation:cause:)``, as for a single CAS. Needs `key:write`
    /// on every key.
    public func transaction(_ operations: [KVTxnOperation], deadline: Double? = nil) throws(ConsulError) -> KVTxnOutcome {
        guard !operations.isEmpty else { return .committed([]) }
        // Keys travel in the body, not the path, but must still be ones Consul accepts.
        for operation in operations { _ = try ConsulPath.key(operation.key) }
        var writer = JSONWriter()
        writer.array(operations) { operation, writer in
            writer.object { object in
                object.field("KV") { writer in
                    writer.object { kv in
                        kv.field("Verb", operation.verb.rawValue)
                        kv.field("Key", operation.key)
                        if let value = operation.value { kv.field("Value", Data(value).base64EncodedString()) }
                        kv.field("Index", operation.index)
                    }
                }
            }
        }
        var call = Call(
            method: "PUT", path: "/v1/txn", needs: "key:write on \(operations[0].key)" + (operations.count > 1 ? " and \(operations.count - 1) more keys" : ""),
            object: "transaction endpoint")
        call.body = writer.bytes
        call.contentType = "application/json"
        call.repeatable = false
        call.answers = [409]
        let response = try perform(call, deadline: deadline)
        if response.status == 404 { throw .notFound(object: "the transaction endpoint /v1/txn (Consul 0.7 or later is needed)") }
        let (results, errors) = try decode(response, call, Self.readTransactionAnswer)
        guard response.status == 409 else { return .committed(results) }
        if errors.isEmpty { throw .badResponse(operation: call.operation, detail: "409 without errors") }
        if let denial = errors.first(where: { $0.what.contains("ermission denied") }) {
            let key = operations.indices.contains(denial.opIndex) ? operations[denial.opIndex].key : "?"
            throw denied(text: denial.what, needs: "key:write on \(key)")
        }
        return .rolledBack(errors)
    }

    /// `{"Results": [{"KV": {...}}, ...] | null, "Errors": [{"OpIndex": n, "What": "..."}] | null}`.
    static func readTransactionAnswer(_ reader: inout JSONReader) throws(JSONError) -> ([KVPair], [KVTxnError]) {
        var results: [KVPair] = []
        var errors: [KVTxnError] = []
        try reader.readObject { (key, reader) throws(JSONError) in
            switch key {
            case "Results":
                _ = try reader.optional { (reader) throws(JSONError) in
                    try reader.readArray { (reader) throws(JSONError) in
                        try reader.readObject { (kind, reader) throws(JSONError) in
                            if kind.equals("KV") { results.append(try KVPair(reading: &reader)) } else { try reader.skipValue() }
                        }
                    }
                }
            case "Errors":
                _ = try reader.optional { (reader) throws(JSONError) in
                    try reader.readArray { (reader) throws(JSONError) in
                        var error = KVTxnError(opIndex: -1, what: "")
                        try reader.readObject { (field, reader) throws(JSONError) in
                            switch field {
                            case "OpIndex": error.opIndex = try reader.readInt()
                            case "What": error.what = try reader.readString()
                            default: try reader.skipValue()
                            }
                        }
                        errors.append(error)
                    }
                }
            default: try reader.skipValue()
            }
        }
        return (results, errors)
    }
}

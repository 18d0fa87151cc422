import Foundation

/// `PUT /v1/txn` with KV operations, after Consul's `agent/txn_endpoint.go` (HTTP limits and decoding),
/// `agent/consul/txn_endpoint.go` (pre-checks before Raft: key, ACL, lock-delay) and `agent/consul/state/txn.go`
/// (every op at one Raft index in one write transaction, rolled back as a whole when any op fails).
/// Node, Service and Check operations are not modelled: 501.

/// One KV operation of a transaction, as Consul's HTTP layer decodes it.
struct TxnKVOp: Equatable {
    var verb: String
    var key: String
    var value: [UInt8]?
    var flags: UInt64
    /// `Index`: the CAS / check-index precondition, and the ModifyIndex a `get-or-empty` of a missing key echoes.
    var index: UInt64
    var session: String

    /// The verbs that go through Raft (`isWrite` in txn_endpoint.go); anything else is served as a read.
    var isWrite: Bool { ["set", "delete", "delete-cas", "delete-tree", "cas", "lock", "unlock"].contains(verb) }
}

/// A decoded operation: KV, or a kind the fake does not model.
enum TxnOpInput: Equatable {
    case kv(TxnKVOp)
    case unmodelled(String)
}

/// Why a body could not be decoded (the text after `Failed to parse body: `).
struct TxnBodyError: Error, Equatable {
    var message: String
}

/// Why one op of a transaction failed (its `What`).
struct TxnOpFailure: Error, Equatable {
    var message: String
}

/// A decoded JSON value with the kinds Go's decoder tells apart.
private indirect enum TxnJSON {
    case null
    case bool(Bool)
    case unsigned(UInt64)
    case number(Double)
    case string(String)
    case array([TxnJSON])
    case object([String: TxnJSON])

    /// Parses a whole body (RFC 8259; nil when it is not one JSON value). Written out rather than
    /// taken from `JSONSerialization`, whose bridging through `NSDictionary` was most of the fake's
    /// CPU in the cluster benchmark.
    static func parse(_ bytes: [UInt8]) -> TxnJSON? {
        var parser = TxnJSONParser(bytes: bytes)
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        return parser.at == bytes.count ? value : nil
    }

    /// Go's name of the JSON kind in `cannot unmarshal <kind> into ...`.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .unsigned, .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Go matches field names case-insensitively (an exact match first).
    func field(_ name: String) -> TxnJSON? {
        guard case .object(let members) = self else { return nil }
        if let exact = members[name] { return exact }
        return members.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}

/// A recursive-descent JSON reader over bytes, for ``TxnJSON``.
private struct TxnJSONParser {
    let bytes: [UInt8]
    var at = 0

    mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    mutating func literal(_ text: StaticString, _ value: TxnJSON) -> TxnJSON? {
        let count = text.utf8CodeUnitCount
        guard bytes.count - at >= count else { return nil }
        for offset in 0..<count where bytes[at + offset] != text.utf8Start[offset] { return nil }
        at += count
        return value
    }

    mutating func value(depth: Int) -> TxnJSON? {
        skipSpace()
        guard at < bytes.count, depth < 128 else { return nil }
        switch bytes[at] {
        case UInt8(ascii: "n"): return literal("null", .null)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "\""): return string().map(TxnJSON.string)
        case UInt8(ascii: "["):
            at += 1
            var items: [TxnJSON] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") {
                at += 1
                return .array(items)
            }
            while true {
                guard let item = value(depth: depth + 1) else { return nil }
                items.append(item)
                skipSpace()
                guard at < bytes.count else { return nil }
                if bytes[at] == UInt8(ascii: "]") {
                    at += 1
                    return .array(items)
                }
                guard bytes[at] == UInt8(ascii: ",") else { return nil }
                at += 1
            }
        case UInt8(ascii: "{"):
            at += 1
            var members: [String: TxnJSON] = [:]
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") {
                at += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { return nil }
                at += 1
                guard let member = value(depth: depth + 1) else { return nil }
                members[key] = member
                skipSpace()
                guard at < bytes.count else { return nil }
                if bytes[at] == UInt8(ascii: "}") {
                    at += 1
                    return .object(members)
                }
                guard bytes[at] == UInt8(ascii: ",") else { return nil }
                at += 1
            }
        default: return number()
        }
    }

    /// A string; `at` is on its opening quote.
    mutating func string() -> String? {
        at += 1
        // Most strings (keys, base64 values) have no escape: taken whole.
        var end = at
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            defer { at = end + 1 }
            return String(validating: bytes[at..<end], as: UTF8.self)
        }
        var out: [UInt8] = []
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""): return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { return nil }
                let escape = bytes[at]
                at += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A surrogate pair; a lone half becomes U+FFFD, as Go decodes it.
                        if bytes.count - at >= 6, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") {
                            at += 2
                            guard let low = hex4() else { return nil }
                            scalar = (0xDC00..<0xE000).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                        } else {
                            scalar = 0xFFFD
                        }
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        scalar = 0xFFFD
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8))
                default: return nil
                }
            default:
                if byte < 0x20 { return nil }
                out.append(byte)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard bytes.count - at >= 4, let n = UInt32(String(decoding: bytes[at..<at + 4], as: UTF8.self), radix: 16) else { return nil }
        at += 4
        return n
    }

    /// A number: a non-negative integer that fits is `.unsigned`, anything else `.number`.
    mutating func number() -> TxnJSON? {
        // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        let start = at
        func digits(_ parser: inout TxnJSONParser) -> Int {
            let from = parser.at
            while parser.at < parser.bytes.count, (0x30...0x39).contains(parser.bytes[parser.at]) { parser.at += 1 }
            return parser.at - from
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") { at += 1 }
        let leadingZero = at < bytes.count && bytes[at] == UInt8(ascii: "0")
        let whole = digits(&self)
        guard whole > 0, !(leadingZero && whole > 1) else { return nil }
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { return nil }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            at += 1
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { return nil }
        }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        if let n = UInt64(text) { return .unsigned(n) }
        return Double(text).map(TxnJSON.number)
    }
}

extension FakeConsulEngine {
    /// Decodes a `/v1/txn` body as Consul's `decodeBody` into `api.TxnOps` does. An op with none of KV, Node,
    /// Service, Check set is skipped, as `convertOps` skips it. Error texts approximate Go's `encoding/json`.
    static func decodeTxnBody(_ body: Data) throws(TxnBodyError) -> [TxnOpInput] {
        if body.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) { throw TxnBodyError(message: "EOF") }
        let root: TxnJSON
        guard let parsed = TxnJSON.parse(Array(body)) else { throw TxnBodyError(message: "invalid JSON") }
        root = parsed
        let items: [TxnJSON]
        switch root {
        case .null: return []
        case .array(let a): items = a
        default: throw TxnBodyError(message: "json: cannot unmarshal \(root.kind) into Go value of type api.TxnOps")
        }
        var ops: [TxnOpInput] = []
        for item in items {
            switch item {
            case .null: continue
            case .object: break
            default: throw TxnBodyError(message: "json: cannot unmarshal \(item.kind) into Go value of type api.TxnOp")
            }
            if let kv = item.field("KV"), kv.kind != "null" {
                guard case .object = kv else {
                    throw TxnBodyError(
                        message: "json: cannot unmarshal \(kv.kind) into Go struct field TxnOp.KV of type api.KVTxnOp")
                }
                ops.append(.kv(try decodeKVOp(kv)))
                continue
            }
            if let kind = ["Node", "Service", "Check"].first(where: { item.field($0).map { $0.kind != "null" } ?? false }) {
                ops.append(.unmodelled(kind))
            }
        }
        return ops
    }

    private static func decodeKVOp(_ kv: TxnJSON) throws(TxnBodyError) -> TxnKVOp {
        func mismatch(_ v: TxnJSON, _ field: String, _ type: String) -> TxnBodyError {
            TxnBodyError(message: "json: cannot unmarshal \(v.kind) into Go struct field KVTxnOp.KV.\(field) of type \(type)")
        }
        func string(_ field: String, _ type: String) throws(TxnBodyError) -> String {
            switch kv.field(field) {
            case nil, .null?: return ""
            case .string(let s)?: return s
            case let v?: throw mismatch(v, field, type)
            }
        }
        func unsigned(_ field: String) throws(TxnBodyError) -> UInt64 {
            switch kv.field(field) {
            case nil, .null?: return 0
            case .unsigned(let n)?: return n
            case let v?: throw mismatch(v, field, "uint64")
            }
        }
        var value: [UInt8]?
        switch kv.field("Value") {
        case nil, .null?: value = nil
        case .string(let s)?:
            let cleaned = s.utf8.contains { $0 == 0x0D || $0 == 0x0A } ? s.filter { $0 != "\r" && $0 != "\n" } : s
            guard let data = Data(base64Encoded: cleaned) else {
                let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
                let at = cleaned.firstIndex { !alphabet.contains($0) }.map { cleaned.distance(from: cleaned.startIndex, to: $0) }
                throw TxnBodyError(message: "illegal base64 data at input byte \(at ?? cleaned.count)")
            }
            // An empty value is stored as no value, as an empty `/v1/kv` PUT body is.
            value = data.isEmpty ? nil : Array(data)
        case let v?: throw mismatch(v, "Value", "[]uint8")
        }
        return TxnKVOp(
            verb: try string("Verb", "api.KVOp"), key: try string("Key", "string"), value: value,
            flags: try unsigned("Flags"), index: try unsigned("Index"), session: try string("Session", "string"))
    }

    /// `PUT /v1/txn`. `conflict`: the `casConflict` fault fired for this request.
    func txn(_ ctx: Context, conflict: Bool) -> Response {
        // 1. HTTP layer (convertOps): size, decoding, op count, value sizes, in this order.
        let maxLength = max(configuration.txnMaxReqLen, configuration.kvMaxValueSize)
        let declared = Int(ctx.request.headers["Content-Length"] ?? "") ?? 0
        if max(declared, ctx.request.body.count) > maxLength {
            return text(413, "Request body too large, max size: \(maxLength) bytes")
        }
        let inputs: [TxnOpInput]
        do { inputs = try Self.decodeTxnBody(ctx.request.body) } catch {
            return text(400, "Failed to parse body: \(error.message)")
        }
        if inputs.count > configuration.txnMaxOps {
            return text(413, "Transaction contains too many operations (\(inputs.count) > \(configuration.txnMaxOps))")
        }
        var ops: [TxnKVOp] = []
        for input in inputs {
            switch input {
            case .unmodelled(let kind):
                return text(501, "\(kind) operations in /v1/txn are not modelled by the fake Consul (KV operations only)")
            case .kv(let op):
                if let size = op.value?.count, size > configuration.kvMaxValueSize {
                    return text(
                        413,
                        "Value for key \(goQuoted(op.key)) is too large (\(size) > \(configuration.kvMaxValueSize) bytes)")
                }
                ops.append(op)
            }
        }
        let writes = ops.contains { $0.isWrite }
        if writes && leaderLost { return serverError(500, "No cluster leader") }
        // 2. Server pre-checks (no Raft index consumed): key, key validation, ACL, lock-delay.
        var errors: [(Int, String)] = []
        for (n, op) in ops.enumerated() {
            if let problem = txnPreCheck(op, ctx) { errors.append((n, problem)) }
        }
        if !errors.isEmpty { return txnAnswer(results: nil, errors: errors, readOnly: !writes, ctx) }
        // 3. The injected race: a concurrent writer touches the first key with an index precondition. An
        // existing key moves its index, and the op fails on it as in a real race. For an absent key, the
        // other writer's value is unknown, so (as the /v1/kv fault answers `false`) the op fails without
        // leaving one: the key gets a tombstone and the transaction rolls back at its own Raft index.
        if conflict, let n = ops.firstIndex(where: { ["cas", "delete-cas", "check-index"].contains($0.verb) }) {
            let raced = ops[n]
            let existed = state.kv[raced.key] != nil
            state.kvConcurrentWrite(raced.key)
            if !existed {
                _ = state.nextIndex()
                let q = goQuoted(raced.key)
                let what =
                    switch raced.verb {
                    case "cas": "failed to set key \(q), index is stale"
                    case "delete-cas": "failed to delete key \(q), index is stale"
                    default: "failed to check index, key \(q) doesn't exist"
                    }
                return txnAnswer(results: nil, errors: [(n, what)], readOnly: false, ctx)
            }
        }
        // 4. One write transaction at one Raft index (taken even when it rolls back), or a read transaction.
        let index = writes ? state.nextIndex() : 0
        var scratch = state
        let outcome = scratch.applyTxn(ops, at: index)
        if outcome.errors.isEmpty && writes { state = scratch }
        if !outcome.errors.isEmpty { return txnAnswer(results: nil, errors: outcome.errors, readOnly: !writes, ctx) }
        let visible = outcome.results.filter { canRead(ctx, .key, $0.entry.key) }
        return txnAnswer(results: visible, errors: [], readOnly: !writes, ctx)
    }

    /// `kvsPreApply` for one op, plus the lock-delay refusal of `Txn.preCheck`.
    private func txnPreCheck(_ op: TxnKVOp, _ ctx: Context) -> String? {
        if op.key.isEmpty && op.verb != "delete-tree" { return "Must provide key" }
        if let problem = keyProblem(op.key) { return problem.text }
        switch op.verb {
        case "delete-tree":
            if !canWriteKeyPrefix(ctx, op.key) { return deniedText(ctx, .key, "write", op.key) }
        case "get", "get-tree", "get-or-empty":
            break  // filtered on output
        case "check-session", "check-index":
            if !canRead(ctx, .key, op.key) { return deniedText(ctx, .key, "read", op.key) }
        default:
            if !canWrite(ctx, .key, op.key) { return deniedText(ctx, .key, "write", op.key) }
        }
        if op.verb == "lock", let until = state.lockDelays[op.key], state.now < until {
            return "failed to lock key \(goQuoted(op.key)) due to lock delay"
        }
        return nil
    }

    /// ACL `KeyWritePrefix`: write on the prefix itself and no rule below it that withholds write.
    private func canWriteKeyPrefix(_ ctx: Context, _ prefix: String) -> Bool {
        guard aclEnabled else { return true }
        guard canWrite(ctx, .key, prefix) else { return false }
        let rules = (ctx.identity?.rules ?? anonymousRules).keyPrefix
        return rules.allSatisfy { !$0.key.hasPrefix(prefix) || $0.value.allowsWrite }
    }

    /// 200 with the results, or 409 with the errors (`Results: null`). A read-only transaction also carries
    /// Consul's `QueryMeta` (embedded in `TxnReadResponse`, so Go marshals its fields) and the leader headers.
    private func txnAnswer(results: [TxnResult]?, errors: [(Int, String)], readOnly: Bool, _ ctx: Context) -> Response {
        var members: [(String, JSONValue)] = [
            ("Results", results.map { .array($0.map(\.json)) } ?? .null),
            (
                "Errors",
                errors.isEmpty
                    ? .null : .array(errors.map { .object([("OpIndex", .int($0.0)), ("What", .string($0.1))]) })
            ),
        ]
        var response: Response
        if readOnly {
            members += [
                ("Index", .int(0)), ("LastContact", .int(0)), ("KnownLeader", .bool(ctx.knownLeader)),
                ("ConsistencyLevel", .string("")), ("NotModified", .bool(false)), ("Backend", .int(0)),
                ("ResultsFilteredByACLs", .bool(false)),
            ]
            response = json(.object(members), index: nil, pretty: ctx.pretty)
            response.headers.set("X-Consul-KnownLeader", ctx.knownLeader ? "true" : "false")
            response.headers.set("X-Consul-LastContact", "0")
        } else {
            response = json(.object(members), index: nil, pretty: ctx.pretty)
        }
        if !errors.isEmpty { response.status = 409 }
        return response
    }
}

/// One KV result of a transaction: the entry, with its value only for the get verbs.
struct TxnResult {
    var entry: FakeConsul.KVEntry
    var json: JSONValue { .object([("KV", ConsulJSON.kvEntry(entry))]) }
}

extension ConsulState {
    /// Runs every op at Raft index `i` (`txnDispatch`): all ops are tried, every failure is reported with its op
    /// index. The caller keeps the mutated state only when there is no error (the rollback).
    mutating func applyTxn(_ ops: [TxnKVOp], at i: UInt64) -> (results: [TxnResult], errors: [(Int, String)]) {
        var results: [TxnResult] = []
        var errors: [(Int, String)] = []
        for (n, op) in ops.enumerated() {
            switch applyTxnOp(op, at: i) {
            case .success(let entries): results += entries
            case .failure(let error): errors.append((n, error.message))
            }
        }
        return errors.isEmpty ? (results, []) : ([], errors)
    }

    /// One KV op (`txnKVS`), with Consul's error texts.
    private mutating func applyTxnOp(_ op: TxnKVOp, at i: UInt64) -> Swift.Result<[TxnResult], TxnOpFailure> {
        let key = op.key
        let q = goQuoted(key)
        func fail(_ message: String) -> Swift.Result<[TxnResult], TxnOpFailure> { .failure(TxnOpFailure(message: message)) }
        func stored(withValue: Bool = false) -> Swift.Result<[TxnResult], TxnOpFailure> {
            guard var entry = kv[key] else { return .success([]) }
            if !withValue { entry.value = nil }
            return .success([TxnResult(entry: entry)])
        }
        switch op.verb {
        case "set":
            _ = kvSet(key, value: op.value, flags: op.flags, mode: .set, at: i)
            return stored()
        case "cas":
            guard kvSet(key, value: op.value, flags: op.flags, mode: .cas(op.index), at: i) else {
                return fail("failed to set key \(q), index is stale")
            }
            return stored()
        case "delete":
            _ = kvDelete(key, recurse: false, cas: nil, at: i)
            return .success([])
        case "delete-cas":
            guard kvDelete(key, recurse: false, cas: op.index, at: i) else {
                return fail("failed to delete key \(q), index is stale")
            }
            return .success([])
        case "delete-tree":
            _ = kvDelete(key, recurse: true, cas: nil, at: i)
            return .success([])
        case "lock":
            if op.session.isEmpty { return fail("missing session") }
            if sessions[op.session] == nil { return fail("invalid session \(goQuoted(op.session))") }
            guard kvLock(key, session: op.session, value: op.value, flags: op.flags, at: i) else {
                return fail("failed to lock key \(q), lock is already held")
            }
            return stored()
        case "unlock":
            if op.session.isEmpty { return fail("missing session") }
            guard kvRelease(key, session: op.session, value: op.value, flags: op.flags, at: i) else {
                return fail("failed to unlock key \(q), lock isn't held, or is held by another session")
            }
            return stored()
        case "get":
            if kv[key] == nil { return fail("key \(q) doesn't exist") }
            return stored(withValue: true)
        case "get-or-empty":
            if kv[key] != nil { return stored(withValue: true) }
            // The op's own entry comes back, value blanked, its Index as ModifyIndex.
            let echo = FakeConsul.KVEntry(
                key: key, value: nil, flags: op.flags, session: op.session.isEmpty ? nil : op.session, lockIndex: 0,
                createIndex: 0, modifyIndex: op.index)
            return .success([TxnResult(entry: echo)])
        case "get-tree":
            return .success(kvList(key).map { TxnResult(entry: $0) })
        case "check-session":
            guard let entry = kv[key] else { return fail("failed to check session, key \(q) doesn't exist") }
            if (entry.session ?? "") != op.session {
                return fail(
                    "failed session check for key \(q), current session \(goQuoted(entry.session ?? "")) != \(goQuoted(op.session))")
            }
            return stored()
        case "check-index":
            guard let entry = kv[key] else { return fail("failed to check index, key \(q) doesn't exist") }
            if entry.modifyIndex != op.index {
                return fail("failed index check for key \(q), current modify index \(entry.modifyIndex) != \(op.index)")
            }
            return stored()
        case "check-not-exists":
            if kv[key] != nil { return fail("key \(q) exists") }
            return .success([])
        default:
            return fail("unknown KV verb \(goQuoted(op.verb))")
        }
    }
}

/// Go's `%q` of a string: quoted, with `"`, `\` and control characters escaped.
func goQuoted(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{07}": out += "\\a"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case "\u{0B}": out += "\\v"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

import ConsulWatch
import Platform

/// The state directory: the policy state, the spool of actions to retry, and dead letters.
///
/// ```
/// <dir>/state.json      the policy state (HealState), replaced atomically, mode 0600
/// <dir>/state.lock      flock(2) lock guarding every read-modify-write of the directory
/// <dir>/spool/*.json    actions that failed and will be retried, or are being run (one file per
///                       incident, named by a hash of its key, the key inside)
/// <dir>/spool/quarantine/  entries whose name does not match their key: never run
/// <dir>/dead-letter/    payloads that could not be read, with their CONSUL_INDEX and time
/// ```
///
/// The directory must be private to its user (not group- or world-writable, not owned by
/// another user), as ssh's `StrictModes` requires of `~/.ssh`: whoever can write to it can
/// plant spool entries, which run actions.
public final class StateStore: Sendable {
    public let directory: String
    /// How long to wait for another handler's lock.
    public let lockTimeout: Double
    /// Where warnings go (a corrupt state file moved aside).
    let warn: @Sendable (String) -> Void
    /// Opened for reading only (status, explain, a dry run): nothing is created or written.
    public let readOnly: Bool

    public var statePath: String { directory + "/state.json" }
    public var lockPath: String { directory + "/state.lock" }
    public var spoolDirectory: String { directory + "/spool" }
    public var deadLetterDirectory: String { directory + "/dead-letter" }
    public var quarantineDirectory: String { spoolDirectory + "/quarantine" }

    /// Dead letters kept at most (the oldest beyond go, with a warning): any local process that
    /// can deliver can otherwise fill the disk.
    public static let deadLetterMaximumCount = 100
    public static let deadLetterMaximumBytes = 64 << 20
    /// Temporary files older than this were left by a killed writer and are swept.
    public static let temporaryFileAge: Double = 3600

    /// Opens (creating, mode 0700) a state directory. An unwritable directory is an error, never
    /// a silent fall-back to stateless operation.
    /// `readOnly` (for `status` and `explain`) creates nothing and takes no lock.
    /// `mayBeMissing` (a dry run): a directory that does not exist yet reads as an empty state.
    public init(
        directory: String, lockTimeout: Double = 30, readOnly: Bool = false, mayBeMissing: Bool = false, warn: @escaping @Sendable (String) -> Void
    ) throws(SystemError) {
        self.directory = directory
        self.lockTimeout = lockTimeout
        self.warn = warn
        self.readOnly = readOnly
        if readOnly {
            guard FileIO.exists(directory) else {
                if mayBeMissing { return }
                throw SystemError("open", path: directory, errno: Errno.noSuchFile)
            }
            try FileIO.checkPrivateDirectory(directory)
            return
        }
        try AtomicFile.createDirectory(directory, mode: 0o700)
        try FileIO.checkPrivateDirectory(directory)
        try AtomicFile.createDirectory(spoolDirectory, mode: 0o700)
        try FileIO.checkPrivateDirectory(spoolDirectory)
        // Prove the directory is writable now rather than after acting.
        let lock = try Self.lock(lockPath, timeout: lockTimeout)
        lock.release()
    }

    static func lock(_ path: String, timeout: Double) throws(SystemError) -> FileLock {
        do { return try FileLock.acquire(path: path, timeout: timeout) } catch {
            if error.errno == Errno.wouldBlock {
                throw SystemError("get the lock", path: path, errno: error.errno, detail: "another handler has held it for \(Int(timeout))s")
            }
            throw error
        }
    }

    /// The state directory chosen by `--state-dir`, else `$CONSUL_HANDLERS_STATE_DIR`, else
    /// `$XDG_STATE_HOME/consul-handlers`, else `~/.local/state/consul-handlers`.
    public static func defaultDirectory(environment: (String) -> String?) -> String? {
        if let dir = environment("CONSUL_HANDLERS_STATE_DIR"), !dir.isEmpty { return dir }
        if let dir = environment("XDG_STATE_HOME"), !dir.isEmpty { return dir + "/consul-handlers" }
        if let home = environment("HOME"), !home.isEmpty { return home + "/.local/state/consul-handlers" }
        return nil
    }

    /// Runs `body` on the state under the lock and saves it if `body` changed it (and `persist`
    /// is true: a dry run decides on the real state but leaves it as it was).
    /// Without `persist` (or on a read-only store) nothing is locked or written: the state is read
    /// as a snapshot, consistent thanks to rename.
    public func update<T>(persist: Bool = true, _ body: (inout HealState) throws(SystemError) -> T) throws(SystemError) -> T {
        if !persist || readOnly {
            var state = try load(repair: false)
            return try body(&state)
        }
        let lock = try Self.lock(lockPath, timeout: lockTimeout)
        defer { lock.release() }
        if persist { sweepTemporaryFiles() }
        var state = try load(repair: persist)
        let before = state
        let result = try body(&state)
        if persist && (state != before || !FileIO.exists(statePath)) {
            // Atomic, not fsynced: survives SIGKILL; a power loss costs at most a baseline delivery.
            try AtomicFile.write(state.encoded(), to: statePath, mode: 0o600, durability: .atomic)
        }
        return result
    }

    /// Reads the state without the lock and without repairing anything (for `status` and
    /// `explain`: a consistent snapshot, thanks to rename). A corrupt file is an error here.
    public func snapshot() throws(SystemError) -> HealState { try load(repair: false) }

    /// Removes what writers killed mid-write left behind (their temporary files), once old
    /// enough that no live writer can still own them. Called under the lock.
    func sweepTemporaryFiles() {
        let now = SystemTime.wallSeconds()
        for directory in [directory, spoolDirectory, deadLetterDirectory] {
            for name in AtomicFile.sweepTemporaryFiles(in: directory, olderThan: Self.temporaryFileAge, now: now) {
                warn("removed \(directory)/\(name), a temporary file left by a handler killed while writing")
            }
        }
    }

    /// Loads the state; a missing file is an empty state. A corrupt one is, when `repair`, moved
    /// aside with a warning and replaced by an empty state (whose first delivery is then a
    /// baseline). A file of a newer format is never touched: it is an error.
    private func load(repair: Bool) throws(SystemError) -> HealState {
        guard FileIO.exists(statePath) else { return HealState() }
        let bytes: [UInt8]
        do throws(SystemError) {
            bytes = try FileIO.readRegularFile(statePath, limit: FileIO.maximumInputSize).bytes
        } catch  where error.errno == Errno.symbolicLink || error.errno == Errno.invalid {
            // Not a file we wrote (a link or a FIFO planted there): the same as a corrupt one.
            bytes = []
        }
        do {
            return try HealState(decoding: bytes)
        } catch .newerVersion(let version) {
            throw SystemError(
                "use", path: statePath, errno: Errno.protocolNotSupported,
                detail: "it was written by a newer consul-handlers (state format \(version), this one reads \(HealState.formatVersion))")
        } catch {
            guard repair else { throw SystemError("read", path: statePath, errno: Errno.illegalByteSequence, detail: "unreadable state: \(error.description)") }
            let aside = statePath + ".corrupt-" + String(Int(SystemTime.wallSeconds() * 1000)) + "-" + String(ProcessID.current)
            try AtomicFile.rename(statePath, to: aside)
            warn("state file \(statePath) is unreadable (\(error.description)); moved it to \(aside) and started afresh (the next delivery is a baseline)")
            return HealState()
        }
    }

    // MARK: Spool

    /// An action to retry later.
    public struct SpoolEntry: Sendable, Equatable {
        /// Unique per incident occurrence: a target failing again later gets a new entry.
        public var key: String
        /// The watch whose handler spooled it: only that watch's handlers retry it (another watch
        /// sharing the directory may route the same target to other actions).
        public var watch: String
        public var route: String
        public var incidentID: String
        public var incidentJSON: [UInt8]
        public var attempts: Int
        public var firstFailure: Double
        public var lastError: String
    }

    /// The file name for a spool key: fixed length whatever the key (a 300-character service
    /// name would exceed NAME_MAX), from the key's SHA-256; the key itself is inside the file.
    static func fileName(_ key: String) -> String {
        String(SHA256.hex(key).prefix(32)) + ".json"
    }

    /// The name spool entries had before names were hashed (read, then renamed, never written).
    static func legacyFileName(_ key: String) -> String {
        PercentEncoding.encode(key).replacingPercent() + ".json"
    }

    /// Writes a spool entry. A "running" entry (attempts 0) only guards a remediation in flight
    /// against its actor being killed, so it is atomic but not fsynced; an entry to retry is
    /// work that must survive a power loss, so it is synced.
    public func writeSpool(_ entry: SpoolEntry) throws(SystemError) {
        var writer = JSONWriter()
        writer.object { object in
            object.field("key", entry.key)
            object.field("watch", entry.watch)
            object.field("route", entry.route)
            object.field("incidentID", entry.incidentID)
            object.field("attempts", entry.attempts)
            object.field("firstFailure", entry.firstFailure)
            object.field("lastError", entry.lastError)
            object.field("incident", String(decoding: entry.incidentJSON, as: UTF8.self))
        }
        try AtomicFile.write(
            writer.bytes, to: spoolDirectory + "/" + Self.fileName(entry.key), mode: 0o600, durability: entry.attempts == 0 ? .atomic : .synced)
    }

    public func removeSpool(key: String) throws(SystemError) {
        let path = spoolDirectory + "/" + Self.fileName(key)
        if FileIO.exists(path) { try AtomicFile.remove(path) }
    }

    /// Every spooled entry. Unreadable ones are reported and skipped, never deleted; one whose
    /// file name does not match its key (copied, renamed or planted) or that is not a regular
    /// file is moved to `spool/quarantine/` with a warning and never run.
    public func spool() throws(SystemError) -> [SpoolEntry] {
        var entries: [SpoolEntry] = []
        for name in try AtomicFile.listDirectory(spoolDirectory).sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let path = spoolDirectory + "/" + name
            let bytes: [UInt8]
            do throws(SystemError) {
                bytes = try FileIO.readRegularFile(path, limit: FileIO.maximumInputSize).bytes
            } catch  where error.errno == Errno.symbolicLink || error.errno == Errno.invalid {
                try quarantine(name, because: "it is not a regular file")
                continue
            }
            guard case .object(let f)? = try? JSONReader.read(bytes, { (reader) throws(JSONError) in try JSONValue(reading: &reader) }),
                let key = f["key"]?.string, let route = f["route"]?.string, let id = f["incidentID"]?.string,
                let incident = f["incident"]?.string
            else {
                warn("spool entry \(path) is unreadable; left in place")
                continue
            }
            if name != Self.fileName(key) {
                guard name == Self.legacyFileName(key) else {
                    try quarantine(name, because: "its name does not match its key \(key)")
                    continue
                }
                // Written by an older version: give it its hashed name.
                try AtomicFile.rename(path, to: spoolDirectory + "/" + Self.fileName(key))
            }
            entries.append(
                SpoolEntry(
                    key: key, watch: f["watch"]?.string ?? "", route: route, incidentID: id, incidentJSON: Array(incident.utf8),
                    attempts: f["attempts"]?.int ?? 0,
                    firstFailure: f["firstFailure"]?.double ?? 0, lastError: f["lastError"]?.string ?? ""))
        }
        return entries
    }

    /// Moves a spool entry aside, where nothing runs it.
    private func quarantine(_ name: String, because reason: String) throws(SystemError) {
        try AtomicFile.createDirectory(quarantineDirectory, mode: 0o700)
        let destination = quarantineDirectory + "/" + name
        try AtomicFile.rename(spoolDirectory + "/" + name, to: destination)
        warn("spool entry \(spoolDirectory)/\(name) was moved to \(destination) and will not be run: \(reason)")
    }

    // MARK: Dead letters

    /// Keeps a payload that could not be read, so an operator can see what Consul sent.
    /// Returns the file it was written to.
    @discardableResult
    public func deadLetter(_ bytes: [UInt8], consulIndex: UInt64?, error: String, time: Double) throws(SystemError) -> String {
        if readOnly { throw SystemError("write a dead letter in", path: directory, errno: Errno.readOnlyFileSystem, detail: "a dry run writes nothing") }
        try AtomicFile.createDirectory(deadLetterDirectory, mode: 0o700)
        let stamp = Timestamp.iso8601(time).replacingColons()
        let base =
            deadLetterDirectory + "/" + stamp + "-" + (consulIndex.map(String.init) ?? "noindex") + "-"
            + String(Int(SystemTime.monotonicSeconds() * 1e6) % 1_000_000)
        try AtomicFile.write(bytes, to: base + ".payload", mode: 0o600)
        var writer = JSONWriter()
        writer.object { object in
            object.field("time", Timestamp.iso8601(time))
            object.field("consulIndex", consulIndex)
            object.field("error", error)
            object.field("bytes", bytes.count)
            object.field("payload", base + ".payload")
        }
        writer.append(raw: "\n")
        try AtomicFile.write(writer.bytes, to: base + ".json", mode: 0o600)
        pruneDeadLetters(keeping: base + ".payload")
        return base + ".payload"
    }

    /// Keeps at most ``deadLetterMaximumCount`` dead letters and ``deadLetterMaximumBytes``
    /// bytes of them, removing the oldest first (never `newest`) and saying so.
    func pruneDeadLetters(keeping newest: String, maximumCount: Int = deadLetterMaximumCount, maximumBytes: Int = deadLetterMaximumBytes) {
        let names = deadLetters()
        var sizes: [String: Int] = [:]
        var total = 0
        for name in names {
            let base = deadLetterDirectory + "/" + name.dropLast(".payload".count)
            let size = (FileIO.regularFileInfo(base + ".payload")?.size ?? 0) + (FileIO.regularFileInfo(base + ".json")?.size ?? 0)
            sizes[name] = size
            total += size
        }
        var count = names.count
        var removed: [String] = []
        for name in names where count > maximumCount || total > maximumBytes {
            let payload = deadLetterDirectory + "/" + name
            if payload == newest { continue }
            try? AtomicFile.remove(payload)
            try? AtomicFile.remove(String(payload.dropLast(".payload".count)) + ".json")
            count -= 1
            total -= sizes[name] ?? 0
            removed.append(name)
        }
        if !removed.isEmpty {
            warn(
                "removed \(removed.count) oldest dead letter(s) from \(deadLetterDirectory) (\(removed[0])\(removed.count > 1 ? " to \(removed[removed.count - 1])" : "")) to keep at most \(maximumCount) files and \(maximumBytes >> 20) MiB"
            )
        }
    }

    /// Dead-letter payload files, oldest first.
    public func deadLetters() -> [String] {
        ((try? AtomicFile.listDirectory(deadLetterDirectory)) ?? []).filter { $0.hasSuffix(".payload") }.sorted()
    }
}

extension String {
    func replacingPercent() -> String { String(map { $0 == "%" ? "_" : $0 }) }
    func replacingColons() -> String { String(map { $0 == ":" ? "-" : $0 }) }
}

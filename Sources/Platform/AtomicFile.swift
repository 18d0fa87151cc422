import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Writes that readers (and a crash) never see half done: whole-file replacement and records
/// appended to a shared file, plus the directory operations that go with them.
public enum AtomicFile {
    /// Distinguishes temporary files made by different threads of this process.
    private static let counter = Atomic<Int>(0)

    /// How far a replacement must reach before ``write(_:to:mode:durability:)`` returns.
    public enum Durability: Sendable {
        /// On disk: the file and its directory are fsynced, so the new content survives a power
        /// loss. Two fsyncs, the dominant cost of a small write.
        case synced
        /// Atomic only: the rename is atomic for every reader and survives the writer being
        /// killed (SIGKILL, OOM) because the kernel keeps the data, but after a power loss or a
        /// kernel crash the file may hold its previous content (or, on some file systems, be
        /// empty). For files whose loss only costs a baseline delivery (docs/operations.md).
        case atomic
    }

    /// Replaces `path` with `bytes`: writes a new file `.<name>.tmp.<pid>.<n>` (created with
    /// `O_EXCL` and exactly `mode`, whatever the umask) in the same directory, then (when
    /// `.synced`) fsyncs it, renames it over `path` and (when `.synced`) fsyncs the directory.
    /// On failure the temporary file is removed and `path` is left as it was.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600, durability: Durability = .synced) throws(SystemError) {
        let (directory, name) = FileIO.split(path)
        guard !name.isEmpty else { throw SystemError("write", path: path, errno: EISDIR) }
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let temporary = (directory == "/" ? "/" : directory + "/") + ".\(name).tmp.\(getpid()).\(number)"
        let fd = try FileIO.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do throws(SystemError) {
            if fchmod(fd, mode) != 0 { throw SystemError("set the mode of", path: temporary) }
            try FileIO.writeAll(fd: fd, bytes, name: temporary)
            if durability == .synced { try FileIO.sync(fd: fd, name: temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        if close(fd) != 0 {
            let failure = SystemError("close", path: temporary)
            unlink(temporary)
            throw failure
        }
        do throws(SystemError) {
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
        if durability == .synced { try syncDirectory(directory) }
    }

    /// Appends one record to a log-like file with a single `write` (`O_APPEND`), so records
    /// written at the same time by many processes never interleave. A file this creates gets
    /// exactly `mode`; an existing file keeps its mode. With `fsync`, returns once it is on disk.
    ///
    /// The record is written whole or not at all: after a short write (a full disk, `ulimit -f`)
    /// the file is truncated back to where the record started, so the next record never lands
    /// glued to half of this one. A symbolic link at `path` is refused (`ELOOP`), never followed.
    public static func appendRecord(path: String, bytes: [UInt8], mode: mode_t = 0o600, fsync: Bool = false) throws(SystemError) {
        let fd = try FileIO.openForAppend(path, mode: mode)
        do throws(SystemError) {
            try appendWhole(fd: fd, bytes, name: path)
            if fsync { try FileIO.sync(fd: fd, name: path) }
        } catch {
            close(fd)
            throw error
        }
        if close(fd) != 0 { throw SystemError("close", path: path) }
    }

    /// Writes `bytes` at the end of an `O_APPEND` descriptor, or nothing: a partial record is cut
    /// off again (unless another writer appended after it, which a truncation would destroy).
    static func appendWhole(fd: Int32, _ bytes: [UInt8], name: String) throws(SystemError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in LibC.write(fd, raw.baseAddress! + written, raw.count - written) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if written > 0 {
                    let end = lseek(fd, 0, SEEK_CUR)
                    var status = stat()
                    if end >= 0, fstat(fd, &status) == 0, status.st_size == end, (status.st_mode & S_IFMT) == S_IFREG {
                        _ = ftruncate(fd, end - off_t(written))
                    }
                }
                throw SystemError("write", path: name, errno: code)
            }
            written += n
        }
    }

    // MARK: - Directories and names

    /// Creates a directory and any missing parents (`mkdir -p`); directories that already exist
    /// are fine and keep their mode. New ones get `mode` as masked by the umask.
    public static func createDirectory(_ path: String, mode: mode_t = 0o700) throws(SystemError) {
        guard !path.isEmpty else { throw SystemError("create directory", path: path, errno: ENOENT) }
        if FileIO.isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        for (index, component) in components.enumerated() {
            if index > 0 { prefix += "/" }
            prefix += component
            if mkdir(prefix, mode) == 0 { continue }
            let code = errno
            if code == EEXIST || code == EACCES || code == EROFS, FileIO.isDirectory(prefix) { continue }
            if code == EEXIST { throw SystemError("create directory", path: prefix, errno: ENOTDIR) }
            throw SystemError("create directory", path: prefix, errno: code)
        }
    }

    /// Renames `source` to `destination`, atomically replacing any file already there.
    public static func rename(_ source: String, to destination: String) throws(SystemError) {
        guard LibC.rename(source, destination) == 0 else {
            throw SystemError("rename \(source) to", path: destination)
        }
    }

    /// Removes a file, or an empty directory. A missing `path` throws `ENOENT`.
    public static func remove(_ path: String) throws(SystemError) {
        if unlink(path) == 0 { return }
        let code = errno
        if code == EISDIR || code == EPERM, FileIO.isDirectory(path) {
            if rmdir(path) == 0 { return }
            throw SystemError("remove", path: path)
        }
        throw SystemError("remove", path: path, errno: code)
    }

    /// The names in a directory, without `.` and `..`, sorted by their bytes (names that are not
    /// UTF-8 come back with replacement characters).
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let stream = opendir(path) else { throw SystemError("list directory", path: path) }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw SystemError("list directory", path: path) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Flushes a directory (after creating, renaming or removing entries in it) to disk.
    /// File systems that cannot sync directories (`EINVAL`) are not an error.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let fd = try FileIO.open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        do throws(SystemError) {
            try FileIO.sync(fd: fd, name: path)
        } catch  where error.errno == EINVAL {
            // Nothing to flush on this file system.
        }
    }
}

extension FileIO {
    /// True when `path` is a directory (following symbolic links).
    public static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// Flushes a descriptor's data and metadata to disk.
    public static func sync(fd: Int32, name: String) throws(SystemError) {
        while LibC.fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw SystemError("fsync", path: name)
        }
    }

    /// The directory part and the last component of a path: `("/a", "b")` for `/a/b`,
    /// `(".", "b")` for `b`, `("/", "b")` for `/b`.
    static func split(_ path: String) -> (directory: String, name: String) {
        var bytes = Array(path.utf8)
        while bytes.count > 1, bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else {
            return (".", String(decoding: bytes, as: UTF8.self))
        }
        let name = String(decoding: bytes[(slash + 1)...], as: UTF8.self)
        let directory = slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
        return (directory, name)
    }
}

extension AtomicFile {
    /// Removes temporary files (`.<name>.tmp.<pid>.<n>`, as ``write(_:to:mode:)`` makes them) that
    /// a writer killed mid-write left in `directory`, once older than `age` seconds (a live
    /// writer finishes within moments). Call it under the directory's lock. Returns the names
    /// removed; a file that cannot be removed is left for the next sweep.
    @discardableResult
    public static func sweepTemporaryFiles(in directory: String, olderThan age: Double, now: Double) -> [String] {
        var removed: [String] = []
        for name in (try? listDirectory(directory)) ?? [] where name.hasPrefix(".") && name.contains(".tmp.") {
            let path = directory + "/" + name
            guard let info = FileIO.regularFileInfo(path), now - info.modified > age else { continue }
            if unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }
}

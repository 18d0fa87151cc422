#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Opening files a hostile neighbour could have planted: append targets that must not be
/// followed through a symbolic link, secrets that must be regular files, and a state
/// directory that only its owner may change (like ssh's `StrictModes`).
extension FileIO {
    /// Opens `path` for appending without following a symbolic link at its last component
    /// (`O_NOFOLLOW | O_CLOEXEC`), creating it with exactly `mode` (set on the descriptor with
    /// `fchmod`, never on the path, so a file swapped in meanwhile is not the one changed).
    /// An existing file keeps its mode. A symbolic link, or anything but a regular file or a
    /// character device (`/dev/null`), is refused.
    public static func openForAppend(_ path: String, mode: mode_t) throws(SystemError) -> Int32 {
        while true {
            do throws(SystemError) {
                let fd = try open(path, flags: O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
                if fchmod(fd, mode) != 0 {
                    let failure = SystemError("set the mode of", path: path)
                    close(fd)
                    throw failure
                }
                return fd
            } catch  where error.errno == EEXIST {
                let fd: Int32
                do throws(SystemError) {
                    fd = try open(path, flags: O_WRONLY | O_APPEND | O_NOFOLLOW)
                } catch  where error.errno == ENOENT {
                    continue  // removed between the two opens: create it after all
                } catch  where error.errno == ELOOP {
                    throw refusedLink(path)
                }
                var status = stat()
                guard fstat(fd, &status) == 0 else {
                    let failure = SystemError("stat", path: path)
                    close(fd)
                    throw failure
                }
                let kind = status.st_mode & S_IFMT
                guard kind == S_IFREG || kind == S_IFCHR else {
                    close(fd)
                    throw SystemError("append to", path: path, errno: EINVAL, detail: "not a regular file")
                }
                return fd
            }
        }
    }

    static func refusedLink(_ path: String) -> SystemError {
        SystemError(
            "open", path: path, errno: ELOOP, detail: "it is a symbolic link (refused: files are appended to only where they are, never through a link)")
    }

    /// Reads a file that must be a regular file (a FIFO or device would block or never end),
    /// opened without blocking and without following a link at its last component. Returns the
    /// bytes and the permission bits, both from the open descriptor (`fstat`), so what is
    /// checked is what is read. A link is `ELOOP`, anything else that is not a file `EINVAL`.
    public static func readRegularFile(_ path: String, limit: Int) throws(SystemError) -> (bytes: [UInt8], mode: mode_t) {
        let fd: Int32
        do throws(SystemError) {
            fd = try open(path, flags: O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY)
        } catch  where error.errno == ELOOP {
            throw SystemError("open", path: path, errno: ELOOP, detail: "it is a symbolic link, not a regular file")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw SystemError("stat", path: path) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw SystemError("read", path: path, errno: EINVAL, detail: "not a regular file")
        }
        return (try readAll(fd: fd, name: path, limit: limit), status.st_mode & 0o7777)
    }

    /// Refuses a directory that someone other than its owner (and root) could change: one that
    /// is group- or world-writable, or owned by another user. The reason is one line.
    public static func checkPrivateDirectory(_ path: String) throws(SystemError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { throw SystemError("stat", path: path) }
        if (status.st_mode & S_IFMT) == S_IFLNK {
            // A link to the directory is allowed, but the directory it names is what is checked.
            guard stat(path, &status) == 0 else { throw SystemError("stat", path: path) }
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else { throw SystemError("use", path: path, errno: ENOTDIR) }
        let me = geteuid()
        if status.st_uid != me && status.st_uid != 0 {
            throw SystemError(
                "use", path: path, errno: EPERM,
                detail: "it is owned by uid \(status.st_uid), not by this user (uid \(me)); a state directory must belong to the user the handler runs as")
        }
        if status.st_mode & 0o022 != 0 {
            let mode = String(status.st_mode & 0o7777, radix: 8)
            throw SystemError("use", path: path, errno: EPERM, detail: "it is group- or world-writable (mode \(mode)); make it private: chmod 700 \(path)")
        }
    }

    /// Size and modification time (Unix seconds) of a file, without following a link; nil when
    /// it does not exist or is not a regular file.
    public static func regularFileInfo(_ path: String) -> (size: Int, modified: Double)? {
        var status = stat()
        guard lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return (Int(status.st_size), Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9)
    }
}

extension Signals {
    /// Ignores SIGXFSZ, so a write past `ulimit -f` fails with `EFBIG` (an error we report with
    /// exit 74) instead of killing the process without a word.
    public static func ignoreFileSizeLimit() {
        signal(SIGXFSZ, SIG_IGN)
    }
}

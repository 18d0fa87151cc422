#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Thin, EINTR-safe wrappers over the file system calls the handlers need.
public enum FileIO {
    /// Input larger than this is refused rather than read (a whole-cluster `checks` watch of a
    /// 10 000-node cluster is about 25 MB).
    public static let maximumInputSize = 1 << 30

    /// Reads a descriptor to end of file.
    public static func readAll(fd: Int32, name: String, limit: Int = maximumInputSize) throws(SystemError) -> [UInt8] {
        var status = stat()
        var capacity = 64 * 1024
        if fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 {
            capacity = Int(status.st_size) + 1
        }
        var buffer = [UInt8](repeating: 0, count: min(capacity, limit + 1))
        var count = 0
        while true {
            if count == buffer.count {
                if buffer.count > limit { throw SystemError("read more than \(limit) bytes from", path: name, errno: EFBIG) }
                // Doubling with a memset-fast array (repeatElement is slow in debug builds).
                buffer.append(contentsOf: [UInt8](repeating: 0, count: min(buffer.count, limit + 1 - buffer.count)))
            }
            let n = buffer.withUnsafeMutableBytes { raw in
                LibC.read(fd, raw.baseAddress! + count, raw.count - count)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read", path: name)
            }
            if n == 0 { break }
            count += n
        }
        if count > limit { throw SystemError("read more than \(limit) bytes from", path: name, errno: EFBIG) }
        buffer.removeSubrange(count...)
        return buffer
    }

    /// Reads a whole file.
    public static func readFile(_ path: String, limit: Int = maximumInputSize) throws(SystemError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        return try readAll(fd: fd, name: path, limit: limit)
    }

    /// Opens a file, retrying on EINTR; always adds `O_CLOEXEC` so children never inherit it.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws(SystemError) -> Int32 {
        while true {
            let fd = LibC.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw SystemError("open", path: path)
        }
    }

    /// Writes all of `bytes` (one `write` call when the kernel accepts it whole, which for a
    /// regular file opened with `O_APPEND` makes the record atomic with respect to other writers).
    public static func writeAll(fd: Int32, _ bytes: [UInt8], name: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in LibC.write(fd, raw.baseAddress! + offset, raw.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write", path: name)
            }
            offset += n
        }
    }

    /// Writes to standard output; a closed pipe (the reader went away) is not an error worth a crash.
    public static func writeStandardOutput(_ bytes: [UInt8]) throws(SystemError) {
        try writeAll(fd: STDOUT_FILENO, bytes, name: "standard output")
    }

    /// Writes to standard error, ignoring failures (there is nowhere left to report them).
    public static func writeStandardError(_ text: String) {
        try? writeAll(fd: STDERR_FILENO, Array(text.utf8), name: "standard error")
    }

    /// The permission bits of a file (`0o600`), following symbolic links.
    public static func permissions(of path: String) throws(SystemError) -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { throw SystemError("stat", path: path) }
        return status.st_mode & 0o7777
    }

    /// Closes a descriptor (errors from close are not actionable here).
    public static func closeDescriptor(_ fd: Int32) {
        _ = LibC.close(fd)
    }

    /// True when `path` exists.
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}

/// Process-wide signal setup.
public enum Signals {
    /// Ignores SIGPIPE so that a closed pipe is an `EPIPE` error, not a silent death.
    public static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }
}

/// The process environment.
public enum Environment {
    /// The value of an environment variable.
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

/// Terminal checks.
public enum Terminal {
    /// True when the descriptor is a terminal.
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}

/// Ends the process with `status` (atexit handlers and stdio flushing run, as with `exit`).
public func exitProcess(_ status: Int32) -> Never {
    exit(status)
}

/// The process's environment as a dictionary (for children that should inherit it).
public enum ProcessEnvironment {
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

/// This process.
public enum ProcessID {
    /// The process ID.
    public static var current: Int32 { getpid() }
}

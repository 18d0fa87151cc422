import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An exclusive `flock(2)` lock on a file, held until ``release()`` or deinit.
///
/// The lock belongs to the open file description, so it excludes other processes and also other
/// `FileLock`s on the same file in this process. The kernel drops it if the process dies.
/// The lock file itself stays: removing it would let two holders lock two different files.
public final class FileLock: Sendable {
    /// The lock file.
    public let path: String
    /// The open descriptor, or -1 once released.
    private let descriptor: Mutex<Int32>

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    /// Opens (creating it `0600` if needed) the lock file and takes an exclusive lock on it,
    /// retrying with short sleeps for up to `timeout` seconds (`0`: try once).
    ///
    /// Throws `EWOULDBLOCK` ("cannot get the lock within 5 s on …") when another holder keeps it
    /// for the whole `timeout`, or the error from `open`/`flock`.
    public static func acquire(path: String, timeout: Double) throws(SystemError) -> FileLock {
        let fd: Int32
        do throws(SystemError) {
            fd = try FileIO.open(path, flags: O_RDWR | O_CREAT, mode: 0o600)
        } catch  where error.errno == EACCES && FileIO.exists(path) {
            fd = try FileIO.open(path, flags: O_RDONLY)  // someone else's lock file: reading is enough
        }
        let deadline = SystemTime.monotonicSeconds() + (timeout.isNaN ? 0 : min(max(timeout, 0), 1e9))
        var pause = 0.001
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return FileLock(path: path, descriptor: fd) }
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(fd)
                throw SystemError("lock", path: path, errno: code)
            }
            let left = deadline - SystemTime.monotonicSeconds()
            guard left > 0 else {
                close(fd)
                throw SystemError("get the lock within \(secondsText(timeout)) s on", path: path, errno: EWOULDBLOCK)
            }
            SystemTime.sleep(seconds: min(pause, left))
            pause = min(pause * 2, 0.05)
        }
    }

    /// Whether this object still holds the lock.
    public var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

    /// Releases the lock (closing the descriptor); later calls do nothing.
    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            // Closing the only descriptor of the open file description drops the lock.
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}

/// `5`, `0.25`: a duration for messages, without trailing zeros.
func secondsText(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "\(seconds)" }
    if seconds == seconds.rounded(), abs(seconds) < 1e15 { return String(Int(seconds)) }
    let millis = (seconds * 1000).rounded() / 1000
    return "\(millis)"
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A failed system call: what was attempted, on what, and the `errno` it returned.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation, in words (`"open"`, `"read"`, `"rename"`).
    public var operation: String
    /// The file or other object it was attempted on, when there is one.
    public var path: String?
    public var errno: Int32

    /// Words that replace the system's message, when they say more.
    public var detail: String?

    public init(_ operation: String, path: String? = nil, errno: Int32 = LibC.errorNumber, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    /// The system's message for ``errno`` (`"Permission denied"`), or ``detail``.
    public var message: String { detail ?? String(cString: strerror(errno)) }

    public var description: String {
        if let path { return "cannot \(operation) \(path): \(message)" }
        return "cannot \(operation): \(message)"
    }
}

/// `errno` values callers outside this module need to name.
public enum Errno {
    public static let protocolNotSupported: Int32 = EPROTONOSUPPORT
    public static let illegalByteSequence: Int32 = EILSEQ
    public static let noSuchFile: Int32 = ENOENT
    public static let wouldBlock: Int32 = EWOULDBLOCK
    /// A symbolic link refused by `O_NOFOLLOW`.
    public static let symbolicLink: Int32 = ELOOP
    /// Not a regular file (or not the kind of file expected).
    public static let invalid: Int32 = EINVAL
    /// Refused by permissions (a state directory others may change).
    public static let notPermitted: Int32 = EPERM
    public static let readOnlyFileSystem: Int32 = EROFS
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reading a secret (an API token) from a file that only its owner can read.
///
/// The file is opened without following a symbolic link (a link could point the handler at
/// any file it can read) and without blocking (a FIFO in its place would hang the handler),
/// and it must be a regular file of mode 0600 or 0400: a secret others can read is refused
/// rather than used.
public enum SecretFile {
    /// Why a secret file was refused.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case symbolicLink
        case notRegularFile
        /// Permission bits other than 0600 or 0400.
        case mode(UInt32)
        case tooLarge(limit: Int)
        /// Opening or reading failed (the system's words).
        case system(String)

        public var description: String {
            switch self {
            case .symbolicLink: return "is a symbolic link: give the file itself"
            case .notRegularFile: return "is not a regular file"
            case .mode(let mode):
                let digits = String(mode, radix: 8)
                return "has mode \(String(repeating: "0", count: max(0, 4 - digits.count)) + digits): a secret file must be 0600 or 0400"
            case .tooLarge(let limit): return "is larger than \(limit) bytes"
            case .system(let detail): return detail
            }
        }

        /// True when the file exists but is refused for what it is (as opposed to an I/O error).
        public var isRefusal: Bool {
            switch self {
            case .symbolicLink, .notRegularFile, .mode: return true
            case .tooLarge, .system: return false
            }
        }
    }

    /// The file's bytes, read through ``FileIO/readRegularFile(_:limit:)`` (what is checked is
    /// what is read: the mode comes from the open descriptor).
    public static func read(_ path: String, limit: Int = 64 * 1024) throws(Failure) -> [UInt8] {
        let file: (bytes: [UInt8], mode: mode_t)
        do { file = try FileIO.readRegularFile(path, limit: limit) } catch {
            switch error.errno {
            case ELOOP: throw .symbolicLink
            case EINVAL: throw .notRegularFile
            case EFBIG: throw .tooLarge(limit: limit)
            default: throw .system(error.description)
            }
        }
        let mode = UInt32(file.mode)
        guard mode == 0o600 || mode == 0o400 else { throw .mode(mode) }
        return file.bytes
    }
}

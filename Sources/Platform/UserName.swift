#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Who is running this process, for the journal of operator commands (`consul-heal silence`):
/// `$USER`, else `$LOGNAME` (what `sudo` and login shells set for the person), else the name of
/// the effective user ID in the password database, else `uid N`.
public enum UserName {
    /// Longer names are cut: a journal field, not a place to store data.
    public static let maximumLength = 64

    public static func current(environment: (String) -> String?) -> String {
        for variable in ["USER", "LOGNAME"] {
            if let name = environment(variable), !name.isEmpty { return bounded(name) }
        }
        let uid = geteuid()
        var buffer = [CChar](repeating: 0, count: 4096)
        let fromDatabase: String? = buffer.withUnsafeMutableBufferPointer { storage in
            var entry = passwd()
            var found: UnsafeMutablePointer<passwd>?
            guard let base = storage.baseAddress, getpwuid_r(uid, &entry, base, storage.count, &found) == 0, found != nil, let name = entry.pw_name else {
                return nil
            }
            return String(cString: name)  // read while the buffer it points into is alive
        }
        if let fromDatabase, !fromDatabase.isEmpty { return bounded(fromDatabase) }
        return "uid \(uid)"
    }

    static func bounded(_ name: String) -> String {
        name.utf8.count <= maximumLength ? name : String(decoding: Array(name.utf8.prefix(maximumLength)), as: UTF8.self)
    }
}

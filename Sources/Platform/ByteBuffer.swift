import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A payload's bytes, read once and never copied: the decode path borrows them through
/// `withUnsafeBytes` (``ContiguousBytes``).
///
/// Standard input is a pipe whose size is unknown until end of file. Growing an array by
/// doubling holds the old and the new copy at once (3× the payload at the last growth, and
/// the memset of the new half on top), so ``read(fd:name:limit:)`` instead reserves address
/// space for the whole input bound up front (`mmap`, `MAP_NORESERVE`) and lets the kernel
/// back only the pages that `read` fills: memory stays at the payload's size. The unused
/// tail of the reservation is returned at end of file.
public final class ByteBuffer: @unchecked Sendable, ContiguousBytes, RandomAccessCollection {
    private enum Storage {
        case array([UInt8])
        /// A private anonymous mapping of `mapped` bytes holding `count` bytes of data.
        case mapping(UnsafeMutableRawPointer, mapped: Int)
    }

    private let storage: Storage
    public let count: Int

    /// Bytes held in an array (an HTTP body, a test's payload).
    public init(_ bytes: [UInt8]) {
        storage = .array(bytes)
        count = bytes.count
    }

    private init(mapping: UnsafeMutableRawPointer, mapped: Int, count: Int) {
        storage = .mapping(mapping, mapped: mapped)
        self.count = count
    }

    deinit {
        if case .mapping(let base, let mapped) = storage { munmap(base, mapped) }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .array(let bytes): return try bytes.withUnsafeBytes(body)
        case .mapping(let base, _): return try body(UnsafeRawBufferPointer(start: base, count: count))
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < count, "index out of range")
        switch storage {
        case .array(let bytes): return bytes[position]
        case .mapping(let base, _): return base.load(fromByteOffset: position, as: UInt8.self)
        }
    }

    /// The bytes as an array (a copy: for the rare paths that keep them, such as dead letters).
    public var array: [UInt8] {
        if case .array(let bytes) = storage { return bytes }
        return withUnsafeBytes { [UInt8]($0) }
    }

    /// Reads a descriptor to end of file, refusing more than `limit` bytes (EFBIG).
    public static func read(fd: Int32, name: String, limit: Int = FileIO.maximumInputSize) throws(SystemError) -> ByteBuffer {
        let page = Swift.max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        let reserved = (limit + 1 + page - 1) / page * page
        guard let raw = mmap(nil, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
            raw != UnsafeMutableRawPointer(bitPattern: -1)
        else {
            // No address space to reserve (a strict overcommit policy): read into an array.
            return ByteBuffer(try FileIO.readAll(fd: fd, name: name, limit: limit))
        }
        var count = 0
        while count <= limit {
            let n = Glibc.read(fd, raw + count, Swift.min(reserved - count, 1 << 20))
            if n < 0 {
                if errno == EINTR { continue }
                let failure = SystemError("read", path: name)
                munmap(raw, reserved)
                throw failure
            }
            if n == 0 { break }
            count += n
        }
        if count > limit {
            munmap(raw, reserved)
            throw SystemError("read more than \(limit) bytes from", path: name, errno: EFBIG)
        }
        // Give back the address space beyond the data (whole pages; at least one page is kept).
        let kept = Swift.max(page, (count + page - 1) / page * page)
        if kept < reserved { munmap(raw + kept, reserved - kept) }
        return ByteBuffer(mapping: raw, mapped: kept, count: count)
    }

    /// Reads a whole file (see ``read(fd:name:limit:)``).
    public static func readFile(_ path: String, limit: Int = FileIO.maximumInputSize) throws(SystemError) -> ByteBuffer {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.closeDescriptor(fd) }
        return try Self.read(fd: fd, name: path, limit: limit)
    }
}

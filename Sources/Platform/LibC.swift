#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// libc calls under names that no method shadows, and the socket constants Glibc imports as
/// enums but Musl as plain integers: spelled once here, so that no file says `Glibc.` and both
/// C libraries compile.
@usableFromInline
enum LibC {
    #if canImport(Musl)
        static let streamSocket = Int32(SOCK_STREAM)
        static let closeOnExecSocket = Int32(SOCK_CLOEXEC)
        static let nonBlockingSocket = Int32(SOCK_NONBLOCK)
    #else
        static let streamSocket = Int32(SOCK_STREAM.rawValue)
        static let closeOnExecSocket = Int32(SOCK_CLOEXEC.rawValue)
        static let nonBlockingSocket = Int32(SOCK_NONBLOCK.rawValue)
    #endif

    /// The calling thread's `errno` (a parameter named `errno` hides the global).
    @usableFromInline
    static var errorNumber: Int32 { libcErrno() }

    @discardableResult
    static func close(_ fd: Int32) -> Int32 { libcClose(fd) }
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { libcRead(fd, buffer, count) }
    static func write(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { libcWrite(fd, buffer, count) }
    static func send(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int { libcSend(fd, buffer, count, flags) }
    static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ flags: Int32) -> Int { libcRecv(fd, buffer, count, flags) }
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { libcOpen(path, flags, mode) }
    static func rename(_ source: String, _ destination: String) -> Int32 { libcRename(source, destination) }
    static func fsync(_ fd: Int32) -> Int32 { libcFsync(fd) }
    static func accept(_ fd: Int32) -> Int32 { libcAccept(fd) }
    static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 { libcConnect(fd, address, length) }
}

// Free functions: at file scope the unqualified names are libc's, on either C library.
private func libcErrno() -> Int32 { errno }
private func libcClose(_ fd: Int32) -> Int32 { close(fd) }
private func libcRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
private func libcWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
private func libcSend(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int { send(fd, buffer, count, flags) }
private func libcRecv(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ flags: Int32) -> Int { recv(fd, buffer, count, flags) }
private func libcOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func libcRename(_ source: String, _ destination: String) -> Int32 { rename(source, destination) }
private func libcFsync(_ fd: Int32) -> Int32 { fsync(fd) }
private func libcAccept(_ fd: Int32) -> Int32 { accept(fd, nil, nil) }
private func libcConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 { connect(fd, address, length) }

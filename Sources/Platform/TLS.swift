import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The system's OpenSSL, loaded with `dlopen` the first time an https URL is used, so that
/// http-only handlers never load it and the toolkit needs no TLS package of its own.
final class TLS: @unchecked Sendable {
    // @unchecked: immutable after init (function pointers and the library handle).
    typealias Method = @convention(c) () -> OpaquePointer?
    typealias CTXNew = @convention(c) (OpaquePointer?) -> OpaquePointer?
    typealias CTXInt = @convention(c) (OpaquePointer?) -> Int32
    typealias CTXLoad = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32
    typealias CTXVerify = @convention(c) (OpaquePointer?, Int32, OpaquePointer?) -> Void
    typealias SSLNew = @convention(c) (OpaquePointer?) -> OpaquePointer?
    typealias SSLSetFD = @convention(c) (OpaquePointer?, Int32) -> Int32
    typealias SSLCtrl = @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int
    typealias SSLSetHost = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32
    typealias SSLInt = @convention(c) (OpaquePointer?) -> Int32
    typealias SSLLong = @convention(c) (OpaquePointer?) -> Int
    typealias SSLIO = @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32) -> Int32
    typealias SSLWrite = @convention(c) (OpaquePointer?, UnsafeRawPointer?, Int32) -> Int32
    typealias SSLError = @convention(c) (OpaquePointer?, Int32) -> Int32
    typealias SSLFree = @convention(c) (OpaquePointer?) -> Void
    typealias VerifyString = @convention(c) (Int) -> UnsafePointer<CChar>?

    let clientMethod: Method
    let ctxNew: CTXNew
    let ctxDefaultPaths: CTXInt
    let ctxLoad: CTXLoad
    let ctxVerify: CTXVerify
    let ctxFree: SSLFree
    let sslNew: SSLNew
    let setFD: SSLSetFD
    let ctrl: SSLCtrl
    let setHost: SSLSetHost
    let connectSSL: SSLInt
    let verifyResult: SSLLong
    let readSSL: SSLIO
    let writeSSL: SSLWrite
    let errorSSL: SSLError
    let pendingSSL: SSLInt
    let freeSSL: SSLFree
    let shutdownSSL: SSLInt
    /// `X509_verify_cert_error_string` (libcrypto, found through libssl), for the reason in words.
    let verifyString: VerifyString?

    private static let state = Mutex<TLS?>(nil)

    /// The library, once loaded.
    static var loaded: TLS? { state.withLock { $0 } }

    /// Loads OpenSSL once.
    static func shared() throws(HTTPConnection.Failure) -> TLS {
        let result: Result<TLS, HTTPConnection.Failure> = state.withLock { state in
            if let state { return .success(state) }
            do throws(HTTPConnection.Failure) {
                let tls = try load()
                state = tls
                return .success(tls)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func load() throws(HTTPConnection.Failure) -> TLS {
        var library: UnsafeMutableRawPointer?
        for name in ["libssl.so.3", "libssl.so.1.1", "libssl.so"] where library == nil { library = dlopen(name, RTLD_NOW) }
        guard let handle = library else {
            throw .tls("https needs the system's OpenSSL (libssl.so.3), which could not be loaded")
        }
        func symbol<T>(_ name: String, as type: T.Type) throws(HTTPConnection.Failure) -> T {
            guard let pointer = dlsym(handle, name) else { throw .tls("OpenSSL lacks \(name)") }
            return unsafeBitCast(pointer, to: type)
        }
        let tls = TLS(
            clientMethod: try symbol("TLS_client_method", as: Method.self), ctxNew: try symbol("SSL_CTX_new", as: CTXNew.self),
            ctxDefaultPaths: try symbol("SSL_CTX_set_default_verify_paths", as: CTXInt.self),
            ctxLoad: try symbol("SSL_CTX_load_verify_locations", as: CTXLoad.self), ctxVerify: try symbol("SSL_CTX_set_verify", as: CTXVerify.self),
            ctxFree: try symbol("SSL_CTX_free", as: SSLFree.self), sslNew: try symbol("SSL_new", as: SSLNew.self),
            setFD: try symbol("SSL_set_fd", as: SSLSetFD.self),
            ctrl: try symbol("SSL_ctrl", as: SSLCtrl.self), setHost: try symbol("SSL_set1_host", as: SSLSetHost.self),
            connectSSL: try symbol("SSL_connect", as: SSLInt.self), verifyResult: try symbol("SSL_get_verify_result", as: SSLLong.self),
            readSSL: try symbol("SSL_read", as: SSLIO.self), writeSSL: try symbol("SSL_write", as: SSLWrite.self),
            errorSSL: try symbol("SSL_get_error", as: SSLError.self), pendingSSL: try symbol("SSL_pending", as: SSLInt.self),
            freeSSL: try symbol("SSL_free", as: SSLFree.self), shutdownSSL: try symbol("SSL_shutdown", as: SSLInt.self),
            verifyString: dlsym(handle, "X509_verify_cert_error_string").map { unsafeBitCast($0, to: VerifyString.self) })
        return tls
    }

    private init(
        clientMethod: Method, ctxNew: CTXNew, ctxDefaultPaths: CTXInt, ctxLoad: CTXLoad, ctxVerify: CTXVerify, ctxFree: SSLFree, sslNew: SSLNew,
        setFD: SSLSetFD, ctrl: SSLCtrl, setHost: SSLSetHost, connectSSL: SSLInt, verifyResult: SSLLong, readSSL: SSLIO,
        writeSSL: SSLWrite, errorSSL: SSLError, pendingSSL: SSLInt, freeSSL: SSLFree, shutdownSSL: SSLInt, verifyString: VerifyString?
    ) {
        self.clientMethod = clientMethod
        self.ctxNew = ctxNew
        self.ctxDefaultPaths = ctxDefaultPaths
        self.ctxLoad = ctxLoad
        self.ctxVerify = ctxVerify
        self.ctxFree = ctxFree
        self.sslNew = sslNew
        self.setFD = setFD
        self.ctrl = ctrl
        self.setHost = setHost
        self.connectSSL = connectSSL
        self.verifyResult = verifyResult
        self.readSSL = readSSL
        self.writeSSL = writeSSL
        self.errorSSL = errorSSL
        self.pendingSSL = pendingSSL
        self.freeSSL = freeSSL
        self.shutdownSSL = shutdownSSL
        self.verifyString = verifyString
    }

    /// Performs a verified client handshake on a connected socket.
    func handshake(fd: Int32, host: String, caFile: String?, deadline: Double) throws(HTTPConnection.Failure) -> OpaquePointer {
        guard let context = ctxNew(clientMethod()) else { throw .tls("cannot create a TLS context") }
        // The session takes its own reference to the context: this one is let go of on every
        // path, or each connection (and each failed handshake) leaks a context.
        defer { ctxFree(context) }
        if let caFile {
            guard ctxLoad(context, caFile, nil) == 1 else { throw .tls("cannot load CA certificates from \(caFile)") }
        } else {
            _ = ctxDefaultPaths(context)
        }
        let verifyPeer: Int32 = 1  // SSL_VERIFY_PEER
        ctxVerify(context, verifyPeer, nil)
        guard let ssl = sslNew(context) else { throw .tls("cannot create a TLS session") }
        guard setFD(ssl, fd) == 1 else {
            freeSSL(ssl)
            throw .tls("cannot attach the TLS session to the socket")
        }
        let setHostName: Int32 = 55  // SSL_CTRL_SET_TLSEXT_HOSTNAME
        _ = host.withCString { name in ctrl(ssl, setHostName, 0, UnsafeMutableRawPointer(mutating: name)) }
        // Without the name to check, verification would accept any valid certificate.
        guard host.withCString({ setHost(ssl, $0) }) == 1 else {
            freeSSL(ssl)
            throw .tls("cannot set \(host) as the name to verify")
        }
        while true {
            let result = connectSSL(ssl)
            if result == 1 { break }
            let code = errorSSL(ssl, result)
            guard code == 2 || code == 3 else {
                let verify = verifyResult(ssl)
                freeSSL(ssl)
                guard verify == 0 else {
                    let words = verifyString?(verify).map { String(cString: $0) }
                    throw .untrustedCertificate(host: host, reason: words.map { "\($0), OpenSSL verify error \(verify)" } ?? "OpenSSL verify error \(verify)")
                }
                throw .tls("handshake with \(host) failed")
            }
            var descriptor = pollfd(fd: fd, events: Int16(code == 2 ? POLLIN : POLLOUT), revents: 0)
            let remaining = deadline - SystemTime.monotonicSeconds()
            guard remaining > 0, poll(&descriptor, 1, Int32((remaining * 1000).rounded(.up))) >= 0 else {
                freeSSL(ssl)
                throw .timedOut
            }
        }
        return ssl
    }

    func read(_ ssl: OpaquePointer, _ buffer: UnsafeMutableRawPointer, _ count: Int32) -> Int { Int(readSSL(ssl, buffer, count)) }
    func write(_ ssl: OpaquePointer, _ buffer: UnsafeRawPointer, _ count: Int32) -> Int { Int(writeSSL(ssl, buffer, count)) }
    func error(_ ssl: OpaquePointer, _ result: Int32) -> Int32 { errorSSL(ssl, result) }
    func pending(_ ssl: OpaquePointer) -> Int32 { pendingSSL(ssl) }
    func free(_ ssl: OpaquePointer) {
        _ = shutdownSSL(ssl)
        freeSSL(ssl)
    }
}

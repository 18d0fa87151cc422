/// The toolkit's version: printed by `--version`, sent as the HTTP `User-Agent`, in the release
/// tarball's name (the Makefile reads it from here).
public let toolkitVersion = "0.1.0"

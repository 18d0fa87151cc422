import ConsulWatch
import Platform

/// One payload to handle: its bytes and a name for messages (`stdin` or the file's path).
///
/// The bytes are read once into a ``ByteBuffer`` and borrowed by the decoder, never copied,
/// so a delivery through a pipe costs about its own size in memory (docs/benchmarks.md).
public struct Input: Sendable {
    public var name: String
    public var bytes: ByteBuffer

    public init(name: String, bytes: ByteBuffer) {
        self.name = name
        self.bytes = bytes
    }

    public init(name: String, bytes: [UInt8]) {
        self.init(name: name, bytes: ByteBuffer(bytes))
    }

    /// Reads the named files in order, or standard input when there are none.
    ///
    /// Standard input is read to end of file before anything else happens: Consul writes the
    /// payload into a pipe and waits, so a handler must drain it first. A terminal on stdin is
    /// refused, since a handler waiting for a payload that no one will type looks like a hang.
    public static func read(files: [String], stdinIsTerminal: Bool = Terminal.isTerminal(0)) throws(CommandError) -> [Input] {
        if files.isEmpty || files == ["-"] {
            if stdinIsTerminal {
                throw .usage("no input: pipe a Consul watch payload on standard input, or name a file")
            }
            do {
                return [Input(name: "stdin", bytes: try ByteBuffer.read(fd: 0, name: "standard input"))]
            } catch {
                throw CommandError(.ioError, error.description)
            }
        }
        var inputs: [Input] = []
        for path in files {
            do {
                inputs.append(Input(name: path, bytes: try ByteBuffer.readFile(path)))
            } catch {
                throw CommandError(.ioError, error.description)
            }
        }
        return inputs
    }

    /// Selects checks from this payload, turning payload problems into exit status 65.
    /// `tracksPopulation`: false when the population's names are not needed (no policy).
    public func select(_ options: SelectionOptions, consulIndex: UInt64?, tracksPopulation: Bool = true) throws(CommandError) -> Selection {
        do {
            return try Selection.select(
                from: bytes, criteria: options.criteria, type: options.type, consulIndex: consulIndex, tracksPopulation: tracksPopulation)
        } catch {
            throw CommandError(.dataError, "\(name): \(error.description)")
        }
    }
}

/// `CONSUL_INDEX`, which Consul sets for every handler it runs.
public enum ConsulIndex {
    /// Parses the variable: absent → nil; present, it must be an unsigned 64-bit integer
    /// (event watches use hashes above Int64.max).
    public static func parse(_ text: String?) throws(CommandError) -> UInt64? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = UInt64(text) else {
            throw .usage("CONSUL_INDEX must be an unsigned integer, not '\(text.prefix(40))'")
        }
        return value
    }
}

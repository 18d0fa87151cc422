import Platform
import Synchronization

/// Where records go: a file, appended to, or standard output. Each record is one `write`, so
/// records from concurrent handlers never interleave (O_APPEND writes of a line are atomic on
/// a local file system).
public final class LogSink: Sendable {
    /// The destination.
    public enum Destination: Sendable, Hashable {
        case standardOutput
        /// A file, created with mode 0640 if missing; never a symbolic link.
        case file(String, fsync: Bool)
        /// Kept in memory (tests, `explain`).
        case memory
    }

    public let destination: Destination
    public let format: LogFormat
    private let stored = Mutex<[LogRecord]>([])

    public init(destination: Destination, format: LogFormat) {
        self.destination = destination
        self.format = format
    }

    /// Checks that the destination can be written, before any work is done (an unwritable log
    /// file is an error at the start, not a silent loss at the end).
    public func prepare() throws(SystemError) {
        if case .file(let path, _) = destination {
            // A new log is 0640 whatever the umask (set on the descriptor, not the path); an
            // existing one keeps the mode its owner chose. A symbolic link is refused.
            let fd = try FileIO.openForAppend(path, mode: 0o640)
            FileIO.closeDescriptor(fd)
        }
    }

    /// Writes one record.
    public func write(_ record: LogRecord) throws(SystemError) {
        switch destination {
        case .memory:
            stored.withLock { $0.append(record) }
        case .standardOutput:
            try FileIO.writeStandardOutput(format.render(record))
        case .file(let path, let fsync):
            try AtomicFile.appendRecord(path: path, bytes: format.render(record), mode: 0o640, fsync: fsync)
        }
    }

    /// The records written to a `.memory` sink.
    public var records: [LogRecord] { stored.withLock { $0 } }
}

/// The log sink as an action: one `check` record per check of the incident.
public struct LogAction: Action {
    public let name = "log"
    public let sink: LogSink

    public init(sink: LogSink) { self.sink = sink }

    public func perform(_ incident: Incident, context: ActionContext) -> Outcome {
        if context.dryRun { return .skipped(reason: "would write \(incident.checks.count) record(s)") }
        do {
            for check in incident.checks {
                var record = LogRecord.check(check, time: context.clock.now())
                record.add("incident", incident.id)
                try sink.write(record)
            }
            return .done(detail: "wrote \(incident.checks.count) record(s)")
        } catch {
            return .failed(reason: error.description, retryable: true)
        }
    }
}

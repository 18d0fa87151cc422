import ConsulWatch

/// Splits a command line into options and operands, the way POSIX utilities and
/// swift-argument-parser do: `--name value`, `--name=value`, `-h`, and `--` to end options.
///
/// It knows nothing of a command's options; each command's pure `parse` function drives it and
/// asks for values, so the parse is a value tests can call.
public struct ArgumentScanner: Sendable {
    private var remaining: ArraySlice<String>
    private var optionsEnded = false

    public init(_ arguments: [String]) {
        remaining = arguments[...]
    }

    /// A token of the command line.
    public enum Token: Sendable, Equatable {
        /// `--name` or `-n`, with the value after `=` when one was attached.
        case option(String, attached: String?)
        /// An operand (a file, or a word after `--`).
        case operand(String)
    }

    /// The operands after `--`, when the caller wants them whole (`consul-redeploy -- CMD ARGS`).
    public private(set) var afterDoubleDash: [String]? = nil

    /// The next token, or nil at the end.
    public mutating func next() -> Token? {
        guard let word = remaining.popFirst() else { return nil }
        if optionsEnded { return .operand(word) }
        if word == "--" {
            afterDoubleDash = Array(remaining)
            remaining = []
            return nil
        }
        if word.hasPrefix("--") {
            if let equals = word.firstIndex(of: "=") {
                return .option(String(word[..<equals]), attached: String(word[word.index(after: equals)...]))
            }
            return .option(word, attached: nil)
        }
        if word.hasPrefix("-") && word.count > 1 {
            return .option(word, attached: nil)
        }
        return .operand(word)
    }

    /// The value of `option`: the attached one, or the next word.
    public mutating func value(for option: String, attached: String?) throws(CommandError) -> String {
        if let attached { return attached }
        guard let word = remaining.popFirst() else { throw .usage("option \(option) needs a value") }
        return word
    }

    /// Refuses a value attached to a flag that takes none (`--count=yes`).
    public static func flag(_ option: String, attached: String?) throws(CommandError) {
        if attached != nil { throw .usage("option \(option) takes no value") }
    }

    /// An integer value within `range`.
    public mutating func integer(for option: String, attached: String?, in range: ClosedRange<Int>) throws(CommandError) -> Int {
        let text = try value(for: option, attached: attached)
        guard let number = Int(text), range.contains(number) else {
            throw .usage("option \(option) takes a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return number
    }

    /// One of an enumeration's raw values; the error lists them all
    /// (`--group-by takes service, instance or node, not 'x'`).
    public mutating func choice<T: RawRepresentable & CaseIterable>(_: T.Type, for option: String, attached: String?) throws(CommandError) -> T
    where T.RawValue == String {
        let text = try value(for: option, attached: attached)
        if let value = T(rawValue: text) { return value }
        let names = T.allCases.map(\.rawValue)
        let list =
            names.count > 4
            ? "one of " + names.joined(separator: ", ")
            : names.dropLast().joined(separator: ", ") + " or " + names.last!
        throw .usage("\(option) takes \(list), not '\(text)'")
    }

    /// A duration with its unit, in Go's form: `30s`, `500ms`, `5m`, `1h30m`. Returns seconds.
    /// A bare number is refused: `--timeout 30` could mean seconds or milliseconds.
    public mutating func duration(for option: String, attached: String?) throws(CommandError) -> Double {
        let text = try value(for: option, attached: attached)
        guard let seconds = Duration.parseSeconds(text, bareSeconds: false) else {
            let hint = Double(text) != nil ? " (a number needs a unit: '\(text)s' for seconds)" : ""
            throw .usage("option \(option) takes a duration such as 30s, 500ms, 5m or 1h30m, not '\(text)'\(hint)")
        }
        return seconds
    }
}

extension ArgumentScanner {
    /// How a walk over a command line ended.
    public enum Walk: Sendable, Equatable {
        case help
        case version
        /// Every word was consumed; these came after `--`.
        case done(afterDoubleDash: [String])
    }

    /// Walks a command line the way every executable of the toolkit does: operands go to
    /// `operand`; `-h`/`--help` and `--version` end the walk; every other option goes to
    /// `option`, which consumes it (and its value) and returns true, or returns false for an
    /// option it does not know, which is a usage error.
    public static func walk(
        _ arguments: [String], operand: (String) throws(CommandError) -> Void,
        option: (String, String?, inout ArgumentScanner) throws(CommandError) -> Bool
    ) throws(CommandError) -> Walk {
        var scanner = ArgumentScanner(arguments)
        while let token = scanner.next() {
            switch token {
            case .operand(let word):
                try operand(word)
            case .option("-h", _), .option("--help", _):
                return .help
            case .option("--version", _):
                return .version
            case .option(let name, let attached):
                if try !option(name, attached, &scanner) { throw .usage("unknown option \(name)") }
            }
        }
        return .done(afterDoubleDash: scanner.afterDoubleDash ?? [])
    }
}

/// What a command line asks for.
public enum Invocation<Options: Sendable>: Sendable {
    case help
    case version
    case run(Options)
}

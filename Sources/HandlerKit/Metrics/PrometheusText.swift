/// The Prometheus text exposition format (version 0.0.4), written by a pure function: the
/// textfile-collector file and `serve`'s `GET /metrics` are the same bytes.
public enum PrometheusText {
    /// What `GET /metrics` answers with.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public enum MetricType: String, Sendable, Hashable { case counter, gauge }

    /// One label: a name of `[a-zA-Z_][a-zA-Z0-9_]*`, any UTF-8 value.
    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public struct Sample: Sendable, Hashable {
        public var labels: [Label]
        public var value: Double
        public init(_ labels: [Label] = [], _ value: Double) {
            self.labels = labels
            self.value = value
        }
    }

    /// A metric's name, type, help and samples: one `# HELP`, one `# TYPE`, then the samples.
    public struct Family: Sendable, Hashable {
        public var name: String
        public var type: MetricType
        public var help: String
        public var samples: [Sample]
        public init(_ name: String, _ type: MetricType, help: String, samples: [Sample]) {
            self.name = name
            self.type = type
            self.help = help
            self.samples = samples
        }
    }

    /// The exposition of `families`, in the order given, samples sorted by their labels so that
    /// the output is stable. Every line ends with a line feed, the last one included.
    public static func render(_ families: [Family]) -> String {
        var text = ""
        for family in families {
            precondition(isValidName(family.name), "invalid metric name \(family.name)")
            text += "# HELP \(family.name) \(escapeHelp(family.help))\n"
            text += "# TYPE \(family.name) \(family.type.rawValue)\n"
            let samples = family.samples.sorted { labelText($0.labels) < labelText($1.labels) }
            for sample in samples {
                text += family.name + labelText(sample.labels) + " " + format(sample.value) + "\n"
            }
        }
        return text
    }

    /// `{a="1",b="2"}`, or nothing without labels.
    static func labelText(_ labels: [Label]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{"
            + labels.map { label in
                precondition(isValidName(label.name, colon: false), "invalid label name \(label.name)")
                return "\(label.name)=\"\(escapeLabelValue(label.value))\""
            }.joined(separator: ",") + "}"
    }

    /// Label values escape backslash, double quote and line feed.
    public static func escapeLabelValue(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// Help text escapes backslash and line feed.
    public static func escapeHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    /// Whole numbers without a fraction (counters read best that way), others as Swift prints
    /// them (shortest round-trip), and the spec's `NaN`, `+Inf`, `-Inf`.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` (label names: no colon).
    public static func isValidName(_ name: String, colon: Bool = true) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        func letter(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("A"..."Z").contains(s) || s == "_" || (colon && s == ":") }
        return letter(first) && name.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }
}

import ConsulWatch

/// Values the metrics keep across runs, stored in the state: counters (decisions, actions) and
/// times (the last successful action). A handler is a short-lived process, so a counter that
/// must keep rising between scrapes has to live where the next run finds it.
public struct MetricSeries: Sendable, Equatable {
    public struct Key: Sendable, Hashable {
        public var name: String
        public var labels: [PrometheusText.Label]
    }

    public var values: [Key: Double] = [:]

    public init() {}

    public mutating func add(_ name: String, _ labels: [PrometheusText.Label], _ amount: Double = 1) {
        values[Key(name: name, labels: labels.sorted { $0.name < $1.name }), default: 0] += amount
    }

    public mutating func set(_ name: String, _ labels: [PrometheusText.Label], _ value: Double) {
        values[Key(name: name, labels: labels.sorted { $0.name < $1.name })] = value
    }

    /// The samples of one metric.
    public func samples(_ name: String) -> [PrometheusText.Sample] {
        values.filter { $0.key.name == name }.map { PrometheusText.Sample($0.key.labels, $0.value) }
    }

    /// `[{"name": …, "labels": {…}, "value": …}]`, sorted.
    public func write(to writer: inout JSONWriter) {
        let keys = values.keys.sorted { ($0.name, PrometheusText.labelText($0.labels)) < ($1.name, PrometheusText.labelText($1.labels)) }
        writer.array(keys) { key, writer in
            writer.object { object in
                object.field("name", key.name)
                object.field("labels") { writer in
                    writer.object { labels in for label in key.labels { labels.field(label.name, label.value) } }
                }
                object.field("value", values[key]!)
            }
        }
    }

    /// Reads ``write(to:)``'s form; entries that do not fit are dropped, not fatal (metrics
    /// never stop a handler).
    public init(json: JSONValue) {
        guard case .array(let entries) = json else { return }
        for entry in entries {
            guard case .object(let f) = entry, case .string(let name)? = f["name"], case .number(let text)? = f["value"], let value = Double(text),
                PrometheusText.isValidName(name)
            else { continue }
            var labels: [PrometheusText.Label] = []
            if case .object(let members)? = f["labels"] {
                for labelName in members.keys.sorted() {
                    guard case .string(let labelValue)? = members[labelName], PrometheusText.isValidName(labelName, colon: false) else { continue }
                    labels.append(.init(labelName, labelValue))
                }
            }
            values[Key(name: name, labels: labels)] = value
        }
    }
}

import ConsulWatch

/// How `consul-critical` prints the selected checks.
public enum CheckFormat: String, Sendable, CaseIterable {
    /// One JSON object per selected check (the default; schema in docs/consul-critical.md).
    case jsonl
    /// One JSON array of those objects.
    case json
    /// Unique service names, one per line (what the seed's jq filter printed); control
    /// characters and backslashes in a name are escaped, so a line is always one name.
    case names
    /// An aligned table for people.
    case table

    /// Renders `checks` (and, for `names`, the service names) in this format.
    public func render(_ checks: [SelectedCheck], serviceNames: [String]) -> [UInt8] {
        switch self {
        case .jsonl:
            var writer = JSONWriter()
            for check in checks {
                check.writeJSON(to: &writer)
                writer.append(raw: "\n")
            }
            return writer.bytes
        case .json:
            var writer = JSONWriter()
            writer.array(checks) { check, writer in check.writeJSON(to: &writer) }
            writer.append(raw: "\n")
            return writer.bytes
        case .names:
            var bytes: [UInt8] = []
            for name in serviceNames {
                // One name per line, always: control characters and backslashes escaped.
                bytes.append(contentsOf: DisplayText.escape(name, backslash: true).utf8)
                bytes.append(0x0A)
            }
            return bytes
        case .table:
            return Array(Self.table(checks).utf8)
        }
    }

    /// KIND SERVICE NODE CHECK STATUS OUTPUT, columns aligned; output cut to its first line.
    static func table(_ checks: [SelectedCheck]) -> String {
        let header = ["KIND", "SERVICE", "NODE", "CHECK", "STATUS", "OUTPUT"]
        let rows = checks.map { check -> [String] in
            let firstLine = check.output.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let output = firstLine.count > 72 ? String(firstLine.prefix(71)) + "…" : firstLine
            return [check.kind.rawValue, check.service ?? "-", check.node, check.checkID, check.status.rawValue, output].map { DisplayText.escape($0) }
        }
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                if column == cells.count - 1 {
                    text += cell
                } else {
                    text += cell + String(repeating: " ", count: widths[column] - cell.count + 2)
                }
            }
            return text + "\n"
        }
        return ([header] + rows).map(line).joined()
    }
}

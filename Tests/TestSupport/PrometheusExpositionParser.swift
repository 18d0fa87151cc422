import Foundation

/// A strict parser of the Prometheus text exposition format 0.0.4, written from the spec
/// (prometheus.io/docs/instrumenting/exposition_formats): it refuses what Prometheus would,
/// so a test that parses our output proves a scraper can read it. `prometheus_client` is not
/// a dependency CI can be sure to have, hence this.
///
/// Checked: every line ends with a line feed; `# HELP name text` and `# TYPE name type` at
/// most once per name, TYPE before the first sample; metric and label names match the name
/// grammar; label values are quoted with only `\\`, `\"`, `\n` escapes; no duplicate label
/// names, no duplicate series; values are Go floats (`NaN`, `+Inf`, `-Inf` included); the
/// samples of one family are contiguous; counters are not negative.
public enum PrometheusExpositionParser {
    public struct Sample: Equatable, Sendable {
        public var name: String
        public var labels: [String: String]
        public var value: Double

        public init(name: String, labels: [String: String], value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }
    }

    public struct Family: Equatable, Sendable {
        public var name: String
        public var type: String
        public var help: String?
        public var samples: [Sample]
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func parse(_ text: String) throws -> [String: Family] {
        guard text.isEmpty || text.hasSuffix("\n") else { throw ParseError(line: 0, message: "the last line must end with a line feed") }
        var families: [String: Family] = [:]
        var order: [String] = []
        var seenSeries: Set<String> = []
        var lastFamily: String?
        var closed: Set<String> = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        for (offset, raw) in lines.enumerated() {
            let number = offset + 1
            func fail(_ message: String) -> ParseError { ParseError(line: number, message: message) }
            let line = String(raw)
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if line.hasPrefix("#") {
                let tokens = line.dropFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
                guard tokens.count >= 2, tokens[0] == "HELP" || tokens[0] == "TYPE" else { continue }  // a plain comment
                let name = tokens[1]
                guard isName(name, colon: true) else { throw fail("invalid metric name \(name)") }
                if let last = lastFamily, last != name { closed.insert(last) }
                if closed.contains(name) { throw fail("\(name): metadata after its samples ended") }
                var family = families[name] ?? Family(name: name, type: "untyped", help: nil, samples: [])
                if families[name] == nil { order.append(name) }
                if tokens[0] == "HELP" {
                    guard family.help == nil else { throw fail("a second HELP for \(name)") }
                    family.help = try unescape(tokens.count > 2 ? tokens[2] : "", quote: false, line: number)
                } else {
                    guard tokens.count == 3, ["counter", "gauge", "histogram", "summary", "untyped"].contains(tokens[2]) else { throw fail("bad TYPE line") }
                    guard family.samples.isEmpty else { throw fail("TYPE for \(name) after its samples") }
                    guard family.type == "untyped" || families[name]?.type == nil else { throw fail("a second TYPE for \(name)") }
                    family.type = tokens[2]
                }
                families[name] = family
                lastFamily = name
                continue
            }
            // name{labels} value [timestamp]
            var index = line.startIndex
            while index < line.endIndex, line[index] != "{", line[index] != " ", line[index] != "\t" { index = line.index(after: index) }
            let name = String(line[..<index])
            guard isName(name, colon: true) else { throw fail("invalid metric name \(name)") }
            var labels: [String: String] = [:]
            if index < line.endIndex, line[index] == "{" {
                index = line.index(after: index)
                while true {
                    guard index < line.endIndex else { throw fail("unterminated label set") }
                    if line[index] == "}" {
                        index = line.index(after: index)
                        break
                    }
                    var end = index
                    while end < line.endIndex, line[end] != "=" { end = line.index(after: end) }
                    let labelName = String(line[index..<end]).trimmingCharacters(in: .whitespaces)
                    guard isName(labelName, colon: false), !labelName.hasPrefix("__") else { throw fail("invalid label name \(labelName)") }
                    guard end < line.endIndex else { throw fail("label \(labelName) has no value") }
                    index = line.index(after: end)
                    guard index < line.endIndex, line[index] == "\"" else { throw fail("label value of \(labelName) is not quoted") }
                    index = line.index(after: index)
                    var value = ""
                    var closedQuote = false
                    while index < line.endIndex {
                        let c = line[index]
                        if c == "\\" {
                            let next = line.index(after: index)
                            guard next < line.endIndex else { throw fail("dangling backslash") }
                            switch line[next] {
                            case "\\": value.append("\\")
                            case "\"": value.append("\"")
                            case "n": value.append("\n")
                            default: throw fail("invalid escape \\\(line[next]) in label \(labelName)")
                            }
                            index = line.index(after: next)
                        } else if c == "\"" {
                            closedQuote = true
                            index = line.index(after: index)
                            break
                        } else {
                            value.append(c)
                            index = line.index(after: index)
                        }
                    }
                    guard closedQuote else { throw fail("unterminated label value") }
                    guard labels[labelName] == nil else { throw fail("duplicate label \(labelName)") }
                    labels[labelName] = value
                    guard index < line.endIndex else { throw fail("unterminated label set") }
                    if line[index] == "," { index = line.index(after: index) } else if line[index] != "}" { throw fail("expected , or } after a label") }
                }
            }
            let rest = line[index...].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard rest.count == 1 || rest.count == 2 else { throw fail("expected a value and an optional timestamp") }
            guard let value = goFloat(rest[0]) else { throw fail("invalid value \(rest[0])") }
            if rest.count == 2, Int64(rest[1]) == nil { throw fail("invalid timestamp \(rest[1])") }
            let series = name + "|" + labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: ",")
            guard seenSeries.insert(series).inserted else { throw fail("duplicate series \(series)") }
            if let last = lastFamily, last != name { closed.insert(last) }
            if closed.contains(name) { throw fail("samples of \(name) are not contiguous") }
            var family = families[name] ?? Family(name: name, type: "untyped", help: nil, samples: [])
            if families[name] == nil { order.append(name) }
            if family.type == "counter", value < 0 || value.isNaN { throw fail("counter \(name) is \(value)") }
            family.samples.append(Sample(name: name, labels: labels, value: value))
            families[name] = family
            lastFamily = name
        }
        return families
    }

    static func isName(_ name: String, colon: Bool) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        func letter(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("A"..."Z").contains(s) || s == "_" || (colon && s == ":") }
        return letter(first) && name.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }

    static func goFloat(_ text: String) -> Double? {
        switch text {
        case "NaN": return .nan
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        default:
            guard text.allSatisfy({ "0123456789.eE+-".contains($0) }) else { return nil }
            return Double(text)
        }
    }

    static func unescape(_ text: String, quote: Bool, line: Int) throws -> String {
        var out = ""
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            guard c == "\\" else {
                out.append(c)
                continue
            }
            switch iterator.next() {
            case "\\": out.append("\\")
            case "n": out.append("\n")
            default: throw ParseError(line: line, message: "invalid escape in HELP")
            }
        }
        return out
    }
}

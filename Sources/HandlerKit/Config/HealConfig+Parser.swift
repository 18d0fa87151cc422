import ConsulWatch
import Platform

extension HealConfig {
    /// Walks the JSON with its path, so every error names where it is.
    struct Parser {
        func fail(_ path: String, _ message: String) -> HealConfig.Error { HealConfig.Error(path: path, message: message) }

        func object(_ value: JSONValue?, _ path: String, allowed: Set<String>) throws(HealConfig.Error) -> [String: JSONValue] {
            guard case .object(let members)? = value else { throw fail(path, "expected an object") }
            for key in members.keys.sorted() where !allowed.contains(key) {
                throw fail(path + "." + key, "unknown setting (known here: \(allowed.sorted().joined(separator: ", ")))")
            }
            return members
        }

        func string(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> String? {
            guard let value else { return nil }
            guard case .string(let text) = value, !text.isEmpty else { throw fail(path, "expected a non-empty string") }
            return text
        }

        func strings(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> [String] {
            guard let value else { return [] }
            if case .string(let one) = value { return [one] }
            guard case .array(let list) = value else { throw fail(path, "expected a string or an array of strings") }
            var result: [String] = []
            for (index, item) in list.enumerated() {
                guard case .string(let text) = item else { throw fail("\(path)[\(index)]", "expected a string") }
                result.append(text)
            }
            return result
        }

        func int(_ value: JSONValue?, _ path: String, _ range: ClosedRange<Int>) throws(HealConfig.Error) -> Int? {
            guard let value else { return nil }
            guard case .number(let text) = value, let number = Int(text), range.contains(number) else {
                throw fail(path, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }

        func bool(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> Bool? {
            guard let value else { return nil }
            guard case .bool(let flag) = value else { throw fail(path, "expected true or false") }
            return flag
        }

        /// A duration: a string such as "30s", "5m", "1h", or a number of seconds.
        func duration(_ value: JSONValue?, _ path: String) throws(HealConfig.Error) -> Double? {
            guard let value else { return nil }
            switch value {
            case .number(let text):
                if let seconds = Double(text), seconds >= 0 { return seconds }
            case .string(let text):
                if let seconds = Duration.parseSeconds(text) { return seconds }
            default: break
            }
            throw fail(path, "expected a duration such as \"30s\", \"5m\" or \"1h\"")
        }

        func template(_ text: String, _ path: String) throws(HealConfig.Error) -> Template {
            do { return try Template(text) } catch { throw fail(path, error.description) }
        }
    }
}

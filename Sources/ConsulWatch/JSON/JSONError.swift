/// Why a payload could not be read, and exactly where.
///
/// Every error carries the byte offset, the line and column (1-based) and, for a value of the
/// wrong type, the JSON path of the offending value (`$[3].ServiceTags[0]`), so that an operator
/// can find the problem in a 20 MB payload with one look.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Problem: Sendable, Equatable {
        /// The input held no JSON value at all (empty, or only white space).
        case emptyInput
        /// The input ended inside a value.
        case unexpectedEnd(expected: String)
        /// A byte that cannot stand here.
        case unexpectedByte(UInt8, expected: String)
        /// A string that is not valid UTF-8.
        case invalidUTF8
        /// A backslash escape JSON does not know (`\x`, a bad `\u`).
        case invalidEscape
        /// A raw control character (below U+0020) inside a string.
        case controlCharacter(UInt8)
        /// A number outside the range of the field (a negative index, an index above UInt64.max).
        case numberOutOfRange(String, expected: String)
        /// Valid JSON, but the wrong kind of value for the field.
        case typeMismatch(expected: String, found: String)
        /// A field the model cannot do without (`CheckID`, `Node`, `Key`, `ID`) is absent.
        case missingField(String)
        /// Another value follows the top-level value.
        case trailingData
        /// More than ``JSONReader/maximumDepth`` nested arrays and objects.
        case nestingTooDeep(Int)
    }

    /// One step of the path to a value.
    public enum PathComponent: Sendable, Equatable {
        case index(Int)
        case key(String)
    }

    public var problem: Problem
    /// Byte offset (0-based) where the problem was found.
    public var offset: Int
    /// 1-based line of ``offset``.
    public var line: Int
    /// 1-based column (in bytes) of ``offset``.
    public var column: Int
    /// Where in the document the value sits, outermost first.
    public var path: [PathComponent]

    public init(_ problem: Problem, offset: Int, line: Int, column: Int, path: [PathComponent] = []) {
        self.problem = problem
        self.offset = offset
        self.line = line
        self.column = column
        self.path = path
    }

    /// The path in the `$[0].Field` notation of JSONPath.
    public var pathDescription: String {
        var text = "$"
        for component in path {
            switch component {
            case .index(let index): text += "[\(index)]"
            case .key(let key):
                if key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) && !key.isEmpty {
                    text += ".\(key)"
                } else {
                    text += "[\"\(key)\"]"
                }
            }
        }
        return text
    }

    /// True for errors that mean "this is not JSON at all" rather than "JSON of the wrong shape".
    public var isSyntaxError: Bool {
        switch problem {
        case .typeMismatch, .missingField, .numberOutOfRange: return false
        default: return true
        }
    }

    public var description: String {
        let place = "line \(line), column \(column) (byte \(offset))"
        switch problem {
        case .emptyInput:
            return "empty input: expected a JSON watch payload"
        case .unexpectedEnd(let expected):
            return "truncated JSON: input ends at \(place), expected \(expected)"
        case .unexpectedByte(let byte, let expected):
            return "invalid JSON at \(place): unexpected \(Self.describe(byte)), expected \(expected)"
        case .invalidUTF8:
            return "invalid UTF-8 in a string at \(place)"
        case .invalidEscape:
            return "invalid JSON at \(place): bad escape sequence in a string"
        case .controlCharacter(let byte):
            return "invalid JSON at \(place): unescaped control character \(Self.describe(byte)) in a string"
        case .numberOutOfRange(let text, let expected):
            return "wrong value at \(pathDescription) (\(place)): \(text) is not \(expected)"
        case .typeMismatch(let expected, let found):
            return "wrong type at \(pathDescription) (\(place)): expected \(expected), found \(found)"
        case .missingField(let name):
            return "missing field \"\(name)\" in the object at \(pathDescription) (\(place))"
        case .trailingData:
            return "invalid JSON at \(place): unexpected data after the payload"
        case .nestingTooDeep(let depth):
            return "invalid JSON at \(place): nested deeper than \(depth) levels"
        }
    }

    static func describe(_ byte: UInt8) -> String {
        switch byte {
        case 0x20...0x7E: return "'\(Character(Unicode.Scalar(byte)))'"
        default: return "byte 0x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
}

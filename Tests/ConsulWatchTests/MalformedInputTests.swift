import ConsulWatch
import Foundation
import TestSupport
import Testing

/// Bad input: every case throws a `JSONError` that says what is wrong and where (byte offset,
/// line and column, and the JSON path for a value of the wrong shape). Nothing crashes.
@Suite("Malformed input")
struct MalformedInputTests {
    static let critical = Fixtures.bytes("checks-state-critical-one.json")

    // MARK: Empty

    @Test("empty input and white space only", arguments: ["", " ", "\n", " \t\r\n  \n"])
    func emptyInput(text: String) throws {
        let error = try #require(decodeError(Array(text.utf8)))
        #expect(error.problem == .emptyInput)
        #expect(error.isSyntaxError)
        #expect(error.description == "empty input: expected a JSON watch payload")
        #expect(throws: SelectionError.invalidPayload(error)) {
            try Selection.select(from: Array(text.utf8), criteria: SelectionCriteria())
        }
    }

    // MARK: Truncation

    /// Every proper prefix of a real payload is reported as truncated (or empty), at its end.
    static func checkPrefixes(of bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let full = try WatchPayload.decode(bytes)
        for length in 0..<bytes.count {
            let prefix = Array(bytes[..<length])
            let isValidJSON = (try? JSONSerialization.jsonObject(with: Data(prefix), options: [.fragmentsAllowed])) != nil
            if isValidJSON {
                // Only the whole document without its final newline (and trailing white space) is valid.
                #expect(try WatchPayload.decode(prefix) == full, "prefix of \(length) bytes", sourceLocation: sourceLocation)
                continue
            }
            let attempts: [(String, () throws -> Void)] = [
                ("decode", { _ = try WatchPayload.decode(prefix) }),
                ("decode as checks", { _ = try WatchPayload.decode(prefix, as: .checks) }),
                ("select", { _ = try Selection.select(from: prefix, criteria: SelectionCriteria()) }),
                ("select any status as checks", { _ = try Selection.select(from: prefix, criteria: .with(statuses: []), type: .checks) }),
            ]
            for (name, attempt) in attempts {
                var caught: JSONError?
                do {
                    try attempt()
                } catch let error as JSONError {
                    caught = error
                } catch SelectionError.invalidPayload(let error) {
                    caught = error
                } catch {
                    Issue.record("\(name), prefix of \(length) bytes: unexpected error \(error)", sourceLocation: sourceLocation)
                    continue
                }
                guard let error = caught else {
                    Issue.record("\(name), prefix of \(length) bytes: no error", sourceLocation: sourceLocation)
                    continue
                }
                let blank = prefix.allSatisfy { [0x20, 0x0A, 0x0D, 0x09].contains($0) }
                if blank {
                    #expect(error.problem == .emptyInput, "\(name), prefix of \(length) bytes", sourceLocation: sourceLocation)
                    continue
                }
                guard case .unexpectedEnd = error.problem else {
                    Issue.record("\(name), prefix of \(length) bytes: expected a truncation error, got \(error)", sourceLocation: sourceLocation)
                    continue
                }
                #expect(error.isSyntaxError, sourceLocation: sourceLocation)
                #expect(error.offset == length, "\(name), prefix of \(length) bytes: \(error)", sourceLocation: sourceLocation)
                let (line, column) = lineAndColumn(of: length, in: prefix)
                #expect(error.line == line && error.column == column, "\(name), prefix of \(length) bytes: \(error)", sourceLocation: sourceLocation)
                #expect(
                    error.description.hasPrefix("truncated JSON: input ends at line \(line), column \(column) (byte \(length))"), sourceLocation: sourceLocation
                )
            }
        }
    }

    @Test("every prefix of checks-state-critical-one.json is a truncation error at its end, never a crash")
    func everyPrefixOfHandlerPayload() throws {
        try Self.checkPrefixes(of: Self.critical)
    }

    @Test("every prefix of the indented CLI dump: line and column of the end are right")
    func everyPrefixOfIndentedDump() throws {
        try Self.checkPrefixes(of: Fixtures.bytes("consul-watch-checks-state-critical.txt"))
    }

    @Test(
        "truncated service payload, cut in several places",
        arguments: [1, 2, 10, 100, 500, 1000, 2000, 3000, 4000, 4440])
    func truncatedServicePayload(length: Int) throws {
        let bytes = Array(Fixtures.bytes("service-health.json")[..<length])
        let error = try #require(decodeError(bytes))
        guard case .unexpectedEnd = error.problem else {
            Issue.record("expected a truncation error, got \(error)")
            return
        }
        #expect(error.offset == length)
    }

    // MARK: UTF-8

    @Test(
        "invalid UTF-8 inside a string is reported at the bad byte",
        arguments: [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0x80], [0xF5, 0x80, 0x80, 0x80]] as [[UInt8]])
    func invalidUTF8(bad: [UInt8]) throws {
        // In a field the model keeps (Node) and in one it skips (an unknown field), and in a key name.
        let template = Self.critical
        for (needle, replacement) in [
            (#""Node":"web-02""#, Array(#""Node":"web-"#.utf8) + bad + Array(#"02""#.utf8)),
            (#""Type":"http""#, Array(#""Type":"ht"#.utf8) + bad + Array(#"tp""#.utf8)),
            (#""CheckID""#, Array(#""Unknown":"x"#.utf8) + bad + Array(#"","CheckID""#.utf8)),
            (#""Notes""#, Array(#""No"#.utf8) + bad + Array(#"tes""#.utf8)),
        ] {
            let bytes = replacing(needle, with: replacement, in: template)
            let badOffset = try #require(offset(of: needle, in: template)) + replacement.prefix { $0 < 0x80 }.count
            for type in [nil, WatchType.checks] {
                let error = try #require(decodeError(bytes, as: type))
                #expect(error.problem == .invalidUTF8, "\(needle): \(error)")
                #expect(error.offset == badOffset, "\(needle): \(error)")
                #expect(error.line == 1 && error.column == badOffset + 1)
                #expect(error.description == "invalid UTF-8 in a string at line 1, column \(badOffset + 1) (byte \(badOffset))")
            }
            #expect(throws: (any Error).self) { try Selection.select(from: bytes, criteria: SelectionCriteria()) }
        }
    }

    @Test("valid multi-byte UTF-8 and escaped non-BMP characters decode")
    func validUnicode() throws {
        let bytes = replacing(#""Notes":"""#, with: #""Notes":"café ☃ 😀 \ud83d\ude00 \u00e9 \/ \"q\" \\ \t""#, in: Self.critical)
        let check = try #require(try WatchPayload.decode(bytes).checks?.first)
        #expect(check.notes == "café ☃ 😀 😀 é / \"q\" \\ \t")
    }

    @Test("bytes that cannot start a value are reported as such")
    func invalidByteOutsideStrings() throws {
        let bytes = [UInt8](#"[{"Node":"#.utf8) + [0xFF] + Array(#"}]"#.utf8)
        for type in [nil, WatchType.checks] {
            let error = try #require(decodeError(bytes, as: type))
            #expect(error.problem == .unexpectedByte(0xFF, expected: "a value"))
            #expect(error.offset == 9)
            #expect(error.description == "invalid JSON at line 1, column 10 (byte 9): unexpected byte 0xFF, expected a value")
        }
    }

    // MARK: Shape

    @Test("a JSON object where the checks array belongs (--type checks)")
    func objectInsteadOfArray() throws {
        let error = try #require(decodeError(Fixtures.bytes("key.json"), as: .checks))
        #expect(error.problem == .typeMismatch(expected: "an array", found: "an object"))
        #expect(error.path == [])
        #expect(error.offset == 0 && error.line == 1 && error.column == 1)
        #expect(error.description == "wrong type at $ (line 1, column 1 (byte 0)): expected an array, found an object")
        #expect(throws: SelectionError.invalidPayload(error)) {
            try Selection.select(from: Fixtures.bytes("key.json"), criteria: SelectionCriteria(), type: .checks)
        }

        // A single check object without the array, type detected: not a payload of any watch.
        let single = Array(Self.critical.dropFirst().dropLast(2)) + [0x0A]
        let detected = try #require(decodeError(single))
        guard case .typeMismatch = detected.problem else {
            Issue.record("expected a type mismatch, got \(detected)")
            return
        }
        #expect(detected.offset == 0)
        #expect(throws: (any Error).self) { try Selection.select(from: single, criteria: SelectionCriteria()) }
    }

    @Test("top-level scalars are not watch payloads", arguments: ["5", "\"checks\"", "true"])
    func scalarPayload(text: String) throws {
        let error = try #require(decodeError(Array(text.utf8)))
        guard case .typeMismatch = error.problem else {
            Issue.record("expected a type mismatch, got \(error)")
            return
        }
        #expect(error.offset == 0)
        #expect(!error.isSyntaxError)
    }

    struct WrongType: Sendable, CustomTestStringConvertible {
        var original: String
        var replacement: String
        var path: String
        var expected: String
        var found: String
        /// Where the offending value starts, counted from the start of `replacement`.
        var valueOffset: Int

        var testDescription: String { replacement }
    }

    static let wrongTypes: [WrongType] = [
        WrongType(
            original: #""ServiceTags":["production","v2"]"#, replacement: #""ServiceTags":5"#, path: "$[0].ServiceTags", expected: "an array",
            found: "a number", valueOffset: 14),
        WrongType(original: #""Status":"critical""#, replacement: #""Status":null"#, path: "$[0].Status", expected: "a string", found: "null", valueOffset: 9),
        WrongType(
            original: #""ModifyIndex":48391"#, replacement: #""ModifyIndex":"48391""#, path: "$[0].ModifyIndex", expected: "an unsigned integer",
            found: "a string", valueOffset: 14),
        WrongType(
            original: #""Interval":"10s""#, replacement: #""Interval":10"#, path: "$[0].Definition.Interval", expected: "a string", found: "a number",
            valueOffset: 11),
        WrongType(
            original: #""TLSSkipVerify":false"#, replacement: #""TLSSkipVerify":"false""#, path: "$[0].Definition.TLSSkipVerify", expected: "a boolean",
            found: "a string", valueOffset: 16),
        WrongType(
            original: #""ServiceTags":["production","v2"]"#, replacement: #""ServiceTags":["production",2]"#, path: "$[0].ServiceTags[1]", expected: "a string",
            found: "a number", valueOffset: 28),
        WrongType(
            original: #""Definition":{"#, replacement: #""Definition":[],"X":{"#, path: "$[0].Definition", expected: "an object", found: "an array",
            valueOffset: 13),
        WrongType(
            original: #""Output":"HTTP"#, replacement: #""Output":{},"X":"HTTP"#, path: "$[0].Output", expected: "a string", found: "an object", valueOffset: 9),
    ]

    @Test("a field of the wrong type: path, line and column", arguments: Self.wrongTypes)
    func wrongFieldType(_ wrong: WrongType) throws {
        let bytes = replacing(wrong.original, with: wrong.replacement, in: Self.critical)
        let at = try #require(offset(of: wrong.original, in: Self.critical)) + wrong.valueOffset
        for type in [nil, WatchType.checks] {
            let error = try #require(decodeError(bytes, as: type))
            #expect(error.problem == .typeMismatch(expected: wrong.expected, found: wrong.found))
            #expect(error.pathDescription == wrong.path)
            #expect(error.offset == at)
            #expect(error.line == 1 && error.column == at + 1)
            #expect(
                error.description == "wrong type at \(wrong.path) (line 1, column \(at + 1) (byte \(at))): expected \(wrong.expected), found \(wrong.found)")
            #expect(!error.isSyntaxError)
            #expect(throws: SelectionError.invalidPayload(error)) {
                try Selection.select(from: bytes, criteria: SelectionCriteria(), type: type)
            }
        }
    }

    @Test("a wrong field type in the indented dump reports the right line and column")
    func wrongFieldTypeMultiline() throws {
        let dump = Fixtures.bytes("consul-watch-checks-state-critical.txt")
        let bytes = replacing("\"ServiceTags\": [\n            \"production\",\n            \"v2\"\n        ]", with: "\"ServiceTags\": 5", in: dump)
        let valueOffset = try #require(offset(of: "\"ServiceTags\": 5", in: bytes)) + "\"ServiceTags\": ".utf8.count
        let (line, column) = lineAndColumn(of: valueOffset, in: bytes)
        #expect(line == 11 && column == 24)
        let error = try #require(decodeError(bytes))
        #expect(error.pathDescription == "$[0].ServiceTags")
        #expect(error.offset == valueOffset)
        #expect(error.line == line)
        #expect(error.column == column)
        #expect(error.description.contains("line \(line), column \(column) (byte \(valueOffset))"))
    }

    @Test("a wrong type deep in a service payload has the full path")
    func wrongTypeInServicePayload() throws {
        let bytes = replacing(#""Status":"critical""#, with: #""Status":7"#, in: Fixtures.bytes("service-health.json"))
        let error = try #require(decodeError(bytes))
        #expect(error.pathDescription == "$[1].Checks[2].Status")
        #expect(error.problem == .typeMismatch(expected: "a string", found: "a number"))
        let portBytes = replacing(#""Port":8080"#, with: #""Port":"8080""#, in: Fixtures.bytes("service-health.json"))
        #expect(decodeError(portBytes)?.pathDescription == "$[0].Service.Port")
        let metaBytes = replacing(#""consul-version":"1.20.2""#, with: #""consul-version":1.2"#, in: Fixtures.bytes("service-health.json"))
        #expect(decodeError(metaBytes)?.pathDescription == #"$[0].Node.Meta["consul-version"]"#)
    }

    @Test(
        "missing required fields",
        arguments: [
            (#""CheckID":"service:web","#, "CheckID"), (#""Node":"web-02","#, "Node"), (#""Status":"critical","#, "Status"),
        ])
    func missingRequiredField(field: String, name: String) throws {
        let bytes = replacing(field, with: "", in: Self.critical)
        let error = try #require(decodeError(bytes, as: .checks))
        #expect(error.problem == .missingField(name))
        #expect(error.pathDescription == "$[0]")
        #expect(error.offset == 1)
        #expect(error.description == "missing field \"\(name)\" in the object at $[0] (line 1, column 2 (byte 1))")
        #expect(throws: SelectionError.invalidPayload(error)) {
            try Selection.select(from: bytes, criteria: SelectionCriteria(), type: .checks)
        }
    }

    @Test("a check without CheckID after a good one, type detected")
    func missingCheckIDInSecondCheck() throws {
        let second = Array(replacing(#""CheckID":"service:web","#, with: "", in: Self.critical).dropFirst().dropLast(2))
        let bytes = Array(Self.critical.dropLast(2)) + [UInt8(ascii: ",")] + second + Array("]\n".utf8)
        let error = try #require(decodeError(bytes))
        #expect(error.problem == .missingField("CheckID"))
        #expect(error.pathDescription == "$[1]")
        #expect(error.offset == Self.critical.count - 2 + 1)
        #expect(throws: SelectionError.invalidPayload(error)) {
            try Selection.select(from: bytes, criteria: SelectionCriteria())
        }
        // Also when the incomplete check would not be selected anyway (streaming skips its model).
        let passing = replacing(
            #"},{"Node":"web-02","Name":"Service 'web' check","Status":"critical""#,
            with: #"},{"Node":"web-02","Name":"Service 'web' check","Status":"passing""#, in: bytes)
        let passingError = try #require(decodeError(passing))
        #expect(passingError.problem == .missingField("CheckID"))
        #expect(throws: SelectionError.invalidPayload(passingError)) {
            try Selection.select(from: passing, criteria: SelectionCriteria())
        }
    }

    // MARK: Strings

    @Test("raw control characters inside a string", arguments: [0x00, 0x01, 0x0A, 0x0D, 0x09, 0x1F] as [UInt8])
    func controlCharacter(byte: UInt8) throws {
        let bytes = replacing(#""Notes":"""#, with: Array(#""Notes":"a"#.utf8) + [byte] + Array(#"b""#.utf8), in: Self.critical)
        let expectedOffset = try #require(offset(of: #""Notes":"a"#, in: bytes)) + #""Notes":"a"#.utf8.count
        let error = try #require(decodeError(bytes))
        #expect(error.problem == .controlCharacter(byte))
        #expect(error.offset == expectedOffset)
        let hex = String(byte, radix: 16, uppercase: true)
        #expect(error.description.contains("unescaped control character byte 0x\(hex.count == 1 ? "0" + hex : hex) in a string"))
        #expect(error.isSyntaxError)
    }

    @Test(
        "bad escape sequences and lone surrogates",
        arguments: [
            #"\x41"#, #"\u00G1"#, #"\u12"#, #"\"#, #"\ud800"#, #"\udc00"#, #"\ud800\u0041"#, #"\ud800x"#, #"\U0041"#, #"\'"#,
        ])
    func badEscape(escape: String) throws {
        let bytes = replacing(#""Notes":"""#, with: #""Notes":"ok "# + escape + #"""#, in: Self.critical)
        let stringStart = try #require(offset(of: #""Notes":"ok "#, in: bytes)) + #""Notes":"ok "#.utf8.count
        for type in [nil, WatchType.checks] {
            let error = try #require(decodeError(bytes, as: type))
            if escape == #"\"# {
                // `"ok \"` escapes the closing quote: the string runs on into the next member name.
                #expect(error.isSyntaxError, "\(error)")
                continue
            }
            #expect(error.problem == .invalidEscape, "\(escape): \(error)")
            #expect(error.offset >= stringStart && error.offset <= stringStart + escape.utf8.count, "\(escape): \(error)")
            #expect(error.description.contains("bad escape sequence"))
        }
        // The same bad escape in a field selection skips (an unknown field) is still refused.
        let skipped = replacing(#""Notes":"""#, with: #""Notes":"","Unknown":"ok "# + escape + #"""#, in: Self.critical)
        #expect(throws: (any Error).self) { try Selection.select(from: skipped, criteria: SelectionCriteria()) }
        #expect(throws: (any Error).self) { try Selection.select(from: skipped, criteria: .with(statuses: [.passing])) }
    }

    // MARK: Trailing data

    @Test("data after the payload", arguments: ["x", "]", ",", "[]", "null", "{}"])
    func trailingGarbage(suffix: String) throws {
        let bytes = Self.critical + Array(suffix.utf8)
        let error = try #require(decodeError(bytes))
        #expect(error.problem == .trailingData)
        #expect(error.offset == Self.critical.count)
        #expect(error.line == 2 && error.column == 1)
        #expect(error.description == "invalid JSON at line 2, column 1 (byte \(Self.critical.count)): unexpected data after the payload")
        #expect(throws: SelectionError.invalidPayload(error)) { try Selection.select(from: bytes, criteria: SelectionCriteria()) }
    }

    @Test("two payloads back to back are refused; trailing white space is fine")
    func twoPayloads() throws {
        #expect(decodeError(Self.critical + Self.critical)?.problem == .trailingData)
        #expect(try WatchPayload.decode(Self.critical + Array(" \n\t\r\n".utf8)) == (try WatchPayload.decode(Self.critical)))
        #expect(decodeError(Array("[] []".utf8))?.problem == .trailingData)
    }

    // MARK: Nesting

    static let deep = 10_000

    @Test("10 000 nested arrays: nestingTooDeep, not a stack overflow")
    func deepArrays() throws {
        let open = [UInt8](repeating: UInt8(ascii: "["), count: Self.deep)
        let closed = open + [UInt8](repeating: UInt8(ascii: "]"), count: Self.deep)
        for bytes in [open, closed] {
            let error = try #require(decodeError(bytes))
            #expect(error.problem == .nestingTooDeep(JSONReader.maximumDepth), "\(error)")
            // Refused on reaching the limit, not after reading the whole input.
            #expect(error.offset == JSONReader.maximumDepth + 1)
            #expect(error.description.contains("nested deeper than \(JSONReader.maximumDepth) levels"))
            #expect(throws: SelectionError.invalidPayload(error)) { try Selection.select(from: bytes, criteria: SelectionCriteria()) }
        }
        // With the type given, the first element is simply not a check.
        #expect(decodeError(closed, as: .checks)?.problem == .typeMismatch(expected: "an object", found: "an array"))
    }

    @Test("deep nesting inside a check, a Proxy/Connect value, a services object", arguments: ["objects", "arrays"])
    func deepNestingInside(kind: String) throws {
        let open = kind == "arrays" ? "[" : #"{"a":"#
        let close = kind == "arrays" ? "]" : "}"
        let nested = String(repeating: open, count: Self.deep) + String(repeating: close, count: Self.deep)
        let inCheck = replacing(#""Notes":"""#, with: #""Notes":"","Future":"# + nested, in: Self.critical)
        let inService = replacing(#""Connect":{}"#, with: #""Connect":"# + nested, in: Fixtures.bytes("service-health.json"))
        let inServices = Array((#"{"web":[],"x":"# + nested + "}").utf8)
        let cases: [([UInt8], WatchType?)] = [(inCheck, nil), (inCheck, .checks), (inService, nil), (inService, .service), (inServices, nil)]
        for (bytes, type) in cases {
            let error = try #require(decodeError(bytes, as: type))
            #expect(error.problem == .nestingTooDeep(JSONReader.maximumDepth), "\(String(describing: type)): \(error)")
            for criteria in [SelectionCriteria.with(statuses: []), .with(statuses: [.passing])] {
                #expect(throws: SelectionError.invalidPayload(error)) { try Selection.select(from: bytes, criteria: criteria, type: type) }
            }
        }
    }

    @Test("nesting up to the limit is accepted")
    func nestingAtTheLimit() throws {
        // The unknown field's value adds depth to the array (1) and the check object (2).
        let depth = JSONReader.maximumDepth - 2
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let bytes = replacing(#""Notes":"""#, with: #""Notes":"","Future":"# + nested, in: Self.critical)
        #expect(try WatchPayload.decode(bytes) == (try WatchPayload.decode(Self.critical)))
        let tooDeep = replacing(#""Notes":"""#, with: #""Notes":"","Future":["# + nested + "]", in: Self.critical)
        #expect(decodeError(tooDeep)?.problem == .nestingTooDeep(JSONReader.maximumDepth))
    }

    // MARK: Numbers

    @Test(
        "indexes out of the UInt64 range, negative, fractional or in exponent form",
        arguments: [
            ("18446744073709551616", "an unsigned 64-bit integer"),
            ("99999999999999999999999", "an unsigned 64-bit integer"),
            ("-1", "an unsigned integer"),
            ("-48391", "an unsigned integer"),
            ("1.5", "an unsigned integer"),
            ("48391.0", "an unsigned integer"),
            ("1e3", "an unsigned integer"),
        ])
    func indexOutOfRange(number: String, expected: String) throws {
        let bytes = replacing(#""ModifyIndex":48391"#, with: #""ModifyIndex":"# + number, in: Self.critical)
        let valueOffset = try #require(offset(of: #""ModifyIndex":"#, in: bytes)) + #""ModifyIndex":"#.utf8.count
        for type in [nil, WatchType.checks] {
            let error = try #require(decodeError(bytes, as: type))
            #expect(error.problem == .numberOutOfRange(number, expected: expected), "\(error)")
            #expect(error.pathDescription == "$[0].ModifyIndex")
            #expect(error.offset == valueOffset)
            #expect(
                error.description == "wrong value at $[0].ModifyIndex (line 1, column \(valueOffset + 1) (byte \(valueOffset))): \(number) is not \(expected)")
            #expect(throws: SelectionError.invalidPayload(error)) { try Selection.select(from: bytes, criteria: SelectionCriteria(), type: type) }
        }
        // The same number in a KV pair and an event.
        #expect(decodeError(Array((#"{"Key":"k","Flags":"# + number + "}").utf8))?.problem == .numberOutOfRange(number, expected: expected))
        #expect(decodeError(Array((#"[{"ID":"e","LTime":"# + number + "}]").utf8))?.problem == .numberOutOfRange(number, expected: expected))
    }

    @Test("malformed numbers are syntax errors", arguments: ["01", "-", "1.", "1e", "+1", ".5", "1e+", "0x10"])
    func malformedNumbers(number: String) throws {
        let bytes = replacing(#""CreateIndex":24"#, with: #""CreateIndex":"# + number, in: Self.critical)
        for type in [nil, WatchType.checks] {
            let error = try #require(decodeError(bytes, as: type))
            #expect(error.isSyntaxError, "\(number): \(error)")
        }
        // Also when the number sits in a field that is skipped.
        let skipped = replacing(#""Notes":"""#, with: #""Notes":"","Future":"# + number, in: Self.critical)
        let skippedError = try #require(decodeError(skipped))
        #expect(skippedError.isSyntaxError, "\(number) in a skipped field: \(skippedError)")
    }

    @Test("ports and other integers out of range")
    func intOutOfRange() throws {
        let bytes = replacing(#""ExposedPort":0"#, with: #""ExposedPort":9223372036854775808"#, in: Self.critical)
        let error = try #require(decodeError(bytes))
        #expect(error.problem == .numberOutOfRange("9223372036854775808", expected: "a 64-bit integer"))
        #expect(error.pathDescription == "$[0].ExposedPort")
        let negative = replacing(#""ExposedPort":0"#, with: #""ExposedPort":-21"#, in: Self.critical)
        #expect(try WatchPayload.decode(negative).checks?.first?.exposedPort == -21)
    }

    // MARK: Literals

    @Test("misspelt or cut literals are syntax errors, not type mismatches", arguments: ["fals", "falsy", "tru", "nul", "nulll", "True", "NULL", "f", "n"])
    func badLiterals(literal: String) throws {
        let inBool = replacing(#""TLSSkipVerify":false"#, with: #""TLSSkipVerify":"# + literal, in: Self.critical)
        let inOptionalObject = replacing(#""Header":null"#, with: #""Header":"# + literal, in: Self.critical)
        let inSkipped = replacing(#""Notes":"""#, with: #""Notes":"","Future":"# + literal, in: Self.critical)
        for bytes in [inBool, inOptionalObject, inSkipped] {
            let error = try #require(decodeError(bytes))
            #expect(error.isSyntaxError, "\(literal): \(error)")
            #expect(!error.description.contains("wrong type"))
        }
    }
}

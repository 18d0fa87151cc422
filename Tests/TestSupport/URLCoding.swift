import Foundation

extension FakeJenkins {
    /// A decoded name/value pair from a query string or a form body.
    public struct QueryItem: Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
        public var description: String { "\(name)=\(value)" }
    }
}

/// Percent-decoding and form parsing the way Stapler/Jetty do it.
enum URLCoding {
    /// Decodes `%XX` escapes as UTF-8, leaving `+` as a literal plus (Stapler `TokenList.decode`).
    /// A malformed escape is kept as it is.
    static func decodePathSegment(_ s: Substring) -> String {
        decode(s, plusIsSpace: false)
    }

    /// `application/x-www-form-urlencoded` component decoding: `+` is a space, `%XX` is UTF-8.
    static func decodeFormComponent(_ s: Substring) -> String {
        decode(s, plusIsSpace: true)
    }

    private static func decode(_ s: Substring, plusIsSpace: Bool) -> String {
        let input = Array(s.utf8)
        if !input.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) {
            return String(s)
        }
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var i = 0
        while i < input.count {
            let c = input[i]
            if c == UInt8(ascii: "%"), i + 2 < input.count, let hi = hexValue(input[i + 1]), let lo = hexValue(input[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else if plusIsSpace && c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Parses `a=1&b=2` (also a form body). Empty pieces are skipped; `a` alone is `a=""`.
    static func parseForm(_ s: String) -> [FakeJenkins.QueryItem] {
        s.split(separator: "&", omittingEmptySubsequences: true).map { piece in
            if let eq = piece.firstIndex(of: "=") {
                return FakeJenkins.QueryItem(
                    name: decodeFormComponent(piece[..<eq]),
                    value: decodeFormComponent(piece[piece.index(after: eq)...]))
            }
            return FakeJenkins.QueryItem(name: decodeFormComponent(piece), value: "")
        }
    }

    /// The text fields of a `multipart/form-data` body (file parts included, as UTF-8 text).
    static func parseMultipart(_ body: Data, contentType: String) -> [FakeJenkins.QueryItem] {
        guard let boundary = parameter("boundary", in: contentType), !boundary.isEmpty else { return [] }
        let bytes = [UInt8](body)
        let delimiter = Array("--\(boundary)".utf8)
        var positions: [Int] = []
        var i = 0
        while let found = find(delimiter, in: bytes, from: i) {
            positions.append(found)
            i = found + delimiter.count
        }
        var items: [FakeJenkins.QueryItem] = []
        for (n, position) in positions.enumerated() where n + 1 < positions.count {
            var partStart = position + delimiter.count
            // Skip the CRLF after the delimiter.
            if partStart + 1 < bytes.count && bytes[partStart] == 13 && bytes[partStart + 1] == 10 { partStart += 2 }
            var partEnd = positions[n + 1]
            if partEnd - 2 >= partStart && bytes[partEnd - 2] == 13 && bytes[partEnd - 1] == 10 { partEnd -= 2 }
            guard partStart <= partEnd else { continue }
            let part = Array(bytes[partStart..<partEnd])
            guard let split = find(Array("\r\n\r\n".utf8), in: part, from: 0) else { continue }
            let headerText = String(decoding: part[..<split], as: UTF8.self)
            let value = String(decoding: part[(split + 4)...], as: UTF8.self)
            for line in headerText.components(separatedBy: "\r\n")
            where line.lowercased().hasPrefix("content-disposition:") {
                if let name = parameter("name", in: line) { items.append(FakeJenkins.QueryItem(name: name, value: value)) }
            }
        }
        return items
    }

    /// A `key=value` or `key="value"` parameter of a header value.
    static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let trimmed = piece.trimmingCharacters(in: .whitespaces)
            guard let eq = trimmed.firstIndex(of: "=") else { continue }
            guard trimmed[..<eq].trimmingCharacters(in: .whitespaces).lowercased() == key.lowercased() else { continue }
            var value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            return value
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = from
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    /// Jenkins' `Util.rawEncode`: keeps `A-Z a-z 0-9 ! $ & ' ( ) * + , - . = @ _`, percent-encodes the
    /// rest as UTF-8 with upper-case hex. Used for the URLs the fake sends back.
    static func rawEncode(_ s: String) -> String {
        let safe = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$&'()*+,-.=@_".utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in s.utf8 {
            if safe.contains(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

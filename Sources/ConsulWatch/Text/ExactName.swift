/// A name compared byte for byte, as Consul compares names.
///
/// Swift's `String` equality is canonical equivalence: "café" spelled with U+00E9 and with
/// "e" + U+0301 are equal, and hash alike. To Consul they are two services, so every identity
/// the toolkit keys on (selection filters, grouping, route matches) goes through this type or
/// ``NameSet`` rather than `String`'s `==`.
public struct ExactName: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let string: String

    public init(_ string: String) { self.string = string }
    public init(stringLiteral value: String) { self.string = value }

    public static func == (lhs: ExactName, rhs: ExactName) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    public static func < (lhs: ExactName, rhs: ExactName) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(0xFF as UInt8)  // no valid UTF-8 contains 0xFF: a terminator
    }

    public var description: String { string }
}

/// A set of names compared byte for byte (see ``ExactName``), with the `Set<String>`
/// operations selection and routing use.
public struct NameSet: Sendable, Hashable, Sequence, ExpressibleByArrayLiteral, CustomStringConvertible {
    private var members: Set<ExactName> = []

    public init() {}
    public init<Names: Sequence<String>>(_ names: Names) { members = Set(names.lazy.map { ExactName($0) }) }
    public init(arrayLiteral names: String...) { self.init(names) }

    public var isEmpty: Bool { members.isEmpty }
    public var count: Int { members.count }

    @discardableResult
    public mutating func insert(_ name: String) -> Bool { members.insert(ExactName(name)).inserted }

    public func contains(_ name: String) -> Bool { members.contains(ExactName(name)) }

    /// True when every member is among `names` (a check's tags).
    public func isSubset<Names: Sequence<String>>(of names: Names) -> Bool {
        members.isSubset(of: Set(names.lazy.map { ExactName($0) }))
    }

    /// True when no member is among `names`.
    public func isDisjoint<Names: Sequence<String>>(with names: Names) -> Bool {
        !names.contains { contains($0) }
    }

    public func makeIterator() -> some IteratorProtocol<String> { members.lazy.map(\.string).makeIterator() }

    public var description: String { "[" + members.sorted().map { "\"\($0.string)\"" }.joined(separator: ", ") + "]" }
}

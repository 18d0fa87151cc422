import Testing

@testable import ConsulWatch

/// Escaping for people and line-based scripts, and byte-exact names (issue 7, items 7 and 11).
@Suite struct DisplayTextTests {
    @Test func controlCharactersAreEscapedAndNothingElse() {
        #expect(DisplayText.escape("web-01 café ✓ \\ \"x\"") == "web-01 café ✓ \\ \"x\"")
        #expect(DisplayText.escape("a\nb\rc\td") == #"a\nb\rc\td"#)
        #expect(DisplayText.escape("\u{1B}[31m\u{07}\u{7F}\u{85}\u{9B}\u{2028}\u{2029}\u{0}") == #"\u{1b}[31m\u{7}\u{7f}\u{85}\u{9b}\u{2028}\u{2029}\u{0}"#)
        #expect(DisplayText.escape(#"a\b"#, backslash: true) == #"a\\b"#)
        #expect(DisplayText.escape("a\\\nb", backslash: true) == #"a\\\nb"#)
        #expect(
            !DisplayText.escape(String(decoding: (0..<256).map { UInt8($0) } + [0xE2, 0x80, 0xA8], as: UTF8.self)).unicodeScalars.contains(
                where: DisplayText.isUnsafe))
    }

    @Test func namesCompareByteForByte() {
        let nfc = "caf\u{E9}"
        let nfd = "cafe\u{301}"
        #expect(nfc == nfd, "Swift's String equality is canonical equivalence")
        #expect(ExactName(nfc) != ExactName(nfd))
        #expect(Set([ExactName(nfc), ExactName(nfd)]).count == 2)
        var names: NameSet = [nfc]
        #expect(names.contains(nfc) && !names.contains(nfd))
        let inserted = names.insert(nfd)
        #expect(inserted)
        #expect(names.count == 2)
        #expect(NameSet(["v2"]).isSubset(of: ["v2", "x"]) && !NameSet([nfc]).isSubset(of: [nfd]))
        #expect(NameSet([nfc]).isDisjoint(with: [nfd]))
        var criteria = SelectionCriteria()
        criteria.services = [nfc]
        let check = SelectedCheck(kind: .service, service: nfd, serviceID: nfd, node: "n", checkID: "c", checkName: "", status: .critical)
        #expect(!criteria.matches(check))
    }
}

import Testing

@testable import HandlerKit

/// KV key segments from check IDs and service names (consul-api.md §1.1).
@Suite struct ClusterKeyTests {
    static let hostile = ["service:web:1", "we b/../x", "..", ".", "", "ç*+?&=%2F", "a.json", "_5F", "-", "\u{1}\u{7F}", String(repeating: "x", count: 300)]

    @Test func escapedNamesUseOnlyTheSafeAlphabetAndComeBack() {
        for name in Self.hostile {
            let segment = ClusterKey.escape(name)
            #expect(!segment.isEmpty)
            #expect(
                segment.utf8.allSatisfy { b in (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F },
                "\(segment)")
            #expect(!segment.contains("/") && !segment.contains("%") && !segment.contains("."))
            #expect(ClusterKey.unescape(segment) == name)
        }
        #expect(ClusterKey.escape("service:web:1") == "service_3Aweb_3A1")
        #expect(ClusterKey.escape("a_b") != ClusterKey.escape("a:b"))
        #expect(ClusterKey.unescape("_G1") == nil)
    }

    @Test func prefixesAreCheckedSegmentBySegment() {
        #expect(ClusterKey.isSafePrefix("consul-handlers"))
        #expect(ClusterKey.isSafePrefix("ops/heal_v2"))
        for bad in ["", "/a", "a/", "a//b", "a/../b", ".hidden", "a b", "a:b", "ops/x."] { #expect(!ClusterKey.isSafePrefix(bad), "\(bad)") }
    }

    @Test func aRepeatOfAnActedTargetWritesNothing() {
        var a = HealState.TargetRecord(id: "service:web", target: "web", watch: "w", now: 1)
        a.failing = true
        a.acted = true
        var b = a
        b.deliveriesFailing += 1
        b.lastDecision = "duplicate"
        b.lastDecisionAt = 2
        #expect(ConsulStateBackend.sameForTheCluster(a, b))
        b.claimedBy = "node-2 pid 1 nonce 1"
        #expect(!ConsulStateBackend.sameForTheCluster(a, b))
        var c = a
        c.acted = false
        c.deliveriesFailing += 1
        #expect(
            !ConsulStateBackend.sameForTheCluster(
                c,
                {
                    var d = c
                    d.deliveriesFailing += 1
                    return d
                }()), "counts matter below the threshold")
    }
}

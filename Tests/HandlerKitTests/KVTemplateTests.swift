import ConsulWatch
import Foundation
import Platform
import Synchronization
import Testing

@testable import HandlerKit

/// `{kv:KEY}` and `{kv:KEY|DEFAULT}`: parsed with nested placeholders, read once per key per
/// run, trimmed, and a missing key without a default fails the action instead of running it
/// with an empty value.
@Suite struct KVTemplateTests {
    final class Store: KVReader, Sendable {
        let values: [String: String]
        let reads = Mutex<[String]>([])
        let failure: ConsulLookupError?
        init(_ values: [String: String], failure: ConsulLookupError? = nil) {
            self.values = values
            self.failure = failure
        }
        func value(of key: String) throws(ConsulLookupError) -> String? {
            reads.withLock { $0.append(key) }
            if let failure { throw failure }
            return values[key]
        }
    }

    static let values = ["service": "books-service", "node": "web-02"]

    @Test func keysMayHoldPlaceholdersAndDefaultsApplyOnlyToMissingKeys() throws {
        let store = Store(["services/books-service/color": " green\n"])
        let kv = KVValues(reader: store)
        #expect(try Template("{kv:services/{service}/color|blue}").render(Self.values, kv: kv) == "green")
        #expect(try Template("color={kv:services/{node}/color|blue}!").render(Self.values, kv: kv) == "color=blue!")
        #expect(try Template("{kv:services/{service}/color}").render(Self.values, kv: kv) == "green")
        #expect(try Template("{kv:x|}").render(Self.values, kv: kv) == "")  // an explicit empty default
        // Once per key per run.
        #expect(store.reads.withLock { $0 } == ["services/books-service/color", "services/web-02/color", "x"])
    }

    @Test func aMissingKeyWithoutDefaultOrAnUnreadableOneFailsWithAClearReason() throws {
        let kv = KVValues(reader: Store([:]))
        #expect(throws: TemplateError.kvMissing(key: "services/books-service/color")) {
            try Template("{kv:services/{service}/color}").render(Self.values, kv: kv)
        }
        let denied = KVValues(reader: Store([:], failure: ConsulLookupError("ACL denied: key:read on services/books-service/color is missing")))
        do {
            _ = try Template("{kv:services/{service}/color|blue}").render(Self.values, kv: denied)
            Issue.record("an unreadable key must not fall back to its default")
        } catch {
            #expect(error.description.contains("could not be read"))
            #expect(error.description.contains("key:read"))
        }
        #expect(throws: TemplateError.self) { try Template("{kv:a}").render(Self.values, kv: nil) }
    }

    @Test func syntaxIsCheckedWhenParsed() {
        for bad in ["{kv:}", "{kv:a", "{kv:{nope}}", "{kv:a|{kv:b}}", "{kv:  |x}"] {
            #expect(throws: TemplateError.self, "\(bad)") { try Template(bad) }
        }
        #expect(throws: HealConfig.Error.self) {
            try HealConfig(bytes: Array(#"{"routes":[{"actions":[{"type":"redeploy","command":["deploy","{kv:services/{service}/color"]}]}]}"#.utf8))
        }
        #expect((try? Template("{kv:services/{service}/color|blue}"))?.readsKV == true)
    }

    @Test func aCommandActionRunsWithTheValueOrFailsWithoutRunning() throws {
        let spawned = Mutex<[[String]]>([])
        let runner = ClosureProcessRunner { request in
            spawned.withLock { $0.append(request.arguments) }
            #expect(request.environment["CONSUL_HTTP_TOKEN"] == nil)
            return SpawnResult(
                termination: .exited(0), standardOutput: [], standardError: [], outputBytesDiscarded: 0, timedOut: false, duration: 0, processID: 1)
        }
        let action = CommandAction(
            name: "redeploy", command: try ["deploy", "{service}", "--color={kv:services/{service}/color}"].map { try Template($0) }, runner: runner,
            baseEnvironment: ["CONSUL_HTTP_TOKEN": "s3cr3t", "PATH": "/usr/bin"], timeout: 10)
        let incident = ActionTests.incident("books-service")
        var context = ActionTests.context
        context.kv = KVValues(reader: Store(["services/books-service/color": "blue"]))
        #expect(action.perform(incident, context: context).label == "done")
        #expect(spawned.withLock { $0 } == [["books-service", "--color=blue"]])

        context.kv = KVValues(reader: Store([:]))
        let outcome = action.perform(incident, context: context)
        #expect(outcome == .failed(reason: TemplateError.kvMissing(key: "services/books-service/color").description, retryable: false))
        #expect(spawned.withLock { $0 }.count == 1)  // never run with an empty value

        context.kv = KVValues(reader: Store([:], failure: ConsulLookupError("agent unreachable")))
        #expect(
            action.perform(incident, context: context)
                == .failed(
                    reason: TemplateError.kvUnavailable(key: "services/books-service/color", reason: "agent unreachable").description, retryable: true))
        context.dryRun = true
        context.kv = KVValues(reader: Store(["services/books-service/color": "green"]))
        #expect(action.perform(incident, context: context) == .skipped(reason: "would run deploy books-service --color=green"))
    }
}

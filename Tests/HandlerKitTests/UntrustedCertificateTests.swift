import Synchronization
import Testing

@testable import HandlerKit

/// A certificate that does not verify is not retried by any client: back-off cannot make an
/// untrusted CA trusted, and the operator needs the hint at once, not after four attempts.
@Suite struct UntrustedCertificateTests {
    static let untrusted = TransportError.untrustedCertificate(
        "TLS: certificate verification failed for jenkins (self-signed certificate, OpenSSL verify error 18)", hint: "--ca-file FILE")

    final class Counter: Sendable {
        let count = Mutex(0)
        var transport: ClosureTransport {
            ClosureTransport { _, _ in
                self.count.withLock { $0 += 1 }
                return .failure(UntrustedCertificateTests.untrusted)
            }
        }
        var sent: Int { count.withLock { $0 } }
    }

    @Test func theDescriptionSaysNotRetriedAndWhereToTrustTheCA() {
        #expect(!Self.untrusted.isRetryable)
        #expect(Self.untrusted.description.hasSuffix("; not retried: trust its CA with --ca-file FILE"))
        #expect(TransportError.cannotConnect("refused").isRetryable)
    }

    @Test func theJenkinsClientTriesOnceAndTheFailureIsNotRetryable() throws {
        let counter = Counter()
        let clock = VirtualClock()
        let client = JenkinsClient(
            configuration: JenkinsConfiguration(
                baseURL: "https://jenkins/", credentials: .apiToken(user: "bot", token: "t"), retry: RetryPolicy(attempts: 4, random: { 0.5 })),
            transport: counter.transport)
        let result = client.trigger(
            job: try JenkinsJobPath(segments: ["web"]), parameters: nil, context: ActionContext(clock: clock, deadline: clock.now() + 60))
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(counter.sent == 1)
        #expect(!error.retryable)
        #expect(error.description.contains("trust its CA with --ca-file FILE"))
        #expect(!error.description.contains("attempts"))
    }

    @Test func theWebhookTriesOnceAndDoesNotSpool() {
        let counter = Counter()
        let clock = VirtualClock(start: 1_700_000_000)
        let action = WebhookAction(
            url: "https://hooks.example.com/x", shape: .preset(.slack), headers: [], event: .act, transport: counter.transport,
            retry: RetryPolicy(attempts: 3, baseDelay: 0.01, random: { 0 }))
        let outcome = action.perform(NotifyTests.incident, context: ActionContext(clock: clock, deadline: clock.now() + 60))
        #expect(counter.sent == 1)
        guard case .failed(let reason, let retryable) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(!retryable)
        #expect(reason.contains("not retried"))
    }

    @Test func theConsulClientTriesOnce() {
        let counter = Counter()
        let settings = ConsulSettings(address: .standard, timeout: 5, budget: 60, retry: RetryPolicy(attempts: 4, baseDelay: 0.25, random: { 0.5 }))
        let client = ConsulClient(settings: settings, transport: counter.transport, clock: VirtualClock())
        #expect(throws: ConsulError.self) { _ = try client.agentSelf() }
        #expect(counter.sent == 1)
    }
}

import Foundation

/// The Prometheus project's own parser of the text exposition format (`prometheus_client`'s
/// `text_string_to_metric_families`, Python), for checking our metrics against the reference and
/// not only against ``PrometheusExpositionParser``, which we wrote.
///
/// CI installs the module (`.ci/run`) and sets `CONSUL_HANDLERS_REQUIRE_PROMETHEUS_CLIENT=1`, so
/// there a missing module fails the test; elsewhere `parse` returns nil and the caller says so.
public enum PrometheusReferenceParser {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    static let script = """
        import json, math, sys
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            sys.exit(3)
        samples = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                samples.append({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type})
        json.dump(samples, sys.stdout)
        """

    /// Every sample of `text` as the reference parser reads it, or nil when the module is not
    /// installed (and not required). A parse error is a `Failure` with the parser's words.
    public static func parse(_ text: String) throws -> [PrometheusExpositionParser.Sample]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 3 || process.terminationStatus == 127 {
            if ProcessInfo.processInfo.environment["CONSUL_HANDLERS_REQUIRE_PROMETHEUS_CLIENT"] == "1" {
                throw Failure(description: "prometheus_client is required here but not installed (python3 -m pip install prometheus_client)")
            }
            return nil
        }
        guard process.terminationStatus == 0 else { throw Failure(description: "the reference parser refused the exposition: \(problems)") }
        guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw Failure(description: "unexpected output from the reference parser")
        }
        return list.map { item in
            PrometheusExpositionParser.Sample(
                name: item["name"] as? String ?? "", labels: item["labels"] as? [String: String] ?? [:],
                value: (item["value"] as? NSNumber)?.doubleValue ?? .nan)
        }
    }
}

import Foundation

/// Typed access to the recorded Consul watch payloads copied into this target's bundle
/// (`Tests/TestSupport/Fixtures`, declared `resources: [.copy("Fixtures")]`).
///
/// Every `*.json` file there is byte-for-byte what a Consul agent writes on a watch handler's
/// stdin (see `PROVENANCE.md` next to them). A missing fixture is a broken test setup, not a
/// test failure, so the accessors stop with a message naming the file and the folder searched.
public enum Fixtures {
    /// The folder holding the fixtures inside the resource bundle.
    public static var directory: URL {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("the Fixtures folder is missing from the TestSupport resource bundle at \(Bundle.module.bundlePath)")
        }
        return url
    }

    /// The URL of the fixture `name` (`"checks-one-critical.json"`).
    public static func url(_ name: String) -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            fatalError("no fixture named \(name) in \(directory.path)")
        }
        return url
    }

    /// The exact bytes of the fixture `name`.
    public static func bytes(_ name: String) -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: url(name)))
        } catch {
            fatalError("cannot read fixture \(name): \(error)")
        }
    }

    /// The fixture `name` as UTF-8 text.
    public static func text(_ name: String) -> String {
        String(decoding: bytes(name), as: UTF8.self)
    }

    /// The names of every watch payload fixture (all `*.json` files), sorted.
    public static var allPayloadNames: [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            fatalError("cannot list the fixtures in \(directory.path): \(error)")
        }
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }
}

import Foundation
import Glibc
import Platform

/// A fresh directory under the system temporary directory; remove it with `removeTree`.
func makeTemporaryDirectory(_ label: String = #function) throws -> String {
    let safe = label.filter { $0.isLetter || $0.isNumber }
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("platform-\(safe)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The environment most test children get: enough to find `sh`, `cat` and friends.
let basicEnvironment = ["PATH": "/usr/bin:/bin"]

/// A request for `/bin/sh -c script` with `$1...` set to `arguments` (`$0` is `sh`).
func shell(
    _ script: String, _ arguments: [String] = [], input: [UInt8] = [], timeout: Double? = nil,
    killGrace: Double = 5, outputLimit: Int = 64 * 1024
) -> SpawnRequest {
    SpawnRequest(
        executable: "/bin/sh", arguments: ["-c", script, "sh"] + arguments, environment: basicEnvironment,
        standardInput: input, timeout: timeout, killGrace: killGrace, outputLimit: outputLimit)
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// True while `pid` is a live process (a zombie nobody reaped counts as gone: PID 1 of a
/// container may never reap orphans).
func isRunning(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}

/// Waits up to `seconds` for `pid` to be gone; true when it is.
func waitUntilGone(_ pid: pid_t, seconds: Double = 3) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if !isRunning(pid) { return true }
        usleep(20_000)
    }
    return !isRunning(pid)
}

/// A pid written by a test child into `path`, waiting briefly for the file to fill.
func readPID(_ path: String) -> pid_t? {
    for _ in 0..<100 {
        if let content = try? String(contentsOfFile: path, encoding: .utf8),
            let pid = pid_t(content.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return pid
        }
        usleep(20_000)
    }
    return nil
}

/// Deterministic pseudo-random bytes.
func noise(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for index in bytes.indices {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return bytes
}

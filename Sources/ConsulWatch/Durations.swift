/// Durations as operators write them in flags and configuration (`30s`, `500ms`, `5m`, `1h`,
/// `1d`, or plain seconds).
extension Duration {
    /// Parses `30`, `30s`, `500ms`, `5m`, `2h`, `1.5s`, `1d` into seconds; nil when malformed or negative.
    public static func parseSeconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // "ms" must win over "s", and "5m" must not be read as "5" + "m" of "ms".
            if suffix == "s", number.hasSuffix("m") { continue }
            guard let value = Double(number), value >= 0, value.isFinite else { return nil }
            return value * scale
        }
        guard let value = Double(text), value >= 0, value.isFinite else { return nil }
        return value
    }
}


/// Durations as operators write them in flags and configuration, in Go's `time.ParseDuration`
/// form because that is how Consul writes them (`30s`, `500ms`, `1h30m`, `1m0s`), plus `d` for days.
extension Duration {
    /// The units a duration may carry, longest first so that `ms` is not read as `m` + `s`.
    private static let units: [(String, Double)] = [
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3),
        ("s", 1), ("m", 60), ("h", 3600), ("d", 86400),
    ]

    /// Parses `30s`, `500ms`, `1h30m`, `1m0s`, `1.5h`, `1d` into seconds; nil when malformed or
    /// negative. A bare number (`30`) is read as seconds only when `bareSeconds` is true, for
    /// configuration files written before units were required; `0` needs no unit, as in Go.
    public static func parseSeconds(_ text: String, bareSeconds: Bool = true) -> Double? {
        if text == "0" { return 0 }
        if let value = Double(text) {
            return bareSeconds && value >= 0 && value.isFinite && !text.hasPrefix("+") ? value : nil
        }
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number), value.isFinite else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (suffix, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(suffix.count)
            total += value * scale
        }
        return total.isFinite ? total : nil
    }
}

/// Small text helpers shared by the HTTP code and the layers above (no Foundation).
extension String {
    /// The string without leading and trailing spaces and tabs (HTTP's optional white space).
    public func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}

import CLI
import ConsulWatch
import HandlerKit
import Platform

extension Input {
    /// Selects checks; a payload that cannot be read is first kept as a dead letter in the state
    /// directory (when there is one), so that nothing Consul sent is lost.
    public func select(_ options: SelectionOptions, consulIndex: UInt64?, deadLetters store: StateStore?, log: (String) -> Void) throws(CommandError)
        -> Selection
    {
        do {
            return try select(options, consulIndex: consulIndex)
        } catch {
            if let store, error.exitCode == .dataError {
                do {
                    let path = try store.deadLetter(bytes.array, consulIndex: consulIndex, error: error.message, time: SystemTime.wallSeconds())
                    log("payload kept as a dead letter: \(path)")
                } catch let failure {
                    log("could not keep the payload as a dead letter: \(failure.description)")
                }
            }
            throw error
        }
    }
}

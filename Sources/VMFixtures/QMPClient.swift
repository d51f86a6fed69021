import Foundation
import AgentProtocol

/// A QEMU Machine Protocol client: one JSON object per line; asynchronous
/// events are skipped while waiting for a command's return.
public final class QMPClient: @unchecked Sendable {
    private let channel: LineChannel
    private let lock = NSLock()
    public private(set) var events: [JSON] = []

    /// Takes a connected QMP socket, reads the greeting and negotiates capabilities.
    public init(fd: Int32, timeout: Double = 10) throws {
        channel = LineChannel(readFD: fd, writeFD: fd)
        let deadline = Monotonic.nanos() + UInt64(timeout * 1e9)
        let greeting = try channel.readJSON(deadline: deadline)
        guard greeting["QMP"] != nil else { throw VMError("QMP greeting expected, got \(greeting.serialized().prefix(200))") }
        _ = try execute("qmp_capabilities", timeout: timeout)
    }

    /// Runs a command and returns its `return` value; a QMP `error` throws.
    @discardableResult
    public func execute(_ command: String, _ arguments: [String: JSON]? = nil, timeout: Double = 30) throws -> JSON {
        lock.lock(); defer { lock.unlock() }
        var message: [String: JSON] = ["execute": .string(command)]
        if let a = arguments { message["arguments"] = .object(a) }
        try channel.send(.object(message))
        let deadline = Monotonic.nanos() + UInt64(timeout * 1e9)
        while true {
            let reply = try channel.readJSON(deadline: deadline)
            if reply["event"] != nil { events.append(reply); continue }
            if let r = reply["return"] { return r }
            if let e = reply["error"] {
                throw VMError("QMP \(command) failed: \(e["desc"]?.string ?? e.serialized())")
            }
        }
    }

    public func close() { channel.close() }
}

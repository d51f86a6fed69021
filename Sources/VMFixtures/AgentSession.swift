import Foundation
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

public enum AgentError: Error, CustomStringConvertible, Equatable {
    /// The agent answered with an error (bad arguments, path outside the workspace, ...).
    case toolFailed(op: String, message: String)
    case protocolViolation(String)
    /// The health checker declared the sandbox failed while the call waited.
    case sandboxFailed(op: String, reason: String)

    public var description: String {
        switch self {
        case .toolFailed(let op, let m): return "\(op) failed in the guest: \(m)"
        case .protocolViolation(let m): return "guest agent protocol violation: \(m)"
        case .sandboxFailed(let op, let r): return "\(op) failed: the sandbox failed its health check (\(r))"
        }
    }
}

/// The host's side of one agent connection: request/response in order, each
/// with a deadline, so a dead or stuck guest gives an error, never a hang.
public final class AgentSession: @unchecked Sendable {
    public let channel: LineChannel
    public let hello: AgentHello
    private let lock = NSLock()
    private var nextID = 1
    /// Default time allowed for one request.
    public var requestTimeout: Double

    /// Waits for the agent's readiness announcement.
    public init(channel: LineChannel, readyDeadline: UInt64, requestTimeout: Double = 30) throws {
        self.channel = channel
        self.requestTimeout = requestTimeout
        let first = try channel.readJSON(deadline: readyDeadline)
        guard let hello = AgentHello(first) else {
            throw AgentError.protocolViolation("expected a readiness announcement, got \(first.serialized().prefix(200))")
        }
        self.hello = hello
    }

    /// A session with a guest restored from a snapshot: its agent announced
    /// itself before the snapshot was taken, so readiness is a ping answered.
    public init(channel: LineChannel, restoredHello: AgentHello, requestTimeout: Double = 30) {
        self.channel = channel
        self.requestTimeout = requestTimeout
        self.hello = restoredHello
        // Ids continue above any the snapshotted session used.
        nextID = 1 << 20
    }

    /// Sends one request and waits for its response.
    public func call(_ op: AgentOp, _ args: [String: JSON] = [:], timeout: Double? = nil) throws -> JSON {
        try call(opName: op.rawValue, args, timeout: timeout)
    }

    public func call(opName: String, _ args: [String: JSON] = [:], timeout: Double? = nil) throws -> JSON {
        try measuredCall(opName: opName, args, timeout: timeout).result
    }

    /// A request and its response, with the time the agent says it spent on
    /// it (milliseconds by the sandbox's own clock; nil from an agent that
    /// does not report it).
    public func measuredCall(_ op: AgentOp, _ args: [String: JSON] = [:], timeout: Double? = nil) throws -> (result: JSON, agentMs: Double?) {
        try measuredCall(opName: op.rawValue, args, timeout: timeout)
    }

    public func measuredCall(opName: String, _ args: [String: JSON] = [:], timeout: Double? = nil) throws -> (result: JSON, agentMs: Double?) {
        lock.lock(); defer { lock.unlock() }
        do { return try exchange(opName: opName, args, timeout: timeout) } catch {
            if let reason = abandonedReason { throw AgentError.sandboxFailed(op: opName, reason: reason) }
            throw error
        }
    }

    private let abandonLock = NSLock()
    private var abandoned: String?
    private var abandonedReason: String? { abandonLock.lock(); defer { abandonLock.unlock() }; return abandoned }

    /// Gives the sandbox up (its health check failed): the call in flight and
    /// every later one fail at once with the reason, not at their timeouts.
    /// Does not wait for the call in flight.
    public func abandon(reason: String) {
        abandonLock.lock()
        let first = abandoned == nil
        if first { abandoned = reason }
        abandonLock.unlock()
        if first { _ = Glibc.shutdown(channel.readFD, Int32(SHUT_RDWR)) }
    }

    private func exchange(opName: String, _ args: [String: JSON], timeout: Double?) throws -> (result: JSON, agentMs: Double?) {
        let id = nextID
        nextID += 1
        let deadline = Monotonic.nanos() + UInt64((timeout ?? requestTimeout) * 1e9)
        try channel.send(AgentRequest(id: id, opName: opName, args: args).json)
        var response: AgentResponse
        repeat {
            let reply = try channel.readJSON(deadline: deadline)
            guard let r = AgentResponse(reply) else {
                throw AgentError.protocolViolation("unreadable response: \(reply.serialized().prefix(200))")
            }
            response = r
            // A late answer to an earlier request that timed out: drop it.
        } while response.id > 0 && response.id < id
        guard response.id == id else {
            if !response.ok, let e = response.error { throw AgentError.toolFailed(op: opName, message: e) }
            throw AgentError.protocolViolation("response id \(response.id) for request \(id)")
        }
        guard response.ok else { throw AgentError.toolFailed(op: opName, message: response.error ?? "unknown error") }
        return (response.result, response.agentMicros.map { $0 / 1e3 })
    }

    /// One ping round trip; returns its duration in nanoseconds.
    @discardableResult
    public func ping(timeout: Double = 10) throws -> UInt64 {
        let t0 = Monotonic.nanos()
        _ = try call(.ping, timeout: timeout)
        return Monotonic.nanos() - t0
    }
}

import Foundation
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// A health checker's judgement of one sandbox at one instant.
public struct HealthVerdict: Sendable, Equatable {
    public var healthy: Bool
    /// Why it is unhealthy (empty when healthy).
    public var reason: String
    /// The sandbox cannot serve calls (gone, frozen, hung), as opposed to
    /// degraded (workspace full, link down) while its agent still answers.
    public var fatal: Bool = false
    /// ``Monotonic`` instant of the heartbeat that decided it.
    public var atNs: UInt64
}

/// Heartbeats to one sandbox on its own channel (the guest's "health" port,
/// answered by a thread of its own), every `interval`, independent of any
/// tool call in flight. A heartbeat not answered within `missAfter`, a
/// closed channel, a workspace with less than `minFreeKB` free, or a network
/// link that is down makes the sandbox unhealthy; the first such verdict is
/// kept with its instant, and `onUnhealthy` runs once (e.g. to fail the calls
/// in flight at once rather than at their own timeouts).
public final class HealthChecker: @unchecked Sendable {
    public let interval: Double
    public let missAfter: Double
    public let minFreeKB: Int
    private let fd: Int32
    private let lock = NSLock()
    private var stopped = false
    private var firstFailure: HealthVerdict?
    private var lastVerdict: HealthVerdict?
    private var beats = 0
    private let onUnhealthy: @Sendable (HealthVerdict) -> Void
    private let done = DispatchSemaphore(value: 0)

    /// `fd`: the host end of the heartbeat port (borrowed, not closed here).
    public init(fd: Int32, interval: Double, missAfter: Double, minFreeKB: Int = 1024,
                onUnhealthy: @escaping @Sendable (HealthVerdict) -> Void = { _ in }) {
        self.fd = fd; self.interval = interval; self.missAfter = missAfter; self.minFreeKB = minFreeKB
        self.onUnhealthy = onUnhealthy
    }

    /// A checker for a QEMU sandbox whose failure also fails its in-flight calls.
    public convenience init(sandbox: QEMUSandbox, interval: Double, missAfter: Double, minFreeKB: Int = 1024) throws {
        guard sandbox.healthFD >= 0 else { throw VMError("sandbox \(sandbox.id) has no heartbeat channel") }
        let session = sandbox.session
        self.init(fd: sandbox.healthFD, interval: interval, missAfter: missAfter, minFreeKB: minFreeKB) { verdict in
            if verdict.fatal { session.abandon(reason: verdict.reason) }
        }
    }

    public static let workspaceFullReason = "workspace full"

    public func start() {
        let t = Thread { [self] in run(); done.signal() }
        t.name = "health-checker"
        t.start()
    }

    /// Stops the heartbeats and waits for the checker's thread to end.
    public func stop() {
        lock.lock(); let was = stopped; stopped = true; lock.unlock()
        if !was { done.wait() }
    }

    /// The first unhealthy verdict, if any.
    public var failure: HealthVerdict? { lock.lock(); defer { lock.unlock() }; return firstFailure }
    public var latest: HealthVerdict? { lock.lock(); defer { lock.unlock() }; return lastVerdict }
    public var heartbeats: Int { lock.lock(); defer { lock.unlock() }; return beats }

    /// Waits up to `timeout` seconds for an unhealthy verdict.
    public func waitForFailure(timeout: Double) -> HealthVerdict? {
        let end = Monotonic.nanos() + UInt64(timeout * 1e9)
        while Monotonic.nanos() < end {
            if let f = failure { return f }
            usleep(2_000)
        }
        return failure
    }

    private func run() {
        let channel = LineChannel(readFD: fd, writeFD: fd, maxLine: 4096, ownsFDs: false)
        var channelDead = false
        while true {
            lock.lock(); let stop = stopped; lock.unlock()
            if stop { return }
            let sent = Monotonic.nanos()
            let verdict: HealthVerdict
            if channelDead {
                verdict = HealthVerdict(healthy: false, reason: "heartbeat channel closed (the VMM or the guest is gone)", fatal: true, atNs: sent)
            } else {
                verdict = beat(channel, sent: sent, dead: &channelDead)
            }
            record(verdict)
            let next = sent + UInt64(interval * 1e9)
            let now = Monotonic.nanos()
            if next > now { usleep(useconds_t(min(UInt64(UInt32.max), (next - now) / 1000))) }
        }
    }

    private func beat(_ channel: LineChannel, sent: UInt64, dead: inout Bool) -> HealthVerdict {
        do {
            try channel.send("ping")
            let line = String(decoding: try channel.readLine(deadline: sent + UInt64(missAfter * 1e9)), as: UTF8.self)
            let now = Monotonic.nanos()
            guard line.hasPrefix("ok") else { return HealthVerdict(healthy: false, reason: "heartbeat answered '\(line.prefix(80))'", fatal: true, atNs: now) }
            let fields = Self.fields(line)
            if let free = fields["free_kb"], free >= 0, free < minFreeKB {
                return HealthVerdict(healthy: false, reason: Self.workspaceFullReason, atNs: now)
            }
            if fields["carrier"] == 0 { return HealthVerdict(healthy: false, reason: "network link down", atNs: now) }
            return HealthVerdict(healthy: true, reason: "", atNs: now)
        } catch ChannelError.timedOut {
            return HealthVerdict(healthy: false, reason: String(format: "no heartbeat within %.0f ms (guest frozen or hung)", missAfter * 1000), fatal: true, atNs: Monotonic.nanos())
        } catch {
            dead = true
            return HealthVerdict(healthy: false, reason: "heartbeat channel closed (the VMM or the guest is gone): \(error)", fatal: true, atNs: Monotonic.nanos())
        }
    }

    /// `key=value` integers of a heartbeat reply.
    static func fields(_ line: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for part in line.split(separator: " ") {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Int(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }

    private func record(_ v: HealthVerdict) {
        lock.lock()
        beats += 1
        lastVerdict = v
        let first = !v.healthy && firstFailure == nil
        if first { firstFailure = v }
        lock.unlock()
        if first { onUnhealthy(v) }
    }

    /// Forgets the first failure (after a fault was undone), to judge anew.
    public func reset() { lock.lock(); firstFailure = nil; lock.unlock() }
}

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
    /// Optional: the guest's TCP echo on this loopback port, probed after
    /// each good heartbeat (one persistent connection). Degraded when two
    /// probes in a row take more than `degradedFactor` x the calibrated
    /// round trip (median of the first five) plus 20 ms, or time out.
    public var echoPort: Int?
    public var degradedFactor = 5.0
    private var echoFD: Int32 = -1
    private var calibration: [Double] = []
    private var slowInARow = 0
    private var echoRTTs: [(at: UInt64, ms: Double)] = []
    /// The calibrated echo round trip (ms), once known.
    public var echoBaselineMs: Double? { lock.lock(); defer { lock.unlock() }; return baseline }
    private var baseline: Double?
    /// Echo round trips measured since `since`.
    public func echoSamples(since: UInt64) -> [Double] {
        lock.lock(); defer { lock.unlock() }
        return echoRTTs.filter { $0.at >= since }.map(\.ms)
    }

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
        if echoFD >= 0 { close(echoFD); echoFD = -1 }
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
            if echoPort != nil, let degraded = probeNetwork() { return HealthVerdict(healthy: false, reason: degraded, atNs: Monotonic.nanos()) }
            return HealthVerdict(healthy: true, reason: "", atNs: now)
        } catch ChannelError.timedOut {
            return HealthVerdict(healthy: false, reason: String(format: "no heartbeat within %.0f ms (guest frozen or hung)", missAfter * 1000), fatal: true, atNs: Monotonic.nanos())
        } catch {
            dead = true
            return HealthVerdict(healthy: false, reason: "heartbeat channel closed (the VMM or the guest is gone): \(error)", fatal: true, atNs: Monotonic.nanos())
        }
    }

    /// One echo through the guest's network; a reason when it is degraded.
    private func probeNetwork() -> String? {
        guard let port = echoPort else { return nil }
        if echoFD < 0 { echoFD = LoopbackPort.connect(port: port) ?? -1 }
        guard echoFD >= 0 else { return nil }  // not up yet: no verdict
        let ch = LineChannel(readFD: echoFD, writeFD: echoFD, maxLine: 256, ownsFDs: false)
        let t0 = Monotonic.nanos()
        var ms: Double?
        do {
            try ch.send("0123456789abcde")
            _ = try ch.readLine(deadline: t0 + UInt64(missAfter * 1e9))
            ms = Double(Monotonic.nanos() - t0) / 1e6
        } catch {
            close(echoFD); echoFD = -1
        }
        lock.lock(); defer { lock.unlock() }
        if let ms { echoRTTs.append((t0, ms)) }
        guard let base = baseline else {
            if let ms { calibration.append(ms) }
            if calibration.count >= 5 { baseline = calibration.sorted()[calibration.count / 2] }
            return nil
        }
        let slow = ms.map { $0 > max(degradedFactor * base, base + 20) } ?? true
        slowInARow = slow ? slowInARow + 1 : 0
        guard slowInARow >= 2 else { return nil }
        return ms.map { String(format: "network degraded (echo %.1f ms, baseline %.2f ms)", $0, base) }
            ?? String(format: "network degraded (echo timed out after %.0f ms)", missAfter * 1000)
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

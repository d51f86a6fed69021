import Foundation
import Testing
import AgentProtocol
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The health checker against a fake guest on a socketpair: it judges the
/// heartbeat replies, a silent guest and a closed channel, each with the
/// instant of its verdict.
@Suite struct HealthCheckerTests {
    /// A guest end that answers `reply()` to each ping until it returns nil,
    /// then stays silent (or closes with `close`).
    final class FakeGuest: @unchecked Sendable {
        let fd: Int32
        init(fd: Int32, close: Bool = false, reply: @escaping @Sendable (Int) -> String?) {
            self.fd = fd
            Thread {
                let ch = LineChannel(readFD: fd, writeFD: fd, ownsFDs: false)
                var n = 0
                while let _ = try? ch.readLine(deadline: nil) {
                    n += 1
                    guard let r = reply(n) else { if close { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }; continue }
                    try? ch.send(r)
                }
            }.start()
        }
    }

    func pair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    @Test func healthyThenWorkspaceFullIsADegradedVerdict() {
        let (host, guest) = pair()
        defer { close(host); close(guest) }
        _ = FakeGuest(fd: guest) { n in n < 5 ? "ok free_kb=65536 carrier=1" : "ok free_kb=12 carrier=1" }
        let c = HealthChecker(fd: host, interval: 0.01, missAfter: 1)
        c.start()
        defer { c.stop() }
        let v = c.waitForFailure(timeout: 5)
        #expect(v?.reason == HealthChecker.workspaceFullReason && v?.fatal == false)
        #expect(c.heartbeats >= 5)
    }

    @Test func aLinkDownIsReported() {
        let (host, guest) = pair()
        defer { close(host); close(guest) }
        _ = FakeGuest(fd: guest) { n in "ok free_kb=65536 carrier=\(n < 3 ? 1 : 0)" }
        let c = HealthChecker(fd: host, interval: 0.01, missAfter: 1)
        c.start()
        defer { c.stop() }
        #expect(c.waitForFailure(timeout: 5)?.reason == "network link down")
    }

    @Test func aSilentGuestIsFatalAfterTheMissTimeNotBefore() {
        let (host, guest) = pair()
        defer { close(host); close(guest) }
        let silentFrom = Collector()
        _ = FakeGuest(fd: guest) { n in
            if n < 3 { return "ok free_kb=65536 carrier=-1" }
            silentFrom.mark()
            return nil
        }
        let c = HealthChecker(fd: host, interval: 0.01, missAfter: 0.3)
        c.start()
        defer { c.stop() }
        let v = c.waitForFailure(timeout: 5)
        #expect(v?.fatal == true && v?.reason.contains("no heartbeat within 300 ms") == true)
        if let v, let t = silentFrom.at { #expect(v.atNs >= t + 250_000_000, "the verdict came before the miss time") }
    }

    @Test func aClosedChannelIsFatalAtOnce() {
        let (host, guest) = pair()
        defer { close(host) }
        _ = FakeGuest(fd: guest) { n in n < 3 ? "ok free_kb=65536 carrier=-1" : nil }
        let c = HealthChecker(fd: host, interval: 0.01, missAfter: 10)
        c.start()
        defer { c.stop() }
        usleep(100_000)
        let t0 = Monotonic.nanos()
        // As a VMM that dies: its end goes away (shutdown also wakes the fake guest's read).
        Glibc.shutdown(guest, Int32(SHUT_RDWR))
        defer { close(guest) }
        let v = c.waitForFailure(timeout: 5)
        #expect(v?.fatal == true && v?.reason.contains("channel closed") == true)
        if let v { #expect(v.atNs - t0 < 2_000_000_000, "a closed channel must not wait for the miss time") }
    }

    @Test func aFatalVerdictFailsTheCallInFlightWithItsReason() throws {
        let (host, guest) = pair()
        defer { close(guest) }
        // The agent end announces itself, then never answers the call.
        _ = try LineChannel(readFD: guest, writeFD: guest, ownsFDs: false)
            .send(AgentHello(uptimeAtStartMs: 0, agentUptimeMs: 0, pid: 1, mode: "vm", version: "1", isolation: [], workspace: "/w").json)
        let session = try AgentSession(channel: LineChannel(readFD: host, writeFD: host), readyDeadline: Monotonic.nanos() + 5_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { session.abandon(reason: "no heartbeat within 300 ms") }
        let t0 = Monotonic.nanos()
        #expect(throws: AgentError.sandboxFailed(op: "ping", reason: "no heartbeat within 300 ms")) { try session.call(.ping, timeout: 30) }
        #expect(Monotonic.nanos() - t0 < 5_000_000_000)
    }

    @Test func corruptingASnapshotFileChangesItInPlace() throws {
        let path = NSTemporaryDirectory() + "lg-corrupt-\(getpid()).bin"
        defer { unlink(path) }
        let original = [UInt8](repeating: 7, count: 64 << 10)
        try Data(original).write(to: URL(fileURLWithPath: path))
        var before = stat(); stat(path, &before)
        _ = try FaultInjector.inject(.snapshotCorrupt, into: nil, snapshotFile: path)
        var after = stat(); stat(path, &after)
        let now = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(now.count == original.count && now != original)
        #expect(before.st_ino == after.st_ino, "the same file, changed in place")
    }
}

/// The instant something first happened.
final class Collector: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var at: UInt64?
    func mark() { lock.lock(); if at == nil { at = Monotonic.nanos() }; lock.unlock() }
}

import Foundation
import AgentProtocol
import LGSettings
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// What `lgperf pool serve` does for a fault request on its control socket:
/// the fault goes into a sandbox checked out of the pool (as an agent would
/// hold it), watched by this process's health checker; after a fatal
/// verdict a replacement is checked out and must answer. snapshot_corrupt is
/// the chaos phase's snapshot round: the pool's (private) snapshot is
/// overwritten and the pool restores from it; detected when the pool notices
/// and rebuilds it, recovered when a sandbox restored afterwards answers.
public final class PoolFaultTarget: Sendable {
    let rounds: FaultRounds
    let log: @Sendable (String) -> Void
    private let lock = NSLock()

    public init(pool: VMPool, settings: Settings, log: @escaping @Sendable (String) -> Void) {
        rounds = FaultRounds(pool: pool, settings: settings, progress: log)
        self.log = log
    }

    public func handle(_ request: ChaosControl.Request) -> ChaosControl.Reply {
        lock.lock(); defer { lock.unlock() }
        let pool = rounds.pool
        var reply = ChaosControl.Reply(kind: request.kind.rawValue)
        do {
            if request.kind == .snapshotCorrupt {
                reply = try snapshot()
            } else {
                pool.waitForRefills()
                let co = try pool.checkout()
                defer { pool.release(co.vm) }
                let verdict: HealthVerdict?
                (reply, verdict) = ChaosControl.injectWatched(request, into: co.vm, snapshotFile: nil, noSnapshot: "",
                                                              interval: rounds.interval, missAfter: rounds.missAfter)
                reply.notes.insert("the sandbox was checked out of the pool (\(co.path))", at: 0)
                if reply.injected, let at = reply.injectedAt, verdict?.fatal == true || !co.vm.isRunning {
                    let next = try pool.checkout()
                    defer { pool.release(next.vm) }
                    reply.recordReplacement(next.vm, injectedAt: at,
                                            label: "\(next.path) (\(next.vm.id), checkout \(String(format: "%.1f", next.readyMs)) ms)")
                }
            }
        } catch {
            reply.error = "\(error)"
        }
        log("chaos: " + reply.text.replacingOccurrences(of: "\n", with: "; "))
        return reply
    }

    func snapshot() throws -> ChaosControl.Reply {
        var reply = ChaosControl.Reply(kind: FaultKind.snapshotCorrupt.rawValue)
        let out = try rounds.snapshotRound()
        let done = Monotonic.nanos()
        guard let at = out.injectedAtNs else { throw FaultError("the snapshot round did not say when it injected") }
        reply.injected = true
        reply.injectedAt = Date().timeIntervalSince1970 - Double(done - at) / 1e9
        reply.sandbox = out.snapshotFile
        reply.verdict = out.detectionMs.map { _ in "the pool rebuilt its snapshot: \(out.verdict)" }
        reply.fatal = out.detectionMs.map { _ in false }
        reply.detectionMs = out.detectionMs
        reply.notes = out.problems
        // The round ends once a sandbox restored after the rebuild has answered.
        reply.recovered = !out.problems.contains { $0.contains("did not answer") }
        if reply.recovered == true {
            reply.recoveryMs = Double(done - at) / 1e6
            reply.replacement = "a sandbox restored from the rebuilt snapshot"
        }
        return reply
    }
}

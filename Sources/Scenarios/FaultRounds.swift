import Foundation
import AgentProtocol
import LGSettings
import PerfStats
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// What one injected fault did, as the harness saw it.
struct FaultOutcome: Sendable {
    var kind: FaultKind
    /// ``Monotonic`` instant the fault took effect (set by the rounds that report it).
    var injectedAtNs: UInt64?
    /// snapshot_corrupt: the file corrupted.
    var snapshotFile: String?
    /// Injection -> the health checker's unhealthy verdict (nil: undetected).
    var detectionMs: Double?
    var verdict: String = ""
    /// Injection -> the error of the tool call in flight (nil: none in flight, or it hung).
    var inFlightErrorMs: Double?
    var inFlightMessage: String?
    /// The call in flight neither returned nor failed within the bound.
    var inFlightHung = false
    /// Injection -> a replacement from the pool answering its first tool call.
    var recoveryMs: Double?
    /// How the replacement was obtained: pool, restore, template or cold.
    var replacementPath: String?
    /// workspace_full: how long the filling command took, and whether the
    /// checker saw the workspace full before it returned.
    var fillMs: Double?
    var seenWhileInjecting = false
    var problems: [String] = []
}

/// Injects one fault at a time into sandboxes from a warm pool, each watched
/// by its own ``HealthChecker``; used by the chaos and recovery phases.
public struct FaultRounds: Sendable {
    let pool: VMPool
    let settings: Settings
    let progress: @Sendable (String) -> Void

    var interval: Double { Double(settings.healthIntervalMs) / 1000 }
    var missAfter: Double { Double(settings.healthMissMs) / 1000 }
    /// How long a call in flight may take to fail once its sandbox failed:
    /// the checker's worst case (a missed heartbeat plus one interval), plus
    /// one second of slack for a loaded host.
    var inFlightBound: Double { missAfter + interval + 1 }

    static let vmKinds: [FaultKind] = [.vmmKill, .vmmFreeze, .agentCrash, .kernelPanic]
    public static var vmKindCount: Int { vmKinds.count }

    func checker(for vm: QEMUSandbox) throws -> HealthChecker {
        let c = try HealthChecker(sandbox: vm, interval: interval, missAfter: missAfter)
        c.start()
        // Judge only a sandbox first seen healthy.
        let end = Monotonic.nanos() + 10_000_000_000
        while c.latest?.healthy != true {
            if let f = c.failure { c.stop(); throw ConfigError("sandbox \(vm.id) was unhealthy before any fault: \(f.reason)") }
            guard Monotonic.nanos() < end else { c.stop(); throw ConfigError("sandbox \(vm.id) sent no heartbeat within 10 s") }
            usleep(2_000)
        }
        return c
    }

    func checkoutQEMU() throws -> (QEMUSandbox, String) {
        let co = try pool.checkout()
        guard let vm = co.vm as? QEMUSandbox else { pool.release(co.vm); throw ConfigError("the pool gave a non-QEMU sandbox") }
        return (vm, co.path)
    }

    enum Replacement { case none, pool, cold }

    /// A fault that ends or freezes the VM, with a tool call in flight, then
    /// (unless `.none`) a replacement once the checker has said so, and the
    /// replacement's first tool call.
    func vmRound(_ kind: FaultKind, replace: Replacement) throws -> FaultOutcome {
        var out = FaultOutcome(kind: kind)
        let (vm, _) = try checkoutQEMU()
        defer { pool.release(vm) }
        let c = try checker(for: vm)
        defer { c.stop() }
        let ended = Collector<(UInt64, String?)>()
        let call = Thread {
            var message: String?
            do { _ = try vm.session.call(.executeCommand, ["command": .string("sleep 30; echo done"), "timeout_ms": .number(60_000)], timeout: 60) } catch { message = "\(error)" }
            ended.append((Monotonic.nanos(), message))
        }
        call.start()
        usleep(150_000)  // the call has reached the guest's agent
        let fault = try FaultInjector.inject(kind, into: vm)
        let verdict = c.waitForFailure(timeout: missAfter + 10)
        if let v = verdict {
            out.detectionMs = Double(Int64(v.atNs) - Int64(fault.atNs)) / 1e6
            out.verdict = v.reason
        } else { out.problems.append("\(kind.rawValue): no unhealthy verdict within \(missAfter + 10) s") }
        // The call in flight must fail clearly within the bound.
        let callEnd = Monotonic.nanos() + UInt64(inFlightBound * 1e9)
        while ended.items.isEmpty && Monotonic.nanos() < callEnd { usleep(2_000) }
        if let (at, message) = ended.items.first {
            out.inFlightErrorMs = Double(Int64(at) - Int64(fault.atNs)) / 1e6
            out.inFlightMessage = message ?? "returned normally"
            if message == nil { out.problems.append("\(kind.rawValue): the call in flight returned as if nothing happened") }
        } else {
            out.inFlightHung = true
            out.problems.append("\(kind.rawValue): the call in flight had neither failed nor returned \(inFlightBound) s after the fault")
        }
        try? fault.undo()
        if replace != .none {
            guard out.detectionMs != nil else { throw ConfigError("\(kind.rawValue): nothing to recover from, the fault was not detected") }
            try replaceAndCall(after: fault, cold: replace == .cold, into: &out)
        }
        c.stop()
        // Ends the call's thread too before the next round.
        vm.session.abandon(reason: "the round is over")
        vm.shutdown()
        while ended.items.isEmpty { usleep(2_000) }
        return out
    }

    /// A replacement answering its first tool call: from the pool, or with
    /// `cold`, booted cold (the fallback when no snapshot can be used).
    func replaceAndCall(after fault: InjectedFault, cold: Bool, into out: inout FaultOutcome) throws {
        let vm: any SandboxVM
        if cold {
            vm = try pool.store.backend.spawn(SpawnOptions(memoryMB: pool.store.memoryMB, admission: pool.store.admission))
            out.replacementPath = "cold"
        } else {
            let co = try pool.checkout()
            vm = co.vm
            out.replacementPath = co.path
        }
        defer { if cold { vm.shutdown() } else { pool.release(vm) } }
        let echoed = try vm.session.call(.executeCommand, ["command": .string("echo replaced")], timeout: 30)["stdout"]?.string
        out.recoveryMs = Double(Monotonic.nanos() - fault.atNs) / 1e6
        if echoed != "replaced\n" { out.problems.append("the replacement's first call returned \(echoed ?? "nothing")") }
    }

    /// Fills the workspace of a pooled sandbox: the checker must say so, and a
    /// write must then fail with a clear error while the agent keeps answering.
    func workspaceRound() throws -> FaultOutcome {
        var out = FaultOutcome(kind: .workspaceFull)
        let (vm, _) = try checkoutQEMU()
        defer { pool.release(vm) }
        let c = try checker(for: vm)
        defer { c.stop() }
        let t0 = Monotonic.nanos()
        let fault = try FaultInjector.inject(.workspaceFull, into: vm)
        out.fillMs = Double(fault.atNs - t0) / 1e6
        if let v = c.waitForFailure(timeout: missAfter + 10) {
            // The workspace fills progressively: the checker may see it full
            // before the filling command returns (counted as 0, and noted).
            out.detectionMs = max(0, Double(Int64(v.atNs) - Int64(fault.atNs)) / 1e6)
            out.seenWhileInjecting = v.atNs < fault.atNs
            out.verdict = v.reason
            if v.reason != HealthChecker.workspaceFullReason { out.problems.append("workspace_full judged as '\(v.reason)'") }
        } else { out.problems.append("workspace_full: no unhealthy verdict") }
        let tWrite = Monotonic.nanos()
        do {
            _ = try vm.session.call(.writeFile, ["path": .string("more.txt"), "content": .string(String(repeating: "x", count: 64 << 10))], timeout: 10)
            out.problems.append("workspace_full: a 64 KiB write into a full workspace succeeded")
        } catch {
            out.inFlightErrorMs = Double(Monotonic.nanos() - tWrite) / 1e6
            out.inFlightMessage = "\(error)"
            if !"\(error)".contains("space") { out.problems.append("workspace_full: unclear write error: \(error)") }
        }
        if (try? vm.session.ping(timeout: 5)) == nil { out.problems.append("workspace_full: the agent stopped answering") }
        return out
    }

    /// Corrupts the pool's snapshot file, then has the pool restore from it:
    /// detection is the pool noticing (its rebuild record); afterwards a
    /// restored sandbox must answer.
    func snapshotRound() throws -> FaultOutcome {
        var out = FaultOutcome(kind: .snapshotCorrupt)
        pool.waitForRefills()
        let file = try pool.currentSnapshot().statePath
        let before = pool.stats().snapshotRebuilds.count
        let fault = try FaultInjector.inject(.snapshotCorrupt, into: nil, snapshotFile: file)
        out.injectedAtNs = fault.atNs
        out.snapshotFile = file
        // A checkout makes the pool refill, i.e. restore from the file.
        let co = try pool.checkout()
        defer { pool.release(co.vm) }
        let end = Monotonic.nanos() + 60_000_000_000
        while pool.stats().snapshotRebuilds.count == before && Monotonic.nanos() < end { usleep(1_000) }
        let rebuilds = pool.stats().snapshotRebuilds
        if rebuilds.count > before {
            out.detectionMs = Double(Monotonic.nanos() - fault.atNs) / 1e6
            out.verdict = rebuilds.last ?? ""
        } else { out.problems.append("snapshot_corrupt: the pool restored from a corrupted file without noticing") }
        pool.waitForRefills()
        let (vm, path) = try checkoutQEMU()
        defer { pool.release(vm) }
        if (try? vm.session.call(.executeCommand, ["command": .string("echo ok")], timeout: 30))?["stdout"]?.string != "ok\n" {
            out.problems.append("snapshot_corrupt: a sandbox restored after the rebuild (\(path)) did not answer")
        }
        return out
    }
}

/// Pings one sandbox that no fault touches, continuously, recording each
/// round trip with its instant, to compare before, during and after.
final class BystanderProbe: @unchecked Sendable {
    private let session: AgentSession
    private let lock = NSLock()
    private var samples: [(at: UInt64, ms: Double)] = []
    private var errors = 0
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(session: AgentSession) { self.session = session }

    func start(every: Double = 0.025) {
        Thread { [self] in
            while true {
                lock.lock(); let stop = stopped; lock.unlock()
                if stop { break }
                let t0 = Monotonic.nanos()
                let ok = (try? session.ping(timeout: 10)) != nil
                let ms = Double(Monotonic.nanos() - t0) / 1e6
                lock.lock(); if ok { samples.append((t0, ms)) } else { errors += 1 }; lock.unlock()
                usleep(useconds_t(every * 1e6))
            }
            done.signal()
        }.start()
    }

    func stop() { lock.lock(); stopped = true; lock.unlock(); done.wait() }

    var errorCount: Int { lock.lock(); defer { lock.unlock() }; return errors }

    func window(_ from: UInt64, _ to: UInt64) -> [Double] {
        lock.lock(); defer { lock.unlock() }
        return samples.filter { $0.at >= from && $0.at < to }.map(\.ms)
    }
}

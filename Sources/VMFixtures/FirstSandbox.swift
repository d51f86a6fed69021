import Foundation
import LGSettings
import AgentProtocol

/// The first sandbox of a fresh process (`lgperf mcp-server`,
/// `lgperf startup-probe`): restored from the persisted template (or full
/// snapshot, as LUMINAGUARD_POOL_STRATEGY says) when a valid one is on disk,
/// booted cold otherwise, and labelled with where it came from.
///
/// A missing or invalid snapshot is not rebuilt here: making one boots a
/// guest cold anyway, and a process that only wants one sandbox should not
/// pay for a boot and a save. `lgperf pool warmup` (or any pool) makes it.
public struct FirstSandbox: Sendable {
    public let vm: any SandboxVM
    /// `template` or `full` (restored from the persisted snapshot of that
    /// kind) or `cold` (booted).
    public let source: String
    /// Why a restore was wanted but the sandbox was booted cold; nil otherwise.
    public let fallbackReason: String?
    /// Request to ready (the agent answered), ms.
    public let readyMs: Double

    public init(vm: any SandboxVM, source: String, fallbackReason: String? = nil, readyMs: Double) {
        self.vm = vm; self.source = source; self.fallbackReason = fallbackReason; self.readyMs = readyMs
    }

    /// One line for logs: `template in 151.2 ms` or `cold (fallback: ...) in 1801.0 ms`.
    public var summary: String {
        let how = fallbackReason.map { "\(source) (fallback: \($0))" } ?? source
        return String(format: "%@ in %.1f ms", how, readyMs)
    }

    /// Starts, each on a thread of its own, the once-per-process work a
    /// restore waits for: the host's TSC rate (three 15 ms samples; it is
    /// part of the kernel command line) and QEMU's version (part of a
    /// snapshot's identity). Called first, they overlap with finding the
    /// guest image; whoever needs them first waits for what is not done.
    public static func prefetch() {
        Thread.detachNewThread { _ = HostTSC.kHz }
        Thread.detachNewThread { if let q = ChildProcess.which("qemu-system-x86_64") { _ = QEMUVersion.of(q) } }
    }

    /// `fromSnapshot`: restore from the persisted snapshot when one is valid
    /// (QEMU only; other backends have none and boot cold, labelled so).
    /// Admission refusals are errors, never a reason to boot cold.
    public static func acquire(backend: any VMBackend, fromSnapshot: Bool, pool: PoolSettings = PoolSettings(),
                               memoryMB: Int = 128, readyTimeout: Double = Settings.shared.readyTimeoutSeconds,
                               log: (String) -> Void = { _ in }) throws -> FirstSandbox {
        let t0 = Monotonic.nanos()
        func ms() -> Double { Double(Monotonic.nanos() - t0) / 1e6 }
        func cold(_ why: String?) throws -> FirstSandbox {
            let vm = try backend.spawn(SpawnOptions(readyTimeout: readyTimeout, memoryMB: memoryMB))
            return FirstSandbox(vm: vm, source: "cold", fallbackReason: why, readyMs: ms())
        }
        guard fromSnapshot else { return try cold(nil) }
        guard let qemu = backend as? QEMUBackend else {
            return try cold("the \(backend.kind.rawValue) backend has no snapshots")
        }
        let store = SnapshotStore(root: pool.snapshotPath, backend: qemu, memoryMB: memoryMB, template: pool.strategy == .template)
        do {
            // Any age will do: the refresh interval is the pool's business.
            let snapshot = try store.load(maxAge: nil)
            let vm = try store.restore(snapshot, readyTimeout: readyTimeout)
            return FirstSandbox(vm: vm, source: store.strategy, readyMs: ms())
        } catch let refused as AdmissionError {
            throw refused
        } catch {
            let why = "no usable \(store.strategy) snapshot in \(pool.snapshotPath) (\(error)); lgperf pool warmup makes one"
            log("booting cold: \(why)")
            return try cold(why)
        }
    }
}

import Foundation
import LGSettings
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The guide's pool settings, validated with errors that name the variable
/// and the range it accepts.
/// How pooled VMs are restored (LUMINAGUARD_POOL_STRATEGY).
public enum PoolStrategy: String, Sendable, Equatable, CaseIterable {
    /// Device state only; guest RAM mapped copy-on-write from the template's file.
    case template
    /// The whole guest RAM in the snapshot.
    case full
}

public struct PoolSettings: Sendable, Equatable {
    public var size: Int
    public var strategy: PoolStrategy
    public var refreshSeconds: Int
    public var snapshotPath: String
    /// Set when the configured path was not writable and a fallback is used.
    public var notice: String?

    public static let defaultSnapshotPath = "/var/lib/luminaguard/snapshots"

    /// From the validated settings (LUMINAGUARD_POOL_SIZE,
    /// LUMINAGUARD_SNAPSHOT_REFRESH_SECS, LUMINAGUARD_SNAPSHOT_PATH); an
    /// unwritable snapshot path falls back to the cache, with a notice.
    public init(_ settings: Settings = .shared) {
        let size = settings.poolSize
        let refresh = settings.snapshotRefreshSeconds
        var path = settings.snapshotPath
        var notice: String?
        if !Self.writable(path) {
            let fallback = ProjectPaths.cacheDirectory + "/snapshots"
            notice = "snapshot path \(path) is not writable; using \(fallback) (set LUMINAGUARD_SNAPSHOT_PATH to choose)"
            path = fallback
        }
        self.init(size: size, refreshSeconds: refresh, snapshotPath: path, notice: notice,
                  strategy: PoolStrategy(rawValue: settings.poolStrategy) ?? .template)
    }

    public init(size: Int, refreshSeconds: Int, snapshotPath: String, notice: String? = nil, strategy: PoolStrategy = .template) {
        self.size = size; self.refreshSeconds = refreshSeconds; self.snapshotPath = snapshotPath; self.notice = notice
        self.strategy = strategy
    }

    static func writable(_ path: String) -> Bool {
        if (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) == nil { return false }
        return access(path, W_OK) == 0
    }
}

public struct PoolStats: Sendable {
    public var size: Int
    public var ready: Int
    public var inUse: Int
    public var snapshotAgeSeconds: Double?
    public var hits: Int
    public var misses: Int
    public var checkoutMs: [Double]
    public var restoreMs: [Double]
    public var coldMs: [Double]
    public var snapshotRebuilds: [String]
    /// The strategy in use (`template` or `full`) and, when the configured
    /// one could not be used, why.
    public var strategy: String
    public var strategyNotice: String?
    /// Whether its QEMUs run jailed (``QEMUJail``): restores, refills and cold fallbacks alike.
    public var jailed: Bool
    public var hitRate: Double { hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses) }
}

/// N ready VMs restored from a snapshot. A checkout takes one (path `pool`),
/// or restores one on the spot when the pool is empty (`restore`), or boots
/// one cold when no snapshot can be used (`cold`); the pool refills in the
/// background and refreshes snapshots older than the refresh interval.
/// Every VM it starts passes admission control: a warm-up or checkout beyond
/// LUMINAGUARD_MAX_VMS or the memory reserve fails at once with an
/// ``AdmissionError`` (a refused refill is logged and leaves the pool short).
public final class VMPool: @unchecked Sendable {
    public let settings: PoolSettings
    /// The store restores come from: the template store, or the full one
    /// (configured so, or after a template could not be made).
    public var store: SnapshotStore { lock.lock(); defer { lock.unlock() }; return active }
    public var strategy: PoolStrategy { store.template ? .template : .full }
    private var active: SnapshotStore
    private let fullStore: SnapshotStore
    private var strategyNotice: String?
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private let refillQueue = DispatchQueue(label: "luminaguard.pool.refill")
    private let refillGroup = DispatchGroup()
    private var ready: [any SandboxVM] = []
    private var snapshot: Snapshot?
    private var closed = false
    private var inUse = 0
    private var hits = 0, misses = 0
    private var checkoutMs: [Double] = [], restoreMs: [Double] = [], coldMs: [Double] = []
    private var rebuilds: [String] = []

    /// `admission`: the admission control its VMs pass (nil: `Admission.shared`).
    /// A backend with a ``QEMUJail`` gives a jailed pool: its restores map
    /// the template's sealed RAM copy (templates are still made unjailed).
    public init(backend: QEMUBackend, settings: PoolSettings, memoryMB: Int = 128, admission: Admission? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.settings = settings
        var full = SnapshotStore(root: settings.snapshotPath, backend: backend, memoryMB: memoryMB)
        full.admission = admission
        var template = SnapshotStore(root: settings.snapshotPath, backend: backend, memoryMB: memoryMB, template: true)
        template.admission = admission
        fullStore = full
        active = settings.strategy == .template ? template : full
        self.log = log
        if let n = settings.notice { log("[pool] \(n)") }
    }

    /// Makes sure a valid snapshot exists, then fills the pool.
    public func warmup() throws {
        _ = try currentSnapshot()
        var need: Int { lock.lock(); defer { lock.unlock() }; return settings.size - ready.count - pendingRefills }
        while need > 0 {
            let vm = try restoreOne()
            lock.lock(); ready.append(vm); lock.unlock()
        }
    }

    private var pendingRefills = 0

    /// The snapshot to restore from: verified once, rebuilt when missing,
    /// corrupt, mismatched or older than the refresh interval.
    public func currentSnapshot() throws -> Snapshot {
        lock.lock()
        if let s = snapshot, s.age <= Double(settings.refreshSeconds) { lock.unlock(); return s }
        lock.unlock()
        let (s, why) = try loadOrCreate(maxAge: Double(settings.refreshSeconds))
        lock.lock()
        snapshot = s
        if let why { rebuilds.append(why) }
        lock.unlock()
        return s
    }

    /// From the active store; a template that cannot be made (other than
    /// by admission control) switches the pool to full snapshots, saying so.
    private func loadOrCreate(maxAge: TimeInterval?) throws -> (Snapshot, rebuilt: String?) {
        let current = store
        do { return try current.loadOrCreate(maxAge: maxAge, log: log) } catch let refused as AdmissionError {
            throw refused
        } catch where current.template {
            let notice = "templated restore is unavailable (\(error)); the pool uses full snapshots"
            log("[pool] \(notice)")
            lock.lock(); active = fullStore; strategyNotice = notice; lock.unlock()
            return try fullStore.loadOrCreate(maxAge: maxAge, log: log)
        }
    }

    private func restoreOne() throws -> any SandboxVM {
        let s = try currentSnapshot()
        do {
            let vm = try store.restore(s)
            lock.lock(); restoreMs.append(Double(vm.timings.requestToReadyNs) / 1e6); lock.unlock()
            return vm
        } catch let e as SnapshotError {
            // The file changed under us: forget it, rebuild once, retry.
            lock.lock(); snapshot = nil; rebuilds.append(e.description); lock.unlock()
            log("[pool] \(e); rebuilding the snapshot")
            let (fresh, _) = try loadOrCreate(maxAge: 0)
            lock.lock(); snapshot = fresh; lock.unlock()
            return try store.restore(fresh)
        }
    }

    public struct Checkout {
        public let vm: any SandboxVM
        /// `pool`, `restore` or `cold`.
        public let path: String
        /// Checkout request to the agent answering a ping.
        public let readyMs: Double
    }

    /// A ready VM. Return it with `release` (which ends it: VMs are not reused
    /// across tasks).
    public func checkout() throws -> Checkout {
        let t0 = Monotonic.nanos()
        lock.lock()
        guard !closed else { lock.unlock(); throw VMError("the pool is shut down") }
        var candidate = ready.isEmpty ? nil : ready.removeFirst()
        lock.unlock()
        defer { scheduleRefill() }
        // A pooled VM must still answer: ready means the agent replied.
        while let vm = candidate {
            if (try? vm.session.ping(timeout: 2)) != nil {
                let ms = Double(Monotonic.nanos() - t0) / 1e6
                lock.lock(); hits += 1; inUse += 1; checkoutMs.append(ms); lock.unlock()
                return Checkout(vm: vm, path: "pool", readyMs: ms)
            }
            log("[pool] a pooled VM stopped answering; ending it")
            vm.shutdown()
            lock.lock(); candidate = ready.isEmpty ? nil : ready.removeFirst(); lock.unlock()
        }
        lock.lock(); misses += 1; lock.unlock()
        do {
            let vm = try restoreOne()
            let ms = Double(Monotonic.nanos() - t0) / 1e6
            lock.lock(); inUse += 1; checkoutMs.append(ms); lock.unlock()
            return Checkout(vm: vm, path: "restore", readyMs: ms)
        } catch let refused as AdmissionError {
            // A cold boot would be refused the same way: say so at once.
            throw refused
        } catch {
            log("[pool] restore failed (\(error)); booting cold")
            let vm = try store.backend.spawn(SpawnOptions(memoryMB: store.memoryMB, admission: store.admission))
            let ms = Double(Monotonic.nanos() - t0) / 1e6
            lock.lock(); inUse += 1; checkoutMs.append(ms); coldMs.append(ms); lock.unlock()
            return Checkout(vm: vm, path: "cold", readyMs: ms)
        }
    }

    public func release(_ vm: any SandboxVM) {
        vm.shutdown()
        lock.lock(); inUse = max(0, inUse - 1); lock.unlock()
    }

    private func scheduleRefill() {
        lock.lock()
        guard !closed, ready.count + pendingRefills < settings.size else { lock.unlock(); return }
        pendingRefills += 1
        lock.unlock()
        refillGroup.enter()
        refillQueue.async { [self] in
            defer { refillGroup.leave() }
            var vm: (any SandboxVM)?
            do { vm = try restoreOne() } catch let refused as AdmissionError {
                log("[pool] refill refused: \(refused)")
            } catch {
                log("[pool] refill failed: \(error)")
            }
            lock.lock()
            pendingRefills -= 1
            let keep = !closed && vm != nil
            if keep { ready.append(vm!) }
            lock.unlock()
            if !keep { vm?.shutdown() }
            // Chain until full.
            if keep { scheduleRefill() }
        }
    }

    /// Waits until background refills have finished (tests, measurements).
    public func waitForRefills(timeout: Double = 120) {
        _ = refillGroup.wait(timeout: .now() + timeout)
    }

    public func stats() -> PoolStats {
        lock.lock(); defer { lock.unlock() }
        return PoolStats(size: settings.size, ready: ready.count, inUse: inUse, snapshotAgeSeconds: snapshot?.age,
                         hits: hits, misses: misses, checkoutMs: checkoutMs, restoreMs: restoreMs, coldMs: coldMs,
                         snapshotRebuilds: rebuilds, strategy: active.strategy, strategyNotice: strategyNotice,
                         jailed: active.backend.jail != nil)
    }

    /// Ends every pooled VM and stops refilling; idempotent.
    public func shutdown() {
        lock.lock()
        closed = true
        let vms = ready
        ready.removeAll()
        lock.unlock()
        refillGroup.wait()
        for vm in vms { vm.shutdown() }
    }

    /// PIDs of the VMs waiting in the pool.
    public var readyPIDs: [Int32] { lock.lock(); defer { lock.unlock() }; return ready.map(\.pid) }

    deinit { shutdown() }
}

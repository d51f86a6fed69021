import Foundation
import LGSettings
import HostProbes

/// The limits a spawn must pass: a number of sandboxes, and memory the host
/// keeps in reserve after the new sandbox's expected footprint.
public struct AdmissionPolicy: Sendable, Equatable {
    /// At most this many sandboxes (of every backend) live in this process.
    public var maxVMs: Int
    /// What set `maxVMs`, as refusals name it (`LUMINAGUARD_MAX_VMS`, or a
    /// benchmark's own limit).
    public var maxVMsSource: String
    /// MB of memory left free after the new sandbox's footprint.
    public var reserveMB: Int
    /// Added to the guest's RAM for the first estimate of a sandbox's
    /// footprint, before one of its backend runs to be measured: QEMU's own
    /// memory outside guest RAM measured 86 MB here (README), rounded up.
    public var vmmOverheadMB: Int

    public static let defaultVMMOverheadMB = 96

    public init(maxVMs: Int, reserveMB: Int, vmmOverheadMB: Int = AdmissionPolicy.defaultVMMOverheadMB,
                maxVMsSource: String = "LUMINAGUARD_MAX_VMS") {
        self.maxVMs = maxVMs; self.reserveMB = reserveMB; self.vmmOverheadMB = vmmOverheadMB; self.maxVMsSource = maxVMsSource
    }

    /// LUMINAGUARD_MAX_VMS and LUMINAGUARD_MEMORY_RESERVE_MB.
    public init(_ settings: Settings) {
        self.init(maxVMs: settings.maxVMs, reserveMB: settings.memoryReserveMB)
    }
}

/// A spawn refused by admission control; says which limit and the numbers.
public struct AdmissionError: Error, CustomStringConvertible, Equatable {
    public enum Limit: String, Sendable { case maxVMs = "max_vms", memory }
    public let limit: Limit
    public let description: String
}

/// Every sandbox of this process that admission has let in, of every backend,
/// from admission (`starting`) through a successful start (`running`) to its
/// shutdown or kill. The count is what `maxVMs` limits.
public final class SandboxRegistry: @unchecked Sendable {
    public static let shared = SandboxRegistry()

    struct Entry {
        var kind: BackendKind
        /// The footprint admission assumed while it starts.
        var expectedMB: Double
        /// Set once the sandbox has started.
        var pid: Int32?
        var order: Int
    }

    let lock = NSLock()
    var entries: [Int: Entry] = [:]
    private var nextID = 0

    public init() {}

    /// Sandboxes admitted and not yet ended.
    public var count: Int { lock.lock(); defer { lock.unlock() }; return entries.count }
    /// Of them, those still starting.
    public var starting: Int { lock.lock(); defer { lock.unlock() }; return entries.values.filter { $0.pid == nil }.count }

    /// Under `lock`.
    func insert(_ e: Entry) -> Int {
        nextID += 1
        var e = e
        e.order = nextID
        entries[nextID] = e
        return nextID
    }

    func started(_ id: Int, pid: Int32) {
        lock.lock(); entries[id]?.pid = pid; lock.unlock()
    }

    func remove(_ id: Int) {
        lock.lock(); entries[id] = nil; lock.unlock()
    }
}

/// One admitted sandbox's place in the registry; released (once) when the
/// sandbox is shut down or killed, or its spawn fails.
public final class AdmissionTicket: @unchecked Sendable {
    let registry: SandboxRegistry
    let id: Int
    private let lock = NSLock()
    private var released = false

    init(registry: SandboxRegistry, id: Int) { self.registry = registry; self.id = id }

    func started(pid: Int32) { registry.started(id, pid: pid) }

    /// Gives the place back; idempotent.
    public func release() {
        lock.lock()
        let first = !released
        released = true
        lock.unlock()
        if first { registry.remove(id) }
    }

    deinit { release() }
}

/// Admission control on the spawn path: every backend's spawn (QEMU cold boot
/// and snapshot restore, Firecracker, process) goes through `spawn`, which
/// admits the sandbox or refuses at once with an ``AdmissionError``.
///
/// A sandbox is admitted while fewer than `maxVMs` are admitted (running or
/// starting) in this process, and while the memory available (MemAvailable,
/// or the memory cgroup's limit minus usage when smaller), less the expected
/// footprint of sandboxes still starting, stays at least `reserveMB` above
/// the new sandbox's expected footprint. The footprint is measured: the
/// largest PSS among the (up to 4) most recent running sandboxes of the same
/// backend; with none to measure, the guest's RAM plus `vmmOverheadMB`.
/// The check and the registration happen under one lock, so concurrent
/// spawns never exceed the limits.
public final class Admission: Sendable {
    public let policy: AdmissionPolicy
    let registry: SandboxRegistry
    let headroom: @Sendable () -> MemoryHeadroom
    let pssMB: @Sendable (Int32) -> Double?

    /// `headroom` and `pssMB` read the host by default; tests inject numbers.
    public init(policy: AdmissionPolicy, registry: SandboxRegistry = .shared,
                headroom: @escaping @Sendable () -> MemoryHeadroom = { MemoryHeadroom.read() },
                pssMB: @escaping @Sendable (Int32) -> Double? = { try? ProcProbes.memory(of: $0).pssMB }) {
        self.policy = policy; self.registry = registry; self.headroom = headroom; self.pssMB = pssMB
    }

    /// Admission for VMMs placed in `memoryCgroup`: its limit and usage
    /// count, not those of the harness's own group.
    public convenience init(policy: AdmissionPolicy, memoryCgroup: MemoryCgroup, registry: SandboxRegistry = .shared) {
        self.init(policy: policy, registry: registry, headroom: { memoryCgroup.headroom() })
    }

    /// The process's admission: the installed settings' limits, the
    /// process-wide registry.
    public static var shared: Admission { Admission(policy: AdmissionPolicy(Settings.shared)) }

    /// How many sandboxes measured at most for a footprint.
    static let measuredSandboxes = 4

    /// Admits one sandbox of `kind` with `memoryMB` of guest RAM, or throws.
    public func admit(_ kind: BackendKind, memoryMB: Int) throws -> AdmissionTicket {
        let r = registry
        r.lock.lock(); defer { r.lock.unlock() }
        let admitted = r.entries.count
        if admitted >= policy.maxVMs {
            let starting = r.entries.values.filter { $0.pid == nil }.count
            let who = starting == 0 ? "\(admitted) \(admitted == 1 ? "is" : "are") running"
                : "\(admitted) are running or starting (\(admitted - starting) running, \(starting) starting)"
            throw AdmissionError(limit: .maxVMs, description: "refusing to start a sandbox: \(who), \(policy.maxVMsSource)=\(policy.maxVMs)")
        }
        // Footprint: measured on running sandboxes of this backend, else estimated.
        let recent = r.entries.values.filter { $0.kind == kind && $0.pid != nil }.sorted { $0.order > $1.order }
            .prefix(Self.measuredSandboxes)
        let measured = recent.compactMap { pssMB($0.pid!) }
        let need: Double
        let basis: String
        if let m = measured.max() {
            need = m
            basis = "measured: the largest PSS of \(measured.count) running \(kind.rawValue) sandbox\(measured.count == 1 ? "" : "es")"
        } else {
            need = Double(memoryMB + policy.vmmOverheadMB)
            basis = "estimated: \(memoryMB) MB guest RAM + \(policy.vmmOverheadMB) MB VMM overhead, no \(kind.rawValue) sandbox running yet to measure"
        }
        let mem = headroom()
        if let hostAvailable = mem.availableMB {
            let pending = r.entries.values.filter { $0.pid == nil }
            let promised = pending.reduce(0) { $0 + $1.expectedMB }
            let available = hostAvailable - promised
            if available - need < Double(policy.reserveMB) {
                var details: [String] = []
                if let a = mem.memAvailableMB { details.append("MemAvailable \(Int(a)) MB") }
                if let l = mem.cgroupLimitMB, let u = mem.cgroupUsageMB { details.append("memory cgroup \(mem.cgroupPath.map { $0 + " " } ?? "")limit \(Int(l)) MB, usage \(Int(u)) MB") }
                if !pending.isEmpty { details.append("\(Int(promised)) MB promised to \(pending.count) sandbox\(pending.count == 1 ? "" : "es") still starting") }
                throw AdmissionError(limit: .memory, description:
                    "refusing to start a sandbox: it needs ~\(Int(need.rounded())) MB (\(basis)) and only \(Int(max(0, available))) MB are available with \(policy.reserveMB) MB kept in reserve (\(details.joined(separator: "; ")))")
            }
        }
        let id = r.insert(SandboxRegistry.Entry(kind: kind, expectedMB: need, pid: nil, order: 0))
        return AdmissionTicket(registry: r, id: id)
    }

    /// The one way a backend starts a sandbox: admit, run `start` with the
    /// ticket (the sandbox keeps it and releases it when it ends), record the
    /// started sandbox; a failed start gives its place back.
    public func spawn<T: SandboxVM>(_ kind: BackendKind, memoryMB: Int, _ start: (AdmissionTicket) throws -> T) throws -> T {
        let ticket = try admit(kind, memoryMB: memoryMB)
        do {
            let vm = try start(ticket)
            ticket.started(pid: vm.pid)
            return vm
        } catch {
            ticket.release()
            throw error
        }
    }
}

import Foundation
import AgentProtocol
import HostProbes
#if canImport(Glibc)
import Glibc
#endif

/// Why a memory cgroup could not be made (not root, no cgroup v1 memory
/// controller, a write refused): said as is in metrics notes, never a pass.
public struct MemoryCgroupUnavailable: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A cgroup v1 memory group the harness makes for its VMMs: a small host
/// whose limit is reached in seconds, safely (only the processes placed in
/// it can be charged to it, and only they can be OOM-killed by it).
/// VMMs join it before QEMU starts (``ChildProcess``'s `cgroupProcs`), so
/// every page they touch is charged here. `remove()` moves whatever is still
/// inside back to the group it was made in and deletes the group; it also runs when
/// the harness is interrupted.
public final class MemoryCgroup: @unchecked Sendable {
    /// The harness's own memory group: the exhaustion group is made inside
    /// it, so a harness under a memory limit keeps its VMs within that limit.
    public static let defaultRoot: String = {
        let own = SandboxCgroup.ownGroups((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? "")["memory"] ?? "/"
        return "/sys/fs/cgroup/memory" + (own == "/" ? "" : own)
    }()

    public let path: String
    public let root: String
    public let limitMB: Int
    /// The file a process writes its pid to in order to join.
    public var procsFile: String { path + "/cgroup.procs" }
    private let lock = NSLock()
    private var removed = false
    private var cleanupToken: Int?

    /// What the group's own files say now.
    public struct Reading: Sendable, Equatable {
        /// memory.limit_in_bytes, MB.
        public var limitMB: Double
        /// memory.usage_in_bytes, MB (page cache included).
        public var usageMB: Double
        /// memory.max_usage_in_bytes, MB: the peak since the group was made.
        public var maxUsageMB: Double
        /// memory.failcnt: times a charge hit the limit (the kernel then
        /// reclaimed; not an error in itself).
        public var failcnt: Int
        /// memory.oom_control's `oom_kill`: processes the OOM killer ended in
        /// this group. Nil when the kernel does not report it.
        public var oomKills: Int?
        /// memory.oom_control's `under_oom`.
        public var underOOM: Bool
        /// Processes in the group.
        public var processes: Int
    }

    /// Why no memory group can be made under `root`; nil when one can.
    public static func unavailableReason(root: String = defaultRoot) -> String? {
        if geteuid() != 0 {
            return "not running as root (euid \(geteuid())): making a cgroup v1 memory group needs root"
        }
        if !FileManager.default.fileExists(atPath: root + "/memory.limit_in_bytes") {
            return "no cgroup v1 memory controller mounted at \(root) (cgroup v2 only, or not mounted)"
        }
        if access(root, W_OK) != 0 { return "\(root) is not writable (read-only cgroup mount?)" }
        return nil
    }

    /// Makes `root`/`name` with `limitMB` as memory.limit_in_bytes. Groups a
    /// killed harness left behind (same prefix, owner gone, no process
    /// inside) are removed first.
    public static func create(name: String, limitMB: Int, root: String = defaultRoot) throws -> MemoryCgroup {
        if let why = unavailableReason(root: root) { throw MemoryCgroupUnavailable(why) }
        removeStale(root: root, prefix: stalePrefix(of: name))
        let path = root + "/" + name
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw MemoryCgroupUnavailable("cannot make memory cgroup \(path): \(String(cString: strerror(errno)))")
        }
        let group = MemoryCgroup(path: path, root: root, limitMB: limitMB)
        let bytes = UInt64(limitMB) << 20
        do {
            try write(String(bytes), to: path + "/memory.limit_in_bytes")
        } catch {
            group.remove()
            throw error
        }
        // The kernel rounds the limit to pages: read back what holds.
        guard let set = number(path + "/memory.limit_in_bytes"), set <= bytes, set > bytes - 65_536 else {
            group.remove()
            throw MemoryCgroupUnavailable("memory cgroup \(path) did not take a limit of \(limitMB) MB")
        }
        // On Ctrl-C or exit the registry ends the VMMs first, then this runs.
        group.cleanupToken = ProcessRegistry.shared.addCleanup { [weak group] in group?.remove() }
        return group
    }

    init(path: String, root: String, limitMB: Int) { self.path = path; self.root = root; self.limitMB = limitMB }

    public func read() -> Reading {
        let oom = MemoryHeadroom.statFields((try? ProcProbes.read(path + "/memory.oom_control")) ?? "")
        func mb(_ file: String) -> Double { Double(Self.number(path + "/" + file) ?? 0) / 1_048_576 }
        return Reading(limitMB: mb("memory.limit_in_bytes"), usageMB: mb("memory.usage_in_bytes"),
                       maxUsageMB: mb("memory.max_usage_in_bytes"),
                       failcnt: Int(Self.number(path + "/memory.failcnt") ?? 0),
                       oomKills: oom["oom_kill"].map { Int($0) }, underOOM: oom["under_oom"] == 1,
                       processes: pids.count)
    }

    /// MemAvailable and this group's limit and usage: what admission control
    /// must read for VMMs placed here (not the harness's own group).
    public func headroom() -> MemoryHeadroom { MemoryHeadroom.read(memoryCgroup: path) }

    /// Processes in the group now.
    public var pids: [Int32] {
        ((try? ProcProbes.read(procsFile)) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    /// Moves any process still inside back to the group it was made in (the caller has
    /// ended its VMs; a straggler is ended by its owner, not here), then
    /// deletes the group. Idempotent; returns what went wrong, if anything.
    @discardableResult
    public func remove() -> String? {
        lock.lock(); defer { lock.unlock() }
        if removed { return nil }
        let deadline = Monotonic.nanos() + 5_000_000_000
        var problem: String?
        while true {
            for pid in pids { try? Self.write(String(pid), to: root + "/cgroup.procs") }
            // rmdir works once no process is inside; charges go to the parent.
            if rmdir(path) == 0 || errno == ENOENT { problem = nil; break }
            problem = "cannot remove memory cgroup \(path): \(String(cString: strerror(errno))) (processes inside: \(pids))"
            if Monotonic.nanos() >= deadline { break }
            usleep(50_000)
        }
        if problem == nil {
            removed = true
            if let t = cleanupToken { ProcessRegistry.shared.removeCleanup(t) }
        }
        return problem
    }

    deinit { remove() }

    /// "lgperf-exh-1234" -> "lgperf-exh-": the owner's pid ends the name.
    static func stalePrefix(of name: String) -> String {
        String(name.reversed().drop { $0.isNumber }.reversed())
    }

    /// Deletes `root`/`prefix`<pid> groups whose pid is gone and that hold
    /// no process (a harness killed with SIGKILL cannot remove its own).
    static func removeStale(root: String, prefix: String) {
        guard !prefix.isEmpty, let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let owner = Int32(name.dropFirst(prefix.count)), kill(owner, 0) != 0, errno == ESRCH else { continue }
            let dir = root + "/" + name
            if ((try? ProcProbes.read(dir + "/cgroup.procs")) ?? "x").isEmpty { rmdir(dir) }
        }
    }

    static func number(_ path: String) -> UInt64? {
        (try? ProcProbes.read(path)).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// One write(2) of `text`, as cgroup files expect; throws with the errno.
    static func write(_ text: String, to file: String) throws {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MemoryCgroupUnavailable("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw MemoryCgroupUnavailable("cannot write \(text) to \(file): \(String(cString: strerror(errno)))")
        }
    }
}

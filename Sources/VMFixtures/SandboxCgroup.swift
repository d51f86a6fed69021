import Foundation
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// One sandbox's cgroup (v1) in the memory, pids and cpu hierarchies, with
/// its limits: whatever runs inside can exhaust these, not the host.
/// Removed (after killing anything left in it) by `remove()`, and at harness exit.
final class SandboxCgroup: @unchecked Sendable {
    static let controllers = ["memory", "pids", "cpu"]
    static let root = "/sys/fs/cgroup"
    /// Name of the group that holds every sandbox's group.
    static let parent = "luminaguard"

    /// Per controller, the directory that holds the sandboxes' groups:
    /// `luminaguard` under the harness's own group, so that a sandbox stays
    /// inside whatever limits the harness runs under (a CPU quota, a memory
    /// limit) rather than escaping them; under the root for a harness there.
    static let parentDirectories: [String: String] = {
        let own = ownGroups((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? "")
        var out: [String: String] = [:]
        for c in controllers {
            let path = own[c] ?? "/"
            out[c] = "\(root)/\(c)" + (path == "/" ? "" : path) + "/\(parent)"
        }
        return out
    }()

    /// `controller -> path` from /proc/PID/cgroup lines (`N:cpu,cpuacct:/path`).
    static func ownGroups(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            for c in parts[1].split(separator: ",") { out[String(c)] = String(parts[2]) }
        }
        return out
    }

    /// The CPU quota, in cores, the harness itself runs under (the smallest
    /// `cfs_quota_us / cfs_period_us` of its cpu group and its ancestors);
    /// nil when none. A child group cannot be given more (the kernel refuses
    /// it with EINVAL), so a sandbox's quota is capped at this.
    static let harnessCPUCores: Double? = {
        var path = ownGroups((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? "")["cpu"] ?? "/"
        var smallest: Double?
        while true {
            let dir = "\(root)/cpu" + (path == "/" ? "" : path)
            if let q = number(dir + "/cpu.cfs_quota_us"), q > 0, let p = number(dir + "/cpu.cfs_period_us"), p > 0 {
                smallest = min(smallest ?? .infinity, Double(q) / Double(p))
            }
            if path == "/" || path.isEmpty { return smallest }
            path = (path as NSString).deletingLastPathComponent
        }
    }()

    private static func number(_ path: String) -> Int64? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// A sandbox's CPU quota in cores: what was asked, at most the harness's
    /// own (no quota asked: none set, the harness's applies anyway).
    static func cappedCores(_ asked: Double?, harness: Double? = harnessCPUCores) -> Double? {
        guard let asked, let harness else { return asked }
        return min(asked, harness)
    }

    /// The directory of sandbox group `name` in controller `c`.
    static func directory(_ c: String, _ name: String) -> String { "\(parentDirectories[c]!)/\(name)" }

    /// All three controllers are mounted (v1) and writable.
    static var available: Bool {
        controllers.allSatisfy { access("\(root)/\($0)/cgroup.procs", W_OK) == 0 }
    }

    let name: String
    private var cleanupToken: Int?
    private let lock = NSLock()

    /// - Parameter cpuCores: the CPU quota in cores; nil: no quota.
    init(name: String, memoryMB: Int, pids: Int, cpuCores: Double?) throws {
        self.name = name
        for c in Self.controllers {
            let dir = Self.directory(c, name)
            guard mkdir(Self.parentDirectories[c]!, 0o755) == 0 || errno == EEXIST,
                  mkdir(dir, 0o755) == 0 || errno == EEXIST else {
                let e = String(cString: strerror(errno))
                Self.removeGroups(name)
                throw VMError("cannot create the sandbox's cgroup \(dir): \(e)", fix: "run as root with cgroup v1 mounted at \(Self.root)")
            }
        }
        let bytes = String(memoryMB << 20)
        let period = 100_000
        do {
            try Self.write(bytes, to: Self.directory("memory", name) + "/memory.limit_in_bytes")
            // With swap accounting, swap may not stretch the limit either.
            try? Self.write(bytes, to: Self.directory("memory", name) + "/memory.memsw.limit_in_bytes")
            try Self.write(String(pids), to: Self.directory("pids", name) + "/pids.max")
            try Self.write(String(period), to: Self.directory("cpu", name) + "/cpu.cfs_period_us")
            try Self.write(Self.cappedCores(cpuCores).map { String(Int($0 * Double(period))) } ?? "-1", to: Self.directory("cpu", name) + "/cpu.cfs_quota_us")
        } catch {
            Self.removeGroups(name)
            throw error
        }
        let captured = name
        cleanupToken = ProcessRegistry.shared.addCleanup { SandboxCgroup.removeGroups(captured) }
    }

    /// The files a process writes its pid to, to join every group.
    var procsFiles: [String] { Self.controllers.map { Self.directory($0, name) + "/cgroup.procs" } }

    /// Times the memory limit made the kernel kill a process in the sandbox.
    var oomKills: Int {
        guard let text = try? String(contentsOfFile: Self.directory("memory", name) + "/memory.oom_control", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("oom_kill ") }) else { return 0 }
        return Int(line.split(separator: " ").last ?? "") ?? 0
    }

    /// Kills whatever is left in the groups and removes them.
    func remove() {
        lock.lock(); defer { lock.unlock() }
        if let t = cleanupToken { ProcessRegistry.shared.removeCleanup(t); cleanupToken = nil }
        Self.removeGroups(name)
    }

    /// Processes still in the groups (the sandbox's whole tree).
    static func members(_ name: String) -> Set<Int32> {
        var pids = Set<Int32>()
        for c in controllers {
            guard let text = try? String(contentsOfFile: directory(c, name) + "/cgroup.procs", encoding: .utf8) else { continue }
            for l in text.split(separator: "\n") { if let p = Int32(l) { pids.insert(p) } }
        }
        return pids
    }

    /// SIGKILLs every member until the groups are empty (a group with
    /// members cannot be removed), then removes them; gives up after 5 s.
    static func removeGroups(_ name: String) {
        let deadline = Monotonic.nanos() + 5_000_000_000
        while true {
            let left = members(name)
            for p in left { kill(p, SIGKILL) }
            var removed = true
            for c in controllers {
                let dir = directory(c, name)
                if rmdir(dir) != 0 && errno != ENOENT { removed = false }
            }
            if removed || Monotonic.nanos() > deadline { return }
            usleep(10_000)
        }
    }

    private static func write(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VMError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress!, $0.count) }) == bytes.count else {
            throw VMError("cannot set \(path) to \(value): \(String(cString: strerror(errno)))")
        }
    }
}

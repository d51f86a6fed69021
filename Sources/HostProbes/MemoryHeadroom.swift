import Foundation

/// How much memory a new process could still get: the kernel's MemAvailable
/// and, when this process runs in a cgroup v1 memory controller with a limit,
/// that cgroup's limit minus its usage (the smaller of the two counts).
public struct MemoryHeadroom: Sendable, Equatable {
    /// /proc/meminfo's MemAvailable, MB.
    public var memAvailableMB: Double?
    /// The memory cgroup's memory.limit_in_bytes, MB; nil when this process is
    /// in no memory cgroup or its cgroup has no limit.
    public var cgroupLimitMB: Double?
    /// The memory cgroup's memory.usage_in_bytes less its inactive file cache
    /// (which the kernel reclaims before it refuses memory), MB.
    public var cgroupUsageMB: Double?
    /// The cgroup directory read, for messages.
    public var cgroupPath: String?

    public init(memAvailableMB: Double?, cgroupLimitMB: Double? = nil, cgroupUsageMB: Double? = nil, cgroupPath: String? = nil) {
        self.memAvailableMB = memAvailableMB; self.cgroupLimitMB = cgroupLimitMB
        self.cgroupUsageMB = cgroupUsageMB; self.cgroupPath = cgroupPath
    }

    /// The cgroup's limit minus its usage, when it has a limit.
    public var cgroupFreeMB: Double? {
        guard let l = cgroupLimitMB, let u = cgroupUsageMB else { return nil }
        return max(0, l - u)
    }

    /// What a new sandbox can use: the smaller of MemAvailable and the
    /// cgroup's headroom; nil when neither could be read.
    public var availableMB: Double? {
        switch (memAvailableMB, cgroupFreeMB) {
        case let (a?, c?): return min(a, c)
        case let (a?, nil): return a
        case let (nil, c?): return c
        case (nil, nil): return nil
        }
    }

    /// cgroup v1 reports "no limit" as a huge number (9223372036854771712).
    static let unlimitedBytes: UInt64 = 1 << 60

    /// Reads `proc`/meminfo and `proc`/self/cgroup, then the memory
    /// cgroup's files under `cgroupMemoryRoot` (roots are parameters so tests
    /// can point them at fake files).
    public static func read(proc: String = "/proc", cgroupMemoryRoot: String = "/sys/fs/cgroup/memory") -> MemoryHeadroom {
        guard let dir = memoryCgroupDirectory(proc: proc, root: cgroupMemoryRoot) else { return read(proc: proc, memoryCgroup: nil) }
        return read(proc: proc, memoryCgroup: dir)
    }

    /// MemAvailable and the limit and usage of the cgroup v1 memory group at
    /// `dir` (e.g. the group a run's VMMs are placed in, which is not the
    /// harness's own); MemAvailable only when `dir` is nil or has no limit.
    public static func read(proc: String = "/proc", memoryCgroup dir: String?) -> MemoryHeadroom {
        let meminfo = (try? ProcProbes.read(proc + "/meminfo")).flatMap { ProcProbes.kbFields($0)["MemAvailable"] }
        var out = MemoryHeadroom(memAvailableMB: meminfo.map { Double($0) / 1_048_576 })
        guard let dir, let own = number(dir + "/memory.limit_in_bytes"),
              let usage = number(dir + "/memory.usage_in_bytes") else { return out }
        let stat = statFields((try? ProcProbes.read(dir + "/memory.stat")) ?? "")
        // A parent group's smaller limit binds first (the group may sit under
        // a harness that runs under a memory limit).
        let limit = min(own, stat["hierarchical_memory_limit"] ?? own)
        guard limit < unlimitedBytes else { return out }
        let inactive = stat["total_inactive_file"] ?? stat["inactive_file"] ?? 0
        out.cgroupLimitMB = Double(limit) / 1_048_576
        out.cgroupUsageMB = Double(usage - min(usage, inactive)) / 1_048_576
        out.cgroupPath = dir
        return out
    }

    /// The directory of this process's cgroup v1 memory controller: the path
    /// from the `memory` line of /proc/self/cgroup under `root`; `root`
    /// itself when that path is not visible there (a container that mounts
    /// its own cgroup at the root); nil without a memory controller.
    static func memoryCgroupDirectory(proc: String, root: String) -> String? {
        guard let text = try? ProcProbes.read(proc + "/self/cgroup") else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].split(separator: ",").contains("memory") else { continue }
            let path = String(parts[2])
            let full = path == "/" ? root : root + path
            if FileManager.default.fileExists(atPath: full + "/memory.limit_in_bytes") { return full }
            if FileManager.default.fileExists(atPath: root + "/memory.limit_in_bytes") { return root }
            return nil
        }
        return nil
    }

    static func number(_ path: String) -> UInt64? {
        (try? ProcProbes.read(path)).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// memory.stat: "name value" per line.
    public static func statFields(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let v = UInt64(f[1]) { out[String(f[0])] = v }
        }
        return out
    }
}

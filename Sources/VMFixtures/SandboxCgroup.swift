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
    /// Parent group of every sandbox's group.
    static let parent = "luminaguard"

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
            let dir = "\(Self.root)/\(c)/\(Self.parent)/\(name)"
            guard mkdir("\(Self.root)/\(c)/\(Self.parent)", 0o755) == 0 || errno == EEXIST,
                  mkdir(dir, 0o755) == 0 || errno == EEXIST else {
                let e = String(cString: strerror(errno))
                Self.removeGroups(name)
                throw VMError("cannot create the sandbox's cgroup \(dir): \(e)", fix: "run as root with cgroup v1 mounted at \(Self.root)")
            }
        }
        let bytes = String(memoryMB << 20)
        let period = 100_000
        do {
            try Self.write(bytes, to: "memory/\(Self.parent)/\(name)/memory.limit_in_bytes")
            // With swap accounting, swap may not stretch the limit either.
            try? Self.write(bytes, to: "memory/\(Self.parent)/\(name)/memory.memsw.limit_in_bytes")
            try Self.write(String(pids), to: "pids/\(Self.parent)/\(name)/pids.max")
            try Self.write(String(period), to: "cpu/\(Self.parent)/\(name)/cpu.cfs_period_us")
            try Self.write(cpuCores.map { String(Int($0 * Double(period))) } ?? "-1", to: "cpu/\(Self.parent)/\(name)/cpu.cfs_quota_us")
        } catch {
            Self.removeGroups(name)
            throw error
        }
        let captured = name
        cleanupToken = ProcessRegistry.shared.addCleanup { SandboxCgroup.removeGroups(captured) }
    }

    /// The files a process writes its pid to, to join every group.
    var procsFiles: [String] { Self.controllers.map { "\(Self.root)/\($0)/\(Self.parent)/\(name)/cgroup.procs" } }

    /// Times the memory limit made the kernel kill a process in the sandbox.
    var oomKills: Int {
        guard let text = try? String(contentsOfFile: "\(Self.root)/memory/\(Self.parent)/\(name)/memory.oom_control", encoding: .utf8),
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
            guard let text = try? String(contentsOfFile: "\(root)/\(c)/\(parent)/\(name)/cgroup.procs", encoding: .utf8) else { continue }
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
                let dir = "\(root)/\(c)/\(parent)/\(name)"
                if rmdir(dir) != 0 && errno != ENOENT { removed = false }
            }
            if removed || Monotonic.nanos() > deadline { return }
            usleep(10_000)
        }
    }

    private static func write(_ value: String, to relative: String) throws {
        let path = "\(root)/\(relative)"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VMError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress!, $0.count) }) == bytes.count else {
            throw VMError("cannot set \(path) to \(value): \(String(cString: strerror(errno)))")
        }
    }
}

import Foundation
import Testing
import AgentProtocol
import HostProbes
import LGSettings
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The admission policy with injected numbers: a private registry, a fixed
/// memory headroom, fixed PSS readings.
@Suite struct AdmissionPolicyTests {
    static func admission(max: Int = 64, reserve: Int = 512, availableMB: Double? = 100_000,
                          cgroup: (limit: Double, usage: Double)? = nil, pss: Double? = nil,
                          registry: SandboxRegistry = SandboxRegistry()) -> Admission {
        let headroom = MemoryHeadroom(memAvailableMB: availableMB, cgroupLimitMB: cgroup?.limit, cgroupUsageMB: cgroup?.usage)
        return Admission(policy: AdmissionPolicy(maxVMs: max, reserveMB: reserve), registry: registry,
                         headroom: { headroom }, pssMB: { _ in pss })
    }

    @Test func `beyond LUMINAGUARD_MAX_VMS a spawn is refused, naming the limit and the count`() throws {
        let a = Self.admission(max: 2)
        let t1 = try a.admit(.qemu, memoryMB: 128), t2 = try a.admit(.process, memoryMB: 128)
        t1.started(pid: 101); t2.started(pid: 102)
        #expect { try a.admit(.qemu, memoryMB: 128) } throws: { error in
            let e = error as? AdmissionError
            return e?.limit == .maxVMs && e?.description == "refusing to start a sandbox: 2 are running, LUMINAGUARD_MAX_VMS=2"
        }
        // Shutdown gives the place back.
        t1.release()
        t1.release()  // idempotent
        #expect(a.registry.count == 1)
        _ = try a.admit(.qemu, memoryMB: 128)
    }

    @Test func `sandboxes still starting count against the limit`() throws {
        let a = Self.admission(max: 2)
        let t = try a.admit(.qemu, memoryMB: 128)
        let u = try a.admit(.qemu, memoryMB: 128)
        t.started(pid: 7)
        #expect { try a.admit(.qemu, memoryMB: 128) } throws: {
            "\($0)" == "refusing to start a sandbox: 2 are running or starting (1 running, 1 starting), LUMINAGUARD_MAX_VMS=2"
        }
        _ = u
    }

    @Test func `a spawn that would eat into the memory reserve is refused with the estimate it used`() throws {
        // 128 MB guest RAM + 96 MB overhead = 224 MB; 700 - 224 = 476 < 512.
        let a = Self.admission(availableMB: 700)
        #expect { try a.admit(.qemu, memoryMB: 128) } throws: { error in
            let e = error as? AdmissionError
            return e?.limit == .memory && e?.description == "refusing to start a sandbox: it needs ~224 MB (estimated: 128 MB guest RAM + 96 MB VMM overhead, no qemu sandbox running yet to measure) and only 700 MB are available with 512 MB kept in reserve (MemAvailable 700 MB)"
        }
        // 736 - 224 = 512: exactly the reserve is kept, so it is admitted.
        _ = try Self.admission(availableMB: 736).admit(.qemu, memoryMB: 128)
    }

    @Test func `once a sandbox of the backend runs, its measured PSS is the footprint`() throws {
        let registry = SandboxRegistry()
        let first = try Self.admission(registry: registry).admit(.qemu, memoryMB: 128)
        first.started(pid: 4242)
        // 700 - 95 = 605 >= 512: admitted on the measured 95 MB, not the 224 MB estimate.
        let a = Self.admission(availableMB: 700, pss: 95, registry: registry)
        let t = try a.admit(.qemu, memoryMB: 128)
        t.release()
        #expect { try Self.admission(availableMB: 600, pss: 95, registry: registry).admit(.qemu, memoryMB: 128) } throws: {
            "\($0)".hasPrefix("refusing to start a sandbox: it needs ~95 MB (measured: the largest PSS of 1 running qemu sandbox) and only 600 MB are available")
        }
        // Another backend has nothing measured yet: estimated.
        #expect { try Self.admission(availableMB: 700, pss: 95, registry: registry).admit(.process, memoryMB: 128) } throws: {
            "\($0)".contains("estimated: 128 MB guest RAM + 96 MB VMM overhead, no process sandbox running yet")
        }
        first.release()
    }

    @Test func `memory promised to sandboxes still starting is not available to the next`() throws {
        // 1500 MB: each start is promised 224 MB until it runs; the fifth
        // would leave 1500 - 4 * 224 - 224 = 380 MB < 512.
        let a = Self.admission(availableMB: 1500)
        let held = try (0..<4).map { _ in try a.admit(.qemu, memoryMB: 128) }
        #expect { try a.admit(.qemu, memoryMB: 128) } throws: {
            "\($0)" == "refusing to start a sandbox: it needs ~224 MB (estimated: 128 MB guest RAM + 96 MB VMM overhead, no qemu sandbox running yet to measure) and only 604 MB are available with 512 MB kept in reserve (MemAvailable 1500 MB; 896 MB promised to 4 sandboxes still starting)"
        }
        held.forEach { $0.release() }
    }

    @Test func `the cgroup's limit minus usage counts when it is smaller than MemAvailable`() throws {
        let a = Self.admission(availableMB: 20_000, cgroup: (4096, 3686))
        #expect { try a.admit(.qemu, memoryMB: 128) } throws: {
            "\($0)".hasSuffix("and only 410 MB are available with 512 MB kept in reserve (MemAvailable 20000 MB; memory cgroup limit 4096 MB, usage 3686 MB)")
        }
    }

    @Test func `unknown memory admits on the count alone`() throws {
        _ = try Self.admission(availableMB: nil).admit(.qemu, memoryMB: 128)
    }

    @Test func `concurrent admissions never exceed the count limit`() throws {
        let registry = SandboxRegistry()
        let a = Self.admission(max: 5, registry: registry)
        let tickets = Collected<AdmissionTicket>(), refusals = Collected<String>()
        DispatchQueue.concurrentPerform(iterations: 200) { _ in
            do { tickets.add(try a.admit(.process, memoryMB: 16)) } catch { refusals.add("\(error)") }
        }
        #expect(tickets.items.count == 5 && registry.count == 5)
        #expect(refusals.items.count == 195)
        #expect(refusals.items.allSatisfy { $0.contains("LUMINAGUARD_MAX_VMS=5") })
        tickets.items.forEach { $0.release() }
        #expect(registry.count == 0)
    }

    @Test func `concurrent admissions never exceed the memory reserve`() throws {
        // Room for exactly 3 estimated footprints above the reserve.
        let a = Self.admission(availableMB: 512 + 3 * 224)
        let tickets = Collected<AdmissionTicket>()
        DispatchQueue.concurrentPerform(iterations: 100) { _ in
            if let t = try? a.admit(.qemu, memoryMB: 128) { tickets.add(t) }
        }
        #expect(tickets.items.count == 3)
    }

    @Test func `a failed start gives its place back`() throws {
        let a = Self.admission(max: 1)
        struct Boom: Error {}
        #expect(throws: Boom.self) { try a.spawn(.process, memoryMB: 16) { _ -> QEMUSandbox in throw Boom() } }
        #expect(a.registry.count == 0)
    }

    @Test func `settings: LUMINAGUARD_MAX_VMS and LUMINAGUARD_MEMORY_RESERVE_MB`() throws {
        for mode in Settings.Mode.allCases {
            let d = try Settings.load(environment: [:], mode: mode)
            #expect(d.maxVMs == 64 && d.memoryReserveMB == 512)
        }
        let s = try Settings.load(environment: ["LUMINAGUARD_MAX_VMS": "3", "LUMINAGUARD_MEMORY_RESERVE_MB": "0"])
        #expect(AdmissionPolicy(s) == AdmissionPolicy(maxVMs: 3, reserveMB: 0))
        #expect { try Settings.load(environment: ["LUMINAGUARD_MAX_VMS": "0"]) } throws: {
            "\($0)" == "LUMINAGUARD_MAX_VMS=0 is not valid: expected a whole number from 1 to 1000"
        }
        #expect { try Settings.load(environment: ["LUMINAGUARD_MEMORY_RESERVE_MB": "-1"]) } throws: {
            "\($0)".hasPrefix("LUMINAGUARD_MEMORY_RESERVE_MB=-1 is not valid")
        }
    }
}

/// The memory cgroup and /proc read from fake files.
@Suite struct MemoryHeadroomTests {
    /// A fake /proc and cgroup v1 memory tree; returns (proc, cgroup root).
    static func fake(cgroupLine: String, limit: String?, usage: UInt64 = 0, inactiveFile: UInt64 = 0,
                     at sub: String = "/lg/test") throws -> (TempDirectory, String, String) {
        let dir = try TempDirectory(prefix: "lgmem")
        let proc = dir.path + "/proc", root = dir.path + "/memory"
        try FileManager.default.createDirectory(atPath: proc + "/self", withIntermediateDirectories: true)
        try "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20971520 kB\n".write(toFile: proc + "/meminfo", atomically: true, encoding: .utf8)
        try "9:name=systemd:/\n\(cgroupLine)\n0::/\n".write(toFile: proc + "/self/cgroup", atomically: true, encoding: .utf8)
        if let limit {
            let cg = root + sub
            try FileManager.default.createDirectory(atPath: cg, withIntermediateDirectories: true)
            try "\(limit)\n".write(toFile: cg + "/memory.limit_in_bytes", atomically: true, encoding: .utf8)
            try "\(usage)\n".write(toFile: cg + "/memory.usage_in_bytes", atomically: true, encoding: .utf8)
            try "cache 1\ninactive_file \(inactiveFile)\ntotal_inactive_file \(inactiveFile)\n".write(toFile: cg + "/memory.stat", atomically: true, encoding: .utf8)
        }
        return (dir, proc, root)
    }

    @Test func `a cgroup with a limit: limit minus usage (less inactive file cache), the smaller one counts`() throws {
        let (dir, proc, root) = try Self.fake(cgroupLine: "4:memory:/lg/test", limit: "\(4096 << 20)",
                                              usage: 3800 << 20, inactiveFile: 114 << 20)
        defer { dir.remove() }
        let h = MemoryHeadroom.read(proc: proc, cgroupMemoryRoot: root)
        #expect(h.memAvailableMB == 20480)
        #expect(h.cgroupLimitMB == 4096 && h.cgroupUsageMB == 3686)
        #expect(h.availableMB == 410)
        #expect(h.cgroupPath == root + "/lg/test")
        // Admission names the cgroup's numbers.
        let a = Admission(policy: AdmissionPolicy(maxVMs: 64, reserveMB: 512), registry: SandboxRegistry(),
                          headroom: { h }, pssMB: { _ in nil })
        #expect { try a.admit(.qemu, memoryMB: 128) } throws: {
            "\($0)".hasSuffix("and only 410 MB are available with 512 MB kept in reserve (MemAvailable 20480 MB; memory cgroup \(root)/lg/test limit 4096 MB, usage 3686 MB)")
        }
    }

    @Test func `a named group (where the VMMs are) is read, not the process's own`() throws {
        let (dir, proc, root) = try Self.fake(cgroupLine: "8:pids:/", limit: "\(1024 << 20)", usage: 900 << 20)
        defer { dir.remove() }
        #expect(MemoryHeadroom.read(proc: proc, cgroupMemoryRoot: root).cgroupLimitMB == nil)
        let h = MemoryHeadroom.read(proc: proc, memoryCgroup: root + "/lg/test")
        #expect(h.cgroupLimitMB == 1024 && h.availableMB == 124 && h.cgroupPath == root + "/lg/test")
        #expect(MemoryHeadroom.read(proc: proc, memoryCgroup: nil) == MemoryHeadroom(memAvailableMB: 20480))
    }

    @Test func `a parent group's smaller limit binds: the hierarchical limit counts`() throws {
        let (dir, proc, root) = try Self.fake(cgroupLine: "8:pids:/", limit: "9223372036854771712", usage: 100 << 20)
        defer { dir.remove() }
        let stat = root + "/lg/test/memory.stat"
        try "cache 1\ntotal_inactive_file 0\nhierarchical_memory_limit \(512 << 20)\n".write(toFile: stat, atomically: true, encoding: .utf8)
        let h = MemoryHeadroom.read(proc: proc, memoryCgroup: root + "/lg/test")
        #expect(h.cgroupLimitMB == 512 && h.cgroupUsageMB == 100)
    }

    @Test func `cgroup v1's "no limit" value and a missing memory controller leave MemAvailable alone`() throws {
        let (d1, p1, r1) = try Self.fake(cgroupLine: "4:memory:/lg/test", limit: "9223372036854771712", usage: 1 << 30)
        defer { d1.remove() }
        let unlimited = MemoryHeadroom.read(proc: p1, cgroupMemoryRoot: r1)
        #expect(unlimited.cgroupLimitMB == nil && unlimited.availableMB == 20480)
        let (d2, p2, r2) = try Self.fake(cgroupLine: "8:pids:/", limit: nil)
        defer { d2.remove() }
        #expect(MemoryHeadroom.read(proc: p2, cgroupMemoryRoot: r2) == MemoryHeadroom(memAvailableMB: 20480))
    }

    @Test func `a container whose cgroup path is not visible reads the mounted root`() throws {
        // /proc/self/cgroup names the host's path; the container mounts its own cgroup at the root.
        let (dir, proc, root) = try Self.fake(cgroupLine: "4:memory:/docker/abc", limit: "\(1024 << 20)", usage: 1000 << 20, at: "")
        defer { dir.remove() }
        let h = MemoryHeadroom.read(proc: proc, cgroupMemoryRoot: root)
        #expect(h.cgroupLimitMB == 1024 && h.availableMB == 24)
    }

    @Test func `this host's numbers are readable`() {
        let h = MemoryHeadroom.read()
        #expect((h.availableMB ?? 0) > 0)
    }
}

/// Real sandboxes through admission control.
@Suite(.serialized) struct AdmissionSpawnTests {
    @Test func `process backend: a spawn beyond the limit fails at once, and shutdown frees the place`() throws {
        let backend = try ProcessBackend()
        let a = Admission(policy: AdmissionPolicy(maxVMs: 1, reserveMB: 0), registry: SandboxRegistry())
        let options = SpawnOptions(admission: a)
        let vm = try backend.spawn(options)
        let t0 = Monotonic.nanos()
        #expect { try backend.spawn(options) } throws: {
            "\($0)" == "refusing to start a sandbox: 1 is running, LUMINAGUARD_MAX_VMS=1"
        }
        #expect(Monotonic.nanos() - t0 < 100_000_000, "the refusal must be immediate")
        vm.shutdown()
        #expect(a.registry.count == 0)
        let again = try backend.spawn(options)
        again.kill()
        #expect(a.registry.count == 0, "a killed sandbox gives its place back")
        again.shutdown()
    }

    @Test func `pool larger than LUMINAGUARD_MAX_VMS: warm-up fails at once naming the limit, no VM left`() throws {
        let backend = try BackendChoice.qemu()
        let dir = try TempDirectory(prefix: "lgadm")
        defer { dir.remove() }
        let a = Admission(policy: AdmissionPolicy(maxVMs: 1, reserveMB: 512), registry: SandboxRegistry())
        let pool = VMPool(backend: backend, settings: PoolSettings(size: 2, refreshSeconds: 3600, snapshotPath: dir.path), admission: a)
        // The snapshot's VM is ended once saved; one restore fits, the second is refused.
        #expect { try pool.warmup() } throws: {
            "\($0)" == "refusing to start a sandbox: 1 is running, LUMINAGUARD_MAX_VMS=1"
        }
        #expect(a.registry.count == 1 && pool.readyPIDs.count == 1)
        let pooled = try pool.checkout()
        #expect(pooled.path == "pool")
        // The pool is empty and the checked-out VM holds the only place:
        // the next checkout is refused at once instead of booting cold.
        let t0 = Monotonic.nanos()
        #expect { try pool.checkout() } throws: { "\($0)".contains("LUMINAGUARD_MAX_VMS=1") }
        #expect(Monotonic.nanos() - t0 < 1_000_000_000)
        pool.release(pooled.vm)
        pool.shutdown()
        #expect(a.registry.count == 0)
        usleep(200_000)
        #expect(ProcProbes.descendants(of: getpid()).filter {
            ((try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu-system")
        }.isEmpty)
    }
}

final class Collected<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T] = []
    func add(_ x: T) { lock.lock(); storage.append(x); lock.unlock() }
    var items: [T] { lock.lock(); defer { lock.unlock() }; return storage }
}

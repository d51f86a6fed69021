import Foundation
import Testing
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// A real cgroup v1 memory group (as root; elsewhere the reason is checked).
@Suite(.serialized) struct MemoryCgroupTests {
    static let root = MemoryCgroup.defaultRoot

    /// The child's shell joins the group, then execs: wait for the join.
    static func joined(_ pid: Int32, _ group: MemoryCgroup) -> Bool {
        for _ in 0..<200 where !group.pids.contains(pid) { usleep(10_000) }
        return group.pids.contains(pid)
    }

    @Test func `without root or a v1 memory controller the reason is said`() throws {
        let missing = try #require(MemoryCgroup.unavailableReason(root: "/nonexistent/memory"))
        #expect(geteuid() != 0 ? missing.contains("root") : missing.contains("no cgroup v1 memory controller"))
        #expect(throws: MemoryCgroupUnavailable.self) { try MemoryCgroup.create(name: "lgtest-x", limitMB: 64, root: "/nonexistent/memory") }
    }

    @Test func `a child joins the group before it runs; the group's numbers; removal`() throws {
        try #require(MemoryCgroup.unavailableReason() == nil, "needs root and cgroup v1: \(MemoryCgroup.unavailableReason() ?? "")")
        let group = try MemoryCgroup.create(name: "lgtest-cg-\(getpid())", limitMB: 256)
        defer { group.remove() }
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"], cgroupProcs: group.procsFile)
        defer { child.killNow() }
        #expect(Self.joined(child.pid, group))
        #expect(group.pids == [child.pid])
        let r = group.read()
        #expect(r.limitMB == 256 && r.oomKills == 0 && !r.underOOM && r.processes == 1)
        #expect(group.headroom().cgroupLimitMB == 256)
        child.killNow()
        #expect(group.remove() == nil)
        #expect(!FileManager.default.fileExists(atPath: group.path))
    }

    @Test func `removal moves a straggler out; a group left by a dead harness is removed by the next`() throws {
        try #require(MemoryCgroup.unavailableReason() == nil, "needs root and cgroup v1: \(MemoryCgroup.unavailableReason() ?? "")")
        let group = try MemoryCgroup.create(name: "lgtest-mv-\(getpid())", limitMB: 128)
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"], cgroupProcs: group.procsFile)
        defer { child.killNow() }
        #expect(Self.joined(child.pid, group))
        #expect(group.remove() == nil)
        #expect(!FileManager.default.fileExists(atPath: group.path) && child.isRunning)
        // A harness that died (its pid is gone) without removing its group.
        let dead = try ChildProcess(executable: "/bin/true", arguments: [])
        #expect(dead.wait(timeout: 10))
        let stale = Self.root + "/lgtest-stale-\(dead.pid)"
        #expect(mkdir(stale, 0o755) == 0)
        let next = try MemoryCgroup.create(name: "lgtest-stale-\(getpid())", limitMB: 128)
        defer { next.remove() }
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(MemoryCgroup.stalePrefix(of: "lgperf-exh-1234") == "lgperf-exh-")
    }
}

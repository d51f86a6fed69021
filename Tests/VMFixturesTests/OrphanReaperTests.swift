import Foundation
import Testing
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

@Suite struct OrphanReaperTests {
    /// A pid that has just exited (reused only after the pid space wraps).
    static func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    @Test func aVMLeftByAKilledHarnessIsEndedAndItsDirectoryRemoved() throws {
        let base = try TempDirectory(prefix: "lgreap")
        defer { base.remove() }
        let dir = base.path + "/lgvm-\(try Self.deadPID()).abcdef"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A real QEMU using the directory (paused with -S: nothing needs to boot).
        let qemu = try ChildProcess(executable: "qemu-system-x86_64",
                                    arguments: ["-M", "microvm", "-S", "-display", "none", "-nodefaults", "-serial", "file:\(dir)/console.log"])
        defer { qemu.killNow() }
        // Ours (live owner) is left alone.
        let mine = base.path + "/lgvm-\(getpid()).mine00"
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        // Wait until QEMU has its command line in /proc.
        for _ in 0..<200 where ((try? String(contentsOfFile: "/proc/\(qemu.pid)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu") == false { usleep(5000) }
        let r = OrphanReaper.reap(in: base.path)
        #expect(r.processes == [qemu.pid])
        #expect(r.directories == [dir])
        #expect(qemu.wait(timeout: 5), "the orphaned QEMU was not ended")
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(FileManager.default.fileExists(atPath: mine))
    }

    @Test func nothingToReapIsANoOp() throws {
        let base = try TempDirectory(prefix: "lgreap")
        defer { base.remove() }
        #expect(OrphanReaper.reap(in: base.path) == OrphanReaper.Reaped(directories: [], processes: []))
    }
}

@Suite struct JailReaperTests {
    /// A jailed sandbox whose harness was SIGKILLed leaves its cgroup and
    /// workspace mount behind; the next jailed spawn's reaper removes them,
    /// and leaves a live owner's alone.
    @Test func aJailLeftByAKilledHarnessIsRemoved() throws {
        guard ProcessJail.unavailableReason() == nil else { return }
        let base = try TempDirectory(prefix: "lgjreap")
        defer { base.remove() }
        let name = "lg-proc-\(try OrphanReaperTests.deadPID()).abcdef"
        try FileManager.default.createDirectory(atPath: base.path + "/" + name, withIntermediateDirectories: true)
        let orphan = try SandboxCgroup(name: name, memoryMB: 64, pids: 8, cpuCores: 1)
        let workspace = try SizedWorkspace(path: base.path + "/" + name + "/workspace", sizeMB: 1, owner: 65534)
        let mine = try SandboxCgroup(name: "lg-proc-\(getpid()).mine00", memoryMB: 64, pids: 8, cpuCores: 1)
        defer { mine.remove(); orphan.remove(); workspace.unmount() }
        JailReaper.reap()
        let pids = SandboxCgroup.parentDirectories["pids"]! + "/"
        #expect(!FileManager.default.fileExists(atPath: pids + name))
        #expect(FileManager.default.fileExists(atPath: pids + "lg-proc-\(getpid()).mine00"))
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        #expect(!mounts.contains(workspace.path))
    }
}

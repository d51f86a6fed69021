import Foundation
import Testing
import VMFixtures
import Scenarios
#if canImport(Glibc)
import Glibc
#endif

extension Validation {
/// The escape suite: every case in ``EscapeCases`` against every backend that
/// can run here, through MCP, with the host checked after each. It must pass
/// for QEMU and the jailed process backend, and catch an unconfined process.
@Suite(.tags(.containment))
struct `Containment: escape attempts through MCP [tag:containment]` {
    /// Tighter than the defaults so the CPU case ends in seconds.
    static let jailLimits = JailLimits(pids: 64, cpuCores: 1, commandCPUSeconds: 2, workspaceMB: 32)

    static func runAll(_ backend: any VMBackend, sandbox: (@Sendable () throws -> any SandboxVM)? = nil) async throws -> [EscapeRunner.Outcome] {
        let bait = try HostBait()
        defer { bait.remove() }
        var runner = EscapeRunner(backend: backend, bait: bait)
        runner.sandbox = sandbox
        var outcomes: [EscapeRunner.Outcome] = []
        for c in EscapeCases.all {
            let o = try await runner.run(c)
            print("containment [\(backend.kind.rawValue)]: \(o)")
            outcomes.append(o)
        }
        return outcomes
    }

    @Test func `the jailed process backend contains every escape`() async throws {
        let backend = try ProcessBackend(runDirectory: Fixture.runDirectory, limits: Self.jailLimits)
        for o in try await Self.runAll(backend) { #expect(o.breaches.isEmpty, "\(o)") }
    }

    /// QEMU jailed and restored from the template (through its sealed RAM
    /// copy), as `lgperf mcp-server` serves it.
    @Test func `the QEMU backend (jailed, restored from the template) contains every escape`() async throws {
        let s = try Fixture.settings()
        guard ChildProcess.which("qemu-system-x86_64") != nil else {
            #expect(!s.requireVM, "LUMINAGUARD_REQUIRE_VM=1 but QEMU is not installed")
            return
        }
        var backend = try BackendChoice.qemu()
        backend.runDirectory = Fixture.runDirectory
        if QEMUJail.unavailableReason() == nil { backend.jail = QEMUJail() }
        let dir = try TempDirectory(prefix: "lgescape-snap")
        defer { dir.remove() }
        let store = SnapshotStore(root: dir.path, backend: backend, template: true)
        let snapshot = try store.create()
        let jailed = backend.jail != nil
        for o in try await Self.runAll(backend, sandbox: {
            let vm = try store.restore(snapshot, readyTimeout: 60)
            guard !jailed || (vm as? QEMUSandbox).flatMap(QEMUJail.status(of:))?.confined == true else {
                vm.shutdown()
                throw VMError("the restored sandbox's QEMU is not confined")
            }
            return vm
        }) { #expect(o.breaches.isEmpty, "\(o)") }
        Fixture.expectNoVMLeft()
    }

    /// The suite's own check: an unconfined process (the process backend as
    /// it was) must be caught by every case chosen here.
    @Test func `the suite catches an unconfined process`() async throws {
        let backend = try ProcessBackend(runDirectory: Fixture.runDirectory, confinement: .unconfined, limits: Self.jailLimits)
        let bait = try HostBait()
        defer { bait.remove() }
        let runner = EscapeRunner(backend: backend, bait: bait)
        let chosen = ["read a host file by absolute path", "write host paths (absolute, .., symlink)", "exceed memory",
                      "exceed pids (fork bomb)", "keep a descriptor or a child alive after the call"]
        for name in chosen {
            let c = try #require(EscapeCases.all.first { $0.name == name })
            let o = try await runner.run(c)
            print("containment [process-unconfined]: \(o)")
            #expect(!o.breaches.isEmpty, "the suite did not catch an unconfined process: \(o)")
        }
    }
}
}

extension Validation {
@Suite(.tags(.production, .spawn, .latency))
struct `QEMU jail: what it costs [tag:production] [tag:spawn] [tag:latency]` {
    @Test func `jailed and unjailed QEMU interleaved: the jail takes, and its cost is a ratio of one run`() async throws {
        let file = try await Fixture.runOne("production.qemu_jail")
        #expect(file.labels.backend == "qemu")
        #expect(try Fixture.count(file, "jail_not_applied") == 0, "\(file.notes)")
        let pairs = try #require(file["cold_spawn_jailed_ms"]).count
        let unjailed = try #require(file["cold_spawn_unjailed_ms"]).count
        #expect(pairs >= 1 && unjailed == pairs)
        #expect(try #require(file["tool_call_jailed_ms"]).count == pairs * 20)
        #expect(try #require(file["template_restore_jailed_ms"]).count == pairs * 2)
        #expect(try #require(file["restored_pss_jailed_mb"]).count == pairs * 2)
        for name in ["cold_spawn_jail_ratio", "tool_call_jail_ratio", "restored_pss_jail_ratio"] {
            let r = try #require(file[name]).median
            // Seccomp, a bubblewrap view and a cgroup cost next to nothing per
            // call or page; 2x would mean the jail itself is in the way.
            #expect(r > 0 && r < 2, "\(name) = \(r): \(file.notes)")
        }
        // A restore is short, so bubblewrap's start weighs more in it: the
        // jailed restore is held to the restore budget (a ratio to the
        // same run's platform floor), and to at most 2.5x the unjailed one.
        let restoreRatio = try #require(file["restore_jail_ratio"]).median
        #expect(restoreRatio > 0 && restoreRatio < 2.5, "restore_jail_ratio = \(restoreRatio): \(file.notes)")
        let budget = try Budget.load(kind: .qemu, accelerator: Accelerator(rawValue: file.labels.accelerator) ?? .tcg)
        let floorRatio = try #require(file["jailed_restore_floor_ratio"]).median
        let restoreBudget = try #require(budget.restoreMedianFloorRatio)
        #expect(floorRatio > 0 && floorRatio <= restoreBudget, "jailed restore / floor = \(floorRatio), budget \(restoreBudget): \(file.notes)")
        let pss = try #require(file["restored_pss_jailed_mb"]).median
        #expect(pss <= budget.memoryPSSMedianMB, "jailed restored VM PSS \(pss) MiB, budget \(budget.memoryPSSMedianMB): \(file.notes)")
    }
}
}

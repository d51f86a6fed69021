import Foundation
import Testing
import AgentProtocol
import HostProbes
import Scenarios
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The `lgperf` binary as a user runs it: bad input exits non-zero with a
/// clear message, and Ctrl-C ends every VM the run started.
@Suite(.serialized) struct CommandLineTests {
    struct Outcome { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ args: [String], env: [String: String] = [:], timeout: Double = 120) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try LGPerfBinary.locate())
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test(arguments: [
        (["run", "--quick"], ["ITERATIONS": "0"], "ITERATIONS=0 is not valid: expected a whole number from 1 to 100000"),
        (["run", "--quick"], ["ITERATIONS": "abc"], "ITERATIONS=abc is not valid: expected a whole number"),
        (["run", "--quick", "--backend", "hyperv"], [:], "LUMINAGUARD_BACKEND=hyperv is not valid: expected one of auto, qemu"),
        (["run", "--quick", "--phase", "week7"], [:], "unknown phase 'week7'"),
        (["run", "--quick", "--benchmark", "baseline.nothing"], [:], "unknown benchmark 'baseline.nothing'"),
        (["run", "--quick"], ["LUMINAGUARD_SCALE_LEVELS": "5,2"], "LUMINAGUARD_SCALE_LEVELS=5,2 is not valid"),
        (["run", "--quick"], ["LUMINAGUARD_READY_TIMEOUT_SECS": "soon"], "LUMINAGUARD_READY_TIMEOUT_SECS=soon is not valid"),
        (["mcp-server"], ["LUMINAGUARD_ACCEL": "hvf"], "LUMINAGUARD_ACCEL=hvf is not valid: expected one of auto, kvm, tcg"),
        (["tool-latency", "--quick"], ["WARMUP": "-2"], "WARMUP=-2 is not valid"),
        (["pool", "warmup"], ["LUMINAGUARD_POOL_SIZE": "21"], "LUMINAGUARD_POOL_SIZE=21 is not valid: expected a whole number from 1 to 20"),
        (["pool", "warmup"], ["LUMINAGUARD_POOL_SIZE": "0"], "LUMINAGUARD_POOL_SIZE=0 is not valid"),
        (["pool", "warmup"], ["LUMINAGUARD_POOL_STRATEGY": "lazy"], "LUMINAGUARD_POOL_STRATEGY=lazy is not valid: expected one of template, full"),
        (["startup-probe"], ["LUMINAGUARD_KERNEL": "/nonexistent"], "LUMINAGUARD_KERNEL is set but LUMINAGUARD_INITRD is not"),
    ])
    func badInputExitsNonZeroNamingTheProblem(args: [String], env: [String: String], message: String) throws {
        let r = try Self.run(args, env: env)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "stderr: \(r.stderr)")
    }

    /// Commands that only use the guest image find it by the key of its
    /// inputs and compile nothing: with an empty cache, they say the image for
    /// the current sources is not built, and how to build it, and build nothing.
    @Test func aMissingImageIsSaidNotBuiltAndNothingIsCompiled() throws {
        let cache = try TempDirectory(prefix: "lgcache")
        defer { cache.remove() }
        let env = ["LUMINAGUARD_CACHE_DIR": cache.path]
        let status = try Self.run(["image", "status"], env: env)
        #expect(status.status == 1 && status.stdout.contains("not built for the current sources (lgperf image build)"), "\(status.stdout)")
        let probe = try Self.run(["startup-probe", "--backend", "qemu"], env: env)
        #expect(probe.status != 0)
        #expect((probe.stdout + probe.stderr).contains("no guest image is built for the current sources"), "\(probe.stderr)")
        #expect((probe.stdout + probe.stderr).contains("lgperf image build"))
        #expect(!FileManager.default.fileExists(atPath: cache.path + "/image") && !FileManager.default.fileExists(atPath: cache.path + "/kernel"))
    }

    @Test func aCorruptMetricsFileIsRejected() throws {
        let dir = try TempDirectory(prefix: "lgcli")
        defer { dir.remove() }
        let bad = dir.path + "/spawn_baseline_20260101_000000.json"
        try #"{"timestamp": "2026-01-01T00:00:00Z", "iterations": 3, "spawn_time_ms": {"median": 1"#.write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try Self.run(["check", bad])
        #expect(r.status == 1)
        #expect(r.stderr.contains(bad) && r.stderr.contains("not valid JSON"))
    }

    @Test func forcedKVMWhereItCannotRunIsAnError() throws {
        guard !KVMStatus.detect().usable else { return }  // on a KVM host this is not bad input
        let r = try Self.run(["run", "--quick"], env: ["LUMINAGUARD_ACCEL": "kvm"])
        #expect(r.status != 0 && r.stderr.contains("LUMINAGUARD_ACCEL=kvm"))
    }

    /// Admission control through the CLI: a pool of 2 with LUMINAGUARD_MAX_VMS=1
    /// fills one place and is refused the second at once, naming the limit;
    /// the command exits non-zero and leaves no VM.
    @Test func poolWarmupBeyondMaxVMsFailsNamingTheLimit() throws {
        let runDir = try TempDirectory(prefix: "lgadm")
        defer { runDir.remove() }
        // The pool's QEMUs run jailed: their user must pass through the run directory.
        chmod(runDir.path, 0o711)
        let snapDir = try TempDirectory(prefix: "lgadmsnap")
        defer { snapDir.remove() }
        let t0 = Monotonic.nanos()
        let r = try Self.run(["pool", "warmup"], env: ["LUMINAGUARD_MAX_VMS": "1", "LUMINAGUARD_POOL_SIZE": "2",
                                                       "LUMINAGUARD_SNAPSHOT_PATH": snapDir.path, "LUMINAGUARD_RUN_DIR": runDir.path])
        let seconds = Double(Monotonic.nanos() - t0) / 1e9
        #expect(r.status != 0)
        #expect(r.stderr.contains("refusing to start a sandbox: 1 is running, LUMINAGUARD_MAX_VMS=1"), "stderr: \(r.stderr)")
        // One snapshot boot and one restore, then the refusal: no waiting for a timeout.
        #expect(seconds < 60, "took \(seconds) s")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: runDir.path).filter { $0.hasPrefix("lgvm") }) ?? []
        #expect(leftovers.isEmpty, "VM directories left: \(leftovers)")
    }

    /// Starts `lgperf args...` with its VMs in `runDir` and returns once it
    /// has a QEMU child (its pids). Started with the project's own spawner
    /// (posix_spawn), not Foundation's Process: these tests signal and kill
    /// the child, and Foundation's Process was seen to trap ("No such
    /// process") when its child ended that way.
    static func startWithAVM(_ args: [String], runDir: String, env: [String: String] = [:]) throws -> (ChildProcess, [Int32]) {
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(null) }
        let p = try ChildProcess(executable: try LGPerfBinary.locate(), arguments: args,
                                 environment: ProcessInfo.processInfo.environment.merging(
                                     ["LUMINAGUARD_RUN_DIR": runDir, "LUMINAGUARD_REPORTS_DIR": runDir + "/reports"].merging(env) { $1 }) { $1 },
                                 fds: [1: null, 2: null])
        let deadline = Monotonic.nanos() + 120_000_000_000
        var vmm: [Int32] = []
        while vmm.isEmpty && Monotonic.nanos() < deadline && p.isRunning {
            vmm = ProcProbes.descendants(of: p.pid).filter {
                ((try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu-system")
            }
            usleep(10_000)
        }
        return (p, vmm)
    }

    /// Ctrl-C while VMs are running: exit 130, no VMM left, no VM directory left.
    @Test(arguments: [["run", "--quick", "--backend", "qemu"], ["pool", "warmup"]])
    func ctrlCEndsEveryVM(args: [String]) throws {
        let runDir = try TempDirectory(prefix: "lgint")
        defer { runDir.remove() }
        chmod(runDir.path, 0o711)  // lgperf pool runs its QEMUs jailed
        let snapDir = try TempDirectory(prefix: "lgintsnap")
        defer { snapDir.remove() }
        let (p, vmm) = try Self.startWithAVM(args, runDir: runDir.path,
                                             env: ["LUMINAGUARD_SNAPSHOT_PATH": snapDir.path, "LUMINAGUARD_POOL_SIZE": "3"])
        try #require(!vmm.isEmpty, "the run never started a VM")
        usleep(300_000)
        p.signal(SIGINT)
        #expect(p.wait(timeout: 60), "the interrupted run did not end")
        let status = p.poll() ?? -1
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 130, "ended with \(ChildProcess.describe(status: status)), not exit 130")
        for pid in vmm { #expect(kill(pid, 0) != 0, "QEMU \(pid) outlived the interrupted run") }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: runDir.path).filter { $0.hasPrefix("lgvm") }) ?? []
        #expect(leftovers.isEmpty, "VM directories left: \(leftovers)")
    }

    /// kill -9 of a run during a boot: no handler runs, yet no QEMU outlives
    /// it by more than a second (parent-death signal).
    @Test func killNineDuringABootLeavesNoVMM() throws {
        let runDir = try TempDirectory(prefix: "lgkill")
        defer { runDir.remove() }
        let (p, vmm) = try Self.startWithAVM(["run", "--quick", "--backend", "qemu", "--benchmark", "baseline.spawn", "--no-reports"],
                                             runDir: runDir.path)
        try #require(!vmm.isEmpty, "the run never started a VM")
        // Mid-boot, after QEMU has connected to the harness's sockets (before
        // that, a vanished harness makes QEMU's own connect fail and exit).
        usleep(300_000)
        p.signal(SIGKILL)
        let killedAt = Monotonic.nanos()
        // QEMU was reparented; it must be gone within a second.
        var alive = vmm
        while !alive.isEmpty && Monotonic.nanos() - killedAt < 1_000_000_000 {
            alive = alive.filter { pid in
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                return !stat.isEmpty && !stat.contains(") Z ")  // a zombie has ended
            }
            usleep(10_000)
        }
        for pid in alive { kill(pid, SIGKILL) }
        #expect(alive.isEmpty, "QEMU \(alive) outlived a kill -9 of its harness by more than 1 s")
        _ = p.wait(timeout: 10)
    }
}

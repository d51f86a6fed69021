import Foundation

/// Every environment variable the project reads, parsed and validated once,
/// here, with one error style that names the variable, the value and what it
/// accepts. Entry points load it (`Settings.load`) and pass the values down;
/// code below them that has no caller to ask uses `Settings.shared`, the same
/// values loaded once per process.
///
/// Quick and full runs differ in their defaults (iterations, phase sizes);
/// which one a run is comes from its caller (`--quick`, or a test run), never
/// from whether some variable happens to be set.
public struct Settings: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable { case quick, full }

    public var mode: Mode
    /// ITERATIONS: measured runs per benchmark.
    public var iterations: Int
    /// WARMUP: discarded runs before them.
    public var warmup: Int
    /// LUMINAGUARD_BACKEND: auto, qemu, firecracker or process.
    public var backend: String
    /// LUMINAGUARD_ACCEL: auto, kvm or tcg.
    public var accelerator: String
    public var readyTimeoutSeconds: Double
    public var poolSize: Int
    public var snapshotRefreshSeconds: Int
    public var snapshotPath: String
    /// LUMINAGUARD_POOL_STRATEGY: how pooled VMs are restored, `template`
    /// (device state only, guest RAM mapped copy-on-write from a shared file)
    /// or `full` (the whole guest RAM in the snapshot).
    public var poolStrategy: String
    public var reportsDirectory: String
    public var cacheDirectory: String
    public var runDirectory: String
    public var kernel: String?
    public var initrd: String?
    public var firecracker: String?
    public var firecrackerKernel: String
    public var firecrackerRootfs: String
    public var agentBinary: String?
    public var lgperfBinary: String?
    public var projectRoot: String?
    public var requireVM: Bool
    /// Admission control: at most this many sandboxes at once per process
    /// (LUMINAGUARD_MAX_VMS), and MB of memory kept free after a new
    /// sandbox's expected footprint (LUMINAGUARD_MEMORY_RESERVE_MB).
    public var maxVMs: Int
    public var memoryReserveMB: Int
    /// Phase sizes (explicit, with quick and full defaults).
    /// LUMINAGUARD_SCALE_LEVELS: the numbers of concurrent agents (each with
    /// its own sandbox and MCP client) the scale phase runs, in rising order.
    public var scaleLevels: [Int]
    /// LUMINAGUARD_SCALE_WINDOW_SECS: the wall window each level's agents
    /// call tools for (throughput is counted over it).
    public var scaleWindowSeconds: Double
    public var exhaustionVMs: Int
    /// LUMINAGUARD_EXHAUSTION_CGROUP_MB: the memory limit of the cgroup v1
    /// group the exhaustion phase runs its VMs in (a small host, reached fast).
    public var exhaustionCgroupMB: Int
    public var chaosRounds: Int
    public var recoveryRounds: Int
    /// LUMINAGUARD_HEALTH_INTERVAL_MS: the health checker's heartbeat
    /// interval per sandbox; LUMINAGUARD_HEALTH_MISS_MS: a heartbeat not
    /// answered within this makes the sandbox unhealthy.
    public var healthIntervalMs: Int
    public var healthMissMs: Int
    /// LUMINAGUARD_SOAK_SECS: the production soak's duration (`--duration`);
    /// LUMINAGUARD_SOAK_AGENTS: agents calling tools through MCP meanwhile.
    public var soakSeconds: Double
    public var soakAgents: Int
    /// Test-only: every soak tool call keeps one descriptor open (a leak the
    /// soak must catch).
    public var testLeakFDPerCall: Bool
    /// Test-only: a delay added to every QEMU spawn, to show that the
    /// relative budgets catch a harness that really got slower.
    public var testSpawnDelayMs: Int
    /// GITHUB_SHA, when CI sets it: the commit measured.
    public var commitOverride: String?
    /// SWT_SWIFT_ERROR_BACKTRACING_ENABLED is not "0": Swift Testing then
    /// captures a backtrace for every thrown error (slows code that throws
    /// on its normal path).
    public var thrownErrorBacktraces: Bool

    /// One row of the documented table: what a variable means and accepts.
    public struct Variable: Sendable {
        public let name: String
        public let accepts: String
        public let defaultText: String
        public let meaning: String
    }

    /// Every variable read, for `lgperf list --settings`, the README's table
    /// and the test that keeps the two in step.
    public static let variables: [Variable] = [
        .init(name: "ITERATIONS", accepts: "1-100000", defaultText: "100 (quick: 10)", meaning: "measured runs per benchmark"),
        .init(name: "WARMUP", accepts: "0-1000", defaultText: "3 (quick: 1)", meaning: "warm-up runs, discarded from statistics (kept in the file)"),
        .init(name: "LUMINAGUARD_BACKEND", accepts: "auto, qemu, firecracker, process, process-unconfined", defaultText: "auto", meaning: "the sandbox backend (auto: Firecracker, else QEMU, else the process backend jailed with bubblewrap; never an unconfined one). process-unconfined: a plain host process, for benchmarking only (loudly labelled; lgperf mcp-server refuses it)"),
        .init(name: "LUMINAGUARD_ACCEL", accepts: "auto, kvm, tcg", defaultText: "auto", meaning: "QEMU's accelerator; kvm fails clearly where KVM cannot run a guest"),
        .init(name: "LUMINAGUARD_READY_TIMEOUT_SECS", accepts: "0.1-600", defaultText: "30", meaning: "time allowed from spawn request to agent-ready"),
        .init(name: "LUMINAGUARD_POOL_SIZE", accepts: "1-20", defaultText: "5", meaning: "snapshot pool size"),
        .init(name: "LUMINAGUARD_SNAPSHOT_REFRESH_SECS", accepts: "60-31536000", defaultText: "3600", meaning: "snapshot refresh interval"),
        .init(name: "LUMINAGUARD_SNAPSHOT_PATH", accepts: "a directory", defaultText: "/var/lib/luminaguard/snapshots", meaning: "snapshot storage (falls back to the cache when not writable)"),
        .init(name: "LUMINAGUARD_POOL_STRATEGY", accepts: "template, full", defaultText: "template", meaning: "how the pool restores VMs: template (device state only, guest RAM mapped copy-on-write from the template's RAM file; falls back to full, with a notice, when no template can be made) or full (whole-RAM snapshot)"),
        .init(name: "LUMINAGUARD_REPORTS_DIR", accepts: "a directory", defaultText: "./reports", meaning: "where outputs go"),
        .init(name: "LUMINAGUARD_CACHE_DIR", accepts: "a directory", defaultText: "~/.cache/luminaguard", meaning: "guest kernel and image cache"),
        .init(name: "LUMINAGUARD_RUN_DIR", accepts: "a short directory path", defaultText: "/tmp", meaning: "where each VM's sockets and console live"),
        .init(name: "LUMINAGUARD_KERNEL", accepts: "a vmlinux file", defaultText: "project image", meaning: "boot another kernel (with LUMINAGUARD_INITRD)"),
        .init(name: "LUMINAGUARD_INITRD", accepts: "a newc cpio file", defaultText: "project image", meaning: "boot another initramfs (with LUMINAGUARD_KERNEL)"),
        .init(name: "LUMINAGUARD_FIRECRACKER", accepts: "an executable", defaultText: "firecracker on PATH", meaning: "the Firecracker binary"),
        .init(name: "LUMINAGUARD_FC_KERNEL", accepts: "a file", defaultText: "/tmp/luminaguard-fc-test/vmlinux.bin", meaning: "Firecracker's guest kernel"),
        .init(name: "LUMINAGUARD_FC_ROOTFS", accepts: "a file", defaultText: "/tmp/luminaguard-fc-test/rootfs.ext4", meaning: "Firecracker's root filesystem"),
        .init(name: "LUMINAGUARD_AGENT_BIN", accepts: "an executable", defaultText: "found in the build directory", meaning: "the host build of the guest agent (process backend)"),
        .init(name: "LUMINAGUARD_LGPERF_BIN", accepts: "an executable", defaultText: "found in the build directory", meaning: "the lgperf binary that tests start as a child"),
        .init(name: "LUMINAGUARD_ROOT", accepts: "a directory", defaultText: "the checkout", meaning: "the project root (Fixtures, scripts)"),
        .init(name: "LUMINAGUARD_REQUIRE_VM", accepts: "0 or 1", defaultText: "0 (scripts/test.sh: 1 where QEMU exists)", meaning: "fail instead of falling back to the process backend"),
        .init(name: "LUMINAGUARD_MAX_VMS", accepts: "1-1000", defaultText: "64", meaning: "admission control: sandboxes (every backend) one process may run at once; a spawn beyond is refused at once"),
        .init(name: "LUMINAGUARD_MEMORY_RESERVE_MB", accepts: "0-1048576", defaultText: "512", meaning: "admission control: MB of memory (MemAvailable, or the memory cgroup's limit minus usage) kept free after a new sandbox's footprint"),
        .init(name: "LUMINAGUARD_SCALE_LEVELS", accepts: "rising whole numbers 1-100, comma-separated", defaultText: "1,2,5,10,20 (quick: 1,2,5)", meaning: "scale phase: the numbers N of concurrent agents, each with its own sandbox and MCP client; the largest is the headline"),
        .init(name: "LUMINAGUARD_SCALE_WINDOW_SECS", accepts: "1-3600", defaultText: "60 (quick: 10)", meaning: "scale phase: the wall window per N over which the agents call tools (throughput is counted over it)"),
        .init(name: "LUMINAGUARD_EXHAUSTION_VMS", accepts: "1-1000", defaultText: "250 (quick: 80)", meaning: "exhaustion phase: at most this many VMs (the phase's own count limit; the memory cgroup's limit is meant to stop the ramp first)"),
        .init(name: "LUMINAGUARD_EXHAUSTION_CGROUP_MB", accepts: "128-1048576", defaultText: "3072 (quick: 1024)", meaning: "exhaustion phase: memory.limit_in_bytes of the cgroup v1 memory group (made by the harness, as root) its VMs run in; admission refuses against it"),
        .init(name: "LUMINAGUARD_CHAOS_ROUNDS", accepts: "1-1000", defaultText: "50 (quick: 10)", meaning: "chaos phase: faults injected per kind"),
        .init(name: "LUMINAGUARD_RECOVERY_ROUNDS", accepts: "1-1000", defaultText: "50 (quick: 10)", meaning: "recovery phase: fault-and-replace rounds through the pool"),
        .init(name: "LUMINAGUARD_HEALTH_INTERVAL_MS", accepts: "5-60000", defaultText: "100", meaning: "health checker: heartbeat interval per sandbox (on the guest's own health port, independent of tool calls)"),
        .init(name: "LUMINAGUARD_HEALTH_MISS_MS", accepts: "10-600000", defaultText: "2000", meaning: "health checker: a heartbeat not answered within this makes the sandbox unhealthy (under TCG on a busy 2-core host, heartbeats of a busy guest were seen taking 1.5 s)"),
        .init(name: "LUMINAGUARD_SOAK_SECS", accepts: "5-604800", defaultText: "1800 (quick: 60)", meaning: "production soak: duration (lgperf run --duration sets it)"),
        .init(name: "LUMINAGUARD_SOAK_AGENTS", accepts: "1-100", defaultText: "5", meaning: "production soak: concurrent agents running the tool mix through MCP"),
        .init(name: "LUMINAGUARD_TEST_LEAK_FD_PER_CALL", accepts: "0 or 1", defaultText: "0", meaning: "test only: every soak tool call keeps a descriptor open (the soak must fail)"),
        .init(name: "LUMINAGUARD_TEST_SPAWN_DELAY_MS", accepts: "0-60000", defaultText: "0", meaning: "test only: delay added to every QEMU spawn (shows the budgets catch a slower harness)"),
        .init(name: "GITHUB_SHA", accepts: "a commit id", defaultText: "git HEAD", meaning: "the commit recorded in metrics files"),
        .init(name: "SWT_SWIFT_ERROR_BACKTRACING_ENABLED", accepts: "0 or 1", defaultText: "scripts set 0", meaning: "Swift Testing's thrown-error backtraces; not 0 slows MCP round trips 2-3x (files say so)"),
    ]

    /// Parses `environment`; throws one error listing every bad value.
    public static func load(environment env: [String: String] = ProcessInfo.processInfo.environment,
                            mode: Mode = .full) throws -> Settings {
        var problems: [String] = []
        let quick = mode == .quick
        func text(_ name: String) -> String? {
            guard let v = env[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        func int(_ name: String, _ d: Int, _ range: ClosedRange<Int>) -> Int {
            guard let raw = text(name) else { return d }
            guard let v = Int(raw), range.contains(v) else {
                problems.append(SettingsError.line(name, raw, "a whole number from \(range.lowerBound) to \(range.upperBound)"))
                return d
            }
            return v
        }
        func seconds(_ name: String, _ d: Double, _ range: ClosedRange<Double>) -> Double {
            guard let raw = text(name) else { return d }
            guard let v = Double(raw), v.isFinite, range.contains(v) else {
                problems.append(SettingsError.line(name, raw, "a number of seconds from \(format(range.lowerBound)) to \(format(range.upperBound))"))
                return d
            }
            return v
        }
        func choice(_ name: String, _ d: String, _ allowed: [String]) -> String {
            guard let raw = text(name) else { return d }
            let v = raw.lowercased()
            guard allowed.contains(v) else {
                problems.append(SettingsError.line(name, raw, "one of \(allowed.joined(separator: ", "))"))
                return d
            }
            return v
        }
        func levels(_ name: String, _ d: [Int]) -> [Int] {
            guard let raw = text(name) else { return d }
            let parts = raw.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0.map { (1...100).contains($0) } ?? false }),
                  zip(parts, parts.dropFirst()).allSatisfy({ $0.0! < $0.1! }) else {
                problems.append(SettingsError.line(name, raw, "rising whole numbers from 1 to 100, comma-separated (e.g. 1,2,5)"))
                return d
            }
            return parts.map { $0! }
        }
        func flag(_ name: String) -> Bool { choice(name, "0", ["0", "1"]) == "1" }

        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let cache = text("LUMINAGUARD_CACHE_DIR") ?? ((text("XDG_CACHE_HOME") ?? home + "/.cache") + "/luminaguard")
        var s = Settings(
            mode: mode,
            iterations: int("ITERATIONS", quick ? 10 : 100, 1...100_000),
            warmup: int("WARMUP", quick ? 1 : 3, 0...1000),
            backend: choice("LUMINAGUARD_BACKEND", "auto", ["auto", "qemu", "firecracker", "process", "process-unconfined"]),
            accelerator: choice("LUMINAGUARD_ACCEL", "auto", ["auto", "kvm", "tcg"]),
            readyTimeoutSeconds: seconds("LUMINAGUARD_READY_TIMEOUT_SECS", 30, 0.1...600),
            poolSize: int("LUMINAGUARD_POOL_SIZE", 5, 1...20),
            snapshotRefreshSeconds: int("LUMINAGUARD_SNAPSHOT_REFRESH_SECS", 3600, 60...31_536_000),
            snapshotPath: text("LUMINAGUARD_SNAPSHOT_PATH") ?? "/var/lib/luminaguard/snapshots",
            poolStrategy: choice("LUMINAGUARD_POOL_STRATEGY", "template", ["template", "full"]),
            reportsDirectory: text("LUMINAGUARD_REPORTS_DIR") ?? "reports",
            cacheDirectory: cache,
            runDirectory: text("LUMINAGUARD_RUN_DIR") ?? "/tmp",
            kernel: text("LUMINAGUARD_KERNEL"),
            initrd: text("LUMINAGUARD_INITRD"),
            firecracker: text("LUMINAGUARD_FIRECRACKER"),
            firecrackerKernel: text("LUMINAGUARD_FC_KERNEL") ?? "/tmp/luminaguard-fc-test/vmlinux.bin",
            firecrackerRootfs: text("LUMINAGUARD_FC_ROOTFS") ?? "/tmp/luminaguard-fc-test/rootfs.ext4",
            agentBinary: text("LUMINAGUARD_AGENT_BIN"),
            lgperfBinary: text("LUMINAGUARD_LGPERF_BIN"),
            projectRoot: text("LUMINAGUARD_ROOT"),
            requireVM: flag("LUMINAGUARD_REQUIRE_VM"),
            maxVMs: int("LUMINAGUARD_MAX_VMS", 64, 1...1000),
            memoryReserveMB: int("LUMINAGUARD_MEMORY_RESERVE_MB", 512, 0...1_048_576),
            scaleLevels: levels("LUMINAGUARD_SCALE_LEVELS", quick ? [1, 2, 5] : [1, 2, 5, 10, 20]),
            scaleWindowSeconds: seconds("LUMINAGUARD_SCALE_WINDOW_SECS", quick ? 10 : 60, 1...3600),
            exhaustionVMs: int("LUMINAGUARD_EXHAUSTION_VMS", quick ? 80 : 250, 1...1000),
            exhaustionCgroupMB: int("LUMINAGUARD_EXHAUSTION_CGROUP_MB", quick ? 1024 : 3072, 128...1_048_576),
            chaosRounds: int("LUMINAGUARD_CHAOS_ROUNDS", quick ? 10 : 50, 1...1000),
            recoveryRounds: int("LUMINAGUARD_RECOVERY_ROUNDS", quick ? 10 : 50, 1...1000),
            healthIntervalMs: int("LUMINAGUARD_HEALTH_INTERVAL_MS", 100, 5...60_000),
            healthMissMs: int("LUMINAGUARD_HEALTH_MISS_MS", 2000, 10...600_000),
            soakSeconds: seconds("LUMINAGUARD_SOAK_SECS", quick ? 60 : 1800, 5...604_800),
            soakAgents: int("LUMINAGUARD_SOAK_AGENTS", 5, 1...100),
            testLeakFDPerCall: flag("LUMINAGUARD_TEST_LEAK_FD_PER_CALL"),
            testSpawnDelayMs: int("LUMINAGUARD_TEST_SPAWN_DELAY_MS", 0, 0...60_000),
            commitOverride: text("GITHUB_SHA"),
            thrownErrorBacktraces: env["SWT_SWIFT_ERROR_BACKTRACING_ENABLED"] != "0")
        if s.kernel != nil, s.initrd == nil {
            problems.append("LUMINAGUARD_KERNEL is set but LUMINAGUARD_INITRD is not: set both, or neither to use the project's image")
        } else if s.kernel == nil, s.initrd != nil {
            problems.append("LUMINAGUARD_INITRD is set but LUMINAGUARD_KERNEL is not: set both, or neither to use the project's image")
        }
        // Unix socket paths are limited to 107 bytes; VM sockets live here.
        if s.runDirectory.utf8.count > 60 {
            problems.append("LUMINAGUARD_RUN_DIR=\(s.runDirectory) is too long (\(s.runDirectory.utf8.count) bytes): expected a directory path of at most 60 bytes (VM sockets live there, and socket paths are limited to 107)")
            s.runDirectory = "/tmp"
        }
        guard problems.isEmpty else { throw SettingsError(problems: problems) }
        return s
    }

    /// The process's settings, loaded once (full-mode defaults). Entry points
    /// call `install` with the settings they validated, so that code without
    /// a caller to ask sees the same values; if nothing installed any, the
    /// environment is read here, and a bad value falls back to its default
    /// (entry points have already reported it).
    public static var shared: Settings {
        lock.lock(); defer { lock.unlock() }
        if let s = installed { return s }
        let s = (try? load()) ?? defaults
        installed = s
        return s
    }

    public static func install(_ s: Settings) {
        lock.lock(); installed = s; lock.unlock()
    }

    /// Every default, ignoring the environment.
    public static var defaults: Settings { try! load(environment: ["HOME": NSHomeDirectory()]) }

    nonisolated(unsafe) private static var installed: Settings?
    private static let lock = NSLock()

    public static func format(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}

/// A bad setting: each line names the variable, its value and what it accepts.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let problems: [String]
    public var description: String { problems.joined(separator: "\n") }

    static func line(_ name: String, _ value: String, _ expected: String) -> String {
        "\(name)=\(value) is not valid: expected \(expected)"
    }
}

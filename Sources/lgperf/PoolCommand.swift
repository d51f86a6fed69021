import ArgumentParser
import Foundation
import LGSettings
import PerfStats
import VMFixtures
import Scenarios
#if canImport(Glibc)
import Glibc
#endif

struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool", abstract: "The snapshot pool: warm it up, or measure it.",
        discussion: "Settings: LUMINAGUARD_POOL_SIZE (1-20, default 5), LUMINAGUARD_POOL_STRATEGY (template or full, default template), LUMINAGUARD_SNAPSHOT_REFRESH_SECS (60+, default 3600), LUMINAGUARD_SNAPSHOT_PATH (default /var/lib/luminaguard/snapshots; a user-writable cache when that is not writable). The pool lives in the process that runs it: these commands end their VMs when they finish.",
        subcommands: [Warmup.self, Stats.self, Serve.self])

    /// QEMU jailed (as lgperf mcp-server serves it) where the jail can be built.
    static func make(jail: Bool, snapshotPath: String? = nil) throws -> VMPool {
        ProcessRegistry.shared.installSignalHandlers()
        var settings = PoolSettings(try CommandSettings.load())
        if let snapshotPath { settings.snapshotPath = snapshotPath }
        let (backend, note) = try BackendChoice.qemu().jailedWherePossible(jail)
        Console.line("pool: " + note)
        return VMPool(backend: backend, settings: settings, log: { Console.line($0) })
    }

    struct JailOption: ParsableArguments {
        @Flag(inversion: .prefixedNo, help: "Run the pool's QEMUs jailed (uid 65534, bubblewrap, seccomp, own cgroup; restores map a sealed copy of the template's RAM) where the jail can be built. --no-jail: UNJAILED, for comparison.")
        var jail = true
    }

    static func printStats(_ s: PoolStats, _ pool: VMPool) {
        func med(_ x: [Double]) -> String { (try? Summary(x)).map { String(format: "median %.2f ms, p95 %.2f ms (n=%d)", $0.median, $0.p95, $0.count) } ?? "none" }
        print("snapshot:  \(pool.store.directory) (age \(Int(s.snapshotAgeSeconds ?? 0)) s, strategy \(s.strategy), QEMU \(s.jailed ? "jailed" : "UNJAILED"))")
        if let n = s.strategyNotice { print("notice:    \(n)") }
        print("size \(s.size), ready \(s.ready), in use \(s.inUse), hit rate \(String(format: "%.0f", s.hitRate * 100)) % (\(s.hits) hits, \(s.misses) misses)")
        print("checkout:  \(med(s.checkoutMs))")
        print("restore:   \(med(s.restoreMs))")
        if !s.snapshotRebuilds.isEmpty { print("snapshot rebuilt because: \(s.snapshotRebuilds.joined(separator: "; "))") }
    }

    struct Warmup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or verify the snapshot and fill a pool (then end it).")
        @OptionGroup var jail: JailOption
        func run() throws {
            let pool = try PoolCommand.make(jail: jail.jail)
            defer { pool.shutdown() }
            try pool.warmup()
            PoolCommand.printStats(pool.stats(), pool)
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Warm a pool, take N checkouts, print its statistics.")
        @Option(help: "Checkouts to take.") var checkouts = 10
        @OptionGroup var jail: JailOption
        func run() throws {
            guard checkouts >= 1 && checkouts <= 10_000 else { throw ValidationError("--checkouts must be 1-10000") }
            let pool = try PoolCommand.make(jail: jail.jail)
            defer { pool.shutdown() }
            try pool.warmup()
            for _ in 0..<checkouts {
                let c = try pool.checkout()
                pool.release(c.vm)
                pool.waitForRefills()
            }
            PoolCommand.printStats(pool.stats(), pool)
        }
    }

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep a warm pool running, with a control socket for lgperf chaos inject, until standard input closes.",
            discussion: "The pool restores from a private snapshot (made under LUMINAGUARD_RUN_DIR and removed at the end), so that snapshot_corrupt never touches a snapshot another process restores from. Its control socket is <LUMINAGUARD_RUN_DIR>/lgperf-control-<pid>.sock (printed on stderr): each fault goes into a sandbox checked out of the pool (the snapshot for snapshot_corrupt), watched by this process's health checker; a failed sandbox is replaced from the pool. Ends, with every VM, when standard input closes or on SIGINT/SIGTERM.")

        @OptionGroup var jail: JailOption

        func run() throws {
            ProcessRegistry.shared.installSignalHandlers()
            let settings = try CommandSettings.load()
            let snapshots = try TempDirectory(prefix: "lgpool-snapshots", base: settings.runDirectory)
            defer { snapshots.remove() }
            let pool = try PoolCommand.make(jail: jail.jail, snapshotPath: snapshots.path)
            defer { pool.shutdown() }
            try pool.warmup()
            PoolCommand.printStats(pool.stats(), pool)
            let faults = PoolFaultTarget(pool: pool, settings: settings, log: { Console.line("lgperf pool serve: " + $0) })
            let path = ChaosControl.socketPath(runDirectory: settings.runDirectory, pid: getpid())
            let control = try ChaosControlServer(path: path) { faults.handle($0) }
            defer { control.close() }
            Console.line("lgperf pool serve: control socket: \(path) (lgperf chaos inject KIND --harness \(getpid())); ends when standard input closes")
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(0, &buf, buf.count)
                if n == 0 || (n < 0 && errno != EINTR) { break }
            }
            Console.line("lgperf pool serve: standard input closed; ending the pool")
        }
    }
}

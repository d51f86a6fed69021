import ArgumentParser
import Foundation
import LGSettings
import PerfStats
import VMFixtures

struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool", abstract: "The snapshot pool: warm it up, or measure it.",
        discussion: "Settings: LUMINAGUARD_POOL_SIZE (1-20, default 5), LUMINAGUARD_POOL_STRATEGY (template or full, default template), LUMINAGUARD_SNAPSHOT_REFRESH_SECS (60+, default 3600), LUMINAGUARD_SNAPSHOT_PATH (default /var/lib/luminaguard/snapshots; a user-writable cache when that is not writable). The pool lives in the process that runs it: these commands end their VMs when they finish.",
        subcommands: [Warmup.self, Stats.self])

    /// QEMU jailed (as lgperf mcp-server serves it) where the jail can be built.
    static func make(jail: Bool) throws -> VMPool {
        ProcessRegistry.shared.installSignalHandlers()
        let settings = PoolSettings(try CommandSettings.load())
        var backend = try BackendChoice.qemu()
        if !jail {
            Console.line("WARNING: the pool's QEMUs run UNJAILED (--no-jail: as this user, no seccomp filter)")
        } else if let why = QEMUJail.unavailableReason() {
            Console.line("WARNING: the pool's QEMUs run UNJAILED: \(why)")
        } else {
            backend.jail = QEMUJail()
        }
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
}

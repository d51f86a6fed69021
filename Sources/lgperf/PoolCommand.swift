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

    static func make() throws -> VMPool {
        ProcessRegistry.shared.installSignalHandlers()
        let settings = PoolSettings(try CommandSettings.load())
        let backend = try BackendChoice.qemu()
        return VMPool(backend: backend, settings: settings, log: { Console.line($0) })
    }

    static func printStats(_ s: PoolStats, _ pool: VMPool) {
        func med(_ x: [Double]) -> String { (try? Summary(x)).map { String(format: "median %.2f ms, p95 %.2f ms (n=%d)", $0.median, $0.p95, $0.count) } ?? "none" }
        print("snapshot:  \(pool.store.directory) (age \(Int(s.snapshotAgeSeconds ?? 0)) s, strategy \(s.strategy))")
        if let n = s.strategyNotice { print("notice:    \(n)") }
        print("size \(s.size), ready \(s.ready), in use \(s.inUse), hit rate \(String(format: "%.0f", s.hitRate * 100)) % (\(s.hits) hits, \(s.misses) misses)")
        print("checkout:  \(med(s.checkoutMs))")
        print("restore:   \(med(s.restoreMs))")
        if !s.snapshotRebuilds.isEmpty { print("snapshot rebuilt because: \(s.snapshotRebuilds.joined(separator: "; "))") }
    }

    struct Warmup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or verify the snapshot and fill a pool (then end it).")
        func run() throws {
            let pool = try PoolCommand.make()
            defer { pool.shutdown() }
            try pool.warmup()
            PoolCommand.printStats(pool.stats(), pool)
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Warm a pool, take N checkouts, print its statistics.")
        @Option(help: "Checkouts to take.") var checkouts = 10
        func run() throws {
            guard checkouts >= 1 && checkouts <= 10_000 else { throw ValidationError("--checkouts must be 1-10000") }
            let pool = try PoolCommand.make()
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

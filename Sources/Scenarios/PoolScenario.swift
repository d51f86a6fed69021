import Foundation
import HostProbes
import PerfMetrics
import PerfStats
import VMFixtures

/// Cold boot, snapshot restore and pool checkout to agent-ready, measured side
/// by side in one run with the platform floor (``PlatformFloor``), plus the
/// memory of a warm pool.
public enum PoolScenario {
    public struct Result: Sendable {
        public var file: MetricsFile
        public var stats: PoolStats
    }

    public static func run(backend: QEMUBackend, settings: PoolSettings, config: RunConfig,
                           progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> Result {
        let load = ProcProbes.loadAverage1()
        let pool = VMPool(backend: backend, settings: settings, log: progress)
        defer { pool.shutdown() }
        progress("  pool: snapshot + warm-up of \(settings.size) VMs (\(settings.snapshotPath))")
        try pool.warmup()
        let warmPSS = pool.readyPIDs.compactMap { try? ProcProbes.memory(of: $0).pssMB }
        var cold: [Double] = [], restore: [Double] = [], checkout: [Double] = [], floor: [Double] = [], floorWarmup: [Double] = []
        var paths: [String: Int] = [:]
        let snapshot = try pool.currentSnapshot()
        for i in 0..<(config.warmup + config.iterations) {
            // Interleaved, one of each per round, so drift hits all four alike;
            // the floor boots before the cold boot in every other round.
            // Background refills have finished: nothing else runs meanwhile.
            pool.waitForRefills()
            var floorMs = 0.0
            if i % 2 == 1 { floorMs = try PlatformFloor.measure(backend: backend) }
            let c = try backend.spawn(SpawnOptions())
            let coldMs = Double(c.timings.requestToReadyNs) / 1e6
            c.shutdown()
            if i % 2 == 0 { floorMs = try PlatformFloor.measure(backend: backend) }
            let r = try pool.store.restore(snapshot)
            let restoreMs = Double(r.timings.requestToReadyNs) / 1e6
            r.shutdown()
            // The pool refills in the background; measure checkouts from a full pool.
            pool.waitForRefills()
            let out = try pool.checkout()
            paths[out.path, default: 0] += 1
            pool.release(out.vm)
            progress(String(format: "  pool round %d/%d: floor %.1f ms, cold %.1f ms, restore %.1f ms, checkout %.2f ms (%@)",
                            i + 1, config.warmup + config.iterations, floorMs, coldMs, restoreMs, out.readyMs, out.path))
            if i >= config.warmup {
                cold.append(coldMs); restore.append(restoreMs); checkout.append(out.readyMs); floor.append(floorMs)
            } else {
                floorWarmup.append(floorMs)
            }
        }
        let stats = pool.stats()
        var file = RunContext.newFile(
            scope: "pool", phase: config.phase, backend: backend, iterations: config.iterations, warmup: config.warmup, loadBefore: load,
            notes: ["spawn_time_ms: pool checkout to agent-ready (a pooled VM answering a ping), from a full pool of \(settings.size).",
                    "restore_to_ready_ms: a new QEMU process loading the snapshot (-incoming) and resumed, to its agent answering.",
                    "cold_spawn_ms: cold boot to agent-ready; the three are interleaved round by round.",
                    "\(PlatformFloor.seriesName): the same kernel and QEMU command line booting a minimal initramfs to its first line on the agent channel, one boot per round; the budgets for emulated figures are ratios to its median.",
                    "Checkout paths: \(paths.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); snapshot \(snapshot.manifest.stateBytes / 1_048_576) MiB, saved in \(Int(snapshot.manifest.saveMs)) ms."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "pool checkout to agent-ready", series: .init(samples: checkout), judged: true))
        file.add("restore_to_ready_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "snapshot restore to agent-ready", series: .init(samples: restore), judged: true))
        file.add("cold_spawn_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold boot to agent-ready", series: .init(samples: cold), judged: false))
        file.add(PlatformFloor.seriesName, try PlatformFloor.series(warmup: floorWarmup, samples: floor))
        file.add("pool_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of each warm pooled VM", series: .init(samples: warmPSS), judged: false))
        file.add("pool_total_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of the whole warm pool (\(settings.size) VMs)", series: .init(samples: [warmPSS.reduce(0, +)]), judged: false))
        let cm = try Summary(cold).median, rm = try Summary(restore).median, km = try Summary(checkout).median
        let fm = try Summary(floor).median, kp = try Summary(checkout).p95
        file.notes.append(String(format: "Ratios of medians: cold / restore %.1fx, cold / checkout %.0fx, restore / checkout %.0fx.", cm / rm, cm / km, rm / km))
        file.notes.append(String(format: "Relative to the platform floor (median %.1f ms): cold median %.2f, restore median %.3f, checkout p95 %.4f.", fm, cm / fm, rm / fm, kp / fm))
        return Result(file: file, stats: stats)
    }
}

import Foundation
import HostProbes
import PerfMetrics
import PerfStats
import VMFixtures

/// Cold boot, full snapshot restore, templated restore and pool checkout to
/// agent-ready, measured side by side in one run with the platform floor
/// (``PlatformFloor``), plus the memory per VM of each kind of restore and of
/// a warm pool.
public enum PoolScenario {
    public struct Result: Sendable {
        public var file: MetricsFile
        public var stats: PoolStats
    }

    public static func run(backend: QEMUBackend, settings: PoolSettings, config: RunConfig,
                           progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> Result {
        let load = ProcProbes.loadAverage1()
        // Both kinds of snapshot, each verified (or rebuilt) as the pool would.
        let full = SnapshotStore(root: settings.snapshotPath, backend: backend)
        let tpl = SnapshotStore(root: settings.snapshotPath, backend: backend, template: true)
        let refresh = Double(settings.refreshSeconds)
        progress("  pool: full snapshot and template (\(settings.snapshotPath))")
        let snapshot = try full.loadOrCreate(maxAge: refresh, log: progress).0
        let template = try tpl.loadOrCreate(maxAge: refresh, log: progress).0
        // Memory per VM of each kind, as a pool holds them: size VMs alive together.
        func groupPSS(_ store: SnapshotStore, _ snap: Snapshot) throws -> [Double] {
            var vms: [any SandboxVM] = []
            defer { for vm in vms { vm.shutdown() } }
            for _ in 0..<settings.size { vms.append(try store.restore(snap)) }
            return try vms.map { try ProcProbes.memory(of: $0.pid).pssMB }
        }
        let fullPSS = try groupPSS(full, snapshot)
        let templatePSS = try groupPSS(tpl, template)
        let pool = VMPool(backend: backend, settings: settings, log: progress)
        defer { pool.shutdown() }
        progress("  pool: warm-up of \(settings.size) VMs (strategy \(settings.strategy.rawValue))")
        try pool.warmup()
        let warmPSS = pool.readyPIDs.compactMap { try? ProcProbes.memory(of: $0).pssMB }
        var cold: [Double] = [], restore: [Double] = [], templated: [Double] = [], checkout: [Double] = [], floor: [Double] = [], floorWarmup: [Double] = []
        var paths: [String: Int] = [:]
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
            // Full and templated restores alternate which goes first.
            func timed(_ store: SnapshotStore, _ snap: Snapshot) throws -> Double {
                let vm = try store.restore(snap)
                defer { vm.shutdown() }
                return Double(vm.timings.requestToReadyNs) / 1e6
            }
            var restoreMs = 0.0, templateMs = 0.0
            if i % 2 == 0 {
                restoreMs = try timed(full, snapshot); templateMs = try timed(tpl, template)
            } else {
                templateMs = try timed(tpl, template); restoreMs = try timed(full, snapshot)
            }
            // The pool refills in the background; measure checkouts from a full pool.
            pool.waitForRefills()
            let out = try pool.checkout()
            paths[out.path, default: 0] += 1
            pool.release(out.vm)
            progress(String(format: "  pool round %d/%d: floor %.1f ms, cold %.1f ms, restore %.1f ms, template %.1f ms, checkout %.2f ms (%@)",
                            i + 1, config.warmup + config.iterations, floorMs, coldMs, restoreMs, templateMs, out.readyMs, out.path))
            if i >= config.warmup {
                cold.append(coldMs); restore.append(restoreMs); templated.append(templateMs); checkout.append(out.readyMs); floor.append(floorMs)
            } else {
                floorWarmup.append(floorMs)
            }
        }
        // The last checkout's refill is done before anything else starts.
        pool.waitForRefills()
        let stats = pool.stats()
        var file = RunContext.newFile(
            scope: "pool", phase: config.phase, backend: backend, iterations: config.iterations, warmup: config.warmup, loadBefore: load,
            notes: ["spawn_time_ms: pool checkout to agent-ready (a pooled VM answering a ping), from a full pool of \(settings.size) (strategy \(stats.strategy)\(stats.strategyNotice.map { ": \($0)" } ?? ""); QEMU \(stats.jailed ? "jailed" : "unjailed, as in every benchmark that acts on the QEMU process by pid; production.qemu_jail measures the jail's cost")).",
                    "restore_to_ready_ms: full restore: a new QEMU process loading the whole-RAM snapshot (-incoming) and resumed, to its agent answering.",
                    "template_restore_to_ready_ms: templated restore: a new QEMU process mapping the template's RAM file copy-on-write (memory-backend-file share=off, -incoming defer, x-ignore-shared, migrate-incoming of the device state), resumed, to its agent answering.",
                    "cold_spawn_ms: cold boot to agent-ready; the four are interleaved round by round (full and templated restore alternate which goes first).",
                    "pool_pss_mb / template_pss_mb: PSS of each of \(settings.size) VMs restored from the full snapshot / the template, alive together (as a pool holds them); the template's shared pages count once, split among the VMs mapping them.",
                    "\(PlatformFloor.seriesName): the same kernel and QEMU command line booting a minimal initramfs to its first line on the agent channel, one boot per round; the budgets for emulated figures are ratios to its median.",
                    "Checkout paths: \(paths.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); snapshot \(snapshot.manifest.stateBytes / 1_048_576) MiB, saved in \(Int(snapshot.manifest.saveMs)) ms; template device state \(template.manifest.stateBytes / 1024) KiB + \(memoryMiB(template)) MiB RAM file, saved in \(Int(template.manifest.saveMs)) ms."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "pool checkout to agent-ready", series: .init(samples: checkout), judged: true))
        file.add("restore_to_ready_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "full snapshot restore to agent-ready", series: .init(samples: restore), judged: true))
        file.add("template_restore_to_ready_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "templated restore to agent-ready", series: .init(samples: templated), judged: false))
        file.add("cold_spawn_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold boot to agent-ready", series: .init(samples: cold), judged: false))
        file.add(PlatformFloor.seriesName, try PlatformFloor.series(warmup: floorWarmup, samples: floor))
        file.add("pool_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of each VM restored from the full snapshot (\(settings.size) alive together)", series: .init(samples: fullPSS), judged: false))
        file.add("template_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of each VM restored from the template (\(settings.size) alive together)", series: .init(samples: templatePSS), judged: false))
        file.add("pool_total_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of the whole warm pool (\(settings.size) VMs, strategy \(stats.strategy))", series: .init(samples: [warmPSS.reduce(0, +)]), judged: false))
        let cm = try Summary(cold).median, rm = try Summary(restore).median, km = try Summary(checkout).median
        let fm = try Summary(floor).median, kp = try Summary(checkout).p95
        let tm = try Summary(templated).median, fpss = try Summary(fullPSS).median, tpss = try Summary(templatePSS).median
        file.notes.append(String(format: "Templated vs full restore: median %.1f vs %.1f ms (%.2fx); PSS per VM median %.1f vs %.1f MB (%.2fx).", tm, rm, tm / rm, tpss, fpss, tpss / fpss))
        file.notes.append(String(format: "Ratios of medians: cold / restore %.1fx, cold / checkout %.0fx, restore / checkout %.0fx.", cm / rm, cm / km, rm / km))
        file.notes.append(String(format: "Relative to the platform floor (median %.1f ms): cold median %.2f, restore median %.3f, checkout p95 %.4f.", fm, cm / fm, rm / fm, kp / fm))
        return Result(file: file, stats: stats)
    }
}

private func memoryMiB(_ s: Snapshot) -> Int64 { (s.manifest.ram?.bytes ?? 0) / 1_048_576 }

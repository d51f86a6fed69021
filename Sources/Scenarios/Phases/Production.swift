import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Weeks 11-12: a soak by duration that must not leak or drift.
enum ProductionBenchmarks {
    static let all: [Benchmark] = [soak]

    static let soak = Benchmark(
        id: "production.soak", phase: .production, tags: ["production"],
        times: "for the duration: N agents, each an MCP client of a sandbox from the warm pool (recycled every \(Soak.callsPerSandbox) calls), calling the tool mix back to back (each call's round trip); sampled meanwhile: harness RSS and descriptors, host MemAvailable, VMM processes, run directories",
        parameters: { "LUMINAGUARD_SOAK_SECS=\(Settings.format($0.soakSeconds)), LUMINAGUARD_SOAK_AGENTS=\($0.soakAgents), LUMINAGUARD_POOL_SIZE=\($0.poolSize)\($0.testLeakFDPerCall ? ", LUMINAGUARD_TEST_LEAK_FD_PER_CALL=1" : "")" }) { ctx in
        let backend = try ctx.qemu(for: "the soak through the snapshot pool")
        let s = ctx.settings
        let load = ProcProbes.loadAverage1()
        let runDirectory = ctx.runDirectory ?? s.runDirectory
        let pool = VMPool(backend: backend, settings: PoolSettings(s), log: ctx.progress)
        defer { pool.shutdown() }
        try pool.warmup()
        ctx.progress("  soak: \(s.soakAgents) agents for \(Settings.format(s.soakSeconds)) s")
        let r = await Soak.run(pool: pool, agents: s.soakAgents, seconds: s.soakSeconds, leakFD: s.testLeakFDPerCall, runDirectory: runDirectory)
        pool.shutdown()
        let left = Leftovers.vmms(runDirectory: runDirectory).count
        return [try SoakReport.file(r, ctx: ctx, load: load, vmLeft: left)]
    }
}

/// Turns a soak's calls and samples into the production metrics file:
/// per-minute series, leak slopes and the first-vs-last drift test.
enum SoakReport {
    /// Median latency change between the first and last windows that counts
    /// as drift when the permutation test also finds it significant (p < 0.01).
    static let driftEffect = 0.5

    static func file(_ r: Soak.Result, ctx: BenchmarkContext, load: Double?, vmLeft: Int) throws -> MetricsFile {
        let s = ctx.settings
        let ok = r.calls.filter { $0.error == nil }
        let minutes = max(1, Int((r.seconds / 60).rounded(.up)))
        func minute(_ c: ScaleLoad.Call) -> Int { min(minutes - 1, Int(Double(c.endNs - r.startNs) / 60e9)) }
        let byMinute = Dictionary(grouping: ok, by: minute)
        let perMinuteLatency = (0..<minutes).compactMap { m in byMinute[m].map { Percentile.of(sorted: $0.map(\.ms).sorted(), 0.5) } }
        // Throughput per minute: a last partial minute scaled to a full one.
        let perMinuteOps = (0..<minutes).map { m -> Double in
            let span = min(60, r.seconds - Double(m) * 60)
            return Double(byMinute[m]?.count ?? 0) * 60 / max(1, span)
        }
        // Slopes over the run after its first quarter (first checkouts,
        // connections and caches are start-up, not leaks), per minute.
        let settled = r.samples.filter { $0.seconds >= r.seconds / 4 }
        func slope(_ y: (Soak.Sample) -> Double) -> Double {
            guard settled.count >= 3, let fit = try? LinearFit(x: settled.map { $0.seconds / 60 }, y: settled.map(y)) else { return .nan }
            return fit.slope
        }
        // Drift: the first and last quarter of the calls by time.
        let q = UInt64(r.seconds / 4 * 1e9)
        let first = ok.filter { $0.startNs < r.startNs + q }.map(\.ms)
        let last = ok.filter { $0.startNs >= r.startNs + 3 * q }.map(\.ms)
        var file = ctx.newFile(scope: "soak", phase: .production, iterations: ok.count, warmup: 0, loadBefore: load, notes: [
            "Soak: \(s.soakAgents) agents for \(Settings.format(r.seconds)) s, each an MCP client (in-process, fast transport) of a sandbox checked out of the warm pool, recycled every \(Soak.callsPerSandbox) calls (\(r.recycled) sandboxes used); tool mix \(ScaleLoad.mix.map(\.rawValue).joined(separator: ", ")).",
            "Series sampled every \(String(format: "%.1f", r.samples.count > 1 ? r.samples[1].seconds - r.samples[0].seconds : 0)) s (\(r.samples.count) samples); *_slope_per_min: least-squares slope over the samples after the first quarter of the run. mem_available is host-wide (other processes move it): reported, not judged.",
            "latency_drift: 1 when the last quarter's call latency is significantly slower than the first quarter's (permutation test p < 0.01 and median > \(Int(driftEffect * 100)) % slower).",
        ] + r.errors.prefix(10).map { "Problem: \($0)" } + (s.testLeakFDPerCall ? ["TEST-ONLY LEAK ACTIVE: every tool call kept a descriptor open (LUMINAGUARD_TEST_LEAK_FD_PER_CALL=1)."] : []))
        func add(_ name: String, _ kind: MetricKind, _ unit: String, _ what: String, _ samples: [Double], judged: Bool = false) throws {
            let clean = samples.filter(\.isFinite)
            guard !clean.isEmpty else { return }
            file.add(name, try MetricSeries(metric: kind, unit: unit, description: what, series: .init(samples: clean), judged: judged))
        }
        try add("tool_latency_ms", .latency, "ms", "each tool call's round trip through MCP into the sandbox", ok.map(\.ms), judged: true)
        try add("latency_per_min_ms", .latency, "ms", "median tool-call latency per minute", perMinuteLatency)
        try add("throughput_per_min", .throughput, "ops/min", "successful tool calls per minute", perMinuteOps)
        try add("harness_rss_mb", .memory, "MB", "harness RSS, sampled", r.samples.map(\.rssMB))
        try add("harness_fds", .memory, "count", "harness open descriptors, sampled", r.samples.map { Double($0.fds) })
        try add("mem_available_mb", .memory, "MB", "host MemAvailable, sampled", r.samples.map(\.memAvailableMB))
        try add("vmm_count", .memory, "count", "VMM processes of this harness, sampled", r.samples.map { Double($0.vmms) })
        try add("run_dirs", .memory, "count", "this harness's VM run directories, sampled", r.samples.map { Double($0.runDirectories) })
        try add("rss_slope_mb_per_min", .memory, "MB/min", "harness RSS slope", [slope(\.rssMB)])
        try add("fd_slope_per_min", .memory, "fds/min", "harness descriptor slope", [slope { Double($0.fds) }])
        try add("mem_available_slope_mb_per_min", .memory, "MB/min", "host MemAvailable slope (not judged)", [slope(\.memAvailableMB)])
        try add("vmm_slope_per_min", .memory, "VMMs/min", "VMM count slope", [slope { Double($0.vmms) }])
        try add("run_dirs_slope_per_min", .memory, "dirs/min", "run directory count slope", [slope { Double($0.runDirectories) }])
        if !first.isEmpty, !last.isEmpty {
            let cmp = try ABComparison(baseline: first, current: last)
            try add("drift_p_value", .latency, "p", "permutation test p-value, first vs last quarter", [cmp.pValue])
            file.add("latency_drift", try Measure.count(cmp.isRegression(threshold: driftEffect, alpha: 0.01) ? 1 : 0, .latency, "last quarter significantly slower than the first"))
            file.notes.append(String(format: "Drift: median %.3f ms in the first quarter, %.3f ms in the last (%+.0f %%, p=%.4f).", cmp.baselineMedian, cmp.currentMedian, cmp.relativeChange * 100, cmp.pValue))
        }
        file.add("call_errors", try Measure.count(r.calls.count - ok.count + r.errors.count, .latency, "failed tool calls and agent set-up errors"))
        file.add("vm_left", try Measure.count(vmLeft, .memory, "VMM processes still running after the soak"))
        return file
    }
}

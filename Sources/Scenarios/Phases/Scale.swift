import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Weeks 3-4: N concurrent agents, each with its own sandbox and MCP client.
enum ScaleBenchmarks {
    static let all: [Benchmark] = [concurrency]

    static let concurrency = Benchmark(
        id: "scale.concurrency", phase: .scale, tags: ["scale"],
        times: "per N: N sandboxes spawned at once (each one's spawn request -> ready under that contention); then N agents, each its own MCP client on its own connection to its own sandbox, started together behind a barrier, calling read_file, write_file, list_directory, search and execute_command back to back for the window: each callTool -> result, calls completed per minute by all N, calls in flight at once, host / VMM / harness CPU; PSS per sandbox after the window and its slope over N",
        parameters: { "LUMINAGUARD_SCALE_LEVELS=\($0.scaleLevels.map(String.init).joined(separator: ",")), LUMINAGUARD_SCALE_WINDOW_SECS=\(Settings.format($0.scaleWindowSeconds))" }) { ctx in
        let levels = ctx.settings.scaleLevels, window = ctx.settings.scaleWindowSeconds
        let load = ProcProbes.loadAverage1()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var file = ctx.newFile(scope: "concurrency", phase: .scale, iterations: levels.max() ?? 0, warmup: 0, loadBefore: load, notes: [])
        var rows: [String] = [], spawnFailures: [String] = [], callErrors: [String] = []
        var totals: [(n: Double, pss: Double)] = []
        var last: (n: Int, spawn: [Double], pss: [Double], level: ScaleLoad.Level)?
        for n in levels {
            ctx.progress("  N = \(n): spawning \(n) sandboxes at once, then \(Settings.format(window)) s of tool calls")
            let r = Concurrency.spawn(backend: ctx.backend, count: n, parallel: n)
            let level = await ScaleLoad.run(r.vms, windowSeconds: window)
            let pss = r.vms.compactMap { try? ProcProbes.memory(of: $0.pid).pssMB }
            r.vms.forEach { $0.shutdown() }
            spawnFailures += r.failures.map { "N=\(n): \($0)" }
            callErrors += level.errors.map { "N=\(n): \($0)" }
            if !r.spawnMs.isEmpty {
                file.add("spawn_n\(n)_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) at once", series: .init(samples: r.spawnMs), judged: false))
            }
            if !pss.isEmpty {
                file.add("memory_n\(n)_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per sandbox with \(pss.count) running, after the window", series: .init(samples: pss), judged: false))
                file.add("total_pss_n\(n)_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of all \(pss.count) sandboxes", series: .init(samples: [pss.reduce(0, +)]), judged: false))
                totals.append((Double(pss.count), pss.reduce(0, +)))
            }
            let latency = level.latencyMs
            if !latency.isEmpty {
                file.add("tool_latency_n\(n)_ms", try MetricSeries(metric: .latency, unit: "ms", description: "callTool -> result, \(level.agents) agents at once, five-tool mix", series: .init(samples: latency), judged: false))
            }
            file.add("throughput_n\(n)_ops_per_min", try MetricSeries(metric: .throughput, unit: "ops/min", description: "tool calls completed by all \(level.agents) agents per minute, per second of the \(Settings.format(window)) s window", series: .init(samples: level.opsPerMinutePerSecond), judged: false))
            file.add("max_in_flight_n\(n)", try Measure.count(level.maxInFlight, .throughput, "most tool calls in flight at once, \(level.agents) agents"))
            file.add("call_errors_n\(n)", try Measure.count(level.errors.count, .latency, "tool calls (and agent set-ups) that failed, N=\(n)"))
            if level.hostCPUPercent.isFinite {
                file.add("host_cpu_n\(n)_percent", try MetricSeries(metric: .cpu, unit: "%", description: "whole host (/proc/stat, 100 % = all \(cores) cores) over the window", series: .init(samples: [level.hostCPUPercent]), judged: false))
            }
            if !level.vmmCPUPercent.isEmpty {
                file.add("vmm_cpu_n\(n)_percent", try MetricSeries(metric: .cpu, unit: "%", description: "each sandbox's VMM over the window (100 % = one core)", series: .init(samples: level.vmmCPUPercent), judged: false))
            }
            if level.harnessCPUPercent.isFinite {
                file.add("harness_cpu_n\(n)_percent", try MetricSeries(metric: .cpu, unit: "%", description: "this process (MCP clients, servers, agent channels) over the window (100 % = one core)", series: .init(samples: [level.harnessCPUPercent]), judged: false))
            }
            func f(_ x: Double) -> String { x.isFinite ? String(format: "%.1f", x) : "-" }
            let med = latency.isEmpty ? Double.nan : percentile(latency, 0.5), p95 = latency.isEmpty ? Double.nan : percentile(latency, 0.95)
            rows.append("| \(n) | \(f(med)) ms | \(f(p95)) ms | \(String(format: "%.0f", level.opsPerMinute)) | \(level.maxInFlight) | \(pss.isEmpty ? "-" : f(pss.reduce(0, +))) MB |")
            ctx.progress("  N = \(n): " + rows.last!)
            last = (n, r.spawnMs, pss, level)
        }
        guard let last, !last.spawn.isEmpty else {
            throw ConfigError("no sandbox started: \(spawnFailures.prefix(3).joined(separator: "; "))")
        }
        // The headline figures: the largest N.
        let n = last.n
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) at once", series: .init(samples: last.spawn), judged: true))
        if !last.pss.isEmpty {
            file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per sandbox with \(last.pss.count) running", series: .init(samples: last.pss), judged: true))
            file.add("total_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of all \(last.pss.count) sandboxes", series: .init(samples: [last.pss.reduce(0, +)]), judged: false))
        }
        if !last.level.latencyMs.isEmpty {
            file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "callTool -> result, \(last.level.agents) agents at once (each its own client and sandbox), five-tool mix", series: .init(samples: last.level.latencyMs), judged: true))
        }
        file.add("throughput_ops_per_min", try MetricSeries(metric: .throughput, unit: "ops/min", description: "tool calls completed through MCP by \(last.level.agents) agents at once, per minute (per second of the window)", series: .init(samples: last.level.opsPerMinutePerSecond), judged: true))
        file.add("max_in_flight", try Measure.count(last.level.maxInFlight, .throughput, "most tool calls in flight at once, \(last.level.agents) agents"))
        file.add("spawn_errors", try Measure.count(spawnFailures.count, .spawn, "sandboxes that failed to start, all N"))
        file.add("call_errors", try Measure.count(callErrors.count, .latency, "tool calls that failed, all N"))
        var notes = [
            "Per N in LUMINAGUARD_SCALE_LEVELS (\(levels.map(String.init).joined(separator: ", "))): N sandboxes spawned at once (spawn_nN_ms: each one's spawn-to-ready under that contention, \(cores) cores); then N agents, each its own MCP client (its own connection, descriptor transport) to its own sandbox's tool server, released together by a start barrier, calling read_file, write_file, list_directory, search and execute_command in turn, back to back, for \(Settings.format(window)) s of wall time.",
            "tool_latency_nN_ms: each callTool -> result. throughput_nN_ops_per_min: calls completed by all N agents in each second of the window, x 60 (the table's ops/min: completed in the whole window / its minutes). max_in_flight_nN: the most calls in flight at once (a counter raised before each call and lowered after). host_cpu_nN_percent: the whole host from /proc/stat (100 % = all cores); vmm_cpu_nN_percent: each sandbox's VMM (100 % = one core); harness_cpu_nN_percent: this process. memory_nN_mb: PSS of each sandbox after the window.",
            "The headline series without _nN (tool_latency_ms, throughput_ops_per_min, memory_mb, spawn_time_ms, max_in_flight) are those of the largest N (\(n)); call_errors and spawn_errors count all N.",
            "Curve (tool-call latency median and p95, calls completed per minute in the window, most calls in flight at once, PSS of all N sandboxes):\n| N | median | p95 | ops/min | in flight | PSS total |\n|---|---|---|---|---|---|\n" + rows.joined(separator: "\n"),
        ]
        if totals.count >= 2, Set(totals.map(\.n)).count >= 2 {
            let fit = try LinearFit(x: totals.map(\.n), y: totals.map(\.pss))
            file.add("pss_slope_mb_per_sandbox", try MetricSeries(metric: .memory, unit: "MB", description: "least-squares slope of total PSS against N: MB per added sandbox", series: .init(samples: [fit.slope]), judged: false))
            notes.append(String(format: "Memory scaling: total PSS = %.1f MB + %.1f MB x N (least squares over %d levels, R^2 %@).",
                                fit.intercept, fit.slope, fit.count, fit.rSquared.map { String(format: "%.4f", $0) } ?? "undefined"))
        } else {
            notes.append("Memory scaling: one level only, no slope.")
        }
        if !spawnFailures.isEmpty { notes.append("Spawn failures: \(spawnFailures.prefix(3).joined(separator: "; "))") }
        if !callErrors.isEmpty { notes.append("Call errors (\(callErrors.count)): \(callErrors.prefix(3).joined(separator: "; "))") }
        file.notes = notes
        return [file]
    }
}

import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Weeks 3-4: 5-10 sandboxes side by side.
enum ScaleBenchmarks {
    static let all: [Benchmark] = [concurrency]

    static let concurrency = Benchmark(
        id: "scale.concurrency", phase: .scale, tags: ["scale"],
        times: "N sandboxes spawned at once (each one's spawn request -> ready under that contention), PSS per sandbox with N running, and list_directory round trips sent to all N at once, 5 rounds",
        parameters: { "LUMINAGUARD_SCALE_VMS=\($0.scaleVMs)" }) { ctx in
        let n = ctx.settings.scaleVMs
        let load = ProcProbes.loadAverage1()
        let r = Concurrency.spawn(backend: ctx.backend, count: n, parallel: n)
        defer { r.vms.forEach { $0.shutdown() } }
        guard !r.vms.isEmpty else { throw ConfigError("no sandbox of \(n) started: \(r.failures.prefix(3).joined(separator: "; "))") }
        var latency: [Double] = [], callErrors: [String] = []
        for _ in 0..<5 {
            let round = Concurrency.callAll(r.vms, .listDirectory, ["path": .string(".")])
            latency += round.ms
            callErrors += round.failures
        }
        let pss = r.vms.compactMap { try? ProcProbes.memory(of: $0.pid).pssMB }
        var notes = ["\(n) sandboxes spawned at once; spawn_time_ms is each one's spawn-to-ready under that contention (\(ProcessInfo.processInfo.activeProcessorCount) cores).",
                     "tool_latency_ms: list_directory calls sent to all sandboxes at once, 5 rounds."]
        if !r.failures.isEmpty { notes.append("Spawn failures: \(r.failures.prefix(3).joined(separator: "; "))") }
        if !callErrors.isEmpty { notes.append("Call errors: \(callErrors.prefix(3).joined(separator: "; "))") }
        var file = ctx.newFile(scope: "concurrency", phase: .scale, iterations: n, warmup: 0, loadBefore: load, notes: notes)
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) at once", series: .init(samples: r.spawnMs), judged: true))
        file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per sandbox with \(r.vms.count) running", series: .init(samples: pss), judged: true))
        file.add("total_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of all \(r.vms.count) sandboxes", series: .init(samples: [pss.reduce(0, +)]), judged: false))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "concurrent tool call round trip", series: .init(samples: latency), judged: true))
        file.add("spawn_errors", try Measure.count(r.failures.count, .spawn, "sandboxes of \(n) that failed to start"))
        file.add("call_errors", try Measure.count(callErrors.count, .latency, "tool calls that failed"))
        return [file]
    }
}

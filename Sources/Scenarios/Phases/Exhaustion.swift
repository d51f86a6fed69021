import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Weeks 5-6: 100+ agents, and what happens at the limit.
enum ExhaustionBenchmarks {
    static let all: [Benchmark] = [agents, vms]

    static let agents = Benchmark(
        id: "exhaustion.agents", phase: .exhaustion, tags: ["exhaustion"],
        times: "120 guest agents as local processes (process backend, no VM) spawned 16 at a time, each spawn request -> ready; then one ping to all at once",
        parameters: { _ in "120 agents (fixed)" }) { ctx in
        let backend = try ctx.processBackend()
        let n = 120
        let load = ProcProbes.loadAverage1()
        let r = Concurrency.spawn(backend: backend, count: n, parallel: 16)
        defer { r.vms.forEach { $0.shutdown() } }
        let calls = Concurrency.callAll(r.vms, .ping, [:])
        var file = ctx.newFile(scope: "agents", phase: .exhaustion, backend: backend, iterations: n, warmup: 0, loadBefore: load,
                               notes: ["\(n) guest agents as processes (no VMs) spawned 16 at a time and pinged at once."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) agents", series: .init(samples: r.spawnMs), judged: true))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping with \(r.vms.count) agents answering at once", series: .init(samples: calls.ms), judged: true))
        file.add("spawn_errors", try Measure.count(r.failures.count, .spawn, "agents of \(n) that failed to start"))
        file.add("call_errors", try Measure.count(calls.failures.count, .latency, "pings that failed"))
        return [file]
    }

    static let vms = Benchmark(
        id: "exhaustion.vms", phase: .exhaustion, tags: ["exhaustion"],
        times: "admission by available memory (per-VM PSS measured on a probe VM); a request beyond capacity must be refused; then min(wanted, capacity) VMs spawned 4 at a time (each spawn request -> ready) and pinged at once",
        parameters: { "LUMINAGUARD_EXHAUSTION_VMS=\($0.exhaustionVMs)" }) { ctx in
        let load = ProcProbes.loadAverage1()
        // Per-VM footprint measured, not assumed.
        let probe = try ctx.backend.spawn(SpawnOptions())
        let perVM = try ProcProbes.memory(of: probe.pid).pssMB
        probe.shutdown()
        let planner = CapacityPlanner(perVMMB: max(perVM, 1))
        let capacity = planner.capacity()
        guard capacity > 0 else { throw ConfigError("no sandbox fits in the available memory (\(Int(ProcProbes.memAvailableMB() ?? 0)) MB)") }
        var refusal = ""
        do { try planner.admit(capacity + 1) } catch { refusal = "\(error)" }
        let refusedClearly = refusal.contains("refusing to start") && refusal.contains("fit in the available memory")
        let wanted = ctx.settings.exhaustionVMs
        let n = min(wanted, capacity)
        try planner.admit(n)
        let t0 = Monotonic.nanos()
        let r = Concurrency.spawn(backend: ctx.backend, count: n, parallel: 4)
        let wall = Measure.ms(since: t0)
        defer { r.vms.forEach { $0.shutdown() } }
        let calls = Concurrency.callAll(r.vms, .ping, [:])
        let pss = r.vms.compactMap { try? ProcProbes.memory(of: $0.pid).pssMB }
        var file = ctx.newFile(scope: "vms", phase: .exhaustion, iterations: n, warmup: 0, loadBefore: load,
                               notes: ["\(n) sandboxes (of \(wanted) wanted; capacity by available memory \(capacity)) spawned 4 at a time in \(Int(wall)) ms, then all pinged at once.",
                                       "Refusal beyond capacity: \(refusal.isEmpty ? "NONE (admitted)" : refusal)",
                                       "MemAvailable after: \(Int(ProcProbes.memAvailableMB() ?? 0)) MB."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) VMs, 4 at a time", series: .init(samples: r.spawnMs), judged: true))
        file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per VM with \(r.vms.count) running", series: .init(samples: pss), judged: true))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping with \(r.vms.count) VMs answering at once", series: .init(samples: calls.ms), judged: true))
        file.add("spawn_errors", try Measure.count(r.failures.count, .spawn, "VMs within capacity that failed to start"))
        file.add("call_errors", try Measure.count(calls.failures.count, .latency, "pings that failed"))
        file.add("refused_beyond_capacity", try Measure.count(refusedClearly ? 1 : 0, .spawn, "1 when a request beyond capacity was refused with a clear error"))
        return [file]
    }
}

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
        parameters: { "120 agents (fixed; admission: its own limit of 120 sandboxes, LUMINAGUARD_MEMORY_RESERVE_MB=\($0.memoryReserveMB))" }) { ctx in
        let backend = try ctx.processBackend()
        let n = 120
        // The guide's 100+ agents: this benchmark's own count limit (above
        // LUMINAGUARD_MAX_VMS's default), the memory reserve as configured.
        let admission = Admission(policy: AdmissionPolicy(maxVMs: n, reserveMB: ctx.settings.memoryReserveMB,
                                                          maxVMsSource: "exhaustion.agents' fixed count"))
        let load = ProcProbes.loadAverage1()
        let r = Concurrency.spawn(backend: backend, count: n, parallel: 16, options: SpawnOptions(admission: admission))
        defer { r.vms.forEach { $0.shutdown() } }
        let calls = Concurrency.callAll(r.vms, .ping, [:])
        var file = ctx.newFile(scope: "agents", phase: .exhaustion, backend: backend, iterations: n, warmup: 0, loadBefore: load,
                               notes: ["\(n) guest agents as processes (no VMs) spawned 16 at a time and pinged at once."]
                                   + r.refusals.prefix(1).map { "Refused by admission control (\(r.refusals.count)): \($0)" })
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) agents", series: .init(samples: r.spawnMs), judged: true))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping with \(r.vms.count) agents answering at once", series: .init(samples: calls.ms), judged: true))
        file.add("spawn_errors", try Measure.count(r.failures.count, .spawn, "agents of \(n) that failed to start (refusals by admission control included)"))
        file.add("call_errors", try Measure.count(calls.failures.count, .latency, "pings that failed"))
        return [file]
    }

    static let vms = Benchmark(
        id: "exhaustion.vms", phase: .exhaustion, tags: ["exhaustion"],
        times: "the spawn path's admission control (VMFixtures `Admission`: LUMINAGUARD_MAX_VMS, lowered to the wanted count for this run, and LUMINAGUARD_MEMORY_RESERVE_MB against MemAvailable or the memory cgroup): VMs spawned 4 at a time (each spawn request -> ready), one at a time after a first refusal, until min(wanted, what admission allows) run; then one more spawn, which must be refused at once with a clear error; then all admitted VMs pinged at once",
        parameters: { "LUMINAGUARD_EXHAUSTION_VMS=\($0.exhaustionVMs), LUMINAGUARD_MAX_VMS=\($0.maxVMs), LUMINAGUARD_MEMORY_RESERVE_MB=\($0.memoryReserveMB)" }) { ctx in
        let load = ProcProbes.loadAverage1()
        let wanted = ctx.settings.exhaustionVMs
        let maxVMs = min(wanted, ctx.settings.maxVMs)
        // The real admission control, with its count limit at the wanted
        // number so that the limit is reached in this run.
        let admission = Admission(policy: AdmissionPolicy(
            maxVMs: maxVMs, reserveMB: ctx.settings.memoryReserveMB,
            maxVMsSource: wanted < ctx.settings.maxVMs ? "LUMINAGUARD_EXHAUSTION_VMS" : "LUMINAGUARD_MAX_VMS"))
        let options = SpawnOptions(admission: admission)
        let before = SandboxRegistry.shared.count
        let t0 = Monotonic.nanos()
        let r = ramp(ctx.backend, wanted: wanted, options: options)
        let wall = Measure.ms(since: t0)
        defer { r.vms.forEach { $0.shutdown() } }
        let n = r.vms.count
        // One more: must be refused, quickly and clearly.
        var refusal = ""
        let tRefuse = Monotonic.nanos()
        do {
            let extra = try ctx.backend.spawn(options)
            extra.shutdown()
        } catch let e as AdmissionError {
            refusal = e.description
        } catch {
            refusal = "not refused by admission but failed: \(error)"
        }
        let refusalMs = Measure.ms(since: tRefuse)
        let refusedClearly = refusal.hasPrefix("refusing to start a sandbox:")
        let calls = Concurrency.callAll(r.vms, .ping, [:])
        let pss = r.vms.compactMap { try? ProcProbes.memory(of: $0.pid).pssMB }
        let headroom = MemoryHeadroom.read()
        var file = ctx.newFile(scope: "vms", phase: .exhaustion, iterations: n, warmup: 0, loadBefore: load,
                               notes: ["\(n) sandboxes admitted of \(wanted) wanted (count limit \(maxVMs), memory reserve \(ctx.settings.memoryReserveMB) MB\(before > 0 ? ", \(before) other sandboxes of this process already running" : "")), spawned 4 at a time (then one at a time) in \(Int(wall)) ms, then all pinged at once.",
                                       "Refused during the ramp by admission control: \(r.refusals.count)\(r.refusals.last.map { " (last: \($0))" } ?? "").",
                                       "One more spawn beyond them (\(String(format: "%.1f", refusalMs)) ms): \(refusal.isEmpty ? "NONE (admitted)" : refusal)",
                                       "Memory available after: \(Int(headroom.availableMB ?? 0)) MB\(headroom.cgroupLimitMB.map { " (cgroup limit \(Int($0)) MB)" } ?? "")."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) VMs, 4 at a time", series: .init(samples: r.spawnMs), judged: true))
        file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per VM with \(r.vms.count) running", series: .init(samples: pss), judged: true))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping with \(r.vms.count) VMs answering at once", series: .init(samples: calls.ms), judged: true))
        file.add("spawn_errors", try Measure.count(r.failures.count - r.refusals.count, .spawn, "VMs admitted that failed to start (refusals by admission control are not errors)"))
        file.add("call_errors", try Measure.count(calls.failures.count, .latency, "pings that failed"))
        file.add("refused_beyond_capacity", try Measure.count(refusedClearly ? 1 : 0, .spawn, "1 when a spawn beyond what admission allows was refused at once with a clear error"))
        return [file]
    }

    /// Spawns up to `wanted` sandboxes, 4 at a time; after a refusal (which
    /// may be due to memory promised to the batch's other spawns, larger than
    /// what they turn out to use) one at a time, until a spawn is refused with
    /// nothing else starting: that is what admission allows.
    static func ramp(_ backend: any VMBackend, wanted: Int, options: SpawnOptions) -> Concurrency.Result {
        var out = Concurrency.Result(vms: [], spawnMs: [], failures: [], refusals: [], wallMs: 0)
        var parallel = 4
        var attempts = 0
        while out.vms.count < wanted, attempts < 2 * wanted + 4 {
            let batch = min(parallel, wanted - out.vms.count)
            attempts += batch
            let r = Concurrency.spawn(backend: backend, count: batch, parallel: batch, options: options)
            out.vms += r.vms; out.spawnMs += r.spawnMs; out.failures += r.failures; out.refusals += r.refusals
            out.wallMs += r.wallMs
            if !r.refusals.isEmpty {
                if parallel == 1 { break }
                parallel = 1
            }
        }
        return out
    }
}

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
        times: "real VMs (QEMU, guest -m \(VMExhaustion.guestMB), templated restore) whose VMMs join a cgroup v1 memory group the harness makes (LUMINAGUARD_EXHAUSTION_CGROUP_MB), restored 4 at a time (each restore request -> ready) through the spawn path's admission control (reading that group's limit and usage, LUMINAGUARD_MEMORY_RESERVE_MB kept free, LUMINAGUARD_EXHAUSTION_VMS as its count limit) until it refuses; then more spawns asked for, each refused at once (request -> refusal); after every step every running VM pinged (ping latency as the count rises); at the end PSS per VM, the group's peak usage and oom_kill, VMs that died",
        parameters: VMExhaustion.parameters) { ctx in
        try VMExhaustion.run(ctx)
    }
}

import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Weeks 9-10: recovery through the warm pool once the health checker has
/// declared a sandbox failed.
enum RecoveryBenchmarks {
    static let all: [Benchmark] = [pool]

    static let pool = Benchmark(
        id: "recovery.pool", phase: .recovery, tags: ["recovery"],
        times: "per round: fault injected (VMM kill, freeze, agent crash, kernel panic in turn) -> health checker's verdict -> a replacement checked out of the warm pool (or, in the interleaved fallback rounds, booted cold) -> its first successful tool call; then bursts: every pooled sandbox checked out and killed -> the pool full again",
        parameters: { "LUMINAGUARD_RECOVERY_ROUNDS=\($0.recoveryRounds) (+ half as many cold-fallback rounds), LUMINAGUARD_POOL_SIZE=\($0.poolSize), LUMINAGUARD_HEALTH_INTERVAL_MS=\($0.healthIntervalMs), LUMINAGUARD_HEALTH_MISS_MS=\($0.healthMissMs)" }) { ctx in
        let backend = try ctx.qemu(for: "recovery through the snapshot pool")
        let s = ctx.settings
        let rounds = s.recoveryRounds
        let load = ProcProbes.loadAverage1()
        let vmPool = VMPool(backend: backend, settings: PoolSettings(s), log: ctx.progress)
        defer { vmPool.shutdown() }
        try vmPool.warmup()
        let runner = FaultRounds(pool: vmPool, settings: s, progress: ctx.progress)
        let kinds = FaultRounds.vmKinds
        var pooled: [FaultOutcome] = [], cold: [FaultOutcome] = []
        var errors: [String] = []
        // Cold-fallback rounds interleaved (one after every second pooled
        // round), so host load drifts over both alike.
        for i in 0..<rounds {
            let kind = kinds[i % kinds.count]
            vmPool.waitForRefills()
            do { pooled.append(try runner.vmRound(kind, replace: .pool)) } catch { errors.append("\(kind.rawValue) (pool): \(error)") }
            if i % 2 == 1 {
                let coldKind = kinds[(i / 2) % kinds.count]
                do { cold.append(try runner.vmRound(coldKind, replace: .cold)) } catch { errors.append("\(coldKind.rawValue) (cold): \(error)") }
            }
            if let p = pooled.last { ctx.progress(String(format: "  recovery %d/%d %@: %.1f ms via %@", i + 1, rounds, kind.rawValue, p.recoveryMs ?? -1, p.replacementPath ?? "-")) }
        }
        // Refill after a burst: every ready sandbox checked out and killed at once.
        var refill: [Double] = []
        let size = vmPool.settings.size
        for _ in 0..<max(3, rounds / 5) {
            vmPool.waitForRefills()
            let t0 = Monotonic.nanos()
            var burst: [any SandboxVM] = []
            for _ in 0..<size { if let c = try? vmPool.checkout() { burst.append(c.vm) } }
            for vm in burst { vm.kill() }
            for vm in burst { vmPool.release(vm) }
            let end = t0 + 120_000_000_000
            while vmPool.stats().ready < size && Monotonic.nanos() < end { usleep(2_000) }
            if vmPool.stats().ready >= size { refill.append(Measure.ms(since: t0)) } else { errors.append("the pool did not refill within 120 s") }
        }
        let stats = vmPool.stats()
        let all = pooled + cold
        var file = ctx.newFile(scope: "pool", phase: .recovery, iterations: rounds, warmup: 0, loadBefore: load, notes: [
            "recovery_pool_ms: from the fault's injection, through the health checker's verdict (heartbeats every \(s.healthIntervalMs) ms, unhealthy after \(s.healthMissMs) ms unanswered or a closed channel), to a replacement checked out of the warm pool answering its first tool call. recovery_cold_ms: the same with the replacement booted cold (the pool's fallback when no snapshot can be used), interleaved. Faults rotate: \(kinds.map(\.rawValue).joined(separator: ", ")).",
            "replacement paths: \(Dictionary(grouping: pooled.compactMap(\.replacementPath), by: { $0 }).mapValues(\.count).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) (pool: a ready sandbox; template/restore: restored on the spot because the pool was empty).",
            "refill_ms: from checking out and killing every ready sandbox of the pool (\(size)) at once to the pool being full again; refill_per_vm_ms = refill_ms / \(size); restore_ms: the pool's own restores in this run (the calibration).",
            "What the agent loses and keeps: the call in flight on a failed sandbox fails with an error naming the health verdict (none vanishes or hangs: inflight_hung); the failed sandbox's workspace is lost, the replacement starts from the snapshot's.",
        ] + errors.prefix(10).map { "Problem: \($0)" } + all.flatMap(\.problems).prefix(10).map { "Problem: \($0)" })
        let pr = pooled.compactMap(\.recoveryMs), cr = cold.compactMap(\.recoveryMs)
        if !pr.isEmpty { file.add("recovery_pool_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "fault to a pooled replacement's first successful call", series: .init(samples: pr), judged: false)) }
        if !cr.isEmpty { file.add("recovery_cold_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "fault to a cold-booted replacement's first successful call", series: .init(samples: cr), judged: false)) }
        let det = all.compactMap(\.detectionMs)
        if !det.isEmpty { file.add("detection_ms", try MetricSeries(metric: .latency, unit: "ms", description: "fault to the health checker's verdict", series: .init(samples: det), judged: false)) }
        if !refill.isEmpty {
            file.add("refill_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "burst of \(size) failures to a full pool", series: .init(samples: refill), judged: false))
            file.add("refill_per_vm_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "refill time per sandbox", series: .init(samples: refill.map { $0 / Double(size) }), judged: false))
        }
        if !stats.restoreMs.isEmpty { file.add("restore_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "the pool's restores to ready in this run", series: .init(samples: stats.restoreMs), judged: false)) }
        file.add("recovery_errors", try Measure.count(errors.count + all.filter { $0.recoveryMs == nil || !$0.problems.isEmpty }.count, .spawn, "rounds that did not end with a replacement answering"))
        file.add("inflight_hung", try Measure.count(all.filter(\.inFlightHung).count, .latency, "calls in flight that neither failed nor returned within the bound"))
        return [file]
    }
}

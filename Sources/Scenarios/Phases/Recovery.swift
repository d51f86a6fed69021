import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Weeks 9-10: detection and replacement after a failure.
enum RecoveryBenchmarks {
    static let all: [Benchmark] = [replace, frozen]

    static let replace = Benchmark(
        id: "recovery.replace", phase: .recovery, tags: ["recovery"],
        times: "kill a sandbox -> its ping fails -> a replacement spawned cold -> the replacement answers a tool call",
        parameters: { "LUMINAGUARD_RECOVERY_ROUNDS=\($0.recoveryRounds)" }) { ctx in
        let rounds = ctx.settings.recoveryRounds
        let load = ProcProbes.loadAverage1()
        var recovery: [Double] = [], cold: [Double] = []
        var errors = 0
        var vm = try ctx.backend.spawn(SpawnOptions())
        defer { vm.shutdown() }
        for i in 0..<rounds {
            let t0 = Monotonic.nanos()
            vm.kill()
            let detected = (try? vm.session.ping(timeout: 5)) == nil
            vm.shutdown()
            vm = try ctx.backend.spawn(SpawnOptions())
            let answered = (try? vm.session.call(.executeCommand, ["command": .string("echo back")]))?["stdout"]?.string == "back\n"
            if !detected || !answered { errors += 1 }
            recovery.append(Measure.ms(since: t0))
            cold.append(Double(vm.timings.requestToReadyNs) / 1e6)
            ctx.progress(String(format: "  recovery %d/%d: %.1f ms (replacement spawn %.1f ms)", i + 1, rounds, recovery.last!, cold.last!))
        }
        var file = ctx.newFile(scope: "replace", phase: .recovery, iterations: rounds, warmup: 0, loadBefore: load,
                               notes: ["recovery_time_ms: from killing a sandbox to a replacement answering a tool call (detection + cold spawn + call); cold_spawn_ms: the replacement's own spawn to ready."])
        file.add("recovery_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "kill to replacement answering", series: .init(samples: recovery), judged: false))
        file.add("cold_spawn_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "the replacement's spawn to ready", series: .init(samples: cold), judged: false))
        file.add("recovery_errors", try Measure.count(errors, .spawn, "rounds where the kill went unnoticed or the replacement did not answer"))
        return [file]
    }

    static let frozen = Benchmark(
        id: "recovery.frozen", phase: .recovery, tags: ["recovery"],
        times: "QMP stop (guest frozen) -> a ping with a 1 s timeout fails with 'timed out' (time to that error); QMP cont -> the next tool call succeeds",
        parameters: { "LUMINAGUARD_RECOVERY_ROUNDS=\($0.recoveryRounds)" }) { ctx in
        let backend = try ctx.qemu(for: "freezing a guest (QMP stop)")
        let rounds = ctx.settings.recoveryRounds
        let load = ProcProbes.loadAverage1()
        let vm = try backend.spawn(SpawnOptions())
        defer { vm.shutdown() }
        guard let qmp = (vm as? QEMUSandbox)?.qmp else { throw ConfigError("the VM has no QMP channel") }
        var waited: [Double] = []
        var unclear = 0, resumeErrors = 0
        for i in 0..<rounds {
            try qmp.execute("stop")
            let t0 = Monotonic.nanos()
            var message = ""
            do { _ = try vm.session.call(.ping, timeout: 1) } catch { message = "\(error)" }
            waited.append(Measure.ms(since: t0))
            if !message.contains("timed out") { unclear += 1 }
            try qmp.execute("cont")
            // The late answer to the timed-out ping is dropped; the next call lines up.
            let echoed = (try? vm.session.call(.executeCommand, ["command": .string("echo resumed \(i)")], timeout: 10))?["stdout"]?.string
            if echoed != "resumed \(i)\n" { resumeErrors += 1 }
        }
        var file = ctx.newFile(scope: "frozen", phase: .recovery, iterations: rounds, warmup: 0, loadBefore: load,
                               notes: ["timeout_ms: from a ping sent to a frozen guest (QMP stop) to its 'timed out' error, with a 1 s timeout."])
        file.add("timeout_ms", try MetricSeries(metric: .latency, unit: "ms", description: "call to a frozen guest -> timed-out error", series: .init(samples: waited), judged: false))
        file.add("unclear_errors", try Measure.count(unclear, .latency, "calls to a frozen guest that did not fail with 'timed out'"))
        file.add("resume_errors", try Measure.count(resumeErrors, .latency, "calls after resume that failed"))
        return [file]
    }
}

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

/// Weeks 7-8: faults injected into running sandboxes.
enum ChaosBenchmarks {
    static let all: [Benchmark] = [vmKill, partition]

    static let vmKill = Benchmark(
        id: "chaos.vm_kill", phase: .chaos, tags: ["chaos"],
        times: "per round, two sandboxes: SIGKILL of the first's VMM while a tool call is in flight -> that call failing in the harness; the second's call running across the kill must succeed",
        parameters: { "LUMINAGUARD_CHAOS_ROUNDS=\($0.chaosRounds)" }) { ctx in
        let rounds = ctx.settings.chaosRounds
        let load = ProcProbes.loadAverage1()
        var detection: [Double] = []
        var survivorErrors = 0, undetected = 0
        for i in 0..<rounds {
            let r = Concurrency.spawn(backend: ctx.backend, count: 2, parallel: 2)
            defer { r.vms.forEach { $0.shutdown() } }
            guard r.vms.count == 2 else { throw ConfigError("round \(i + 1): two sandboxes did not start: \(r.failures)") }
            let victim = r.vms[0], survivor = r.vms[1]
            let killedAt = Collector<UInt64>()
            let killer = Thread { usleep(200_000); killedAt.append(Monotonic.nanos()); kill(victim.pid, SIGKILL) }
            killer.start()
            let survivorResult = Collector<Bool>()
            let other = Thread {
                let ok = (try? survivor.session.call(.executeCommand, ["command": .string("sleep 1; echo alive")], timeout: 30))?["stdout"]?.string == "alive\n"
                survivorResult.append(ok)
            }
            other.start()
            var failed = false
            do { _ = try victim.session.call(.executeCommand, ["command": .string("sleep 20")], timeout: 30) } catch { failed = true }
            let failedAt = Monotonic.nanos()
            while survivorResult.items.isEmpty || killedAt.items.isEmpty { usleep(5000) }
            if survivorResult.items != [true] { survivorErrors += 1 }
            if failed, let k = killedAt.items.first { detection.append(Double(failedAt - k) / 1e6) } else { undetected += 1 }
            ctx.progress(String(format: "  kill round %d/%d: %@", i + 1, rounds, failed ? String(format: "call failed %.1f ms after the kill", detection.last ?? 0) : "the call did NOT fail"))
        }
        var file = ctx.newFile(scope: "vm_kill", phase: .chaos, iterations: rounds, warmup: 0, loadBefore: load,
                               notes: ["failure_detection_ms: from SIGKILL of a VM with a tool call in flight to that call failing in the harness."])
        file.add("failure_detection_ms", try MetricSeries(metric: .latency, unit: "ms", description: "killed VM to failed call", series: .init(samples: detection), judged: false))
        file.add("undetected_kills", try Measure.count(undetected, .latency, "kills whose in-flight call did not fail"))
        file.add("survivor_errors", try Measure.count(survivorErrors, .latency, "calls of the unharmed sandbox that failed across a kill"))
        return [file]
    }

    static let partition = Benchmark(
        id: "chaos.partition", phase: .chaos, tags: ["chaos"],
        times: "QMP set_link nic0 off: a TCP echo must not cross and the agent channel must keep answering; set_link on -> the first echo through a new TCP connection (heal time)",
        parameters: { "LUMINAGUARD_CHAOS_ROUNDS=\($0.chaosRounds)" }) { ctx in
        let backend = try ctx.qemu(for: "a network partition (QMP set_link)")
        let cycles = ctx.settings.chaosRounds
        let load = ProcProbes.loadAverage1()
        let vm = try backend.spawn(SpawnOptions(network: true))
        defer { vm.shutdown() }
        guard let q = vm as? QEMUSandbox, let port = q.echoPort, let qmp = q.qmp else { throw ConfigError("the VM has no network or QMP") }
        _ = try SandboxProbes.networkRoundTripsMs(port: port, count: 3, warmup: 1)
        var heal: [Double] = []
        var crossed = 0, channelErrors = 0
        for _ in 0..<cycles {
            try qmp.execute("set_link", ["name": .string("nic0"), "up": .bool(false)])
            if (try? SandboxProbes.networkRoundTripsMs(port: port, count: 1, warmup: 0, timeout: 1)) != nil { crossed += 1 }
            if ((try? vm.session.ping()) ?? 0) <= 0 { channelErrors += 1 }
            let t0 = Monotonic.nanos()
            try qmp.execute("set_link", ["name": .string("nic0"), "up": .bool(true)])
            _ = try SandboxProbes.networkRoundTripsMs(port: port, count: 1, warmup: 0, timeout: 10)
            heal.append(Measure.ms(since: t0))
        }
        var file = ctx.newFile(scope: "partition", phase: .chaos, iterations: cycles, warmup: 0, loadBefore: load,
                               notes: ["Partition: QMP set_link nic0 off; partition_heal_ms: from set_link on to the first echo through a new TCP connection (includes the client's TCP retransmission timer)."])
        file.add("partition_heal_ms", try MetricSeries(metric: .network, unit: "ms", description: "link up to first echo", series: .init(samples: heal), judged: false))
        file.add("traffic_crossed", try Measure.count(crossed, .network, "echoes that crossed a partition"))
        file.add("agent_channel_errors", try Measure.count(channelErrors, .network, "agent pings that failed during a partition"))
        return [file]
    }
}

import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import VMFixtures

/// What jailing QEMU (``QEMUJail``: seccomp filter, unprivileged user,
/// chroot, its own cgroup) costs: cold spawns and tool calls, jailed and
/// unjailed, interleaved in one run (A B, B A, ...) so that the host's load
/// falls on both alike; quoted as jailed/unjailed ratios of medians.
enum QEMUJailBenchmarks {
    static let pairsCap = 5
    static let callsPerVM = 20

    static let cost = Benchmark(
        id: "production.qemu_jail", phase: .production, tags: ["production", "spawn", "latency"],
        times: "cold spawn (request -> agent answers a ping) and list_directory round trips through the agent, for a jailed and an unjailed QEMU in alternating order; each VM shut down before the next",
        inPhaseRun: false,
        parameters: { "pairs = min(ITERATIONS, \(pairsCap)) = \(min($0.iterations, pairsCap)), \(callsPerVM) calls per VM" }) { ctx in
        let plain = try ctx.qemu(for: "the QEMU jail's cost")
        if let why = QEMUJail.unavailableReason() { throw BenchmarkNotApplicable("\(why)") }
        var jailed = plain
        jailed.jail = QEMUJail()
        let pairs = min(ctx.settings.iterations, pairsCap)
        let load = ProcProbes.loadAverage1()
        var spawn: [Bool: [Double]] = [true: [], false: []], call: [Bool: [Double]] = [true: [], false: []]
        var notJailed = 0
        for i in 0..<pairs {
            for isJailed in (i % 2 == 0 ? [false, true] : [true, false]) {
                let vm = try (isJailed ? jailed : plain).spawn(SpawnOptions())
                defer { vm.shutdown() }
                spawn[isJailed]!.append(Double(vm.timings.requestToReadyNs) / 1e6)
                // The jail took: QEMU runs as the unprivileged user.
                if isJailed, realUID(of: vm.pid) != Int(ProcessJail.uid) { notJailed += 1 }
                for _ in 0..<callsPerVM {
                    let t0 = Monotonic.nanos()
                    _ = try vm.session.call(.listDirectory, [:])
                    call[isJailed]!.append(Measure.ms(since: t0))
                }
            }
            ctx.progress(String(format: "  pair %d/%d: spawn unjailed %.0f ms, jailed %.0f ms", i + 1, pairs, spawn[false]!.last!, spawn[true]!.last!))
        }
        let spawnRatio = try Summary(spawn[true]!).median / Summary(spawn[false]!).median
        let callRatio = try Summary(call[true]!).median / Summary(call[false]!).median
        var file = ctx.newFile(scope: "qemu_jail", phase: .production, backend: plain, iterations: pairs, warmup: 0, loadBefore: load,
                               notes: [String(format: "Jailed/unjailed ratio of medians, one run, interleaved: cold spawn %.2fx, tool call (list_directory) %.2fx.", spawnRatio, callRatio),
                                       "Jail: QEMU started as uid 65534 under bubblewrap (read-only /usr, its run directory, kernel and initramfs passed open; own pid/ipc/uts/mount/net namespaces), -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny, own cgroup (memory: guest RAM + 256 MB, pids 64). Restores are not jailed (exec: migration needs spawn)."])
        file.add("cold_spawn_unjailed_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold spawn, QEMU as the harness's user", series: .init(samples: spawn[false]!), judged: false))
        file.add("cold_spawn_jailed_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold spawn, QEMU jailed", series: .init(samples: spawn[true]!), judged: false))
        file.add("tool_call_unjailed_ms", try MetricSeries(metric: .latency, unit: "ms", description: "list_directory round trip, unjailed QEMU", series: .init(samples: call[false]!), judged: false))
        file.add("tool_call_jailed_ms", try MetricSeries(metric: .latency, unit: "ms", description: "list_directory round trip, jailed QEMU", series: .init(samples: call[true]!), judged: false))
        file.add("cold_spawn_jail_ratio", try MetricSeries(metric: .spawn, unit: "ratio", description: "median jailed / median unjailed cold spawn", series: .init(samples: [spawnRatio]), judged: false))
        file.add("tool_call_jail_ratio", try MetricSeries(metric: .latency, unit: "ratio", description: "median jailed / median unjailed tool call", series: .init(samples: [callRatio]), judged: false))
        file.add("jail_not_applied", try Measure.count(notJailed, .spawn, "jailed VMs whose QEMU did not run as the unprivileged user"))
        return [file]
    }

    /// The real user id of `pid` (/proc/PID/status), nil if it is gone.
    static func realUID(of pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { Int($0) }
    }
}

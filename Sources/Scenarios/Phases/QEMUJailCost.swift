import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import VMFixtures

/// What jailing QEMU (``QEMUJail``: seccomp filter, unprivileged user,
/// bubblewrap view, its own cgroup) costs: cold spawns, templated restores,
/// memory per restored VM and tool calls, jailed and unjailed, interleaved in
/// one run (A B, B A, ...) so that the host's load falls on both alike;
/// quoted as jailed/unjailed ratios of medians, and the jailed restore as a
/// ratio to the platform floor of the same run (its restore budget).
enum QEMUJailBenchmarks {
    static let pairsCap = 5
    static let callsPerVM = 20
    /// Restored VMs alive at once per kind and round: PSS counts the
    /// template's pages they share.
    static let restoresPerRound = 2

    static let cost = Benchmark(
        id: "production.qemu_jail", phase: .production, tags: ["production", "spawn", "latency"],
        times: "cold spawn (request -> agent answers a ping) and list_directory round trips through the agent, templated restore (request -> agent answers a ping; \(restoresPerRound) alive at once, PSS of each VM's process tree) for a jailed and an unjailed QEMU in alternating order; each VM shut down before the next kind; one platform floor boot per pair",
        inPhaseRun: false,
        parameters: { "pairs = min(ITERATIONS, \(pairsCap)) = \(min($0.iterations, pairsCap)), \(callsPerVM) calls per VM, \(restoresPerRound) restores per kind and pair" }) { ctx in
        let plain = try ctx.qemu(for: "the QEMU jail's cost")
        if let why = QEMUJail.unavailableReason() { throw BenchmarkNotApplicable("\(why)") }
        var jailed = plain
        jailed.jail = QEMUJail()
        let pool = PoolSettings(ctx.settings)
        let plainStore = SnapshotStore(root: pool.snapshotPath, backend: plain, template: true)
        let jailedStore = SnapshotStore(root: pool.snapshotPath, backend: jailed, template: true)
        let snapshot = try plainStore.loadOrCreate(maxAge: nil, log: ctx.progress).0
        // Made once per process (mcp-server: at each start), then shared: timed apart.
        let sealed = try snapshot.sealedRAM()
        let pairs = min(ctx.settings.iterations, pairsCap)
        let load = ProcProbes.loadAverage1()
        var spawn: [Bool: [Double]] = [true: [], false: []], call: [Bool: [Double]] = [true: [], false: []]
        var restore: [Bool: [Double]] = [true: [], false: []], pss: [Bool: [Double]] = [true: [], false: []]
        var floor: [Double] = []
        var notJailed = 0
        for i in 0..<pairs {
            floor.append(try PlatformFloor.measure(backend: plain))
            for isJailed in (i % 2 == 0 ? [false, true] : [true, false]) {
                do {
                    let vm = try (isJailed ? jailed : plain).spawn(SpawnOptions())
                    defer { vm.shutdown() }
                    spawn[isJailed]!.append(Double(vm.timings.requestToReadyNs) / 1e6)
                    if isJailed, !confined(vm) { notJailed += 1 }
                    for _ in 0..<callsPerVM {
                        let t0 = Monotonic.nanos()
                        _ = try vm.session.call(.listDirectory, [:])
                        call[isJailed]!.append(Measure.ms(since: t0))
                    }
                }
                var restored: [any SandboxVM] = []
                defer { for vm in restored { vm.shutdown() } }
                for _ in 0..<restoresPerRound {
                    let vm = try (isJailed ? jailedStore : plainStore).restore(snapshot)
                    restored.append(vm)
                    restore[isJailed]!.append(Double(vm.timings.requestToReadyNs) / 1e6)
                    if isJailed, !confined(vm) { notJailed += 1 }
                }
                // The guest has run: one tool call each, then its memory as it stands.
                for vm in restored {
                    _ = try vm.session.call(.listDirectory, [:])
                    pss[isJailed]!.append(Double(try ProcProbes.treeMemory(of: vm.pid).pssBytes) / 1_048_576)
                }
            }
            ctx.progress(String(format: "  pair %d/%d: spawn unjailed %.0f ms, jailed %.0f ms; restore unjailed %.0f ms, jailed %.0f ms; floor %.0f ms",
                                i + 1, pairs, spawn[false]!.last!, spawn[true]!.last!, restore[false]!.last!, restore[true]!.last!, floor.last!))
        }
        func ratio(_ m: [Bool: [Double]]) throws -> Double { try Summary(m[true]!).median / Summary(m[false]!).median }
        let spawnRatio = try ratio(spawn), callRatio = try ratio(call), restoreRatio = try ratio(restore), pssRatio = try ratio(pss)
        let floorRatio = try Summary(restore[true]!).median / Summary(floor).median
        var file = ctx.newFile(scope: "qemu_jail", phase: .production, backend: plain, iterations: pairs, warmup: 0, loadBefore: load,
                               notes: [String(format: "Jailed/unjailed ratio of medians, one run, interleaved: cold spawn %.2fx, templated restore %.2fx, PSS per restored VM %.2fx, tool call (list_directory) %.2fx. Jailed restore / platform floor: %.3f.", spawnRatio, restoreRatio, pssRatio, callRatio, floorRatio),
                                       "Jail: QEMU started as uid 65534 under bubblewrap (read-only /usr, its run directory, kernel and initramfs passed open; own pid/ipc/uts/mount/net namespaces), -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny, own cgroup (memory: guest RAM + 256 MB, pids 64). A jailed restore reads its state from a descriptor (migrate-incoming fd:) and maps a sealed memfd copy of the template's RAM; an unjailed one maps the template's file.",
                                       String(format: "Sealed copy of the template's RAM: %.1f ms, %.1f MiB of non-zero pages (once per process, before the timed restores; lgperf mcp-server pays it at each start). PSS: each VM's process tree (jailed: bubblewrap's two processes too) with %d restored VMs of the kind alive.", sealed.copyMs, Double(sealed.copiedBytes) / 1_048_576, restoresPerRound)])
        file.add(PlatformFloor.seriesName, try PlatformFloor.series(samples: floor))
        file.add("cold_spawn_unjailed_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold spawn, QEMU as the harness's user", series: .init(samples: spawn[false]!), judged: false))
        file.add("cold_spawn_jailed_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold spawn, QEMU jailed", series: .init(samples: spawn[true]!), judged: false))
        file.add("template_restore_unjailed_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "templated restore to ready, QEMU as the harness's user", series: .init(samples: restore[false]!), judged: false))
        file.add("template_restore_jailed_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "templated restore to ready, QEMU jailed (sealed RAM copy)", series: .init(samples: restore[true]!), judged: false))
        file.add("restored_pss_unjailed_mb", try MetricSeries(metric: .memory, unit: "MiB", description: "PSS of a restored VM's process tree, unjailed", series: .init(samples: pss[false]!), judged: false))
        file.add("restored_pss_jailed_mb", try MetricSeries(metric: .memory, unit: "MiB", description: "PSS of a restored VM's process tree, jailed", series: .init(samples: pss[true]!), judged: false))
        file.add("tool_call_unjailed_ms", try MetricSeries(metric: .latency, unit: "ms", description: "list_directory round trip, unjailed QEMU", series: .init(samples: call[false]!), judged: false))
        file.add("tool_call_jailed_ms", try MetricSeries(metric: .latency, unit: "ms", description: "list_directory round trip, jailed QEMU", series: .init(samples: call[true]!), judged: false))
        file.add("template_ram_seal_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "copying the template's non-zero RAM pages into a sealed memfd (once per process)", series: .init(samples: [sealed.copyMs]), judged: false))
        file.add("cold_spawn_jail_ratio", try MetricSeries(metric: .spawn, unit: "ratio", description: "median jailed / median unjailed cold spawn", series: .init(samples: [spawnRatio]), judged: false))
        file.add("restore_jail_ratio", try MetricSeries(metric: .spawn, unit: "ratio", description: "median jailed / median unjailed templated restore", series: .init(samples: [restoreRatio]), judged: false))
        file.add("restored_pss_jail_ratio", try MetricSeries(metric: .memory, unit: "ratio", description: "median jailed / median unjailed PSS per restored VM", series: .init(samples: [pssRatio]), judged: false))
        file.add("tool_call_jail_ratio", try MetricSeries(metric: .latency, unit: "ratio", description: "median jailed / median unjailed tool call", series: .init(samples: [callRatio]), judged: false))
        file.add("jailed_restore_floor_ratio", try MetricSeries(metric: .spawn, unit: "ratio", description: "median jailed templated restore / median platform floor (budget: restore_median_floor_ratio)", series: .init(samples: [floorRatio]), judged: false))
        file.add("jail_not_applied", try Measure.count(notJailed, .spawn, "jailed VMs whose QEMU was not uid 65534 with a seccomp filter"))
        return [file]
    }

    /// The jail took: its QEMU runs as the unprivileged user under a seccomp filter.
    static func confined(_ vm: any SandboxVM) -> Bool {
        guard let q = vm as? QEMUSandbox else { return false }
        return QEMUJail.status(of: q)?.confined == true
    }
}

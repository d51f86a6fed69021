import Foundation
import Testing
import AgentProtocol
import HostProbes
import PerfMetrics
import PerfStats
import Scenarios
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

extension Fixture {
    /// A count from the environment (validated), else quick/full defaults.
    static func count(_ name: String, quick: Int, full: Int) throws -> Int {
        let quickMode = ProcessInfo.processInfo.environment["ITERATIONS"] == nil
        return try EnvironmentSettings.integer(name, default: quickMode ? quick : full, range: 1...1000)
    }

    static func ms(since t0: UInt64) -> Double { Double(Monotonic.nanos() - t0) / 1e6 }
}

extension Validation {
@Suite(.tags(.scale))
struct `Scale: 5-10 concurrent sandboxes [tag:scale]` {
    @Test func `spawn, memory and tool latency with sandboxes running side by side`() throws {
        let backend = try Fixture.backend()
        let n = try Fixture.count("LUMINAGUARD_SCALE_VMS", quick: 5, full: 10)
        let load = ProcProbes.loadAverage1()
        let r = Concurrency.spawn(backend: backend, count: n, parallel: n)
        defer { r.vms.forEach { $0.shutdown() }; Fixture.expectNoVMLeft() }
        #expect(r.failures.isEmpty, "spawn failures: \(r.failures)")
        #expect(r.vms.count == n)
        var latency: [Double] = []
        for _ in 0..<5 {
            let round = Concurrency.callAll(r.vms, .listDirectory, ["path": .string(".")])
            #expect(round.failures.isEmpty, "call failures: \(round.failures)")
            latency += round.ms
        }
        let pss = r.vms.compactMap { try? ProcProbes.memory(of: $0.pid).pssMB }
        #expect(pss.count == n)
        var file = RunContext.newFile(scope: "concurrency", phase: .scale, backend: backend, iterations: n, warmup: 0, loadBefore: load,
                                      notes: ["\(n) sandboxes spawned at once; spawn_time_ms is each one's spawn-to-ready under that contention (\(ProcessInfo.processInfo.activeProcessorCount) cores).",
                                              "tool_latency_ms: list_directory calls sent to all sandboxes at once, 5 rounds."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) at once", series: .init(samples: r.spawnMs), judged: true))
        file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per sandbox with \(n) running", series: .init(samples: pss), judged: true))
        file.add("total_pss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS of all \(n) sandboxes", series: .init(samples: [pss.reduce(0, +)]), judged: false))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "concurrent tool call round trip", series: .init(samples: latency), judged: true))
        let checked = try Fixture.writeAndCheck(file)
        #expect(checked["tool_latency_ms"]?.count == 5 * n)
    }
}

@Suite(.tags(.exhaustion))
struct `Exhaustion: 100+ sandboxes and admission control [tag:exhaustion]` {
    @Test func `120 agent processes at once all answer`() throws {
        let backend = try Fixture.processBackend()
        let n = 120
        let load = ProcProbes.loadAverage1()
        let r = Concurrency.spawn(backend: backend, count: n, parallel: 16)
        defer { r.vms.forEach { $0.shutdown() }; Fixture.expectNoVMLeft() }
        #expect(r.failures.isEmpty, "\(r.failures.prefix(3))")
        let calls = Concurrency.callAll(r.vms, .ping, [:])
        #expect(calls.failures.isEmpty && calls.ms.count == n)
        var file = RunContext.newFile(scope: "agents", phase: .exhaustion, backend: backend, iterations: n, warmup: 0, loadBefore: load,
                                      notes: ["\(n) guest agents as processes (no VMs) spawned 16 at a time and pinged at once."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) agents", series: .init(samples: r.spawnMs), judged: true))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping with \(n) agents answering at once", series: .init(samples: calls.ms), judged: true))
        _ = try Fixture.writeAndCheck(file)
    }

    @Test func `VMs up to what memory allows, and a clear refusal beyond`() throws {
        let backend = try Fixture.backend()
        let load = ProcProbes.loadAverage1()
        // Per-VM footprint measured, not assumed.
        let probe = try backend.spawn(SpawnOptions())
        let perVM = try ProcProbes.memory(of: probe.pid).pssMB
        probe.shutdown()
        let planner = CapacityPlanner(perVMMB: max(perVM, 1))
        let capacity = planner.capacity()
        #expect(capacity > 0)
        #expect { try planner.admit(capacity + 1) } throws: { "\($0)".contains("refusing to start") && "\($0)".contains("fit in the available memory") }
        let wanted = try Fixture.count("LUMINAGUARD_EXHAUSTION_VMS", quick: 20, full: 100)
        let n = min(wanted, capacity)
        try planner.admit(n)
        let t0 = Monotonic.nanos()
        let r = Concurrency.spawn(backend: backend, count: n, parallel: 4)
        let wall = Fixture.ms(since: t0)
        defer { r.vms.forEach { $0.shutdown() }; Fixture.expectNoVMLeft() }
        #expect(r.failures.isEmpty, "\(r.failures.prefix(3))")
        let calls = Concurrency.callAll(r.vms, .ping, [:])
        #expect(calls.failures.isEmpty, "\(calls.failures.prefix(3))")
        let pss = r.vms.compactMap { try? ProcProbes.memory(of: $0.pid).pssMB }
        var file = RunContext.newFile(scope: "vms", phase: .exhaustion, backend: backend, iterations: n, warmup: 0, loadBefore: load,
                                      notes: ["\(n) sandboxes (of \(wanted) wanted; capacity by available memory \(capacity)) spawned 4 at a time in \(Int(wall)) ms, then all pinged at once.",
                                              "MemAvailable after: \(Int(ProcProbes.memAvailableMB() ?? 0)) MB."])
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn to ready, \(n) VMs, 4 at a time", series: .init(samples: r.spawnMs), judged: true))
        file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per VM with \(n) running", series: .init(samples: pss), judged: true))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping with \(n) VMs answering at once", series: .init(samples: calls.ms), judged: true))
        _ = try Fixture.writeAndCheck(file)
    }
}

@Suite(.tags(.chaos))
struct `Chaos: killed VMs and network partitions [tag:chaos]` {
    @Test func `a VM killed mid-call fails that call fast and leaves the others working`() throws {
        let backend = try Fixture.backend()
        let rounds = try Fixture.count("LUMINAGUARD_CHAOS_ROUNDS", quick: 3, full: 10)
        let load = ProcProbes.loadAverage1()
        var detection: [Double] = []
        for _ in 0..<rounds {
            let r = Concurrency.spawn(backend: backend, count: 2, parallel: 2)
            defer { r.vms.forEach { $0.shutdown() } }
            try #require(r.vms.count == 2, "\(r.failures)")
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
            #expect(throws: (any Error).self) { try victim.session.call(.executeCommand, ["command": .string("sleep 20")], timeout: 30) }
            let failedAt = Monotonic.nanos()
            while survivorResult.items.isEmpty { usleep(5000) }
            #expect(survivorResult.items == [true], "the other VM must keep working")
            let k = try #require(killedAt.items.first)
            detection.append(Double(failedAt - k) / 1e6)
        }
        Fixture.expectNoVMLeft()
        var file = RunContext.newFile(scope: "vm_kill", phase: .chaos, backend: backend, iterations: rounds, warmup: 0, loadBefore: load,
                                      notes: ["failure_detection_ms: from SIGKILL of a VM with a tool call in flight to that call failing in the harness."])
        file.add("failure_detection_ms", try MetricSeries(metric: .latency, unit: "ms", description: "killed VM to failed call", series: .init(samples: detection), judged: false))
        let checked = try Fixture.writeAndCheck(file)
        #expect(try #require(checked["failure_detection_ms"]).max < 2000)
    }

    @Test func `a network partition stops traffic, spares the agent channel, and heals`() throws {
        let backend = try Fixture.qemu()
        let cycles = try Fixture.count("LUMINAGUARD_CHAOS_ROUNDS", quick: 3, full: 10)
        let load = ProcProbes.loadAverage1()
        let vm = try backend.spawn(SpawnOptions(network: true))
        defer { vm.shutdown(); Fixture.expectNoVMLeft() }
        let q = try #require(vm as? QEMUSandbox)
        let port = try #require(q.echoPort)
        let qmp = try #require(q.qmp)
        _ = try SandboxProbes.networkRoundTripsMs(port: port, count: 3, warmup: 1)
        var heal: [Double] = []
        for _ in 0..<cycles {
            try qmp.execute("set_link", ["name": .string("nic0"), "up": .bool(false)])
            #expect(throws: (any Error).self, "traffic crossed a partition") {
                _ = try SandboxProbes.networkRoundTripsMs(port: port, count: 1, warmup: 0, timeout: 1)
            }
            #expect(try vm.session.ping() > 0, "the agent channel is not part of the network")
            let t0 = Monotonic.nanos()
            try qmp.execute("set_link", ["name": .string("nic0"), "up": .bool(true)])
            _ = try SandboxProbes.networkRoundTripsMs(port: port, count: 1, warmup: 0, timeout: 10)
            heal.append(Fixture.ms(since: t0))
        }
        var file = RunContext.newFile(scope: "partition", phase: .chaos, backend: backend, iterations: cycles, warmup: 0, loadBefore: load,
                                      notes: ["Partition: QMP set_link nic0 off; heal_time_ms: from set_link on to the first echo through a new TCP connection."])
        file.add("partition_heal_ms", try MetricSeries(metric: .network, unit: "ms", description: "link up to first echo", series: .init(samples: heal), judged: false))
        _ = try Fixture.writeAndCheck(file)
    }
}

@Suite(.tags(.recovery))
struct `Recovery: detection and replacement [tag:recovery]` {
    @Test func `a killed sandbox is detected and replaced`() throws {
        let backend = try Fixture.backend()
        let rounds = try Fixture.count("LUMINAGUARD_RECOVERY_ROUNDS", quick: 3, full: 10)
        let load = ProcProbes.loadAverage1()
        var recovery: [Double] = []
        var vm = try backend.spawn(SpawnOptions())
        for _ in 0..<rounds {
            let t0 = Monotonic.nanos()
            vm.kill()
            #expect(throws: (any Error).self) { try vm.session.ping(timeout: 5) }
            vm.shutdown()
            vm = try backend.spawn(SpawnOptions())
            #expect(try vm.session.call(.executeCommand, ["command": .string("echo back")])["stdout"]?.string == "back\n")
            recovery.append(Fixture.ms(since: t0))
        }
        vm.shutdown()
        Fixture.expectNoVMLeft()
        var file = RunContext.newFile(scope: "replace", phase: .recovery, backend: backend, iterations: rounds, warmup: 0, loadBefore: load,
                                      notes: ["recovery_time_ms: from killing a sandbox to a replacement answering a tool call (detection + cold spawn + call)."])
        file.add("recovery_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "kill to replacement answering", series: .init(samples: recovery), judged: false))
        _ = try Fixture.writeAndCheck(file)
    }

    @Test func `a frozen guest times out with a clear error and recovers when resumed`() throws {
        let backend = try Fixture.qemu()
        let vm = try backend.spawn(SpawnOptions())
        defer { vm.shutdown(); Fixture.expectNoVMLeft() }
        let qmp = try #require((vm as? QEMUSandbox)?.qmp)
        try qmp.execute("stop")
        let t0 = Monotonic.nanos()
        #expect { try vm.session.call(.ping, timeout: 1) } throws: { "\($0)".contains("timed out") }
        let waited = Fixture.ms(since: t0)
        #expect(waited >= 1000 && waited < 3000)
        try qmp.execute("cont")
        // The late answer to the timed-out ping is dropped; the next call lines up.
        #expect(try vm.session.call(.executeCommand, ["command": .string("echo resumed")], timeout: 10)["stdout"]?.string == "resumed\n")
    }
}

@Suite(.tags(.production))
struct `Production: soak without leaks [tag:production]` {
    @Test func `repeated spawn, work and shutdown leaks no descriptors, memory or processes`() throws {
        let backend = try Fixture.backend()
        let cycles = try Fixture.count("LUMINAGUARD_SOAK_CYCLES", quick: 10, full: 100)
        let load = ProcProbes.loadAverage1()
        func openFDs() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        // One cycle first so lazily created state (caches, thread pools) exists.
        try Self.cycle(backend)
        let fdsBefore = openFDs()
        let rssBefore = try ProcProbes.selfMemory().rssMB
        var times: [Double] = [], rss: [Double] = []
        for _ in 0..<cycles {
            let t0 = Monotonic.nanos()
            try Self.cycle(backend)
            times.append(Fixture.ms(since: t0))
            rss.append(try ProcProbes.selfMemory().rssMB)
        }
        Fixture.expectNoVMLeft()
        #expect(openFDs() <= fdsBefore, "descriptors leaked: \(fdsBefore) -> \(openFDs())")
        #expect(rss.last! - rssBefore < 20, "harness RSS grew \(rss.last! - rssBefore) MB over \(cycles) cycles")
        var file = RunContext.newFile(scope: "soak", phase: .production, backend: backend, iterations: cycles, warmup: 1, loadBefore: load,
                                      notes: ["Each cycle: spawn, write/read/list/search/execute in the guest, shut down. Harness RSS after each cycle."])
        file.add("cycle_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn + 5 tool calls + shutdown", series: .init(samples: times), judged: false))
        file.add("harness_rss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "harness RSS after each cycle", series: .init(samples: rss), judged: false))
        _ = try Fixture.writeAndCheck(file)
    }

    static func cycle(_ backend: any VMBackend) throws {
        let vm = try backend.spawn(SpawnOptions())
        defer { vm.shutdown() }
        let s = vm.session
        _ = try s.call(.writeFile, ["path": .string("a.txt"), "content": .string("soak")])
        _ = try s.call(.readFile, ["path": .string("a.txt")])
        _ = try s.call(.listDirectory, [:])
        _ = try s.call(.search, ["pattern": .string("soak")])
        _ = try s.call(.executeCommand, ["command": .string("true")])
    }
}
}

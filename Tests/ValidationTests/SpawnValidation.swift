import Foundation
import Testing
import HostProbes
import PerfMetrics
import Scenarios
import VMFixtures

extension Validation {
@Suite(.tags(.spawn, .baseline))
struct `VM spawn [tag:spawn] [tag:baseline]` {
    @Test func `cold boot to agent-ready, labelled and within budget`() throws {
        let backend = try Fixture.backend()
        let config = try Fixture.config()
        let load = ProcProbes.loadAverage1()
        let boots = try BootSeries.run(backend: backend, config: config, progress: Fixture.log)
        Fixture.expectNoVMLeft()
        let file = try Fixture.writeAndCheck(try BootSeries.spawnFile(backend: backend, config: config, warmup: boots.warmup,
                                                                      measured: boots.measured, loadBefore: load))
        let spawn = try #require(file["spawn_time_ms"])
        #expect(spawn.count == config.iterations)
        #expect(file.labels.backend == backend.kind.rawValue && file.labels.accelerator == backend.accelerator.rawValue)
        if backend.kind == .qemu {
            // The guest really booted: its kernel reported its own uptime.
            #expect(file["guest_kernel_to_init_ms"] != nil)
            #expect(file.tools["guest_image"] != nil)
            // The guest's clock runs at the host's rate: boot by boot, its own
            // kernel-to-agent time fits inside the host's VMM-start-to-hello.
            let inGuest = try #require(file["guest_kernel_to_agent_ms"]).samples
            let hostSeen = try #require(file["agent_hello_ms"]).samples
            for (g, h) in zip(inGuest, hostSeen) { #expect(g < h, "guest says \(g) ms, the host saw \(h) ms") }
        }
        // Judged honestly against the guide's target, whatever the backend.
        #expect(spawn.meetsTarget == (spawn.median < 200))
        if backend.accelerator != .kvm && spawn.median >= 200 {
            #expect(file.labels.caveat != nil, "an emulated number below target must carry its caveat")
        }
        if backend.kind == .qemu {
            // The platform floor was booted beside every spawn, warm-ups included.
            let floor = try #require(file[PlatformFloor.seriesName])
            #expect(floor.count == config.iterations && floor.warmupSamples.count == config.warmup)
            #expect(file.notes.contains { $0.contains("spawn median / floor median") })
        }
        Fixture.expectWithinBudget(try Budget.checks(for: file, backend: backend))
    }

    @Test func `process backend numbers say process`() throws {
        let backend = try Fixture.processBackend()
        let config = RunConfig(iterations: 5, warmup: 1, quick: true)
        let boots = try BootSeries.run(backend: backend, config: config)
        Fixture.expectNoVMLeft()
        let file = try BootSeries.spawnFile(backend: backend, config: config, warmup: boots.warmup, measured: boots.measured, loadBefore: nil)
        #expect(file.labels.backend == "process" && file.labels.accelerator == "none")
        #expect(file.labels.caveat?.contains("no VM") == true)
        #expect(try file.encoded().count > 0)
        #expect(file[PlatformFloor.seriesName] == nil, "the process backend has no VM and no floor")
        Fixture.expectWithinBudget(try Budget.checks(for: file, backend: backend))
    }
}

@Suite(.tags(.memory, .baseline))
struct `VM memory [tag:memory] [tag:baseline]` {
    @Test func `per-VM RSS, PSS and VMM overhead after a standard workload`() throws {
        let backend = try Fixture.backend()
        let config = RunConfig(iterations: min(5, try Fixture.config().iterations), warmup: 1, quick: true)
        let load = ProcProbes.loadAverage1()
        // Memory budgets are absolute: no floor boots needed here.
        let boots = try BootSeries.run(backend: backend, config: config, floor: false, progress: Fixture.log)
        Fixture.expectNoVMLeft()
        let peak = try ProcProbes.selfMemory().peakRSSMB
        let file = try Fixture.writeAndCheck(try BootSeries.memoryFile(backend: backend, config: config, warmup: boots.warmup,
                                                                       measured: boots.measured, loadBefore: load, harnessPeakMB: peak))
        let pss = try #require(file["memory_mb"])
        let rss = try #require(file["vm_rss_mb"])
        #expect(pss.median > 1 && pss.median <= rss.max + 0.001, "PSS cannot exceed RSS")
        #expect(pss.meetsTarget == (pss.median < 200))
        #expect(try #require(file["harness_peak_rss_mb"]).median > 1)
        if backend.kind != .process {
            let overhead = try #require(file["vmm_overhead_mb"])
            #expect(overhead.median > 0 && overhead.median < rss.median, "overhead excludes guest RAM, so it is below RSS")
        }
        Fixture.expectWithinBudget(try Budget.checks(for: file, backend: backend))
    }
}

/// A benchmark of the harness itself, not of the sandbox: not in the baseline run.
@Suite(.tags(.spawn))
struct `Harness overhead [tag:spawn]` {
    @Test func `the harness adds at most 5 percent over a hand-started QEMU`() throws {
        let backend = try Fixture.qemu()
        let pairs = max(5, min(20, (try Fixture.config()).iterations))
        let r = try HarnessOverhead.measure(backend: backend, pairs: pairs, progress: Fixture.log)
        Fixture.expectNoVMLeft()
        Fixture.log(String(format: "harness overhead ratio %.3f (suite median %.1f ms, by hand %.1f ms, %d pairs, %@)",
                           r.ratio, r.suiteMedianMs, r.byHandMedianMs,
                           pairs, backend.accelerator.rawValue))
        Fixture.expectWithinBudget([try Budget.forBackend(backend).harnessOverheadCheck(ratio: r.ratio)])
    }
}
}

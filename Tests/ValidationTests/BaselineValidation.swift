import Foundation
import Testing
import PerfMetrics
import Scenarios
import VMFixtures

extension Validation {
@Suite(.tags(.spawn, .baseline))
struct `VM spawn [tag:spawn] [tag:baseline]` {
    @Test func `cold boot to agent-ready, labelled and within budget`() async throws {
        let backend = try Fixture.backend()
        let settings = try Fixture.settings()
        let file = try await Fixture.runOne("baseline.spawn", backend: backend)
        let spawn = try #require(file["spawn_time_ms"])
        #expect(spawn.count == settings.iterations)
        #expect(file.labels.backend == backend.kind.rawValue && file.labels.accelerator == backend.accelerator.rawValue)
        #expect(file.provenance?.benchmark == "baseline.spawn" && file.provenance?.origin == "test" && file.provenance?.mode == "quick")
        if backend.kind == .qemu {
            // The guest really booted: its kernel reported its own uptime.
            #expect(file["guest_kernel_to_init_ms"] != nil)
            #expect(file.tools["guest_image"] != nil)
            // The guest's clock runs at the host's rate: boot by boot, its own
            // kernel-to-agent time fits inside the host's VMM-start-to-hello.
            let inGuest = try #require(file["guest_kernel_to_agent_ms"]).samples
            let hostSeen = try #require(file["agent_hello_ms"]).samples
            for (g, h) in zip(inGuest, hostSeen) { #expect(g < h, "guest says \(g) ms, the host saw \(h) ms") }
            // Where the boot went, boot by boot: the parts up to the hello add
            // up to the host's spawn-to-hello time, and none is negative.
            let parts = try ["boot_qemu_to_kernel_ms", "boot_kernel_to_init_ms", "boot_init_to_agent_ms", "boot_agent_to_hello_ms"]
                .map { try #require(file[$0], "no \($0)").samples }
            for (i, hello) in hostSeen.enumerated() {
                let sum = parts.map { $0[i] }.reduce(0, +)
                #expect(abs(sum - hello) < 0.01 && parts.allSatisfy { $0[i] >= 0 }, "boot \(i): \(parts.map { $0[i] }) vs hello \(hello) ms")
            }
            #expect(try #require(file["boot_hello_to_ready_ms"]).min > 0)
            #expect(file.notes.contains { $0.hasPrefix("Boot breakdown") })
        }
        if backend.kind == .qemu {
            // The platform floor was booted beside every spawn, warm-ups included.
            let floor = try #require(file[PlatformFloor.seriesName])
            #expect(floor.count == settings.iterations && floor.warmupSamples.count == settings.warmup)
            #expect(file.notes.contains { $0.contains("spawn median / floor median") })
        }
        // Judged honestly against the guide's target, whatever the backend.
        #expect(spawn.meetsTarget == (spawn.median < 200))
        if backend.accelerator != .kvm && spawn.median >= 200 {
            #expect(file.labels.caveat != nil, "an emulated number below target must carry its caveat")
        }
        try Fixture.expectWithinBudget(file, backend)
    }

    @Test func `process backend numbers say process`() async throws {
        let backend = try Fixture.processBackend()
        var settings = try Fixture.settings()
        settings.iterations = 5
        let file = try await Fixture.runOne("baseline.spawn", backend: backend, settings: settings)
        #expect(file.labels.backend == "process" && file.labels.accelerator == "none")
        #expect(file.labels.caveat?.contains("no VM") == true)
        #expect(file[PlatformFloor.seriesName] == nil, "the process backend has no VM and no floor")
        try Fixture.expectWithinBudget(file, backend)
    }
}

@Suite(.tags(.memory, .baseline))
struct `VM memory [tag:memory] [tag:baseline]` {
    @Test func `per-VM RSS, PSS and VMM overhead after a standard workload`() async throws {
        let backend = try Fixture.backend()
        let file = try await Fixture.runOne("baseline.memory", backend: backend)
        let pss = try #require(file["memory_mb"])
        let rss = try #require(file["vm_rss_mb"])
        #expect(pss.median > 1 && pss.median <= rss.max + 0.001, "PSS cannot exceed RSS")
        #expect(pss.meetsTarget == (pss.median < 200))
        #expect(try #require(file["harness_peak_rss_mb"]).median > 1)
        if backend.kind != .process {
            let overhead = try #require(file["vmm_overhead_mb"])
            #expect(overhead.median > 0 && overhead.median < rss.median, "overhead excludes guest RAM, so it is below RSS")
        }
        try Fixture.expectWithinBudget(file, backend)
    }
}

/// A benchmark of the harness itself, not of the sandbox: not in the baseline run.
@Suite(.tags(.spawn))
struct `Harness overhead [tag:spawn]` {
    @Test func `the harness adds at most 5 percent over a hand-started QEMU`() async throws {
        let file = try await Fixture.runOne("baseline.harness_overhead")
        let ratio = try #require(file["harness_overhead_ratio"]).median
        print("harness overhead ratio \(ratio): suite \(file["suite_spawn_ms"]?.median ?? 0) ms vs by hand \(file["by_hand_ms"]?.median ?? 0) ms")
        Fixture.expectWithinBudget([try Budget.forBackend(try Fixture.backend()).harnessOverheadCheck(ratio: ratio)])
    }
}

@Suite(.tags(.spawn, .baseline))
struct `Snapshot pool [tag:spawn] [tag:baseline]` {
    @Test func `cold boot vs snapshot restore vs pool checkout, side by side`() async throws {
        let backend = try Fixture.backend()
        let n = try Fixture.settings().iterations
        let file = try await Fixture.runOne("baseline.pool", backend: backend)
        let checkout = try #require(file["spawn_time_ms"]), restore = try #require(file["restore_to_ready_ms"])
        let cold = try #require(file["cold_spawn_ms"])
        #expect(checkout.count == n && restore.count == n && cold.count == n)
        #expect(checkout.median < restore.median && restore.median < cold.median)
        #expect(try Fixture.count(file, "pool_hits") >= n, "every measured checkout came from the pool")
        let floor = try #require(file[PlatformFloor.seriesName])
        #expect(floor.count == n)
        #expect(try #require(file["pool_total_pss_mb"]).median > 0)
        // Templated restore: device state only, RAM mapped copy-on-write from the template.
        let templated = try #require(file["template_restore_to_ready_ms"])
        #expect(templated.count == n)
        #expect(templated.median < restore.median, "templated restore \(templated.median) ms vs full \(restore.median) ms")
        let fullPSS = try #require(file["pool_pss_mb"]), templatePSS = try #require(file["template_pss_mb"])
        #expect(templatePSS.median < fullPSS.median, "template PSS \(templatePSS.median) MB vs full \(fullPSS.median) MB")
        try Fixture.expectWithinBudget(file, backend)
    }
}

@Suite(.tags(.latency, .baseline))
struct `Tool-call latency [tag:latency] [tag:baseline]` {
    @Test func `MCP tool calls into the sandbox, per tool, with breakdown and comparisons`() async throws {
        let backend = try Fixture.backend()
        let n = try Fixture.settings().iterations
        let file = try await Fixture.runOne("baseline.latency", backend: backend)
        #expect(file.labels.backend == backend.kind.rawValue && file.labels.accelerator == backend.accelerator.rawValue)
        for tool in ["read_file", "write_file", "list_directory", "search", "execute_command"] {
            let s = try #require(file["tool_latency_\(tool)_ms"], "no series for \(tool)")
            #expect(s.count == n && s.min > 0)
        }
        let pooled = try #require(file["tool_latency_ms"])
        #expect(pooled.count == 5 * n)
        #expect(pooled.meetsTarget == (pooled.median < 100))
        // The parts are smaller than the whole: a ping over the channel costs
        // less than the same channel carrying a tool call through MCP.
        let ping = try #require(file["agent_ping_ms"]), mcpRead = try #require(file["mcp_read_file_ms"])
        #expect(ping.median < mcpRead.median)
        // The descriptor transport does not poll; the SDK's stdio transport sleeps 10 ms when idle.
        let sdk = try #require(file["mcp_echo_sdk_stdio_ms"]), fast = try #require(file["mcp_echo_fast_ms"])
        #expect(sdk.median > 5 * fast.median, "SDK stdio \(sdk.median) ms vs descriptor transport \(fast.median) ms")
        #expect(try #require(file["client_new_per_call_ms"]).median > (try #require(file["client_reuse_ms"])).median)
        // Host-only series say so; the rest carry the sandbox's labels.
        for name in ["mcp_echo_host_only_ms", "mcp_echo_sdk_stdio_ms", "mcp_echo_fast_ms"] {
            #expect(file.labels(of: try #require(file[name])) == .hostOnly, "\(name)")
        }
        #expect(file.labels(of: mcpRead) == file.labels && file.labels(of: ping) == file.labels)
        // The agent's own time inside the sandbox is part of each round trip.
        let pingInGuest = try #require(file["agent_ping_in_guest_ms"]), channel = try #require(file["agent_channel_ms"])
        #expect(pingInGuest.median < ping.median && channel.median < ping.median && channel.min > 0)
        #expect(try #require(file["agent_read_file_in_guest_ms"]).median < (try #require(file["agent_read_file_ms"])).median)
    }
}

@Suite(.tags(.network, .baseline))
struct `Network latency [tag:network] [tag:baseline]` {
    @Test func `TCP round trip host to guest over virtio-net`() async throws {
        let n = try Fixture.settings().iterations
        let file = try await Fixture.runOne("baseline.network")
        let s = try #require(file["network_latency_ms"])
        #expect(s.count == n * 10 && s.min > 0)
        #expect(s.meetsTarget == (s.median < 50))
    }
}

@Suite(.tags(.cpu, .baseline))
struct `CPU utilisation [tag:cpu] [tag:baseline]` {
    @Test func `VMM CPU while serving tool calls (judged) and while idle`() async throws {
        let file = try await Fixture.runOne("baseline.cpu")
        let i = try #require(file["cpu_idle_percent"]), b = try #require(file["cpu_percent"])
        #expect(b.target != nil && i.target == nil, "the judged CPU figure is the one under load")
        #expect(i.min >= 0 && b.max <= 100 * Double(ProcessInfo.processInfo.activeProcessorCount) + 10)
        #expect(b.median > i.median, "serving calls must cost more CPU than idling (idle \(i.median) %, busy \(b.median) %)")
    }
}

@Suite(.tags(.throughput, .baseline))
struct `Throughput [tag:throughput] [tag:baseline]` {
    @Test func `tool calls per minute through one sandbox`() async throws {
        let windows = max(3, try Fixture.settings().iterations / 2)
        let file = try await Fixture.runOne("baseline.throughput")
        let s = try #require(file["throughput_ops_per_min"])
        #expect(s.count == windows && s.min > 0)
        #expect(s.meetsTarget == (s.median >= 1000))
    }
}

@Suite(.tags(.startup, .baseline))
struct `Start-up [tag:startup] [tag:baseline]` {
    @Test func `orchestrator process start to first tool result through MCP, from the template and cold; a fresh mcp-server`() async throws {
        let backend = try Fixture.backend()
        let runs = max(3, try Fixture.settings().iterations / 2)
        let file = try await Fixture.runOne("baseline.startup", backend: backend)
        let s = try #require(file["startup_time_ms"])
        #expect(s.count == runs && s.min > 0)
        #expect(s.meetsTarget == (s.median < 500))
        let initialize = try #require(file["mcp_server_initialize_ms"]), firstCall = try #require(file["mcp_server_first_call_ms"])
        #expect(initialize.count == runs && firstCall.count == runs)
        #expect(file.labels(of: initialize) == .hostOnly, "initialize involves no VM")
        #expect(initialize.median < firstCall.median)
        // The first call alone (sent once initialize was answered) is part of the time from the start.
        let latency = try #require(file["mcp_server_first_call_latency_ms"])
        #expect(latency.count == runs && latency.min > 0 && latency.median < firstCall.median)
        if backend.kind == .qemu {
            // The guide's start-up (from the template) beside the cold series, same run.
            let cold = try #require(file["startup_cold_ms"])
            #expect(cold.count == runs && s.median < cold.median)
            #expect(try Fixture.count(file, "startup_cold_fallbacks") == 0)
            #expect(try #require(file["template_restore_to_ready_ms"]).count == runs)
            // Every fresh server restored its sandbox: none booted cold.
            #expect(file.notes.contains { $0.hasPrefix("mcp-server sandbox sources:") && !$0.contains("cold") && !$0.contains("unknown") },
                    "\(file.notes)")
            // The orchestrator's sandbox is jailed as the server's is (like for like).
            if QEMUJail.unavailableReason() == nil {
                let probes = 2 * (runs + 1)
                #expect(file.notes.contains { $0.contains("start-up probes jailed: \(probes) of \(probes)") }, "\(file.notes)")
            }
        }
        // Template / cold <= 0.35, initialize <= 0.5 s, first call <= k x templated restore.
        try Fixture.expectWithinBudget(file, backend)
    }
}
}

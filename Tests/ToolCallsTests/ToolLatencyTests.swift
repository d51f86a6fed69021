import Foundation
import Testing
import MCP
import ToolCalls
import Scenarios
import VMFixtures

/// The measurement functions, run small: they must return real, labelled
/// samples (no sample, no pass) and show the expected orderings.
@Suite(.serialized, .tags(.latency)) struct `Tool-call latency measurements [tag:latency]` {
    static let config = LatencyConfig(iterations: 8, warmup: 2, sdkStdioIterations: 3, newClientIterations: 8)

    @Test func `per-tool latency: one series per tool, every sample a successful call`() async throws {
        let vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 20))
        defer { vm.shutdown() }
        let series = try await ToolLatency.perTool(sandbox: vm, config: Self.config)
        #expect(series.map(\.name) == SandboxTool.allCases.map(\.rawValue))
        for s in series {
            #expect(s.samplesMs.count == 8 && s.warmupMs.count == 2, "\(s.name)")
            #expect(s.samplesMs.allSatisfy { $0 > 0 && $0 < 5_000 }, "\(s.name): \(s.samplesMs)")
            #expect(s.backend == .process && s.accelerator == Accelerator.none)
            print("\(s.name): median \(fmtMs(s.median)) ms, p95 \(fmtMs(s.p95)) ms")
        }
    }

    @Test func `breakdown: each part is below the whole`() async throws {
        let vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 20))
        defer { vm.shutdown() }
        let b = try await ToolLatency.breakdown(sandbox: vm, config: Self.config)
        for s in b.all { #expect(s.samplesMs.count == 8 && s.samplesMs.allSatisfy { $0 > 0 }, "\(s.name)") }
        // The agent's own time is part of each round trip, and the channel is
        // what is left: per call, the parts add up to the whole.
        #expect(b.agentPingInGuest.median < b.agentPing.median && b.agentReadFileInGuest.median < b.agentReadFile.median)
        for (rtt, (inGuest, channel)) in zip(b.agentPing.samplesMs, zip(b.agentPingInGuest.samplesMs, b.channel.samplesMs)) {
            #expect(abs(inGuest + channel - rtt) < 1e-9)
        }
        // Going through MCP costs more than talking to the agent directly.
        #expect(b.mcpReadFile.median > b.agentReadFile.median)
        #expect(b.mcpReadFile.median > b.agentPing.median)
        #expect(b.mcpEcho.backend == nil && b.agentPing.backend == .process)
    }

    @Test func `a new client per call costs more than reusing one`() async throws {
        let vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 20))
        defer { vm.shutdown() }
        let (reuse, fresh) = try await ToolLatency.clientReuse(sandbox: vm, config: Self.config)
        #expect(reuse.samplesMs.count == 8 && fresh.samplesMs.count == 8)
        // A new client adds a connection and the initialize round trip.
        #expect(fresh.median > reuse.median * 1.2, "new \(fresh.median) ms vs reused \(reuse.median) ms")
    }

    @Test func `host-only floors are ordered: socket < MCP ping < echo`() async throws {
        let h = try await ToolLatency.hostOnly(config: Self.config)
        for s in h.all { #expect(s.samplesMs.count == 8, "\(s.name)") }
        #expect(h.socketEcho.median < h.mcpPing.median)
        #expect(h.mcpPing.median < h.echoFast.median)
        #expect(h.echoInMemory.transport == "sdk-in-memory")
    }

    @Test func `echo across processes through lgperf mcp-server: both transports work`() async throws {
        let exe = try LGPerfBinary.locate()
        let (sdk, fast) = try await ToolLatency.crossProcessEcho(server: [exe, "mcp-server", "--host-only"], config: Self.config)
        #expect(fast.samplesMs.count == 8 && sdk.samplesMs.count == 3)
        #expect(sdk.median > fast.median)
    }
}

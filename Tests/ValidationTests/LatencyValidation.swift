import Foundation
import Testing
import HostProbes
import PerfMetrics
import Scenarios
import VMFixtures

extension Validation {
@Suite(.tags(.latency, .baseline))
struct `Tool-call latency [tag:latency] [tag:baseline]` {
    @Test func `MCP tool calls into the sandbox, per tool, with breakdown and comparisons`() async throws {
        let backend = try Fixture.backend()
        let config = try Fixture.config()
        let file = try Fixture.writeAndCheck(try await ToolLatencyScenario.run(backend: backend, config: config, progress: Fixture.log))
        Fixture.expectNoVMLeft()
        #expect(file.labels.backend == backend.kind.rawValue && file.labels.accelerator == backend.accelerator.rawValue)
        for tool in ["read_file", "write_file", "list_directory", "search", "execute_command"] {
            let s = try #require(file["tool_latency_\(tool)_ms"], "no series for \(tool)")
            #expect(s.count == config.iterations && s.min > 0)
        }
        let pooled = try #require(file["tool_latency_ms"])
        #expect(pooled.count == 5 * config.iterations)
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
}

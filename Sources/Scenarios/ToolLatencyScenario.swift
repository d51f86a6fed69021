import Foundation
import HostProbes
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Tool-call latency as the guide defines it (MCP client call_tool to result,
/// tools executing inside the sandbox), with its breakdown, the "reuse the
/// client" comparison and the transport comparison, as one metrics file.
public enum ToolLatencyScenario {
    public static func run(backend: any VMBackend, config: RunConfig, progress: (String) -> Void = { _ in }) async throws -> MetricsFile {
        let load = ProcProbes.loadAverage1()
        let lc = LatencyConfig(iterations: config.iterations, warmup: max(3, config.warmup))
        progress("  tool latency: per tool, breakdown and client reuse through MCP (\(backend.kind.rawValue), \(backend.accelerator.rawValue))")
        let (perTool, breakdown, reuse) = try await ToolLatency.withSandbox(backend) { vm in
            (try await ToolLatency.perTool(sandbox: vm, config: lc),
             try await ToolLatency.breakdown(sandbox: vm, config: lc),
             try await ToolLatency.clientReuse(sandbox: vm, config: lc))
        }
        progress("  tool latency: host-only MCP echo, SDK stdio transport vs the project's descriptor transport")
        let transports = try await ToolLatency.transportComparison(config: lc, probe: .echo)

        var file = RunContext.newFile(
            scope: "latency", phase: config.phase, backend: backend, iterations: config.iterations, warmup: lc.warmup, loadBefore: load,
            notes: ["tool_latency_ms: MCP client callTool -> MCP server -> guest agent in the sandbox -> result, all five tools pooled (read_file, write_file, list_directory, search, execute_command), interleaved call by call.",
                    "Breakdown series (mcp_echo_host_only_ms, agent_ping_ms, agent_read_file_ms, mcp_read_file_ms) were measured interleaved in one run; *_in_guest_ms are the agent's own time per request (its monotonic clock inside the sandbox), agent_channel_ms is each ping's round trip less that time."])
        let pooled = perTool.flatMap(\.samplesMs), pooledWarm = perTool.flatMap(\.warmupMs)
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "MCP tool call round trip, five tools pooled",
                                                     series: MeasuredSeries(warmup: pooledWarm, samples: pooled), judged: true))
        for s in perTool {
            file.add("tool_latency_\(s.name)_ms", try metricSeries(s, "MCP \(s.name) round trip", judged: true))
        }
        for s in breakdown.all {
            file.add("\(s.name)_ms", try metricSeries(s, "breakdown: \(s.name) (\(s.transport))"))
        }
        file.add("client_reuse_ms", try metricSeries(reuse.reuse, "read_file, one client reused"))
        file.add("client_new_per_call_ms", try metricSeries(reuse.newClient, "read_file, new client (connect + initialize) per call"))
        file.add("mcp_echo_sdk_stdio_ms", try metricSeries(transports.sdkStdio, "host-only MCP echo over the SDK's StdioTransport"))
        file.add("mcp_echo_fast_ms", try metricSeries(transports.fast, "host-only MCP echo over the descriptor transport"))
        let reuseRatio = try Summary(reuse.newClient.samplesMs).median / Summary(reuse.reuse.samplesMs).median
        let transportRatio = try Summary(transports.sdkStdio.samplesMs).median / Summary(transports.fast.samplesMs).median
        file.notes.append(String(format: "new client per call / reused client (medians): %.2fx; SDK stdio / descriptor transport, host-only echo (medians): %.1fx.", reuseRatio, transportRatio))
        return file
    }

    /// A metrics series from a latency series; one measured on the host with
    /// no sandbox is labelled so, not with the file's backend.
    static func metricSeries(_ s: LatencySeries, _ description: String, judged: Bool = false) throws -> MetricSeries {
        let m = try MetricSeries(metric: .latency, unit: "ms", description: description,
                                 series: MeasuredSeries(warmup: s.warmupMs, samples: s.samplesMs), judged: judged)
        return s.backend == nil ? m.produced(by: .hostOnly) : m
    }
}

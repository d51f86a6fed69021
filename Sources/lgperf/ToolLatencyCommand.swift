import ArgumentParser
import Foundation
import LGSettings
import ToolCalls
import Scenarios
import VMFixtures

/// `lgperf tool-latency`: the tool-call latency measurements of ToolCalls,
/// printed as a table, raw samples optionally written as JSON.
struct ToolLatencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tool-latency",
        abstract: "Measure tool-call latency over MCP: per tool, its breakdown, client reuse, and transports.",
        discussion: """
            Every series is a set of per-call round trips in milliseconds, from the MCP client's callTool \
            to the result's receipt, after warm-up calls that are not counted. Run a release build \
            (swift build -c release) for numbers worth quoting.
            """)

    enum Section: String, ExpressibleByArgument, CaseIterable {
        case host, transports, tools, breakdown, reuse
    }

    @Option(help: "Sandbox backend: qemu or process. Default: the best one available here.")
    var backend: MCPServerCommand.BackendName?

    @Option(help: "Measured calls per series (default: ITERATIONS, else 100; --quick: 10).")
    var iterations: Int?

    @Option(help: "Warm-up calls per series, not counted.")
    var warmup: Int?

    @Option(help: "Calls over the SDK's stdio transport (each ~10-20 ms).")
    var sdkIterations: Int?

    @Flag(help: "10 iterations per series.")
    var quick = false

    @Option(parsing: .upToNextOption, help: "Sections to run: \(Section.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var sections: [Section] = Section.allCases

    @Option(help: "Write every series' raw samples to this JSON file.")
    var json: String?

    func run() async throws {
        ProcessRegistry.shared.installSignalHandlers()
        var config = LatencyConfig(try CommandSettings.load(quick: quick))
        if let iterations { config.iterations = iterations; config.newClientIterations = iterations }
        if let warmup { config.warmup = warmup }
        config.sdkStdioIterations = sdkIterations ?? min(config.iterations, 100)
        guard config.iterations > 0, config.warmup >= 0, config.sdkStdioIterations > 0 else {
            throw ValidationError("iterations must be positive and warm-up not negative")
        }
        var all: [LatencySeries] = []
        var notes: [String] = []
        print(Self.hostLine())
        print("iterations \(config.iterations), warm-up \(config.warmup) (not counted), sdk-stdio iterations \(config.sdkStdioIterations)")
        print("")
        if sections.contains(.host) {
            let h = try await ToolLatency.hostOnly(config: config)
            Self.table("Host-only round trips (no sandbox), one process, socketpair", h.all)
            all += h.all
        }
        if sections.contains(.transports) {
            let exe = try Self.selfPath()
            for probe in [ToolLatency.Probe.echo, .ping] {
                let (sdk, fast) = try await ToolLatency.transportComparison(config: config, probe: probe)
                Self.table("\(probe.rawValue): the SDK's StdioTransport vs the descriptor transport, one process, socketpair, A-B-B-A blocks", [sdk, fast])
                notes.append(String(format: "\(probe.rawValue), in-process: sdk-stdio / fd-blocking median = %.1fx", sdk.median / fast.median))
                let (xs, xf) = try await ToolLatency.crossProcessEcho(server: [exe, "mcp-server", "--host-only"], config: config, probe: probe)
                Self.table("\(probe.rawValue): client here, `lgperf mcp-server --host-only` as a child on stdin/stdout pipes, A-B-B-A blocks", [xs, xf])
                notes.append(String(format: "\(probe.rawValue), cross-process: sdk-stdio / fd-blocking median = %.1fx", xs.median / xf.median))
                all += [sdk, fast, xs, xf]
            }
        }
        let needsSandbox = sections.contains(.tools) || sections.contains(.breakdown) || sections.contains(.reuse)
        if needsSandbox {
            let chosen = try MCPServerCommand.makeBackend(backend)
            try await ToolLatency.withSandbox(chosen) { vm in
                print("sandbox: backend \(vm.backend.rawValue), accelerator \(vm.accelerator.rawValue), ready in \(String(format: "%.1f", Double(vm.timings.requestToReadyNs) / 1e6)) ms")
                print("")
                if sections.contains(.tools) {
                    let per = try await ToolLatency.perTool(sandbox: vm, config: config)
                    Self.table("Per tool through MCP (callTool -> server -> agent -> result), tools interleaved", per)
                    all += per
                }
                if sections.contains(.breakdown) {
                    let b = try await ToolLatency.breakdown(sandbox: vm, config: config)
                    let parts = b.all
                    Self.table("Breakdown of read_file, interleaved (in-guest: the agent's own clock; agent_channel: each ping less its in-guest time)", parts)
                    print(String(format: "  tool execution (read_file as the agent timed it): median %.3f ms", b.agentReadFileInGuest.median))
                    print(String(format: "  host <-> guest channel (per ping, round trip less the agent's time): median %.3f ms", b.channel.median))
                    print(String(format: "  MCP on top of the agent call ~ median(mcp_read_file) - median(agent_read_file) = %.3f ms", b.mcpOverheadMedianMs))
                    print("")
                    all += parts
                }
                if sections.contains(.reuse) {
                    let (reuse, fresh) = try await ToolLatency.clientReuse(sandbox: vm, config: config)
                    Self.table("read_file: one client reused vs a new client (connection + initialize) per call, alternated", [reuse, fresh])
                    notes.append(String(format: "new client per call / reused client median = %.1fx", fresh.median / reuse.median))
                    all += [reuse, fresh]
                }
            }
        }
        if !notes.isEmpty { print(notes.joined(separator: "\n")) }
        if let json { try Self.write(all, config: config, to: json) }
    }

    static func table(_ title: String, _ series: [LatencySeries]) {
        print(title)
        print(pad("series", 34) + pad("transport", 14) + pad("backend", 9) + pad("accel", 6) + lpad("n", 5)
              + lpad("median", 10) + lpad("p95", 10) + lpad("p99", 10) + lpad("min", 10) + lpad("max", 10) + "  (ms)")
        for s in series {
            let v = s.samplesMs
            print(pad(s.name, 34) + pad(s.transport, 14) + pad(s.backend?.rawValue ?? "-", 9) + pad(s.accelerator?.rawValue ?? "-", 6)
                  + lpad("\(v.count)", 5) + lpad(f(s.median), 10) + lpad(f(s.p95), 10) + lpad(f(s.p99), 10)
                  + lpad(f(v.min() ?? .nan), 10) + lpad(f(v.max() ?? .nan), 10))
        }
        print("")
    }

    static func f(_ x: Double) -> String { String(format: "%.3f", x) }
    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }

    static func selfPath() throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }

    static func hostLine() -> String {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        return "host: Linux \(release), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average \(load)"
    }

    static func write(_ series: [LatencySeries], config: LatencyConfig, to path: String) throws {
        let items: [[String: Any]] = series.map { s in
            ["name": s.name, "transport": s.transport, "backend": s.backend?.rawValue ?? "none",
             "accelerator": s.accelerator?.rawValue ?? "none", "unit": "ms",
             "samples": s.samplesMs, "warmup": s.warmupMs, "median": s.median, "p95": s.p95, "p99": s.p99]
        }
        let doc: [String: Any] = ["timestamp": ISO8601DateFormatter().string(from: Date()), "host": hostLine(),
                                  "iterations": config.iterations, "warmup": config.warmup, "series": items]
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
        let tmp = path + ".tmp-\(getpid())"
        try data.write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
        Console.progress("raw samples written to \(path)")
    }
}

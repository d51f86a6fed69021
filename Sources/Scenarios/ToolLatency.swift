import Foundation
import LGSettings
import PerfStats
import ToolCalls
import AgentProtocol
import VMFixtures
import MCP
#if canImport(Glibc)
import Glibc
#endif

/// How much to measure. Warm-up calls run first and are never counted.
public struct LatencyConfig: Sendable {
    public var iterations: Int
    public var warmup: Int
    /// Iterations for the SDK stdio transport (each ~10-20 ms).
    public var sdkStdioIterations: Int
    /// Iterations for "new client per call" (each a new connection + handshake).
    public var newClientIterations: Int
    /// Size of the file read_file reads.
    public var smallFileBytes: Int

    public init(iterations: Int = 100, warmup: Int = 10, sdkStdioIterations: Int? = nil,
                newClientIterations: Int? = nil, smallFileBytes: Int = 64) {
        self.iterations = iterations
        self.warmup = warmup
        self.sdkStdioIterations = sdkStdioIterations ?? iterations
        self.newClientIterations = newClientIterations ?? iterations
        self.smallFileBytes = smallFileBytes
    }

    /// ITERATIONS from the settings; warm-up scaled to it.
    public init(_ settings: Settings) {
        self.init(iterations: settings.iterations, warmup: max(3, min(20, settings.iterations / 10)))
    }
}

/// One measured series: raw per-call samples in milliseconds, plus what was
/// measured and where.
public struct LatencySeries: Sendable, Equatable {
    public let name: String
    public let samplesMs: [Double]
    public let warmupMs: [Double]
    /// `fd-blocking`, `sdk-stdio`, or `agent-channel` for direct agent calls.
    public let transport: String
    public let backend: BackendKind?
    public let accelerator: Accelerator?

    public init(name: String, samplesMs: [Double], warmupMs: [Double], transport: String,
                backend: BackendKind?, accelerator: Accelerator?) {
        self.name = name; self.samplesMs = samplesMs; self.warmupMs = warmupMs; self.transport = transport
        self.backend = backend; self.accelerator = accelerator
    }

    /// Percentiles for quick reports (type 7, as PerfStats computes them).
    public var median: Double { percentile(samplesMs, 0.5) }
    public var p95: Double { percentile(samplesMs, 0.95) }
    public var p99: Double { percentile(samplesMs, 0.99) }
}

public struct ToolLatencyError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// The tool-call latency measurements (the guide's "Tool Call Latency": from
/// the MCP client's `callTool` to the result's receipt). Each function returns
/// raw samples; statistics and metrics files are the caller's business.
public enum ToolLatency {
    /// Files the per-tool measurements use, created in the workspace first.
    public static let benchDirectory = "lg-bench"

    /// The arguments each tool is measured with.
    public static func arguments(for tool: SandboxTool) -> [String: Value] {
        switch tool {
        case .readFile: ["path": .string("\(benchDirectory)/small.txt")]
        case .writeFile: ["path": .string("\(benchDirectory)/written.txt"), "content": .string(String(repeating: "w", count: 64))]
        case .listDirectory: ["path": .string(benchDirectory)]
        case .search: ["pattern": "needle", "path": .string(benchDirectory)]
        case .executeCommand: ["command": "true"]
        }
    }

    /// Creates the files the measurements read (through the agent, not the host).
    public static func prepareWorkspace(_ sandbox: any SandboxVM, smallFileBytes: Int) throws {
        let text = String(repeating: "x", count: max(0, smallFileBytes - 1)) + (smallFileBytes > 0 ? "\n" : "")
        _ = try sandbox.session.call(.executeCommand, ["command": .string("mkdir -p \(benchDirectory)")])
        _ = try sandbox.session.call(.writeFile, ["path": .string("\(benchDirectory)/small.txt"), "content": .string(text)])
        for i in 0..<8 {
            let body = (0..<20).map { $0 == 7 && i % 2 == 0 ? "a line with a needle in it" : "line \($0) of file \(i)" }.joined(separator: "\n")
            _ = try sandbox.session.call(.writeFile, ["path": .string("\(benchDirectory)/file\(i).txt"), "content": .string(body)])
        }
    }

    /// Times one `callTool` and checks it succeeded (a failed call is not a
    /// latency sample).
    @inline(__always)
    static func timedCall(_ client: Client, _ name: String, _ args: [String: Value]) async throws -> Double {
        let t0 = Monotonic.nanos()
        let result = try await client.callTool(name: name, arguments: args)
        let t1 = Monotonic.nanos()
        if result.isError == true {
            throw ToolLatencyError("\(name) returned an error: \(result.content)")
        }
        return Double(t1 - t0) / 1e6
    }

    static func series(_ name: String, _ samples: [Double], _ warm: [Double], transport: String, _ sandbox: (any SandboxVM)?) -> LatencySeries {
        LatencySeries(name: name, samplesMs: samples, warmupMs: warm, transport: transport,
                      backend: sandbox?.backend, accelerator: sandbox?.accelerator)
    }

    // MARK: (a) per tool

    /// Latency of each of the five tools through MCP: client `callTool` ->
    /// server -> sandbox agent -> result. Tools are interleaved call by call
    /// so that drift in the host's load spreads over all of them.
    public static func perTool(sandbox: any SandboxVM, config: LatencyConfig,
                               transport: MCPTransportKind = .fast) async throws -> [LatencySeries] {
        try prepareWorkspace(sandbox, smallFileBytes: config.smallFileBytes)
        let tools = SandboxToolServer(sandbox: sandbox)
        let conn = try await InProcessMCP.connect(to: tools, transport: transport)
        do {
            var samples = [SandboxTool: [Double]](), warm = [SandboxTool: [Double]]()
            for i in 0..<(config.warmup + config.iterations) {
                for tool in SandboxTool.allCases {
                    let ms = try await timedCall(conn.client, tool.rawValue, arguments(for: tool))
                    if i < config.warmup { warm[tool, default: []].append(ms) } else { samples[tool, default: []].append(ms) }
                }
            }
            await conn.close()
            return SandboxTool.allCases.map {
                series($0.rawValue, samples[$0] ?? [], warm[$0] ?? [], transport: transport.rawValue, sandbox)
            }
        } catch {
            await conn.close()
            throw error
        }
    }

    // MARK: (b) breakdown

    public struct Breakdown: Sendable {
        /// MCP round trip of `echo`, answered by the host (no sandbox).
        public let mcpEcho: LatencySeries
        /// Agent ping over the host <-> agent channel (no MCP).
        public let agentPing: LatencySeries
        /// read_file sent straight to the agent (channel + tool execution, no MCP).
        public let agentReadFile: LatencySeries
        /// read_file through MCP (the whole path).
        public let mcpReadFile: LatencySeries
        /// The ping as the agent timed it inside the sandbox (request read to
        /// reply built): the agent's fixed cost per request.
        public let agentPingInGuest: LatencySeries
        /// read_file as the agent timed it inside the sandbox: tool execution.
        public let agentReadFileInGuest: LatencySeries
        /// Per ping, its round trip less the agent's own time: the host <->
        /// guest channel alone (host write, VMM, guest kernel, and back).
        public let channel: LatencySeries

        public var all: [LatencySeries] { [mcpEcho, agentPing, agentReadFile, mcpReadFile, agentPingInGuest, agentReadFileInGuest, channel] }

        /// What MCP adds to the agent call: median(MCP read_file) - median(agent read_file).
        public var mcpOverheadMedianMs: Double { mcpReadFile.median - agentReadFile.median }
    }

    /// The parts of a read_file call, measured interleaved in one run.
    public static func breakdown(sandbox: any SandboxVM, config: LatencyConfig) async throws -> Breakdown {
        try prepareWorkspace(sandbox, smallFileBytes: config.smallFileBytes)
        let tools = SandboxToolServer(sandbox: sandbox, options: ToolServerOptions(includeEchoTool: true))
        let conn = try await InProcessMCP.connect(to: tools, transport: .fast)
        let readArgs = arguments(for: .readFile)
        let agentReadArgs: [String: JSON] = try SandboxTool.readFile.validate(readArgs)
        var echo = Samples(), ping = Samples(), agentRead = Samples(), mcpRead = Samples()
        var pingInGuest = Samples(), readInGuest = Samples(), channel = Samples()
        func agentCall(_ op: AgentOp, _ args: [String: JSON]) throws -> (result: JSON, roundTripMs: Double, inGuestMs: Double) {
            let t0 = Monotonic.nanos()
            let (result, inGuest) = try sandbox.session.measuredCall(op, args)
            let rtt = Double(Monotonic.nanos() - t0) / 1e6
            guard let inGuest else {
                throw ToolLatencyError("the sandbox's agent did not report its own time (agent_us), so it is older than this harness; rebuild it: `swift build -c release --product lg-guest-agent` for the process backend (VM images are rebuilt when the agent changes)")
            }
            return (result, rtt, inGuest)
        }
        do {
            for i in 0..<(config.warmup + config.iterations) {
                let warm = i < config.warmup
                echo.add(try await timedCall(conn.client, SandboxToolServer.echoToolName, ["message": "hello"]), warm)
                let p = try agentCall(.ping, [:])
                ping.add(p.roundTripMs, warm)
                pingInGuest.add(p.inGuestMs, warm)
                channel.add(p.roundTripMs - p.inGuestMs, warm)
                let r = try agentCall(.readFile, agentReadArgs)
                guard r.result["content"]?.string?.utf8.count == config.smallFileBytes else {
                    throw ToolLatencyError("read_file returned unexpected content: \(r.result.serialized().prefix(100))")
                }
                agentRead.add(r.roundTripMs, warm)
                readInGuest.add(r.inGuestMs, warm)
                mcpRead.add(try await timedCall(conn.client, SandboxTool.readFile.rawValue, readArgs), warm)
            }
        } catch {
            await conn.close()
            throw error
        }
        await conn.close()
        func inSandbox(_ name: String, _ s: Samples, transport: String) -> LatencySeries {
            series(name, s.counted, s.warmup, transport: transport, sandbox)
        }
        return Breakdown(
            mcpEcho: echo.series("mcp_echo_host_only", transport: MCPTransportKind.fast.rawValue),
            agentPing: inSandbox("agent_ping", ping, transport: "agent-channel"),
            agentReadFile: inSandbox("agent_read_file", agentRead, transport: "agent-channel"),
            mcpReadFile: inSandbox("mcp_read_file", mcpRead, transport: MCPTransportKind.fast.rawValue),
            agentPingInGuest: inSandbox("agent_ping_in_guest", pingInGuest, transport: "in-guest"),
            agentReadFileInGuest: inSandbox("agent_read_file_in_guest", readInGuest, transport: "in-guest"),
            channel: inSandbox("agent_channel", channel, transport: "agent-channel"))
    }

    // MARK: (c) client reuse

    /// read_file with one client for every call, and with a new client per
    /// call (new connection + initialize handshake + the call; tear-down is
    /// done after the clock stops). Alternated call by call in one run.
    public static func clientReuse(sandbox: any SandboxVM, config: LatencyConfig) async throws -> (reuse: LatencySeries, newClient: LatencySeries) {
        try prepareWorkspace(sandbox, smallFileBytes: config.smallFileBytes)
        let tools = SandboxToolServer(sandbox: sandbox)
        let args = arguments(for: .readFile)
        let conn = try await InProcessMCP.connect(to: tools, transport: .fast)
        var reuse: [Double] = [], fresh: [Double] = [], wReuse: [Double] = [], wFresh: [Double] = []
        do {
            let n = max(config.iterations, config.newClientIterations)
            for i in 0..<(config.warmup + n) {
                let warm = i < config.warmup
                if i < config.warmup + config.iterations {
                    let ms = try await timedCall(conn.client, SandboxTool.readFile.rawValue, args)
                    if warm { wReuse.append(ms) } else { reuse.append(ms) }
                }
                if i < config.warmup + config.newClientIterations {
                    let t0 = Monotonic.nanos()
                    let c = try await InProcessMCP.connect(to: tools, transport: .fast)
                    let result: (content: [Tool.Content], isError: Bool?)
                    do { result = try await c.client.callTool(name: SandboxTool.readFile.rawValue, arguments: args) } catch {
                        await c.close(); throw error
                    }
                    let ms = Double(Monotonic.nanos() - t0) / 1e6
                    await c.close()
                    if result.isError == true { throw ToolLatencyError("read_file failed: \(result.content)") }
                    if warm { wFresh.append(ms) } else { fresh.append(ms) }
                }
            }
        } catch {
            await conn.close()
            throw error
        }
        await conn.close()
        return (series("read_file_reused_client", reuse, wReuse, transport: MCPTransportKind.fast.rawValue, sandbox),
                series("read_file_new_client_per_call", fresh, wFresh, transport: MCPTransportKind.fast.rawValue, sandbox))
    }

    // MARK: (d) transports

    /// What a host-only round trip sends.
    public enum Probe: String, Sendable {
        /// `tools/call` of `echo` with a short message (the default).
        case echo
        /// MCP `ping`: no tool, no arguments, no strings; the least JSON work,
        /// so the transport's share is largest.
        case ping
    }

    /// The host-only echo round trip over the SDK's StdioTransport and over
    /// ``DescriptorTransport``, each between an SDK Client and Server in this
    /// process over a socketpair, in one run, in A-B-B-A blocks (see ``abba``).
    public static func transportComparison(config: LatencyConfig, probe: Probe = .echo) async throws -> (sdkStdio: LatencySeries, fast: LatencySeries) {
        let tools = SandboxToolServer(sandbox: nil)
        let (fs, ss) = try await abba(warmup: config.warmup, aCount: config.iterations, bCount: config.sdkStdioIterations) { isA, warm, n in
            let conn = try await InProcessMCP.connect(to: tools, transport: isA ? .fast : .sdkStdio)
            do {
                let r = try await probeRun(conn.client, probe, warm: warm, counted: n)
                await conn.close()
                return r
            } catch {
                await conn.close()
                throw error
            }
        }
        let name = "mcp_\(probe.rawValue)_host_only"
        return (ss.series(name, transport: MCPTransportKind.sdkStdio.rawValue), fs.series(name, transport: MCPTransportKind.fast.rawValue))
    }

    /// Host-only echo round trips on one transport (no alternation).
    public static func echo(config: LatencyConfig, transport: MCPTransportKind = .fast) async throws -> LatencySeries {
        let conn = try await InProcessMCP.connect(to: SandboxToolServer(sandbox: nil), transport: transport)
        var s: [Double] = [], w: [Double] = []
        do {
            for i in 0..<(config.warmup + config.iterations) {
                let ms = try await timedCall(conn.client, SandboxToolServer.echoToolName, ["message": "hello"])
                if i < config.warmup { w.append(ms) } else { s.append(ms) }
            }
        } catch { await conn.close(); throw error }
        await conn.close()
        return LatencySeries(name: "mcp_echo_host_only", samplesMs: s, warmupMs: w, transport: transport.rawValue, backend: nil, accelerator: nil)
    }

    // MARK: host-only floors

    public struct HostOnly: Sendable {
        /// A 64-byte line echoed by a thread over a socketpair: no MCP, no
        /// JSON, the kernel's and two thread wake-ups' share.
        public let socketEcho: LatencySeries
        /// MCP `ping` (a request without tool, arguments or strings) over
        /// the descriptor transport.
        public let mcpPing: LatencySeries
        /// The echo tool over the SDK's in-memory transport: the SDK's own
        /// cost with no I/O at all.
        public let echoInMemory: LatencySeries
        /// The echo tool over the descriptor transport (a socketpair).
        public let echoFast: LatencySeries
        /// A tool call without arguments or result content over the
        /// descriptor transport: the smallest `tools/call` round trip.
        public let emptyCallFast: LatencySeries

        public var all: [LatencySeries] { [socketEcho, mcpPing, emptyCallFast, echoInMemory, echoFast] }
    }

    /// The host-only round trips that bound the tool-call latency from
    /// below, interleaved call by call in one run.
    public static func hostOnly(config: LatencyConfig) async throws -> HostOnly {
        let tools = SandboxToolServer(sandbox: nil)
        let fast = try await InProcessMCP.connect(to: tools, transport: .fast)
        let memory: InProcessMCP
        do { memory = try await InProcessMCP.connect(to: tools, transport: .sdkInMemory) } catch {
            await fast.close(); throw error
        }
        let echoer: SocketEchoer
        do { echoer = try SocketEchoer() } catch { await fast.close(); await memory.close(); throw error }
        defer { echoer.stop() }
        var raw = Samples(), ping = Samples(), mem = Samples(), echo = Samples(), empty = Samples()
        let args: [String: Value] = ["message": "hello"]
        do {
            for i in 0..<(config.warmup + config.iterations) {
                let warm = i < config.warmup
                raw.add(try echoer.roundTripMs(), warm)
                var t0 = Monotonic.nanos()
                try await fast.client.ping()
                ping.add(Double(Monotonic.nanos() - t0) / 1e6, warm)
                t0 = Monotonic.nanos()
                _ = try await fast.client.callTool(name: SandboxToolServer.echoToolName)
                empty.add(Double(Monotonic.nanos() - t0) / 1e6, warm)
                mem.add(try await timedCall(memory.client, SandboxToolServer.echoToolName, args), warm)
                echo.add(try await timedCall(fast.client, SandboxToolServer.echoToolName, args), warm)
            }
        } catch {
            await fast.close(); await memory.close()
            throw error
        }
        await fast.close(); await memory.close()
        let f = MCPTransportKind.fast.rawValue
        return HostOnly(socketEcho: raw.series("socketpair_line_echo", transport: "socketpair"),
                        mcpPing: ping.series("mcp_ping_host_only", transport: f),
                        echoInMemory: mem.series("mcp_echo_host_only", transport: MCPTransportKind.sdkInMemory.rawValue),
                        echoFast: echo.series("mcp_echo_host_only", transport: f),
                        emptyCallFast: empty.series("mcp_empty_call_host_only", transport: f))
    }

    /// Host-only round trips (`probe`) against a server in another process (`lgperf mcp-server
    /// --host-only`), over its stdin/stdout pipes: the descriptor transport
    /// on both ends vs the SDK's StdioTransport on both ends, in A-B-B-A blocks.
    /// `server` is the command line, without the `--transport` option.
    public static func crossProcessEcho(server: [String], config: LatencyConfig, probe: Probe = .echo) async throws -> (sdkStdio: LatencySeries, fast: LatencySeries) {
        guard let exe = server.first else { throw ToolLatencyError("no server command") }
        let args = Array(server.dropFirst())
        let (f, s) = try await abba(warmup: config.warmup, aCount: config.iterations, bCount: config.sdkStdioIterations) { isA, warm, n in
            let kind: MCPTransportKind = isA ? .fast : .sdkStdio
            let child = try await ChildMCPServer.start(executable: exe, arguments: args + ["--transport", kind.rawValue], transport: kind)
            do {
                let r = try await probeRun(child.client, probe, warm: warm, counted: n)
                await child.stop()
                return r
            } catch {
                await child.stop()
                throw error
            }
        }
        let name = "mcp_\(probe.rawValue)_host_only_cross_process"
        return (s.series(name, transport: MCPTransportKind.sdkStdio.rawValue), f.series(name, transport: MCPTransportKind.fast.rawValue))
    }

    /// Two series measured in one run in the order A B B A (each in halves),
    /// so that a drift in the host's load weighs on both alike. `block(isA,
    /// warm, counted)` opens its own connection, makes `warm` uncounted calls
    /// and then `counted` calls, and closes it: while one transport is
    /// measured the other has no connection open in the process (the SDK's
    /// stdio transport wakes twice per 10 ms even when idle). Every block
    /// starts with one uncounted call: the first call after a pause pays for
    /// waking parked threads, which is the pause's cost, not the transport's.
    /// B warms up first, then A, so that the first counted block (A) does
    /// not directly follow B's first use in the process: measured, the ~50
    /// calls after a process's first SDK-stdio session ran ~2x slower.
    static func abba(warmup: Int, aCount: Int, bCount: Int,
                     block: (_ isA: Bool, _ warm: Int, _ counted: Int) async throws -> (warm: [Double], counted: [Double])) async throws -> (Samples, Samples) {
        var sa = Samples(), sb = Samples()
        let a1 = (aCount + 1) / 2, b1 = (bCount + 1) / 2
        let plan: [(Bool, Int, Int)] = [(false, warmup, 0), (true, warmup, 0),
                                         (true, 1, a1), (false, 1, b1), (false, 1, bCount - b1), (true, 1, aCount - a1)]
        for (isA, warm, n) in plan where warm + n > 0 {
            let r = try await block(isA, warm, n)
            if isA { sa.warmup += r.warm; sa.counted += r.counted } else { sb.warmup += r.warm; sb.counted += r.counted }
        }
        return (sa, sb)
    }

    /// `warm` then `counted` round trips of `probe` on `client`.
    static func probeRun(_ client: Client, _ probe: Probe, warm: Int, counted: Int) async throws -> (warm: [Double], counted: [Double]) {
        let args: [String: Value] = ["message": "hello"]
        func once() async throws -> Double {
            switch probe {
            case .echo: return try await timedCall(client, SandboxToolServer.echoToolName, args)
            case .ping:
                let t0 = Monotonic.nanos()
                try await client.ping()
                return Double(Monotonic.nanos() - t0) / 1e6
            }
        }
        var w: [Double] = [], c: [Double] = []
        for _ in 0..<warm { w.append(try await once()) }
        for _ in 0..<counted { c.append(try await once()) }
        return (w, c)
    }

    // MARK: backends

    /// Runs `body` on a new sandbox from `backend` and shuts it down afterwards.
    public static func withSandbox<T: Sendable>(_ backend: any VMBackend, _ options: SpawnOptions = SpawnOptions(),
                                                _ body: (any SandboxVM) async throws -> T) async throws -> T {
        let vm = try backend.spawn(options)
        do {
            let r = try await body(vm)
            vm.shutdown()
            return r
        } catch {
            vm.shutdown()
            throw error
        }
    }
}

/// Counted samples and warm-up samples, kept apart.
struct Samples {
    var counted: [Double] = []
    var warmup: [Double] = []
    mutating func add(_ ms: Double, _ warm: Bool) { if warm { warmup.append(ms) } else { counted.append(ms) } }
    func series(_ name: String, transport: String) -> LatencySeries {
        LatencySeries(name: name, samplesMs: counted, warmupMs: warmup, transport: transport, backend: nil, accelerator: nil)
    }
}

/// A thread that echoes lines on one end of a socketpair; the other end
/// times round trips. The floor under any transport built on descriptors.
final class SocketEchoer: @unchecked Sendable {
    private let near: LineChannel
    private let far: LineChannel
    private let line = String(repeating: "p", count: 63)

    init() throws {
        let (a, b) = try makeSocketPair()
        near = LineChannel(readFD: a, writeFD: a)
        far = LineChannel(readFD: b, writeFD: b)
        let far = self.far
        let thread = Thread {
            while let l = try? far.readLine(deadline: nil) {
                guard (try? far.send(String(decoding: l, as: UTF8.self))) != nil else { break }
            }
        }
        thread.start()
    }

    func roundTripMs() throws -> Double {
        let t0 = Monotonic.nanos()
        try near.send(line)
        let back = try near.readLine(deadline: Monotonic.nanos() + 5_000_000_000)
        let ms = Double(Monotonic.nanos() - t0) / 1e6
        guard back.count == line.utf8.count else { throw ToolLatencyError("socket echo returned \(back.count) bytes") }
        return ms
    }

    /// Ends the echo thread (it sees end of input) and frees both ends.
    func stop() {
        shutdown(near.writeFD, Int32(SHUT_RDWR))
    }
}

/// PerfStats' type-7 percentile; NaN for no samples (callers print it).
func percentile(_ xs: [Double], _ p: Double) -> Double { (try? Percentile.of(xs, p)) ?? .nan }

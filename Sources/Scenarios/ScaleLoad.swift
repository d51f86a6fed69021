import Foundation
import AgentProtocol
import Synchronization
import HostProbes
import MCP
import PerfStats
import ToolCalls
import VMFixtures

/// Tool calls in flight across all agents: incremented before each call,
/// decremented after it returns; keeps the highest value seen.
public final class InFlightCounter: Sendable {
    private let current = Atomic<Int>(0)
    private let highest = Atomic<Int>(0)
    public init() {}

    public func enter() {
        let now = current.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        var seen = highest.load(ordering: .sequentiallyConsistent)
        while now > seen {
            let r = highest.compareExchange(expected: seen, desired: now, ordering: .sequentiallyConsistent)
            if r.exchanged { break }
            seen = r.original
        }
    }

    public func leave() { current.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
    public var max: Int { highest.load(ordering: .sequentiallyConsistent) }
}

/// Holds every party until the last one arrives, then releases them all at
/// once with the same start time.
actor StartBarrier {
    private let parties: Int
    private var waiting: [CheckedContinuation<UInt64, Never>] = []
    private var released: UInt64?

    init(parties: Int) { self.parties = parties }

    func arrive() async -> UInt64 {
        if let released { return released }
        return await withCheckedContinuation { c in
            waiting.append(c)
            if waiting.count == parties {
                let t = Monotonic.nanos()
                released = t
                for w in waiting { w.resume(returning: t) }
                waiting = []
            }
        }
    }
}

/// N agents at once, each an MCP client with its own connection to its own
/// sandbox's tool server, calling a mix of the five tools back to back over
/// one wall window that starts for all of them together.
public enum ScaleLoad {
    /// One tool call as an agent saw it (monotonic ns).
    public struct Call: Sendable {
        public var tool: SandboxTool
        public var startNs: UInt64
        public var endNs: UInt64
        public var error: String?
        public var ms: Double { Double(endNs - startNs) / 1e6 }
    }

    public struct Level: Sendable {
        public var agents: Int
        public var windowSeconds: Double
        public var windowStartNs: UInt64
        public var calls: [Call]
        /// Agents that could not connect or warm up (their error).
        public var setupErrors: [String]
        public var maxInFlight: Int
        /// Percent of one core, per sandbox's VMM, over the window.
        public var vmmCPUPercent: [Double]
        /// Percent of all cores together, over the window.
        public var hostCPUPercent: Double
        /// This process (MCP clients and servers, agent channels), percent of one core.
        public var harnessCPUPercent: Double

        var windowEndNs: UInt64 { windowStartNs + UInt64(windowSeconds * 1e9) }
        public var okCalls: [Call] { calls.filter { $0.error == nil } }
        public var errors: [String] { setupErrors + calls.compactMap(\.error) }
        public var latencyMs: [Double] { okCalls.map(\.ms) }
        /// Calls completed (successfully) within the window, per minute.
        public var opsPerMinute: Double {
            Double(okCalls.filter { $0.endNs <= windowEndNs }.count) * 60 / windowSeconds
        }
        /// The same per whole second of the window: one sample per second.
        public var opsPerMinutePerSecond: [Double] {
            let seconds = max(1, Int(windowSeconds))
            var buckets = [Int](repeating: 0, count: seconds)
            for c in okCalls where c.endNs >= windowStartNs {
                let k = Int((c.endNs - windowStartNs) / 1_000_000_000)
                if k < seconds { buckets[k] += 1 }
            }
            return buckets.map { Double($0) * 60 }
        }
    }

    struct Meters: Sendable { var vmm: [Double]; var host: Double; var harness: Double; var start: UInt64 }
    enum Outcome: Sendable { case agent([Call], String?), meters(Meters) }

    /// The tools in the order agents call them (each agent starts at its own offset).
    public static let mix: [SandboxTool] = [.readFile, .writeFile, .listDirectory, .search, .executeCommand]

    /// Runs one agent per sandbox for `windowSeconds` after a common start.
    public static func run(_ vms: [any SandboxVM], windowSeconds: Double) async -> Level {
        let barrier = StartBarrier(parties: vms.count + 1)
        let inFlight = InFlightCounter()
        let window = UInt64(windowSeconds * 1e9)
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for (i, vm) in vms.enumerated() {
                group.addTask {
                    await agent(index: i, vm: vm, barrier: barrier, window: window, inFlight: inFlight)
                }
            }
            group.addTask {
                // The coordinator: a party of the barrier, so that its meters
                // cover exactly the agents' window.
                let start = await barrier.arrive()
                let vmm = vms.map { try? CPUMeter(pid: $0.pid) }
                let host = try? HostCPUMeter()
                let harness0 = (try? ProcProbes.cpuSeconds(of: getpid())) ?? 0
                let t0 = Monotonic.nanos()
                let remaining = Int64(start + window) - Int64(t0)
                if remaining > 0 { try? await Task.sleep(nanoseconds: UInt64(remaining)) }
                let wall = Double(Monotonic.nanos() - t0) / 1e9
                let harness = ((try? ProcProbes.cpuSeconds(of: getpid())) ?? harness0) - harness0
                return .meters(Meters(vmm: vmm.compactMap { try? $0?.percent() }, host: (try? host?.percent()) ?? .nan,
                                      harness: wall > 0 ? 100 * harness / wall : .nan, start: start))
            }
            var all: [Outcome] = []
            for await o in group { all.append(o) }
            return all
        }
        var calls: [Call] = [], setup: [String] = []
        var meters = Meters(vmm: [], host: .nan, harness: .nan, start: 0)
        for o in outcomes {
            switch o {
            case .agent(let c, let e): calls += c; if let e { setup.append(e) }
            case .meters(let m): meters = m
            }
        }
        return Level(agents: vms.count, windowSeconds: windowSeconds, windowStartNs: meters.start, calls: calls,
                     setupErrors: setup, maxInFlight: inFlight.max, vmmCPUPercent: meters.vmm,
                     hostCPUPercent: meters.host, harnessCPUPercent: meters.harness)
    }

    /// One agent: its own tool server and client over its own connection;
    /// prepares its workspace and calls each tool once (uncounted), waits at
    /// the barrier, then calls tools back to back until the window ends.
    static func agent(index: Int, vm: any SandboxVM, barrier: StartBarrier, window: UInt64,
                      inFlight: InFlightCounter) async -> ScaleLoad.Outcome {
        var conn: InProcessMCP?
        var setupError: String?
        do {
            try ToolLatency.prepareWorkspace(vm, smallFileBytes: 64)
            let c = try await InProcessMCP.connect(to: SandboxToolServer(sandbox: vm), transport: .fast,
                                                   clientName: "lgperf-agent-\(index)")
            conn = c
            for tool in mix { _ = try await ToolLatency.timedCall(c.client, tool.rawValue, ToolLatency.arguments(for: tool)) }
        } catch {
            setupError = "agent \(index): \(error)"
        }
        // Every agent arrives, ready or not, so that no other one waits forever.
        let start = await barrier.arrive()
        guard let conn, setupError == nil else {
            await conn?.close()
            return .agent([], setupError)
        }
        let end = start + window
        var calls: [Call] = []
        var i = index
        while Monotonic.nanos() < end {
            let tool = mix[i % mix.count]
            i += 1
            inFlight.enter()
            let t0 = Monotonic.nanos()
            var error: String?
            do {
                let r = try await conn.client.callTool(name: tool.rawValue, arguments: ToolLatency.arguments(for: tool))
                if r.isError == true { error = "\(tool.rawValue) returned an error: \(r.content)" }
            } catch let e {
                error = "\(tool.rawValue): \(e)"
            }
            let t1 = Monotonic.nanos()
            inFlight.leave()
            calls.append(Call(tool: tool, startNs: t0, endNs: t1, error: error))
        }
        await conn.close()
        return .agent(calls, nil)
    }
}

import Foundation
import AgentProtocol
import HostProbes
import MCP
import PerfStats
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The production soak: N agents, each an MCP client of a sandbox checked
/// out of the warm pool, calling the tool mix back to back for a wall
/// duration; each sandbox is recycled (released, a fresh one checked out)
/// after a fixed number of calls, as a pool serving short tasks would. A
/// sampler records the harness's and the host's state meanwhile.
enum Soak {
    struct Sample: Sendable {
        var seconds: Double
        var rssMB: Double
        var fds: Int
        var memAvailableMB: Double
        var vmms: Int
        var runDirectories: Int
    }

    struct Result: Sendable {
        var calls: [ScaleLoad.Call]
        var samples: [Sample]
        var startNs: UInt64
        var seconds: Double
        var recycled: Int
        var errors: [String]
    }

    /// Calls one sandbox serves before it is recycled.
    static let callsPerSandbox = 50

    /// Descriptors kept open by the test-only leak (never closed: that is the leak).
    nonisolated(unsafe) static var leaked: [Int32] = []
    static let leakLock = NSLock()
    static func keep(_ fd: Int32) { leakLock.lock(); leaked.append(fd); leakLock.unlock() }

    static func run(pool: VMPool, agents: Int, seconds: Double, leakFD: Bool, runDirectory: String) async -> Result {
        let start = Monotonic.nanos()
        let end = start + UInt64(seconds * 1e9)
        let sampleEvery = max(1, min(10, seconds / 12))
        let sampler = Task<[Sample], Never> {
            var out: [Sample] = []
            while true {
                out.append(sample(since: start, runDirectory: runDirectory))
                let now = Monotonic.nanos()
                if now >= end { break }
                try? await Task.sleep(nanoseconds: min(end - now, UInt64(sampleEvery * 1e9)))
            }
            return out
        }
        let perAgent = await withTaskGroup(of: ([ScaleLoad.Call], Int, [String]).self) { group in
            for i in 0..<agents {
                group.addTask { await agent(index: i, pool: pool, end: end, leakFD: leakFD) }
            }
            var all: [([ScaleLoad.Call], Int, [String])] = []
            for await r in group { all.append(r) }
            return all
        }
        let samples = await sampler.value
        return Result(calls: perAgent.flatMap(\.0), samples: samples, startNs: start, seconds: seconds,
                      recycled: perAgent.reduce(0) { $0 + $1.1 }, errors: perAgent.flatMap(\.2))
    }

    static func agent(index: Int, pool: VMPool, end: UInt64, leakFD: Bool) async -> ([ScaleLoad.Call], Int, [String]) {
        var calls: [ScaleLoad.Call] = [], errors: [String] = []
        var recycled = 0
        var i = index
        while Monotonic.nanos() < end {
            let vm: any SandboxVM
            do { vm = try pool.checkout().vm } catch { errors.append("agent \(index): checkout: \(error)"); try? await Task.sleep(nanoseconds: 200_000_000); continue }
            do {
                try ToolLatency.prepareWorkspace(vm, smallFileBytes: 64)
                let conn = try await InProcessMCP.connect(to: SandboxToolServer(sandbox: vm), transport: .fast, clientName: "lgperf-soak-\(index)")
                for _ in 0..<callsPerSandbox where Monotonic.nanos() < end {
                    let tool = ScaleLoad.mix[i % ScaleLoad.mix.count]
                    i += 1
                    let t0 = Monotonic.nanos()
                    var error: String?
                    do {
                        let r = try await conn.client.callTool(name: tool.rawValue, arguments: ToolLatency.arguments(for: tool))
                        if r.isError == true { error = "\(tool.rawValue) returned an error: \(r.content)" }
                    } catch let e { error = "\(tool.rawValue): \(e)" }
                    calls.append(ScaleLoad.Call(tool: tool, startNs: t0, endNs: Monotonic.nanos(), error: error))
                    if leakFD {
                        keep(open("/dev/null", O_RDONLY))
                    }
                }
                await conn.close()
            } catch { errors.append("agent \(index): \(error)") }
            pool.release(vm)
            recycled += 1
        }
        return (calls, recycled, errors)
    }

    static func sample(since start: UInt64, runDirectory: String) -> Sample {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
        let dirs = ((try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? []).filter { $0.hasPrefix("lgvm-\(getpid()).") }.count
        return Sample(seconds: Double(Monotonic.nanos() - start) / 1e9, rssMB: (try? ProcProbes.selfMemory().rssMB) ?? .nan, fds: fds,
                      memAvailableMB: ProcProbes.memAvailableMB() ?? .nan, vmms: Leftovers.vmms(runDirectory: runDirectory).count,
                      runDirectories: dirs)
    }
}

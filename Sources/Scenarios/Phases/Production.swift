import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Weeks 11-12: a soak that must not leak.
enum ProductionBenchmarks {
    static let all: [Benchmark] = [soak]

    static let soak = Benchmark(
        id: "production.soak", phase: .production, tags: ["production"],
        times: "repeated cycles of spawn -> write/read/list/search/execute in the guest -> shutdown (cycle time, each tool call's round trip); the harness's descriptors and RSS after each cycle",
        parameters: { "LUMINAGUARD_SOAK_CYCLES=\($0.soakCycles), 1 warm-up cycle" }) { ctx in
        let cycles = ctx.settings.soakCycles
        let load = ProcProbes.loadAverage1()
        /// Open descriptors and what each points to (to name a leak).
        func openFDs() -> [String: String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            var out: [String: String] = [:]
            for n in names { out[n] = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + n)) ?? "?" }
            return out
        }
        // One cycle first so lazily created state (caches, thread pools) exists.
        _ = try cycle(ctx.backend)
        let fdsBefore = openFDs()
        let rssBefore = try ProcProbes.selfMemory().rssMB
        var times: [Double] = [], rss: [Double] = [], calls: [Double] = []
        for i in 0..<cycles {
            let t0 = Monotonic.nanos()
            calls += try cycle(ctx.backend)
            times.append(Measure.ms(since: t0))
            rss.append(try ProcProbes.selfMemory().rssMB)
            if (i + 1) % 10 == 0 || i + 1 == cycles { ctx.progress(String(format: "  soak cycle %d/%d: %.1f ms, harness RSS %.1f MB", i + 1, cycles, times.last!, rss.last!)) }
        }
        let left = Leftovers.vmms(runDirectory: ctx.runDirectory).count
        let fdsAfter = openFDs()
        let added = fdsAfter.filter { fdsBefore[$0.key] != $0.value }.map { "\($0.key) -> \($0.value)" }.sorted()
        var file = ctx.newFile(scope: "soak", phase: .production, iterations: cycles, warmup: 1, loadBefore: load,
                               notes: ["Each cycle: spawn, write/read/list/search/execute in the guest, shut down. Harness RSS after each cycle; descriptors before the first and after the last."])
        file.add("cycle_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn + 5 tool calls + shutdown", series: .init(samples: times), judged: false))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "each tool call's round trip through the agent", series: .init(samples: calls), judged: true))
        file.add("harness_rss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "harness RSS after each cycle", series: .init(samples: rss), judged: false))
        file.add("harness_rss_growth_mb", try MetricSeries(metric: .memory, unit: "MB", description: "harness RSS after the last cycle minus before the first",
                                                           series: .init(samples: [rss.last! - rssBefore]), judged: false))
        file.add("fd_growth", try Measure.count(fdsAfter.count - fdsBefore.count, .memory, "harness descriptors after the last cycle minus before the first"))
        if !added.isEmpty { file.notes.append("Descriptors open after the soak that were not before it: \(added.joined(separator: ", ")).") }
        file.add("vm_left", try Measure.count(left, .memory, "VMM processes still running after the soak"))
        return [file]
    }

    /// One spawn/work/shutdown cycle; returns each call's round trip (ms).
    static func cycle(_ backend: any VMBackend) throws -> [Double] {
        let vm = try backend.spawn(SpawnOptions())
        defer { vm.shutdown() }
        let s = vm.session
        var out: [Double] = []
        func timed(_ op: AgentOp, _ args: [String: JSON]) throws {
            let t0 = Monotonic.nanos()
            _ = try s.call(op, args)
            out.append(Measure.ms(since: t0))
        }
        try timed(.writeFile, ["path": .string("a.txt"), "content": .string("soak")])
        try timed(.readFile, ["path": .string("a.txt")])
        try timed(.listDirectory, [:])
        try timed(.search, ["pattern": .string("soak")])
        try timed(.executeCommand, ["command": .string("true")])
        return out
    }
}

import Foundation
import Testing
import LGSettings
import PerfMetrics
import VMFixtures
@testable import Scenarios

@Suite struct RunConfigTests {
    @Test func followsTheSettings() throws {
        let full = RunConfig(try Settings.load(environment: [:], mode: .full), phase: .chaos)
        #expect(full.iterations == 100 && full.warmup == 3 && !full.quick && full.phase == .chaos)
        let quick = RunConfig(try Settings.load(environment: ["ITERATIONS": "50"], mode: .quick), phase: .baseline)
        #expect(quick.iterations == 50 && quick.warmup == 1 && quick.quick)
    }
}

@Suite struct ResultsTableTests {
    @Test func tableShowsTargetsGradesAndLabels() throws {
        var f = MetricsFile(scope: "spawn", phase: .baseline, iterations: 3, warmup: 0,
                            labels: RunLabels(backend: "qemu", accelerator: "tcg"),
                            host: HostDescription(hostname: "h", cpuModel: "c", cores: 2, kernel: "k", memoryTotalMB: 1),
                            tools: [:], commit: "x")
        f.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "d",
                                                series: .init(samples: [900, 1000, 1100]), judged: true))
        let text = ResultsTable.render([f])
        #expect(text.contains("spawn_time_ms") && text.contains("< 200 ms") && text.contains("Below target"))
        #expect(text.contains("below target (emulated, TCG)") && text.contains("qemu/tcg"))
        // A host-only series in the same file is labelled host/none on its row.
        f.add("mcp_echo_ms", try MetricSeries(metric: .latency, unit: "ms", description: "e",
                                              series: .init(samples: [0.2, 0.3]), judged: false).produced(by: .hostOnly))
        let row = try #require(ResultsTable.render([f]).split(separator: "\n").first { $0.contains("mcp_echo_ms") })
        #expect(row.hasSuffix("host/none") && !row.contains("qemu"))
    }
}

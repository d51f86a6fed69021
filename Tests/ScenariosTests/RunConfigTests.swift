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

    @Test func percentilesOnlyWhereTheCountSupportsThemAndMediansWithTheirInterval() throws {
        var f = MetricsFile(scope: "spawn", phase: .baseline, iterations: 10, warmup: 0,
                            labels: RunLabels(backend: "qemu", accelerator: "tcg"),
                            host: HostDescription(hostname: "h", cpuModel: "c", cores: 2, kernel: "k", memoryTotalMB: 1),
                            tools: [:], commit: "x")
        // 10 boots: median 1805, CI ranks 2 and 9 = 1761-1874; no p95 (n < 20), no p99.
        f.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "d",
                                                series: .init(samples: [1806, 1799, 1761, 1994, 1812, 1788, 1874, 1804, 1750, 1830]), judged: true))
        // 25 round trips: p95 shown, p99 not.
        f.add("network_latency_ms", try MetricSeries(metric: .network, unit: "ms", description: "n",
                                                     series: .init(samples: (1...25).map { Double($0) }), judged: true))
        let text = ResultsTable.render([f])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].split(separator: " ").joined(separator: " ")
            == "Scope Metric n Median [95% CI] P95 P99 Target Grade Status Backend")
        let spawn = try #require(lines.first { $0.contains("spawn_time_ms") })
        let cells = spawn.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(cells[2] == "10" && cells[3] == "1805 ms [1761-1874]" && cells[4] == "-" && cells[5] == "-")
        #expect(spawn.contains("below target (emulated, TCG), clear"))
        let net = try #require(lines.first { $0.contains("network_latency_ms") })
        let netCells = net.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(netCells[2] == "25" && netCells[3] == "13 ms [8-18]" && netCells[4] == "23.8 ms" && netCells[5] == "-")
        #expect(net.contains("meets target, clear"))
        #expect(text.hasSuffix(ReportedFigures.legend + "\n"))
    }
}

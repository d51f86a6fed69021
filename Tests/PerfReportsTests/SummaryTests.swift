import Foundation
import FoundationXML
import PerfMetrics
import Testing
import LGSettings
@testable import PerfReports

/// Real measurements used by the summary tests, taken once.
private struct Measured: Sendable {
    let spawns: [Double]
    let base: [Double]
    let slow: [Double]
    let same: [Double]
    let rss: [Double]

    static let shared: Measured = {
        let spawns = (try? Workload.processSpawns(25)) ?? []
        // 3 ms samples and 50% more work: a 20% change over 1.5 ms samples
        // came out at p = 0.06 once on a busy host, and the summary's verdict
        // needs significance.
        let n = Workload.calibrate(ms: 3)
        let (base, slow, same) = Workload.interleaved3(samples: 50, iterations: n, factor: 1.5)
        return Measured(spawns: spawns, base: base, slow: slow, same: same, rss: Workload.residentMB(20))
    }()
}

extension `Report generator` {
@Suite struct `Weekly baseline summaries` {
    /// A spawn series from the process backend (real /bin/true spawns), a
    /// TCG-labelled boot series and a memory series.
    func writeRun(into dir: URL, boot: [Double], at offset: Int) throws {
        let m = Measured.shared
        try Metrics.file(scope: "spawn", backend: "process", accelerator: "none", timestamp: .fixed(offset), series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: m.spawns, description: "spawn of /bin/true"),
        ]).write(into: dir)
        try Metrics.file(scope: "boot", backend: "qemu", accelerator: "tcg", timestamp: .fixed(offset + 1), series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: boot, description: "busy loop standing in for a boot"),
        ]).write(into: dir)
        try Metrics.file(scope: "memory", backend: "process", accelerator: "none", timestamp: .fixed(offset + 2), series: [
            .init(name: "memory_mb", metric: .memory, unit: "MB", samples: m.rss, description: "RSS of the test process"),
        ]).write(into: dir)
    }

    @Test func `the summary has labels, the emulation warning, the table, criteria and a chart`() throws {
        let dir = try TempDir("summary")
        defer { dir.remove() }
        let metrics = dir.path("metrics")
        try writeRun(into: metrics, boot: Measured.shared.base, at: 0)
        let o = try WeeklySummary.generate(.init(phase: .baseline, metrics: metrics, outputDirectory: dir.path("summaries")))
        #expect(o.markdown.lastPathComponent == "week1-2_baseline_summary.md")
        #expect(o.chart.lastPathComponent == "week1-2_baseline_summary.svg")
        #expect(o.data.lastPathComponent == "week1-2_baseline_summary.json")
        let md = try String(contentsOf: o.markdown, encoding: .utf8)

        for section in ["## Executive summary", "## Test environment", "## Results", "## Acceptance criteria",
                        "## Comparison with the previous baseline summary", "## Data files"] {
            #expect(md.contains(section), "missing \(section)")
        }
        #expect(md.contains("| Metric | Median [95% CI] | P95 | P99 | Target | Grade | Status |"))
        #expect(md.contains(ReportedFigures.legend))
        #expect(md.contains("WARNING: these are not hardware-KVM numbers"))
        #expect(md.contains(RunLabels(backend: "qemu", accelerator: "tcg").caveat!))
        #expect(md.contains(RunLabels(backend: "process", accelerator: "none").caveat!))
        #expect(md.contains("[qemu/tcg ⚠️ emulated]"))
        #expect(md.contains("[process/none ⚠️ simulated]"))
        #expect(md.contains("| boot | qemu | **tcg** ⚠️ |"))
        // Every series row carries its median as computed from the samples.
        let spawn = try #require(try MetricsFile.read(from: metrics.appendingPathComponent(
            try FileManager.default.contentsOfDirectory(atPath: metrics.path).first { $0.hasPrefix("spawn_") }!))["spawn_time_ms"])
        // Its median with the 95 % CI; p95 from 25 samples, but no p99 below 100.
        let figures = ReportedFigures(spawn)
        let ci = try #require(figures.medianInterval)
        #expect(spawn.count == 25 && figures.p95 != nil && figures.p99 == nil)
        #expect(md.contains("| \(ReportedFigures.value(spawn.median, "ms")) [\(ReportedFigures.range(ci.lower, ci.upper))] | \(ReportedFigures.value(spawn.p95, "ms")) | - | < 200 ms |"))
        // Baseline needs startup, latency, cpu and network too: no data, no pass.
        #expect(o.status == .incomplete || o.status == .fail)
        #expect(!md.contains("Status: ✅ PASS"))
        #expect(md.contains("| startup (`startup_time_ms`) median < 500 ms | yes | ⛔ NO DATA |"))
        // The chart is linked, exists, is well-formed SVG and shows every series with its labels.
        #expect(md.contains("](week1-2_baseline_summary.svg)"))
        let svg = try XMLDocument(contentsOf: o.chart)
        #expect(svg.rootElement()?.name == "svg")
        let text = try String(contentsOf: o.chart, encoding: .utf8)
        #expect(text.contains("boot/spawn_time_ms") && text.contains("qemu/tcg (emulated: not KVM)"))
        #expect(text.contains("process/none (simulated: no VM)"))
        #expect(text.components(separatedBy: "<circle").count - 1 == Measured.shared.spawns.count + Measured.shared.base.count + Measured.shared.rss.count)
        // The data file keeps the raw samples.
        let data = try SummarySidecar.read(from: o.data)
        #expect(data.series.first { $0.key == "spawn/spawn_time_ms" }?.samples == Measured.shared.spawns)
        #expect(data.files.count == 3)
        for f in try FileManager.default.contentsOfDirectory(atPath: metrics.path) { #expect(md.contains("`\(f)`")) }
    }

    @Test func `with no samples the summary says NO DATA and fails`() throws {
        let dir = try TempDir("summary-nodata")
        defer { dir.remove() }
        let empty = dir.path("metrics")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        // A corrupt file is no data either; it is listed as rejected.
        try Data("{\"timestamp\": ".utf8).write(to: empty.appendingPathComponent("spawn_baseline_20260101_000000.json"))
        let o = try WeeklySummary.generate(.init(phase: .baseline, metrics: empty, outputDirectory: dir.path("out")))
        #expect(o.status == .noData)
        #expect(!o.status.isSuccess)
        let md = try String(contentsOf: o.markdown, encoding: .utf8)
        #expect(md.contains("**Status: ⛔ NO DATA**"))
        #expect(md.contains("Rejected files"))
        #expect(md.contains("spawn_baseline_20260101_000000.json"))
        #expect(!md.contains("PASS**"))
        #expect(try String(contentsOf: o.chart, encoding: .utf8).contains("NO DATA"))
        // A metrics directory that does not exist at all: NO DATA too.
        let none = try WeeklySummary.generate(.init(phase: .scale, metrics: dir.path("nowhere"), outputDirectory: dir.path("out")))
        #expect(none.status == .noData)
        #expect(none.markdown.lastPathComponent == "week3-4_scale_summary.md")
    }

    @Test func `all required metrics within target make a PASS`() throws {
        let dir = try TempDir("summary-pass")
        defer { dir.remove() }
        let m = Measured.shared
        // Small real values: process spawns (ms) for each time metric, RSS for memory.
        let ms = m.spawns
        try Metrics.file(scope: "all", backend: "qemu", accelerator: "kvm", timestamp: .fixed(0), series: [
            .init(name: "startup_time_ms", metric: .startup, unit: "ms", samples: ms),
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: ms),
            .init(name: "memory_mb", metric: .memory, unit: "MB", samples: m.rss),
            .init(name: "tool_latency_ms", metric: .latency, unit: "ms", samples: m.base),
            .init(name: "cpu_percent", metric: .cpu, unit: "%", samples: m.base.map { min($0, 40) }),
            .init(name: "network_latency_ms", metric: .network, unit: "ms", samples: m.base),
        ]).write(into: dir.path("metrics"))
        let o = try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("metrics"), outputDirectory: dir.path("out")))
        #expect(o.status == .pass)
        let md = try String(contentsOf: o.markdown, encoding: .utf8)
        #expect(md.contains("**Status: ✅ PASS**"))
        #expect(!md.contains("WARNING"))
    }

    @Test func `the next summary compares with the previous one and says what changed`() throws {
        let dir = try TempDir("summary-compare")
        defer { dir.remove() }
        let out = dir.path("summaries")
        try writeRun(into: dir.path("m1"), boot: Measured.shared.base, at: 0)
        let first = try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("m1"), outputDirectory: out))
        #expect(first.comparedWith == nil)
        #expect(try String(contentsOf: first.markdown, encoding: .utf8).contains("No previous baseline summary"))

        // Same configuration again (new timestamps, same kind of samples): no regression.
        try writeRun(into: dir.path("m2"), boot: Measured.shared.same, at: 100)
        let second = try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("m2"), outputDirectory: out))
        #expect(second.comparedWith == first.data.path)
        let md2 = try String(contentsOf: second.markdown, encoding: .utf8)
        #expect(md2.contains("No significant regression."))
        #expect(!md2.contains("❌ regression"))

        // 50% more work per boot sample: the boot series regresses, significantly.
        try writeRun(into: dir.path("m3"), boot: Measured.shared.slow, at: 200)
        let third = try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("m3"), outputDirectory: out))
        let md3 = try String(contentsOf: third.markdown, encoding: .utf8)
        let row = try #require(md3.split(separator: "\n").first { $0.hasPrefix("| `boot/spawn_time_ms` |") })
        #expect(row.contains("❌ regression (significant)"), "\(row)")
        #expect(md3.contains("**Regressions:** `boot/spawn_time_ms`"))
        // The spawn series (same samples both times) did not change.
        #expect(md3.split(separator: "\n").first { $0.hasPrefix("| `spawn/spawn_time_ms` |") }?.contains("no significant change") == true)

        // Regenerated from the same files: still compared with the second
        // summary (kept in history/), not with itself.
        let again = try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("m3"), outputDirectory: out))
        #expect(again.comparedWith?.contains("/history/") == true)
        #expect(try String(contentsOf: again.markdown, encoding: .utf8).contains("**Regressions:** `boot/spawn_time_ms`"))
        let history = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("history").path)
        #expect(history.count == 2) // the first and the second summaries' data
    }

    @Test func `the newest file per scope is used and older ones are counted`() throws {
        let dir = try TempDir("summary-newest")
        defer { dir.remove() }
        let metrics = dir.path("metrics")
        let m = Measured.shared
        for (i, samples) in [m.slow, m.base].enumerated() {
            try Metrics.file(scope: "boot", backend: "qemu", accelerator: "tcg", timestamp: .fixed(i * 100), series: [
                .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: samples),
            ]).write(into: metrics)
        }
        // Another phase is ignored.
        try Metrics.file(scope: "boot", phase: .scale, backend: "qemu", accelerator: "tcg", timestamp: .fixed(500), series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: m.same),
        ]).write(into: metrics)
        let o = try WeeklySummary.generate(.init(phase: .baseline, metrics: metrics, outputDirectory: dir.path("out")))
        let data = try SummarySidecar.read(from: o.data)
        #expect(data.series.map(\.samples) == [m.base])
        #expect(o.filesUsed.count == 1)
        #expect(try String(contentsOf: o.markdown, encoding: .utf8).contains("Older baseline files not used (a newer file of the same scope exists): 1."))
    }

    @Test func `a failed generation leaves the earlier summary untouched`() throws {
        let dir = try TempDir("summary-atomic")
        defer { dir.remove() }
        let out = dir.path("summaries")
        try writeRun(into: dir.path("m1"), boot: Measured.shared.base, at: 0)
        let first = try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("m1"), outputDirectory: out))
        let before = try [first.markdown, first.data, first.chart].map { try Data(contentsOf: $0) }
        // An explicit previous summary that is corrupt: an error, and nothing is replaced.
        let bad = dir.path("bad.json")
        try Data("{\"kind\":\"luminaguard-weekly-summary\",".utf8).write(to: bad)
        try writeRun(into: dir.path("m2"), boot: Measured.shared.slow, at: 100)
        #expect(throws: ReportError.self) {
            try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("m2"), outputDirectory: out, previous: bad))
        }
        #expect(try [first.markdown, first.data, first.chart].map { try Data(contentsOf: $0) } == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
            == ["trends_baseline.svg", "week1-2_baseline_glance.svg", "week1-2_baseline_summary.json",
                "week1-2_baseline_summary.md", "week1-2_baseline_summary.svg"])
    }

    @Test func `report paths follow LUMINAGUARD_REPORTS_DIR`() throws {
        let p = ReportPaths.fromSettings(try Settings.load(environment: ["LUMINAGUARD_REPORTS_DIR": "/srv/perf"]))
        #expect(p.metrics.path == "/srv/perf/metrics")
        #expect(p.junit.path == "/srv/perf/junit")
        #expect(p.summaries.path == "/srv/perf/summaries")
        #expect(ReportPaths.fromSettings(try Settings.load(environment: [:])).root.lastPathComponent == "reports")
        #expect(Phase.allCases.map(SummarySidecar.baseName) == [
            "week1-2_baseline_summary", "week3-4_scale_summary", "week5-6_exhaustion_summary",
            "week7-8_chaos_summary", "week9-10_recovery_summary", "week11-12_production_summary",
        ])
    }
}
}

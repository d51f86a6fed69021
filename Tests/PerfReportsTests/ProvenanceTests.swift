import Foundation
import PerfMetrics
import PerfStats
import Testing
@testable import PerfReports

extension `Report generator` {
/// Test runs' metrics files (provenance origin "test") never mix with the
/// main job's numbers, even when they land in the same directory.
@Suite struct `Test runs kept apart from the main job` {
    /// Samples around `median` (deterministic spread of +-2%).
    func around(_ median: Double, count: Int = 21, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in median * (0.98 + Double(rng.next() % 4001) / 100_000) }
    }

    func spawn(at offset: Int, median: Double, provenance: Provenance?, phase: Phase = .baseline) throws -> MetricsFile {
        try Metrics.file(scope: "spawn", phase: phase, backend: "qemu", accelerator: "tcg", timestamp: .fixed(offset),
                         provenance: provenance, series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: around(median, seed: UInt64(offset + 1000))),
        ])
    }

    @Test func `the newest file of a scope is skipped when it is a test run's`() throws {
        let dir = try TempDir("prov-loader")
        defer { dir.remove() }
        let main = try spawn(at: 0, median: 1000, provenance: Metrics.mainJob("baseline.spawn")).write(into: dir.url)
        let test = try spawn(at: 100, median: 1500, provenance: Metrics.testRun("baseline.spawn")).write(into: dir.url)
        let c = try MetricsCollection.loadNewest(dir.url, phase: .baseline, selection: .mainJob)
        #expect(c.files.map(\.url) == [main])
        #expect(c.excluded.map(\.url) == [test])
        #expect(c.excluded.first?.reason.contains("test run") == true)
        #expect(c.exclusionNote?.contains("left out 1 metrics file: 1 test-run file") == true, "\(c.exclusionNote ?? "")")
        // Everything: the newest is the test run's.
        let all = try MetricsCollection.loadNewest(dir.url, phase: .baseline, selection: .everything)
        #expect(all.files.map(\.url) == [test] && all.excluded.isEmpty && all.exclusionNote == nil)
        // A file without provenance (written before it was recorded) is the main job's.
        #expect(RunSelection.mainJob.admits(try spawn(at: 5, median: 1, provenance: nil)))
    }

    @Test func `a reports directory with both gives a weekly summary from the main job's files only`() throws {
        let dir = try TempDir("prov-summary")
        defer { dir.remove() }
        let metrics = dir.path("reports/metrics")
        let main = try spawn(at: 0, median: 1000, provenance: Metrics.mainJob("baseline.spawn"))
        try main.write(into: metrics)
        try spawn(at: 100, median: 1500, provenance: Metrics.testRun("baseline.spawn")).write(into: metrics)
        // A scope only a test run wrote.
        try Metrics.file(scope: "memory", backend: "qemu", accelerator: "tcg", timestamp: .fixed(50),
                         provenance: Metrics.testRun("baseline.memory"), series: [
            .init(name: "memory_mb", metric: .memory, unit: "MB", samples: around(140, seed: 9)),
        ]).write(into: metrics)

        let o = try WeeklySummary.generate(.init(phase: .baseline, metrics: metrics, outputDirectory: dir.path("reports/summaries")))
        #expect(o.filesUsed == [main.fileName])
        #expect(o.excluded.count == 2)
        let data = try SummarySidecar.read(from: o.data)
        #expect(data.series.map(\.key) == ["spawn/spawn_time_ms"])
        #expect(data.series.first?.samples == main["spawn_time_ms"]?.samples)
        #expect(data.files.first?.provenance == Metrics.mainJob("baseline.spawn"))
        let md = try String(contentsOf: o.markdown, encoding: .utf8)
        #expect(md.contains("Files left out: left out 2 metrics files: 2 test-run files"), "\(md)")
        #expect(md.contains("release quick benchmark"))
        #expect(!md.contains("memory/memory_mb"))

        // Asked for, the test runs are used (the newest spawn file is then a test run's).
        let all = try WeeklySummary.generate(.init(phase: .baseline, metrics: metrics, outputDirectory: dir.path("all"),
                                                   includeTestRuns: true))
        #expect(all.filesUsed.count == 2 && all.excluded.isEmpty)
        #expect(try String(contentsOf: all.markdown, encoding: .utf8).contains("debug quick test"))
    }

    @Test func `trends come from the main job's files, kept apart by build and mode`() throws {
        let dir = try TempDir("prov-trends")
        defer { dir.remove() }
        try spawn(at: -100, median: 1000, provenance: nil).write(into: dir.url)                                   // before provenance
        try spawn(at: 0, median: 1000, provenance: Metrics.mainJob("baseline.spawn")).write(into: dir.url)
        try spawn(at: 100, median: 1500, provenance: Metrics.testRun("baseline.spawn")).write(into: dir.url)
        try spawn(at: 200, median: 1010, provenance: Metrics.mainJob("baseline.spawn")).write(into: dir.url)
        try spawn(at: 250, median: 1600, provenance: Metrics.mainJob("baseline.spawn", build: "debug")).write(into: dir.url)
        try spawn(at: 260, median: 1900, provenance: Metrics.mainJob("baseline.spawn", mode: "full")).write(into: dir.url)
        try spawn(at: 300, median: 3000, provenance: Metrics.testRun("baseline.spawn")).write(into: dir.url)
        let c = try MetricsCollection.load(dir.url)
        #expect(c.files.count == 7)

        let series = Trends.compute(c, threshold: 0.10)
        #expect(series.map(\.key) == [
            "spawn/spawn_time_ms [qemu/tcg]",
            "spawn/spawn_time_ms [qemu/tcg release quick]",
            "spawn/spawn_time_ms [qemu/tcg debug quick]",
            "spawn/spawn_time_ms [qemu/tcg release full]",
        ])
        let release = try #require(series.first { $0.key == "spawn/spawn_time_ms [qemu/tcg release quick]" })
        #expect(release.points.map(\.timestamp) == [.fixed(0), .fixed(200)])
        #expect(release.build == "release" && release.mode == "quick" && release.origin == "benchmark")
        #expect(series.allSatisfy { !$0.drifted }, "a debug or full-mode number is no drift of the release quick series")
        let text = Trends.render(series, threshold: 0.10)
        #expect(!text.contains("DRIFT"))
        #expect(text.contains("spawn/spawn_time_ms (ms) [qemu/tcg release quick]"))
        #expect(c.selecting(.mainJob).exclusionNote?.contains("left out 2 metrics files: 2 test-run files") == true)

        // Asked for, test runs form their own series: still no drift against the release numbers.
        let all = Trends.compute(c, threshold: 0.10, selection: .everything)
        let test = try #require(all.first { $0.key == "spawn/spawn_time_ms [qemu/tcg debug quick test]" })
        #expect(test.points.map(\.timestamp) == [.fixed(100), .fixed(300)])
        #expect(all.first { $0.key == "spawn/spawn_time_ms [qemu/tcg release quick]" }?.drifted == false)
    }

    @Test func `compare leaves a test run's file out unless asked`() async throws {
        let dir = try TempDir("prov-compare")
        defer { dir.remove() }
        let main = try spawn(at: 0, median: 1000, provenance: Metrics.mainJob("baseline.spawn")).write(into: dir.url)
        let test = try spawn(at: 100, median: 1000, provenance: Metrics.testRun("baseline.spawn")).write(into: dir.url)
        let e = await RegressionCheck.execute(baseline: main, current: test, threshold: 0.1)
        #expect(e.status == .unusableInput)
        #expect(e.errors.contains("test run") && e.errors.contains("--include-test-runs"), "\(e.errors)")
        let asked = await RegressionCheck.execute(baseline: main, current: test, threshold: 0.1, selection: .everything)
        #expect(asked.status == .noRegression, "\(asked.errors)")
        #expect(asked.output.contains("runs differ (release quick benchmark vs debug quick test)"), "\(asked.output)")
        // Two main-job files of the same build and mode: no such warning.
        let main2 = try spawn(at: 200, median: 1000, provenance: Metrics.mainJob("baseline.spawn")).write(into: dir.url)
        let same = await RegressionCheck.execute(baseline: main, current: main2, threshold: 0.1)
        #expect(same.status == .noRegression && !same.output.contains("runs differ"))
    }
}
}

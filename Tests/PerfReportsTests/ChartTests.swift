import Foundation
import FoundationXML
import PerfMetrics
import Testing
@testable import PerfReports

/// A frozen criteria file for the tests of the machinery (Fixtures/README.md).
private var criteriaURL: URL { Fixture.packageRoot.appendingPathComponent("Tests/PerfReportsTests/Fixtures/mechanics-criteria.json") }

/// Renders SVG to PNG with rsvg-convert (Debian: librsvg2-bin, installed by
/// scripts/install-deps.sh), as a reviewer's viewer would.
enum PNGRender {
    struct Image { var width: Int; var height: Int; var bytes: Int; var warnings: String }

    static var converter: URL? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let u = URL(fileURLWithPath: String(dir)).appendingPathComponent("rsvg-convert")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        return nil
    }

    /// The PNG's size from its IHDR chunk; records an issue when it cannot render.
    static func render(_ svg: URL, to png: URL) throws -> Image? {
        guard let tool = converter else {
            Issue.record("rsvg-convert not found: install librsvg2-bin (scripts/install-deps.sh does)")
            return nil
        }
        let p = Process()
        p.executableURL = tool
        p.arguments = ["--format", "png", "--output", png.path, svg.path]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let warnings = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "rsvg-convert \(svg.lastPathComponent): \(warnings)")
        guard p.terminationStatus == 0 else { return nil }
        let data = try Data(contentsOf: png)
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard data.count > 24, Array(data.prefix(8)) == signature else {
            Issue.record("\(png.lastPathComponent) is not a PNG")
            return nil
        }
        func be32(_ at: Int) -> Int { data[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return Image(width: be32(16), height: be32(20), bytes: data.count, warnings: warnings)
    }
}

extension `Report generator` {
@Suite struct `Charts a reviewer reads` {
    /// Samples around `median` (deterministic, ±10 %).
    static func around(_ median: Double, n: Int = 25) -> [Double] {
        (0..<n).map { median * (0.9 + 0.2 * Double($0) / Double(n - 1)) }
    }

    /// A baseline run: spawn missed (TCG), memory met, throughput (higher is
    /// better) missed, latency met, plus a context series with a target that
    /// no criterion names. Startup, cpu and network are left out: no data.
    func writeBaseline(into dir: URL, at offset: Int = 0, spawn: Double = 1000, host: String? = nil) throws {
        func put(_ f: MetricsFile) throws {
            var f = f
            if let host { f.host.hostname = host }
            try f.write(into: dir)
        }
        try put(try Metrics.file(scope: "spawn", backend: "qemu", accelerator: "tcg", timestamp: .fixed(offset), series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: Self.around(spawn)),
        ]))
        try put(try Metrics.file(scope: "memory", backend: "qemu", accelerator: "kvm", timestamp: .fixed(offset + 1), series: [
            .init(name: "memory_mb", metric: .memory, unit: "MB", samples: Self.around(150)),
        ]))
        try put(try Metrics.file(scope: "throughput", backend: "qemu", accelerator: "tcg", timestamp: .fixed(offset + 2), series: [
            .init(name: "throughput_ops_per_min", metric: .throughput, unit: "ops/min", samples: Self.around(500, n: 10)),
        ]))
        try put(try Metrics.file(scope: "latency", backend: "process", accelerator: "none", timestamp: .fixed(offset + 3), series: [
            .init(name: "tool_latency_ms", metric: .latency, unit: "ms", samples: Self.around(4)),
        ]))
        try put(try Metrics.file(scope: "pool", backend: "qemu", accelerator: "tcg", timestamp: .fixed(offset + 4), series: [
            .init(name: "checkout_ms", metric: .spawn, unit: "ms", samples: Self.around(1.2)),
        ]))
    }

    @Test func `the glance chart puts every judged metric on one axis against its limit`() throws {
        let dir = try TempDir("glance")
        defer { dir.remove() }
        try writeBaseline(into: dir.path("metrics"))
        let o = try WeeklySummary.generate(.init(phase: .baseline, metrics: dir.path("metrics"), outputDirectory: dir.path("out"),
                                                 criteria: criteriaURL))
        #expect(o.glance.lastPathComponent == "week1-2_baseline_glance.svg")
        #expect(o.trends.lastPathComponent == "trends_baseline.svg")

        // Rows: the seven baseline criteria, then the context series no criterion names.
        let used = try MetricsCollection.load(dir.path("metrics")).newestPerScope(phase: .baseline)
        let items = GlanceChart.items(used: used, verdicts: o.criteria)
        #expect(items.map(\.label) == o.criteria.map(\.id) + ["pool/checkout_ms"])
        let byLabel = Dictionary(items.map { ($0.label, $0) }, uniquingKeysWith: { a, _ in a })
        // Lower is better: value / limit; higher is better: limit / value. Beyond 1 is missed either way.
        let spawn = try #require(byLabel["baseline.spawn"])
        #expect(abs(spawn.ratio(spawn.median)! - 5) < 1e-9)
        #expect(spawn.verdict == .missed && spawn.labels?.accelerator == "tcg")
        let throughput = try #require(byLabel["baseline.throughput"])
        #expect(throughput.direction == .higherIsBetter)
        #expect(abs(throughput.ratio(throughput.median)! - 2) < 1e-9)
        #expect(throughput.verdict == .missed)
        let memory = try #require(byLabel["baseline.memory"])
        #expect(memory.ratio(memory.median)! < 1 && memory.verdict == .met)
        #expect(byLabel["baseline.startup"]?.verdict == .noData)
        #expect(byLabel["pool/checkout_ms"]?.contextOnly == true)

        let svg = try String(contentsOf: o.glance, encoding: .utf8)
        #expect(try XMLDocument(contentsOf: o.glance).rootElement()?.name == "svg")
        for item in items { #expect(svg.contains(">\(item.label)<"), "no label for \(item.label)") }
        #expect(svg.contains("id=\"limit-line\""))
        #expect(svg.components(separatedBy: ">TCG<").count - 1 == 3) // spawn, throughput, pool
        #expect(svg.contains(">SIM<"))                                 // the process backend's latency
        #expect(svg.contains("url(#hatch)"))
        #expect(svg.contains("MISSED · 5×") && svg.contains("MISSED · 2×"))
        #expect(svg.contains("NO DATA"))
        #expect(svg.contains("median") && svg.contains("p95"))

        // The summary opens with it and links the trends and the program view.
        let md = try String(contentsOf: o.markdown, encoding: .utf8)
        let lines = md.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines[0].hasPrefix("# Week 1-2 Baseline Summary"))
        #expect(lines[2] == "![At a glance: every judged metric of the phase against its limit](week1-2_baseline_glance.svg)")
        #expect(md.contains("](trends_baseline.svg)") && md.contains("](program_summary.md)"))

        let png = try #require(try PNGRender.render(o.glance, to: dir.path("glance.png")))
        #expect(png.width == 1280 && png.height > 400, "\(png)")
        #expect(png.bytes > 20_000, "\(png)")
    }

    @Test func `exact and zero-limit criteria are listed with their verdict, not on the ratio axis`() throws {
        let dir = try TempDir("glance-chaos")
        defer { dir.remove() }
        let metrics = dir.path("metrics")
        try Metrics.file(scope: "vm_kill", phase: .chaos, backend: "qemu", accelerator: "tcg", timestamp: .fixed(0), series: [
            .init(name: "failure_detection_ms", metric: .latency, unit: "ms", samples: Self.around(3000, n: 3), judged: false),
            .init(name: "survivor_errors", metric: .latency, unit: "count", samples: [0, 2, 0], judged: false),
        ]).write(into: metrics)
        let o = try WeeklySummary.generate(.init(phase: .chaos, metrics: metrics, outputDirectory: dir.path("out"), criteria: criteriaURL))
        #expect(o.status == .fail)
        let items = GlanceChart.items(used: try MetricsCollection.load(metrics).files, verdicts: o.criteria)
        let kill = try #require(items.first { $0.label == "chaos.kill_detected" })
        #expect(kill.hasRatio && kill.judgedStat == "max" && kill.verdict == .missed)
        let survivors = try #require(items.first { $0.label == "chaos.survivors" })
        #expect(!survivors.hasRatio && survivors.verdict == .missed)
        let svg = try String(contentsOf: o.glance, encoding: .utf8)
        #expect(svg.contains("Criteria with no ratio to draw"))
        #expect(svg.contains("max = 2 count, must be == 0"))
        for c in o.criteria { #expect(svg.contains(">\(c.id)<")) }
        #expect(svg.contains("id=\"limit-line\""))
        let png = try #require(try PNGRender.render(o.glance, to: dir.path("chaos.png")))
        #expect(png.width == 1280 && png.bytes > 10_000)
    }

    @Test func `the trend chart shows each judged metric across runs with drift flags and weeks`() throws {
        let dir = try TempDir("trend-chart")
        defer { dir.remove() }
        let metrics = dir.path("metrics")
        let day = 86_400
        // Four runs: steady, steady a week later (week 2 of the phase), then 50 % slower, then three weeks on.
        for (i, (median, offset)) in [(100.0, 0), (102.0, 8 * day), (150.0, 9 * day), (151.0, 22 * day)].enumerated() {
            try Metrics.file(scope: "spawn", backend: "qemu", accelerator: "tcg", timestamp: .fixed(offset + i),
                             provenance: Metrics.mainJob("baseline.spawn"), series: [
                .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: Self.around(median)),
                .init(name: "guest_boot_ms", metric: .spawn, unit: "ms", samples: Self.around(median / 2), judged: false),
            ]).write(into: metrics)
        }
        let o = try WeeklySummary.generate(.init(phase: .baseline, metrics: metrics, outputDirectory: dir.path("out"), criteria: criteriaURL))
        let svg = try String(contentsOf: o.trends, encoding: .utf8)
        #expect(try XMLDocument(contentsOf: o.trends).rootElement()?.name == "svg")
        #expect(svg.contains(">spawn/spawn_time_ms<"))
        #expect(!svg.contains("guest_boot_ms")) // not judged: no panel
        #expect(svg.contains("[qemu/tcg release quick]"))
        #expect(svg.contains("DRIFT +47.1% vs prev"))
        #expect(svg.contains("DRIFT +51.0% vs first"))
        // Two worse-drift rings, and the legend's.
        #expect(svg.components(separatedBy: "r=\"8\" fill=\"none\" stroke=\"#b00020\"").count - 1 == 3)
        #expect(svg.contains(">wk 1<") && svg.contains(">wk 2<") && svg.contains(">wk 4 (late)<"))
        #expect(svg.contains("class=\"target-line\""))
        #expect(svg.contains("limit 200 ms"))
        #expect(TrendChart.weekLabels([.fixed(0), .fixed(7 * day)], phase: .chaos) == ["wk 7", "wk 8"])
        let png = try #require(try PNGRender.render(o.trends, to: dir.path("trends.png")))
        #expect(png.width == 1120 && png.height > 250 && png.bytes > 10_000)
    }

    @Test func `the program view lists the twelve weeks, never passes a phase not run, and compares on one host only`() throws {
        let dir = try TempDir("program")
        defer { dir.remove() }
        let out = dir.path("summaries")
        func week(_ metrics: String, _ phase: Phase = .baseline) throws {
            _ = try WeeklySummary.generate(.init(phase: phase, metrics: dir.path(metrics), outputDirectory: out, criteria: criteriaURL))
        }
        // Nothing at all: six phases, none run, none passing.
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let empty = try ProgramSummary.generate(summaries: out)
        #expect(empty.entries.map(\.phase) == Phase.allCases)
        #expect(empty.entries.allSatisfy { $0.status == "not run" })
        var md = try String(contentsOf: empty.markdown, encoding: .utf8)
        #expect(md.contains("**0 of 6 phases PASS**"))
        #expect(!md.contains("PASS**|") && !md.contains("✅"))
        for p in Phase.allCases {
            #expect(md.contains("| \(p.weeks) | \(p.rawValue.capitalized) | \(p.focus) | ⏳ not run |"), "row of \(p.rawValue)")
        }

        // Two baseline runs on the same host: the change is shown.
        try writeBaseline(into: dir.path("m1"), at: 0, spawn: 1000)
        try week("m1")
        try writeBaseline(into: dir.path("m2"), at: 100, spawn: 800)
        try week("m2")
        var o = try ProgramSummary.generate(summaries: out)
        let baseline = try #require(o.entries.first)
        #expect(baseline.status == "FAIL" && baseline.previous != nil)
        md = try String(contentsOf: o.markdown, encoding: .utf8)
        let row = try #require(md.split(separator: "\n").first { $0.hasPrefix("| 1-2 | Baseline |") })
        #expect(row.contains("❌ **FAIL**"))
        #expect(row.contains("qemu/kvm, qemu/tcg, process/none") || row.contains("qemu/tcg"))
        #expect(row.contains("❌ `spawn` 800 ms (< 200 ms (guide target))"), "\(row)")
        #expect(row.contains("`spawn` -20.0% (better)"), "\(row)")
        #expect(!row.contains("`memory` +") && !row.contains("`memory` -")) // unchanged figures are not listed
        #expect(row.contains("[summary](week1-2_baseline_summary.md)") && row.contains("[glance](week1-2_baseline_glance.svg)")
            && row.contains("[trends](trends_baseline.svg)"))
        #expect(row.contains("host: \(ProcessInfo.processInfo.hostName) / test cpu"))

        // A third run on another machine: not compared with the other host's runs.
        try writeBaseline(into: dir.path("m3"), at: 200, spawn: 400, host: "elsewhere")
        try week("m3")
        o = try ProgramSummary.generate(summaries: out)
        #expect(o.entries[0].previous == nil)
        md = try String(contentsOf: o.markdown, encoding: .utf8)
        let row3 = try #require(md.split(separator: "\n").first { $0.hasPrefix("| 1-2 | Baseline |") })
        #expect(row3.contains("ran on another host (\(ProcessInfo.processInfo.hostName) / test cpu, now elsewhere / test cpu): not compared"), "\(row3)")
        #expect(!row3.contains("(better)"))
        // The other phases are still not run.
        #expect(o.entries.dropFirst().allSatisfy { $0.status == "not run" })
        #expect(md.contains("**0 of 6 phases PASS**; not run: scale, exhaustion, chaos, recovery, production"))

        let svg = try String(contentsOf: o.chart, encoding: .utf8)
        #expect(try XMLDocument(contentsOf: o.chart).rootElement()?.name == "svg")
        #expect(svg.components(separatedBy: "NOT RUN").count - 1 == 5)
        for p in Phase.allCases { #expect(svg.contains(">\(p.rawValue.capitalized)<")) }
        #expect(svg.contains(">FAIL<"))
        let png = try #require(try PNGRender.render(o.chart, to: dir.path("program.png")))
        #expect(png.width == 1240 && png.bytes > 10_000)
    }
}
}

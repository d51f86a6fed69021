import Foundation
import PerfMetrics
import PerfStats
import Testing
@testable import PerfReports

/// The project's criteria file.
private var projectCriteriaURL: URL { Fixture.packageRoot.appendingPathComponent("Fixtures/criteria/phase-criteria.json") }
/// A frozen criteria file for the tests of the machinery (Fixtures/README.md).
private var criteriaURL: URL { Fixture.packageRoot.appendingPathComponent("Tests/PerfReportsTests/Fixtures/mechanics-criteria.json") }

extension `Report generator` {
@Suite struct `Phase acceptance criteria` {
    typealias Spec = Metrics.SeriesSpec

    /// A context series (not judged against a guide target): counts, times.
    func context(_ name: String, _ samples: [Double], unit: String = "ms", metric: MetricKind = .latency) -> Spec {
        Spec(name: name, metric: metric, unit: unit, samples: samples, judged: false)
    }

    func write(_ scope: String, _ phase: Phase, _ series: [Spec], at offset: Int = 0, accelerator: String = "tcg",
               into dir: URL) throws {
        try Metrics.file(scope: scope, phase: phase, backend: "qemu", accelerator: accelerator, timestamp: .fixed(offset),
                         provenance: Metrics.mainJob("\(phase.rawValue).\(scope)"), series: series).write(into: dir)
    }

    func summary(_ phase: Phase, _ metrics: URL, _ out: URL) throws -> (WeeklySummary.Outcome, String) {
        let o = try WeeklySummary.generate(.init(phase: phase, metrics: metrics, outputDirectory: out, criteria: criteriaURL))
        return (o, try String(contentsOf: o.markdown, encoding: .utf8))
    }

    /// The markdown row of criterion `id` in the acceptance criteria table.
    func row(_ md: String, _ id: String) -> String? {
        md.split(separator: "\n").map(String.init).first { $0.hasPrefix("| `\(id)`:") }
    }

    // MARK: the file

    @Test func `the project's criteria file covers every phase with the benchmarks' series`() throws {
        let c = try PhaseCriteria.load(from: projectCriteriaURL)
        #expect(Set(c.phases.keys) == Set(Phase.allCases))
        let baseline = c.criteria(for: .baseline)
        #expect(baseline.count == 7)
        #expect(baseline.allSatisfy { $0.limit == .target && $0.stat == .median })
        #expect(Set(baseline.map(\.key)) == [
            "startup/startup_time_ms", "spawn/spawn_time_ms", "memory/memory_mb", "latency/tool_latency_ms",
            "cpu/cpu_percent", "network/network_latency_ms", "throughput/throughput_ops_per_min",
        ])
        #expect(baseline.first { $0.series == "throughput_ops_per_min" }?.op == .atLeast)
        #expect(Set(c.criteria(for: .scale).map(\.key)) == ["concurrency/tool_latency_ms", "concurrency/memory_mb", "concurrency/throughput_ops_per_min", "concurrency/call_errors"])
        #expect(c.criteria(for: .exhaustion).contains { $0.key == "vms/refused_beyond_capacity" && $0.stat == .last && $0.limit == .value(1) })
        #expect(c.criteria(for: .exhaustion).contains { $0.key == "vms/oom_kills" && $0.op == .equal && $0.limit == .value(0) })
        #expect(c.criteria(for: .exhaustion).contains { $0.key == "vms/lost_vms" && $0.op == .equal && $0.limit == .value(0) })
        #expect(c.criteria(for: .exhaustion).contains { $0.key == "vms/refusals" && $0.op == .greaterThan && $0.limit == .value(0) })
        #expect(c.criteria(for: .exhaustion).contains {
            $0.key == "vms/tool_latency_ms" && $0.limit == .relative(series: "vms/first_step_ping_ms", stat: .median, factor: 10)
        })
        let chaos = c.criteria(for: .chaos)
        #expect(chaos.contains { $0.key == "faults/undetected_faults" && $0.limit == .value(0) })
        #expect(chaos.contains { $0.key == "faults/detection_ms_vmm_kill" && $0.stat == .max && $0.op == .atMost
            && $0.limit == .relative(series: "faults/fault_bound_ms", stat: .max, factor: 1) })
        #expect(chaos.contains { $0.key == "faults/bystander_affected" && $0.limit == .value(0) })
        #expect(c.criteria(for: .recovery).contains {
            $0.key == "pool/recovery_pool_ms" && $0.limit == .relative(series: "pool/recovery_cold_ms", stat: .median, factor: 1)
        })
        #expect(c.criteria(for: .recovery).contains { $0.key == "pool/refill_per_vm_ms" && $0.limit == .relative(series: "pool/restore_ms", stat: .median, factor: 3) })
        #expect(Set(c.criteria(for: .production).map(\.key)) == [
            "soak/fd_slope_per_min", "soak/rss_slope_mb_per_min", "soak/vmm_slope_per_min", "soak/run_dirs_slope_per_min",
            "soak/latency_drift", "soak/call_errors", "soak/vm_left", "soak/tool_latency_ms",
        ])
        let ids = Phase.allCases.flatMap { c.criteria(for: $0).map(\.id) }
        #expect(Set(ids).count == ids.count)
    }

    @Test func `a bad criteria file is rejected with a clear message`() throws {
        let dir = try TempDir("criteria-bad")
        defer { dir.remove() }
        let good = try JSONSerialization.jsonObject(with: Data(contentsOf: criteriaURL)) as! [String: Any]
        func edited(_ change: (inout [String: Any]) -> Void) throws -> String {
            var o = good
            change(&o)
            return String(decoding: try JSONSerialization.data(withJSONObject: o), as: UTF8.self)
        }
        func chaos(_ change: @escaping (inout [String: Any]) -> Void) throws -> String {
            try edited { o in
                var phases = o["phases"] as! [String: Any]
                var list = phases["chaos"] as! [[String: Any]]
                change(&list[0])
                phases["chaos"] = list
                o["phases"] = phases
            }
        }
        let cases: [(String, String?, String)] = [
            ("missing.json", nil, "no such file"),
            ("empty.json", "", "the file is empty"),
            ("truncated.json", "{\"kind\": \"luminaguard-phase-", "not valid JSON"),
            ("list.json", "[]", "top level is not a JSON object"),
            ("kind.json", try edited { $0["kind"] = "something-else" }, "'kind' must be"),
            ("unknown-phase.json", try edited { o in
                var p = o["phases"] as! [String: Any]; p["week13"] = p["chaos"]; o["phases"] = p }, "unknown phase 'week13'"),
            ("missing-phase.json", try edited { o in
                var p = o["phases"] as! [String: Any]; p["recovery"] = nil; o["phases"] = p }, "no criteria for phase recovery"),
            ("empty-phase.json", try edited { o in
                var p = o["phases"] as! [String: Any]; p["scale"] = [Any](); o["phases"] = p }, "phase 'scale' has no criteria"),
            ("op.json", try chaos { $0["op"] = "=<" }, "bad op '=<'"),
            ("stat.json", try chaos { $0["stat"] = "mean" }, "bad stat 'mean'"),
            ("field.json", try chaos { $0["series"] = nil }, "missing 'series'"),
            ("typo.json", try chaos { $0["vaule"] = 3 }, "unknown field 'vaule'"),
            ("both.json", try chaos { $0["relative_to"] = ["series": "a/b", "stat": "median", "factor": 2] }, "both 'value' and 'relative_to'"),
            ("neither.json", try chaos { $0["value"] = nil }, "needs 'value'"),
            ("value.json", try chaos { $0["value"] = "fast" }, "'value' must be a finite number or \"target\""),
            ("bool.json", try chaos { $0["value"] = true }, "'value' must be a finite number"),
            ("target-op.json", try chaos { $0["value"] = "target"; $0["op"] = "==" }, "with < or >="),
            ("slash.json", try chaos { $0["series"] = "vm_kill/failure_detection_ms" }, "must not contain '/'"),
            ("factor.json", try chaos { $0["value"] = nil; $0["relative_to"] = ["series": "a/b", "stat": "median", "factor": -1] },
             "'relative_to.factor' must be a positive number"),
            ("ref.json", try chaos { $0["value"] = nil; $0["relative_to"] = ["series": "cold_spawn_ms", "stat": "median", "factor": 1.5] },
             "is not \"<scope>/<series>\""),
            ("duplicate.json", try chaos { $0["id"] = "chaos.survivors" }, "'chaos.survivors' is used twice"),
        ]
        for (name, contents, expected) in cases {
            let url = dir.path(name)
            if let contents { try Data(contents.utf8).write(to: url) }
            do {
                _ = try PhaseCriteria.load(from: url)
                Issue.record("\(name) was accepted")
            } catch let e as CriteriaError {
                #expect(e.description.contains(url.path), "\(name): \(e)")
                #expect(e.description.contains(expected), "\(name): \(e)")
            }
        }
        // The summary refuses to run on a bad criteria file, and writes nothing.
        let metrics = dir.path("metrics")
        try write("vm_kill", .chaos, [context("failure_detection_ms", [300])], into: metrics)
        #expect(throws: CriteriaError.self) {
            try WeeklySummary.generate(.init(phase: .chaos, metrics: metrics, outputDirectory: dir.path("out"), criteria: dir.path("op.json")))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("out").path))
    }

    // MARK: summaries judged on their phase's criteria

    /// Chaos files: every killed VM detected in `detection` ms, `crossed`
    /// probes through the partition; `partition: false` leaves that file out.
    func chaosRun(into dir: URL, detection: [Double] = [310, 420, 1250], crossed: Double = 0, partition: Bool = true,
                  agentChannel: Bool = true) throws {
        try write("vm_kill", .chaos, [
            context("failure_detection_ms", detection),
            context("survivor_errors", [0], unit: "count"),
        ], into: dir)
        if partition {
            var series = [context("partition_heal_ms", [1800, 2100]), context("traffic_crossed", [crossed], unit: "count")]
            if agentChannel { series.append(context("agent_channel_errors", [0], unit: "count")) }
            try write("partition", .chaos, series, at: 1, into: dir)
        }
    }

    @Test func `a chaos summary whose criteria are all met passes`() throws {
        let dir = try TempDir("criteria-chaos")
        defer { dir.remove() }
        try chaosRun(into: dir.path("metrics"))
        let (o, md) = try summary(.chaos, dir.path("metrics"), dir.path("out"))
        #expect(o.status == .pass, "\(md)")
        #expect(md.contains("**Status: ✅ PASS**"))
        #expect(md.contains("## Acceptance criteria"))
        #expect(md.contains("| Criterion | Measured | Limit | Status | Backend/accelerator |"))
        #expect(md.contains("5 acceptance criteria for the chaos phase: 5 met, 0 missed, 0 without data."))
        let detection = try #require(row(md, "chaos.kill_detected"))
        #expect(detection.contains("| max 1250 ms | <= 2000 ms | ✅ met | qemu/tcg ⚠️ emulated |"), "\(detection)")
        // The existing sections are all there.
        for section in ["## Executive summary", "## Test environment", "## Results", "## Comparison with the previous chaos summary",
                        "## Data files", "WARNING: these are not hardware-KVM numbers", "](week7-8_chaos_summary.svg)"] {
            #expect(md.contains(section), "missing \(section)")
        }
        // The data file records the verdicts.
        let data = try SummarySidecar.read(from: o.data)
        #expect(data.criteria?.count == 5 && data.criteria?.allSatisfy { $0.status == .met } == true)
        #expect(data.criteriaFile == criteriaURL.path)
        let kill = try #require(data.criteria?.first { $0.id == "chaos.kill_detected" })
        #expect(kill.measured == 1250 && kill.limit == 2000 && kill.backend == "qemu" && kill.accelerator == "tcg")
        #expect(o.criteria.map(\.id) == data.criteria?.map(\.id))
    }

    @Test func `a missed criterion fails the phase`() throws {
        let dir = try TempDir("criteria-missed")
        defer { dir.remove() }
        // One probe crossed the partition; one kill took 2.5 s to detect.
        try chaosRun(into: dir.path("metrics"), detection: [300, 2500], crossed: 1)
        let (o, md) = try summary(.chaos, dir.path("metrics"), dir.path("out"))
        #expect(o.status == .fail)
        #expect(md.contains("**Status: ❌ FAIL**"))
        #expect(try #require(row(md, "chaos.partition_held")).contains("| max 1 count | == 0 count | ❌ missed |"))
        #expect(try #require(row(md, "chaos.kill_detected")).contains("❌ missed"))
        #expect(md.contains("- ❌ `chaos.partition_held` missed"))
        #expect(try #require(row(md, "chaos.survivors")).contains("✅ met"))
    }

    @Test func `a missing series or file is no data, and never a pass`() throws {
        let dir = try TempDir("criteria-nodata")
        defer { dir.remove() }
        // No partition file at all.
        try chaosRun(into: dir.path("m1"), partition: false)
        let (o1, md1) = try summary(.chaos, dir.path("m1"), dir.path("out1"))
        #expect(o1.status == .incomplete)
        #expect(!md1.contains("PASS**"))
        #expect(try #require(row(md1, "chaos.partition_held")).contains("| - |"))
        #expect(try #require(row(md1, "chaos.partition_held")).contains("⛔ NO DATA"))
        #expect(md1.contains("no partition metrics file for this phase"))
        // A file without one of the series.
        try chaosRun(into: dir.path("m2"), agentChannel: false)
        let (o2, md2) = try summary(.chaos, dir.path("m2"), dir.path("out2"))
        #expect(o2.status == .incomplete)
        #expect(md2.contains("has no series 'agent_channel_errors'"))
        #expect(o2.criteria.filter { $0.status == .noData }.map(\.id) == ["chaos.agent_channel"])
        // A miss and a gap: FAIL (a miss is a miss), still never PASS.
        try chaosRun(into: dir.path("m3"), crossed: 3, agentChannel: false)
        #expect(try summary(.chaos, dir.path("m3"), dir.path("out3")).0.status == .fail)
        // Nothing at all: NO DATA.
        try FileManager.default.createDirectory(at: dir.path("m4"), withIntermediateDirectories: true)
        let (o4, _) = try summary(.chaos, dir.path("m4"), dir.path("out4"))
        #expect(o4.status == .noData)
        #expect(o4.criteria.count == 5 && o4.criteria.allSatisfy { $0.status == .noData })
    }

    @Test func `the baseline is judged on the guide's seven targets`() throws {
        let dir = try TempDir("criteria-baseline")
        defer { dir.remove() }
        let m = dir.path("metrics")
        func judged(_ name: String, _ metric: MetricKind, _ unit: String, _ samples: [Double]) -> Spec {
            Spec(name: name, metric: metric, unit: unit, samples: samples)
        }
        try write("startup", .baseline, [judged("startup_time_ms", .startup, "ms", [300, 320, 310])], accelerator: "kvm", into: m)
        try write("spawn", .baseline, [judged("spawn_time_ms", .spawn, "ms", [110, 120, 118]),
                                       context("platform_floor_ms", [90, 95])], at: 1, accelerator: "kvm", into: m)
        try write("memory", .baseline, [judged("memory_mb", .memory, "MB", [140, 150])], at: 2, accelerator: "kvm", into: m)
        try write("latency", .baseline, [judged("tool_latency_ms", .latency, "ms", [3, 4, 5])], at: 3, accelerator: "kvm", into: m)
        try write("cpu", .baseline, [judged("cpu_percent", .cpu, "%", [20, 30])], at: 4, accelerator: "kvm", into: m)
        try write("network", .baseline, [judged("network_latency_ms", .network, "ms", [0.2, 0.3])], at: 5, accelerator: "kvm", into: m)
        // A pool series beyond no target of the phase's criteria: context only.
        try write("pool", .baseline, [judged("spawn_time_ms", .spawn, "ms", [900, 950])], at: 6, accelerator: "kvm", into: m)
        // Without throughput: six met, one without data.
        let (o1, md1) = try summary(.baseline, m, dir.path("out"))
        #expect(o1.status == .incomplete, "\(md1)")
        #expect(try #require(row(md1, "baseline.throughput")).contains("⛔ NO DATA"))
        #expect(try #require(row(md1, "baseline.spawn")).contains("| median 118 ms [95% CI: n too small] | < 200 ms (guide target) | ✅ met | qemu/kvm |"))
        #expect(md1.contains("`pool/spawn_time_ms` median 925.00 ms misses its guide target < 200 ms (qemu/kvm); not a criterion of this phase"))
        #expect(md1.split(separator: "\n").first { $0.hasPrefix("| `pool/spawn_time_ms`") }?.contains("❌ beyond target (context, not a criterion)") == true)
        #expect(md1.split(separator: "\n").first { $0.hasPrefix("| `spawn/spawn_time_ms`") }?.contains("✅ PASS") == true)
        // With it: PASS.
        try write("throughput", .baseline, [judged("throughput_ops_per_min", .throughput, "ops/min", [12_000, 13_000])], at: 7,
                  accelerator: "kvm", into: m)
        let (o2, md2) = try summary(.baseline, m, dir.path("out"))
        #expect(o2.status == .pass, "\(md2)")
        #expect(md2.contains("7 acceptance criteria for the baseline phase: 7 met, 0 missed, 0 without data."))
        // An emulated spawn beyond the target: FAIL, labelled as emulated.
        try write("spawn", .baseline, [judged("spawn_time_ms", .spawn, "ms", [1000, 1100, 1050])], at: 100, into: m)
        let (o3, md3) = try summary(.baseline, m, dir.path("out"))
        #expect(o3.status == .fail)
        #expect(try #require(row(md3, "baseline.spawn")).contains("| median 1050 ms [95% CI: n too small] | < 200 ms (guide target) | ❌ missed | qemu/tcg ⚠️ emulated |"))
        // Without a criteria file the summary still works as before (series' targets).
        let legacy = try WeeklySummary.generate(.init(phase: .baseline, metrics: m, outputDirectory: dir.path("legacy")))
        #expect(legacy.status == .fail && legacy.criteria.isEmpty)
        #expect(try SummarySidecar.read(from: legacy.data).criteria == nil)
    }

    @Test func `recovery is judged against a multiple of the cold spawn`() throws {
        let dir = try TempDir("criteria-recovery")
        defer { dir.remove() }
        func run(_ name: String, recovery: [Double], cold: [Double]?) throws -> WeeklySummary.Outcome {
            let m = dir.path(name)
            var replace = [context("recovery_time_ms", recovery), context("recovery_errors", [0], unit: "count")]
            if let cold { replace.append(context("cold_spawn_ms", cold)) }
            try write("replace", .recovery, replace, into: m)
            try write("frozen", .recovery, [context("timeout_ms", [2100, 2050]), context("resume_errors", [0], unit: "count")],
                      at: 1, into: m)
            return try summary(.recovery, m, dir.path("out-" + name)).0
        }
        let ok = try run("ok", recovery: [1300, 1400, 1500], cold: [1000, 1000, 1100])
        #expect(ok.status == .pass)
        let time = try #require(ok.criteria.first { $0.id == "recovery.time" })
        #expect(time.measured == 1400 && time.limit == 1500 && time.status == .met)
        #expect(time.limitText == "<= 1.5 x replace/cold_spawn_ms median = 1500 ms")
        let slow = try run("slow", recovery: [1600, 1700], cold: [1000, 1000, 1100])
        #expect(slow.status == .fail)
        #expect(slow.criteria.first { $0.id == "recovery.time" }?.status == .missed)
        let noCold = try run("nocold", recovery: [1300], cold: nil)
        #expect(noCold.status == .incomplete)
        #expect(noCold.criteria.first { $0.id == "recovery.time" }?.note?.contains("needed for the limit") == true)
    }

    @Test func `statistics and operators as the file states them`() throws {
        let dir = try TempDir("criteria-eval")
        defer { dir.remove() }
        try write("vms", .exhaustion, [
            context("refused_beyond_capacity", [0, 1], unit: "count"),
            context("spawn_time_ms", [1, 2, 3, 4, 100]),
        ], into: dir.url)
        let files = try MetricsCollection.load(dir.url).files
        func verdict(_ stat: Criterion.Stat, _ op: Criterion.Op, _ value: Double, series: String = "spawn_time_ms") -> CriterionResult {
            PhaseCriteria.evaluate([Criterion(id: "x", what: "x", scope: "vms", series: series, stat: stat, op: op, limit: .value(value))],
                                   files: files)[0]
        }
        #expect(verdict(.last, .equal, 1, series: "refused_beyond_capacity").status == .met)
        #expect(verdict(.min, .equal, 1, series: "refused_beyond_capacity").status == .missed)
        #expect(verdict(.count, .atLeast, 5).measured == 5)
        #expect(verdict(.median, .lessThan, 3).status == .missed)
        #expect(verdict(.median, .atMost, 3).status == .met)
        #expect(verdict(.max, .greaterThan, 99).status == .met)
        let spawn = try #require(files[0].file["spawn_time_ms"])
        #expect(verdict(.p95, .lessThan, 100).measured == spawn.p95)
        #expect(verdict(.median, .lessThan, 3, series: "nothing").status == .noData)
        // "target" on a series whose metric's target goes the other way: the file is wrong, never a pass.
        let wrong = PhaseCriteria.evaluate([Criterion(id: "t", what: "t", scope: "vms", series: "spawn_time_ms", stat: .median,
                                                      op: .atLeast, limit: .target)], files: files)[0]
        #expect(wrong.status == .missed && wrong.note?.contains("fix the criteria file") == true)
    }

    /// The soak's file: every production criterion of the mechanics file met,
    /// unless `latency` says otherwise.
    func soakRun(into dir: URL, latency: [Double] = [40, 45, 50], at offset: Int = 20) throws {
        try write("soak", .production, [
            context("harness_rss_growth_mb", [3], unit: "MB", metric: .memory),
            context("fd_growth", [0], unit: "count"),
            context("vm_left", [0], unit: "count"),
            Spec(name: "tool_latency_ms", metric: .latency, unit: "ms", samples: latency),
        ], at: offset, into: dir)
    }

    @Test func `production judges its own criteria; the go/no-go over every phase is a verdict beside it`() throws {
        let dir = try TempDir("criteria-production")
        defer { dir.remove() }
        let m = dir.path("metrics")
        // The baseline under TCG misses the guide's (hardware-KVM) spawn target.
        try write("spawn", .baseline, [Spec(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: [1000, 1100, 1050])], into: m)
        try soakRun(into: m)
        let (o, md) = try summary(.production, m, dir.path("out"))
        #expect(o.status == .pass, "\(md)")
        #expect(md.contains("**Status: ✅ PASS**"))
        #expect(md.contains("4 acceptance criteria for the production phase: 4 met, 0 missed, 0 without data."))
        #expect(md.contains("## Pre-deployment go/no-go"))
        #expect(md.contains("**NO-GO**: every phase's acceptance criteria"))
        let g = try #require(o.goNoGo)
        #expect(!g.go && g.verdict == "NO-GO")
        let spawn = try #require(g.reasons.first { $0.contains("`baseline.spawn` missed") }, "\(g.reasons)")
        #expect(spawn.hasPrefix("baseline: ") && spawn.contains("median 1050 ms") && spawn.contains("(qemu/tcg): a hardware-KVM target, measured here emulated, TCG"))
        #expect(g.reasons.contains { $0.hasPrefix("scale: not run") })
        #expect(!g.reasons.contains { $0.hasPrefix("production") })
        #expect(md.contains("- \(spawn)"))
        #expect(md.contains("| production | GO |"))
        // The data file has both: the phase's status and the go/no-go.
        let data = try SummarySidecar.read(from: o.data)
        #expect(data.status == "PASS" && data.goNoGo == g)
        // The program view shows it beside the phases' statuses.
        let program = try String(contentsOf: try ProgramSummary.generate(summaries: dir.path("out")).markdown, encoding: .utf8)
        #expect(program.contains("**Pre-deployment go/no-go: NO-GO** (the production summary's verdict"), "\(program)")
        // Other phases' summaries have no go/no-go.
        #expect(try summary(.baseline, m, dir.path("out-b")).0.goNoGo == nil)

        // A production criterion missed: FAIL, and a reason of the go/no-go.
        let m2 = dir.path("metrics-slow")
        try soakRun(into: m2, latency: [140, 150, 160])
        let (slow, slowMd) = try summary(.production, m2, dir.path("out-slow"))
        #expect(slow.status == .fail)
        #expect(slowMd.contains("**Status: ❌ FAIL**"))
        #expect(slow.goNoGo?.reasons.contains { $0.hasPrefix("production: `production.latency` missed") } == true)

        // No production run (only the baseline's file): never PASS, and NO-GO.
        let m3 = dir.path("metrics-none")
        try write("spawn", .baseline, [Spec(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: [100, 110, 105])], accelerator: "kvm", into: m3)
        let (none, noneMd) = try summary(.production, m3, dir.path("out-none"))
        #expect(none.status != .pass && !noneMd.contains("PASS**"))
        #expect(none.goNoGo?.go == false)
        #expect(none.goNoGo?.reasons.contains { $0.hasPrefix("production: ") } == true)
    }
}
}

import Foundation
import FoundationXML
import PerfMetrics
import PerfStats
import Testing
@testable import PerfReports

/// Reads JUnit XML the way a CI page does (FoundationXML): suites, testcases
/// by classname and name, their outcome, message and system-out.
struct JUnitPage {
    struct Case {
        var suite: String
        var classname: String
        var name: String
        var group: String?
        /// `passed`, `failure`, `error` or `skipped`.
        var outcome: String
        var message: String?
        var systemOut: String
    }
    let root: XMLElement
    let cases: [Case]

    init(_ data: Data) throws {
        let doc = try XMLDocument(data: data)
        root = try #require(doc.rootElement())
        var cases: [Case] = []
        for suite in root.elements(forName: "testsuite") {
            let suiteName = suite.attribute(forName: "name")?.stringValue ?? ""
            for tc in suite.elements(forName: "testcase") {
                let result = ["failure", "error", "skipped"].compactMap { n in tc.elements(forName: n).first.map { (n, $0) } }.first
                cases.append(Case(suite: suiteName, classname: tc.attribute(forName: "classname")?.stringValue ?? "",
                                  name: tc.attribute(forName: "name")?.stringValue ?? "",
                                  group: tc.attribute(forName: "group")?.stringValue,
                                  outcome: result?.0 ?? "passed", message: result?.1.attribute(forName: "message")?.stringValue,
                                  systemOut: tc.elements(forName: "system-out").first?.stringValue ?? ""))
            }
        }
        self.cases = cases
    }

    func named(_ classname: String, _ prefix: String) -> [Case] {
        cases.filter { $0.classname == classname && $0.name.hasPrefix(prefix) }
    }

    func suite(_ name: String) -> XMLElement? {
        root.elements(forName: "testsuite").first { $0.attribute(forName: "name")?.stringValue == name }
    }

    static func validate(_ data: Data) throws {
        try XMLSchemaValidator(name: "junit-luminaguard.xsd", schema: JUnitSchemas.luminaguard).validate(data)
        for xsd in Fixture.junit10Schemas { try XMLSchemaValidator(contentsOf: xsd).validate(data) }
    }
}

extension `Report generator` {
@Suite struct `JUnit of an lgperf run for CI pages` {
    typealias Spec = Metrics.SeriesSpec
    /// A frozen criteria file for the tests of the machinery (Fixtures/README.md).
    static let criteria = Fixture.packageRoot.appendingPathComponent("Tests/PerfReportsTests/Fixtures/mechanics-criteria.json")

    /// Ten cold boots as measured under TCG (ms): median 1805, 95 % CI ranks 2..9 = 1761-1874.
    static let tcgBoots: [Double] = [1806, 1799, 1761, 1994, 1812, 1788, 1874, 1804, 1750, 1830]

    func loaded(_ file: MetricsFile) -> LoadedMetrics {
        LoadedMetrics(url: URL(fileURLWithPath: "/reports/metrics/\(file.fileName)"), file: file)
    }

    func outcome(_ id: String, _ phase: Phase, _ files: [MetricsFile], status: BenchmarkOutcome.Status = .passed,
                 tags: [String]? = nil) -> BenchmarkOutcome {
        BenchmarkOutcome(id: id, phase: phase, tags: tags ?? [phase.rawValue], times: "what \(id) times", startedAt: .fixed(0),
                         seconds: 2.5, status: status, files: files.map(loaded))
    }

    func spawnFile(_ samples: [Double], backend: String = "qemu", accelerator: String = "tcg", offset: Int = 0) throws -> MetricsFile {
        try Metrics.file(scope: "spawn", backend: backend, accelerator: accelerator, timestamp: .fixed(offset),
                         provenance: Metrics.mainJob("baseline.spawn"), series: [
            Spec(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: samples, description: "cold spawn to agent-ready"),
            Spec(name: "guest_boot_ms", metric: .spawn, unit: "ms", samples: samples.map { $0 / 2 }, judged: false),
        ])
    }

    func xml(_ outcomes: [BenchmarkOutcome], criteria: Bool = true, phaseBenchmarks: [Phase: [String]] = [:]) throws -> (Data, JUnitPage) {
        let c = criteria ? try PhaseCriteria.load(from: Self.criteria) : nil
        let data = BenchmarkJUnit.report(outcomes, criteria: c, phaseBenchmarks: phaseBenchmarks).xmlData()
        try JUnitPage.validate(data)
        return (data, try JUnitPage(data))
    }

    @Test func `a target missed under TCG is skipped with the reason, never passed`() throws {
        let (_, page) = try xml([outcome("baseline.spawn", .baseline, [try spawnFile(Self.tcgBoots)], tags: ["baseline", "spawn"])],
                                criteria: false)
        // The benchmark itself, then its one judged series (guest_boot_ms is context: no testcase).
        #expect(page.cases.map(\.classname) == ["baseline.spawn", "baseline.spawn"])
        let bench = try #require(page.named("baseline.spawn", "benchmark: ").first)
        #expect(bench.name == "benchmark: what baseline.spawn times" && bench.outcome == "passed")
        #expect(bench.systemOut.contains("metrics file: spawn_baseline_"))
        let spawn = try #require(page.named("baseline.spawn", "spawn_time_ms: ").first)
        #expect(spawn.name == "spawn_time_ms: median 1805 ms [95% CI 1761-1874], p95 n too small (target < 200 ms: missed, clear)")
        #expect(spawn.outcome == "skipped")
        #expect(spawn.message?.hasPrefix("emulated, TCG: the 200 ms target is for hardware KVM") == true)
        #expect(spawn.group == "baseline,spawn")
        // system-out: samples, statistics, labels and the file.
        let out = spawn.systemOut
        #expect(out.contains("samples: n=10, ms, in run order: 1806, 1799, 1761"))
        #expect(out.contains("median 1805 ms [95% CI 1761-1874] (ranks 2 and 9 of 10, exact coverage 97.9 %)"))
        #expect(out.contains("p95 not shown: n=10 < 20") && out.contains("p99 not shown: n=10 < 100"))
        #expect(out.contains("labels: backend qemu, accelerator tcg (emulated, TCG: no hardware virtualisation), build release, mode quick, origin benchmark"))
        #expect(out.contains("metrics file: spawn_baseline_") && out.contains(".json"))
        #expect(out.contains("clear: the whole 95 % CI of the median is on one side of the limit"))
    }

    @Test func `the same miss on hardware KVM fails; a met target passes; the process backend is skipped`() throws {
        let kvmMiss = try spawnFile(Self.tcgBoots.map { $0 / 8 }, accelerator: "kvm")          // median ~226 ms
        let (_, miss) = try xml([outcome("baseline.spawn", .baseline, [kvmMiss])], criteria: false)
        let m = try #require(miss.named("baseline.spawn", "spawn_time_ms: ").first)
        #expect(m.outcome == "failure")
        #expect(m.message?.contains("misses the target < 200 ms") == true)

        let kvmMet = try spawnFile(Self.tcgBoots.map { $0 / 20 }, accelerator: "kvm")          // ~90 ms
        let (_, met) = try xml([outcome("baseline.spawn", .baseline, [kvmMet])], criteria: false)
        let ok = try #require(met.named("baseline.spawn", "spawn_time_ms: ").first)
        #expect(ok.outcome == "passed" && ok.name.hasSuffix("(target < 200 ms: met, clear)"))

        let process = try spawnFile(Self.tcgBoots, backend: "process", accelerator: "none")
        let (_, sim) = try xml([outcome("baseline.spawn", .baseline, [process])], criteria: false)
        let s = try #require(sim.named("baseline.spawn", "spawn_time_ms: ").first)
        #expect(s.outcome == "skipped")
        #expect(s.message?.hasPrefix("process backend, no VM: the 200 ms target is for hardware KVM") == true)
    }

    @Test func `a median whose interval straddles the target is uncertain`() throws {
        // 20 samples around 200 ms on KVM: median 199, CI ranks 6..15 = 195-203, p95 207.05.
        let samples: [Double] = [190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208]
        let (_, page) = try xml([outcome("baseline.spawn", .baseline, [try spawnFile(samples.reversed(), accelerator: "kvm")])],
                                criteria: false)
        let c = try #require(page.named("baseline.spawn", "spawn_time_ms: ").first)
        #expect(c.name == "spawn_time_ms: median 199 ms [95% CI 195-203], p95 207 ms (target < 200 ms: met, uncertain)")
        #expect(c.outcome == "passed")
        #expect(c.systemOut.contains("uncertain: the 95 % CI of the median straddles the limit"))
    }

    @Test func `criteria: met passes, missed fails, no data fails, a guide-target criterion stands for its series`() throws {
        // Chaos: vm_kill ran and met both criteria; the partition benchmark erred: its three criteria have no data.
        let vmKill = try Metrics.file(scope: "vm_kill", phase: .chaos, backend: "qemu", accelerator: "tcg", timestamp: .fixed(0),
                                      provenance: Metrics.mainJob("chaos.vm_kill"), series: [
            Spec(name: "failure_detection_ms", metric: .latency, unit: "ms", samples: [310, 420, 1250], judged: false),
            Spec(name: "survivor_errors", metric: .latency, unit: "count", samples: [0, 0, 0], judged: false),
        ])
        let (_, page) = try xml([outcome("chaos.vm_kill", .chaos, [vmKill]),
                                 outcome("chaos.partition", .chaos, [], status: .error("QMP set_link failed"))])
        let detected = try #require(page.named("chaos.vm_kill", "criterion chaos.kill_detected:").first)
        #expect(detected.name == "criterion chaos.kill_detected: failure_detection_ms max 1250 ms (limit <= 2000 ms: met)")
        #expect(detected.outcome == "passed")
        #expect(detected.systemOut.contains("samples: n=3, ms, in run order: 310, 420, 1250"))
        #expect(detected.systemOut.contains("metrics file: vm_kill_chaos_"))
        #expect(try #require(page.named("chaos.vm_kill", "criterion chaos.survivors:").first).outcome == "passed")
        let noData = page.named("chaos.criteria", "criterion ")
        #expect(Set(noData.map { String($0.name.split(separator: ":")[0]) })
            == ["criterion chaos.partition_held", "criterion chaos.agent_channel", "criterion chaos.partition_heals"])
        #expect(noData.allSatisfy { $0.outcome == "failure" && $0.message?.contains("no sample, no pass") == true })
        #expect(noData.allSatisfy { $0.systemOut.contains("metrics file: none with scope 'partition' in this run") })
        #expect(try #require(page.named("chaos.partition", "benchmark: ").first).outcome == "error")
        let suite = try #require(page.suite("chaos"))
        #expect(suite.attribute(forName: "tests")?.stringValue == "7")
        #expect(suite.attribute(forName: "failures")?.stringValue == "3")
        #expect(suite.attribute(forName: "errors")?.stringValue == "1")

        // A missed criterion that is not a hardware target fails even under TCG.
        let slow = try Metrics.file(scope: "vm_kill", phase: .chaos, backend: "qemu", accelerator: "tcg", timestamp: .fixed(0),
                                    series: [Spec(name: "failure_detection_ms", metric: .latency, unit: "ms", samples: [2500], judged: false)])
        let (_, missed) = try xml([outcome("chaos.vm_kill", .chaos, [slow])], phaseBenchmarks: [.chaos: ["chaos.vm_kill", "chaos.partition"]])
        let m = try #require(missed.named("chaos.vm_kill", "criterion chaos.kill_detected:").first)
        #expect(m.outcome == "failure" && m.message?.contains("max 2500 ms, limit <= 2000 ms") == true)
        // The series has no survivor_errors: no data, a failure.
        #expect(try #require(missed.named("chaos.vm_kill", "criterion chaos.survivors:").first).outcome == "failure")
        // A partial run judges only the criteria of files it wrote, and says which it left out.
        #expect(missed.named("chaos.criteria", "criterion ").isEmpty)
        let notes = try #require(missed.suite("chaos")?.elements(forName: "system-out").first?.stringValue)
        #expect(notes.contains("Criteria not judged in this run (it ran 1 of the phase's 2 benchmarks")
            && notes.contains("chaos.partition_held, chaos.agent_channel, chaos.partition_heals"))
        #expect(notes.contains(ReportedFigures.legend))

        // Baseline: criterion baseline.spawn judges spawn/spawn_time_ms: one testcase for both, skipped under TCG.
        let (_, base) = try xml([outcome("baseline.spawn", .baseline, [try spawnFile(Self.tcgBoots)])],
                                phaseBenchmarks: [.baseline: ["baseline.spawn"]])
        #expect(base.named("baseline.spawn", "spawn_time_ms").isEmpty)
        let crit = try #require(base.named("baseline.spawn", "criterion baseline.spawn:").first)
        #expect(crit.name == "criterion baseline.spawn: spawn_time_ms median 1805 ms [95% CI 1761-1874] (target < 200 ms: missed, clear)")
        #expect(crit.outcome == "skipped")
        #expect(crit.message?.hasPrefix("emulated, TCG: the 200 ms target is for hardware KVM") == true)
        #expect(crit.systemOut.contains("criterion baseline.spawn of the baseline phase: VM spawn to agent-ready"))
    }

    @Test func `names are readable, long samples are shortened, tags stay reachable`() throws {
        let many = (0..<150).map { 1700 + Double(($0 * 37) % 300) }
        let (data, page) = try xml([outcome("baseline.spawn", .baseline, [try spawnFile(many)], tags: ["spawn", "baseline"])],
                                   criteria: false)
        for c in page.cases {
            #expect(!c.name.contains("`") && !c.name.contains("()") && !c.name.contains("[tag:"), "\(c.name)")
            #expect(!c.classname.contains("`"))
        }
        let spawn = try #require(page.named("baseline.spawn", "spawn_time_ms: ").first)
        let f = ReportedFigures(try #require(try spawnFile(many)["spawn_time_ms"]))
        #expect(f.p95 != nil && f.p99 != nil)
        #expect(spawn.name.contains(", p95 \(ReportedFigures.value(f.p95!, "ms")), p99 \(ReportedFigures.value(f.p99!, "ms")) (target"))
        #expect(spawn.systemOut.contains("samples: n=150, ms, in run order (first and last 10 of 150; all in the metrics file): 1700, 1737"))
        #expect(spawn.systemOut.components(separatedBy: ", ").count < 40)
        // Tags: the group attribute and the suite's properties.
        #expect(spawn.group == "baseline,spawn")
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#"name="tags:baseline.spawn/spawn_time_ms: median"#))
        // The suite carries its own phase's metrics, with the median's interval.
        #expect(text.contains(#"name="spawn.spawn_time_ms.median_ci95""#))
    }
}
}

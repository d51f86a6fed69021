import Foundation
import Testing
import PerfStats
@testable import PerfMetrics

@Suite struct CatalogueTests {
    @Test func guideTargets() {
        #expect(Catalogue.target(for: .startup).text == "< 500 ms")
        #expect(Catalogue.target(for: .spawn).text == "< 200 ms")
        #expect(Catalogue.target(for: .memory).text == "< 200 MB")
        #expect(Catalogue.target(for: .latency).text == "< 100 ms")
        #expect(Catalogue.target(for: .cpu).text == "< 50 %")
        #expect(Catalogue.target(for: .network).text == "< 50 ms")
        #expect(Catalogue.target(for: .throughput).text == ">= 1000 ops/min")
        #expect(Catalogue.target(for: .throughput).meets(median: 1000))
        #expect(!Catalogue.target(for: .spawn).meets(median: 200))
    }

    @Test func spawnGradeBandsFromTheGuide() {
        let b = Catalogue.bands(for: .spawn)!
        #expect(b.grade(median: 90, p95: 105) == .excellent)
        #expect(b.grade(median: 120, p95: 150) == .good)
        #expect(b.grade(median: 90, p95: 150) == .good)          // p95 drags it down
        #expect(b.grade(median: 170, p95: 200) == .acceptable)
        #expect(b.grade(median: 250, p95: 300) == .belowTarget)
        #expect(b.grade(median: 120, p95: 230) == .belowTarget)
    }

    @Test func memoryAndLatencyBands() {
        #expect(Catalogue.bands(for: .memory)!.grade(median: 140, p95: 160) == .excellent)
        #expect(Catalogue.bands(for: .memory)!.grade(median: 260, p95: 270) == .belowTarget)
        #expect(Catalogue.bands(for: .latency)!.grade(median: 60, p95: 100) == .good)
        #expect(Catalogue.bands(for: .latency)!.grade(median: 120, p95: 150) == .acceptable)
        #expect(Catalogue.bands(for: .cpu) == nil)
    }

    @Test func phasesAndWeeks() {
        #expect(Phase.baseline.weeks == "1-2")
        #expect(Phase.production.weeks == "11-12")
    }
}

@Suite struct MetricsFileTests {
    static let host = HostDescription(hostname: "h", cpuModel: "cpu", cores: 2, kernel: "6.1", memoryTotalMB: 1024)

    func sample(spawn: [Double] = [120, 130, 125, 140, 118], labels: RunLabels = RunLabels(backend: "qemu", accelerator: "tcg")) throws -> MetricsFile {
        var f = MetricsFile(timestamp: Date(timeIntervalSince1970: 1_790_000_000), scope: "spawn", phase: .baseline,
                            iterations: spawn.count, warmup: 1, labels: labels, host: Self.host,
                            tools: ["qemu": "7.2"], commit: "abc")
        f.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold spawn",
                                                series: MeasuredSeries(warmup: [400], samples: spawn), judged: true))
        f.add("guest_boot_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "context",
                                                series: MeasuredSeries(samples: [5]), judged: false))
        return f
    }

    @Test func roundTripsThroughTheGuideFormat() throws {
        let f = try sample()
        let data = try f.encoded()
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        // The guide's fields.
        let spawn = json["spawn_time_ms"] as! [String: Any]
        for key in ["median", "p95", "p99", "min", "max", "std_dev"] { #expect(spawn[key] != nil, "missing \(key)") }
        #expect(json["timestamp"] is String && json["iterations"] as? Int == 5 && json["meets_target"] as? Bool == true)
        #expect(json["backend"] as? String == "qemu" && json["accelerator"] as? String == "tcg")
        #expect((spawn["samples"] as? [Double])?.count == 5)
        #expect(spawn["warmup_samples"] as? [Double] == [400])
        // A single-sample series writes std_dev as null, not 0 and not missing.
        let single = json["guest_boot_ms"] as! [String: Any]
        #expect(single["std_dev"] is NSNull)
        let back = try MetricsFile.decode(data, name: "t")
        #expect(back.series.map(\.name) == ["spawn_time_ms", "guest_boot_ms"])
        #expect(back["spawn_time_ms"] == f["spawn_time_ms"])
        #expect(back.labels == f.labels && back.commit == "abc")
    }

    @Test func aSeriesMeasuredWithoutTheSandboxCarriesItsOwnLabels() throws {
        var f = try sample()
        f.add("mcp_echo_ms", try MetricSeries(metric: .latency, unit: "ms", description: "host-only echo",
                                              series: MeasuredSeries(samples: [0.2, 0.3]), judged: false).produced(by: .hostOnly))
        let data = try f.encoded()
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let echo = json["mcp_echo_ms"] as! [String: Any], spawn = json["spawn_time_ms"] as! [String: Any]
        #expect(echo["backend"] as? String == "host" && echo["accelerator"] as? String == "none")
        #expect(spawn["backend"] == nil, "a series from the file's sandbox has no labels of its own")
        let back = try MetricsFile.decode(data, name: "t")
        #expect(back.labels(of: try #require(back["mcp_echo_ms"])) == .hostOnly)
        #expect(back.labels(of: try #require(back["spawn_time_ms"])) == RunLabels(backend: "qemu", accelerator: "tcg"))
        // Half a label is refused.
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: #""accelerator" : "none","#, with: "")
        #expect(throws: MetricsFileError.self) { try MetricsFile.decode(Data(text.utf8), name: "half") }
    }

    @Test func fileNameFollowsTheGuidePattern() throws {
        #expect(try sample().fileName == "spawn_baseline_20260921_141320.json")
    }

    @Test func noSamplesNeverMeetTarget() throws {
        var f = try sample()
        #expect(f.meetsTarget)
        f = MetricsFile(scope: "x", phase: .baseline, iterations: 1, warmup: 0, labels: RunLabels(backend: "qemu", accelerator: "tcg"),
                        host: Self.host, tools: [:], commit: "c")
        #expect(!f.meetsTarget)
        #expect(throws: StatsError.self) {
            try MetricSeries(metric: .spawn, unit: "ms", description: "d", series: MeasuredSeries(samples: []), judged: true)
        }
    }

    @Test func slowSpawnIsBelowTarget() throws {
        let f = try sample(spawn: [900, 1000, 1100])
        #expect(f["spawn_time_ms"]?.meetsTarget == false)
        #expect(f["spawn_time_ms"]?.grade == .belowTarget)
        #expect(!f.meetsTarget)
    }

    @Test func wrongUnitForATargetIsRefused() {
        #expect(throws: MetricsFileError.self) {
            try MetricSeries(metric: .spawn, unit: "s", description: "d", series: MeasuredSeries(samples: [1]), judged: true)
        }
    }

    @Test func atomicWriteAndRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lg-mf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try sample().write(into: dir)
        #expect(try MetricsFile.read(from: url)["spawn_time_ms"]?.median == 125)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(leftovers == [url.lastPathComponent])
    }

    @Test(arguments: [
        ("", "empty"),
        ("{\"timestamp\": \"2026-", "not valid JSON"),
        ("[1,2]", "top level"),
        ("{\"iterations\": 3}", "missing field"),
    ])
    func corruptFilesAreRejectedWithTheProblem(text: String, problem: String) throws {
        do {
            _ = try MetricsFile.decode(Data(text.utf8), name: "bad.json")
            Issue.record("accepted a corrupt file")
        } catch let e as MetricsFileError {
            #expect(e.description.contains("bad.json"))
            #expect(e.description.contains(problem), "\(e)")
        }
    }

    @Test func truncatedFileIsRejected() throws {
        let data = try sample().encoded()
        let cut = data.prefix(data.count / 2)
        #expect(throws: MetricsFileError.self) { try MetricsFile.decode(cut, name: "cut.json") }
    }

    @Test func editedStatisticsAreCaught() throws {
        var json = try JSONSerialization.jsonObject(with: try sample().encoded()) as! [String: Any]
        var spawn = json["spawn_time_ms"] as! [String: Any]
        spawn["median"] = 50.0
        json["spawn_time_ms"] = spawn
        let edited = try JSONSerialization.data(withJSONObject: json)
        #expect {
            try MetricsFile.decode(edited, name: "edited.json")
        } throws: { ($0 as? MetricsFileError)?.description.contains("median") == true }
    }

    static let provenance = Provenance(build: "release", benchmark: "baseline.spawn", mode: "quick",
                                       command: "lgperf run --quick", origin: "benchmark")

    @Test func provenanceIsWrittenAndReadBack() throws {
        var f = try sample()
        f.provenance = Self.provenance
        let data = try f.encoded()
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let p = try #require(json["provenance"] as? [String: Any])
        #expect(p["build"] as? String == "release" && p["benchmark"] as? String == "baseline.spawn")
        #expect(p["mode"] as? String == "quick" && p["command"] as? String == "lgperf run --quick")
        #expect(p["origin"] as? String == "benchmark")
        let back = try MetricsFile.decode(data, name: "t")
        #expect(back.provenance == Self.provenance)
        #expect(back == f)
        // Not a series.
        #expect(back["provenance"] == nil && back.series.map(\.name) == ["spawn_time_ms", "guest_boot_ms"])
        // Equality includes it.
        var other = back
        other.provenance?.origin = "test"
        #expect(other != back)
        #expect(other.provenance?.isTestRun == true && back.provenance?.isTestRun == false)
    }

    @Test func aFileWithoutProvenanceStillLoads() throws {
        let f = try sample()
        #expect(f.provenance == nil)
        let data = try f.encoded()
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(json["provenance"] == nil)
        let back = try MetricsFile.decode(data, name: "old.json")
        #expect(back.provenance == nil && back == f)
    }

    @Test func currentBuildNamesThisBinary() {
        #expect(Provenance.builds.contains(Provenance.currentBuild))
        #if DEBUG
        #expect(Provenance.currentBuild == "debug")
        #else
        #expect(Provenance.currentBuild == "release")
        #endif
        #expect(Provenance(benchmark: "b", mode: "full", command: "c", origin: "test").build == Provenance.currentBuild)
    }

    @Test(arguments: [
        ("\"release\"", "is not an object"),
        ("{\"build\": \"release\", \"benchmark\": \"baseline.spawn\", \"mode\": \"quick\", \"command\": \"x\"}", "has no 'origin'"),
        ("{\"build\": \"release\", \"benchmark\": 3, \"mode\": \"quick\", \"command\": \"x\", \"origin\": \"test\"}", "'provenance.benchmark' has the wrong type"),
        ("{\"build\": \"fast\", \"benchmark\": \"b\", \"mode\": \"quick\", \"command\": \"x\", \"origin\": \"test\"}", "provenance.build 'fast'"),
        ("{\"build\": \"debug\", \"benchmark\": \"b\", \"mode\": \"slow\", \"command\": \"x\", \"origin\": \"test\"}", "provenance.mode 'slow'"),
        ("{\"build\": \"debug\", \"benchmark\": \"b\", \"mode\": \"full\", \"command\": \"x\", \"origin\": \"ci\"}", "provenance.origin 'ci'"),
        ("{\"build\": \"debug\", \"benchmark\": \"\", \"mode\": \"full\", \"command\": \"x\", \"origin\": \"test\"}", "provenance.benchmark is empty"),
        ("null", "is not an object"),
    ])
    func aMalformedProvenanceIsRejected(provenance: String, problem: String) throws {
        var json = try JSONSerialization.jsonObject(with: try sample().encoded()) as! [String: Any]
        json["provenance"] = try JSONSerialization.jsonObject(with: Data(provenance.utf8), options: .fragmentsAllowed)
        let edited = try JSONSerialization.data(withJSONObject: json)
        do {
            _ = try MetricsFile.decode(edited, name: "prov.json")
            Issue.record("accepted provenance \(provenance)")
        } catch let e as MetricsFileError {
            #expect(e.description.contains("prov.json"))
            #expect(e.description.contains(problem), "\(e)")
        }
    }

    @Test func anInvalidProvenanceIsNotWritten() throws {
        var f = try sample()
        f.provenance = Provenance(build: "release", benchmark: "baseline.spawn", mode: "weekly", command: "x", origin: "benchmark")
        #expect { try f.encoded() } throws: { ($0 as? MetricsFileError)?.description.contains("provenance.mode") == true }
    }

    @Test func labelsSayWhenNumbersAreNotHardwareKVM() {
        #expect(RunLabels(backend: "qemu", accelerator: "tcg").caveat?.contains("TCG") == true)
        #expect(RunLabels(backend: "process", accelerator: "none").caveat?.contains("no VM") == true)
        #expect(RunLabels(backend: "qemu", accelerator: "kvm").caveat == nil)
    }
}

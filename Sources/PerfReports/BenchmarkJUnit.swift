import Foundation
import PerfMetrics

/// How one catalogue benchmark ended in an `lgperf run`.
public struct BenchmarkOutcome: Sendable {
    public enum Status: Sendable, Equatable {
        case passed
        /// It ran, but a budget check on its numbers failed.
        case failed(String)
        /// It threw: no usable numbers.
        case error(String)
        /// It does not apply to this run (e.g. needs QEMU).
        case skipped(String)
    }

    public var id: String
    public var phase: Phase
    public var tags: [String]
    public var times: String
    public var startedAt: Date
    public var seconds: Double
    public var status: Status
    /// The metrics files it wrote.
    public var files: [LoadedMetrics]

    public init(id: String, phase: Phase, tags: [String], times: String, startedAt: Date, seconds: Double, status: Status,
                files: [LoadedMetrics]) {
        self.id = id; self.phase = phase; self.tags = tags; self.times = times; self.startedAt = startedAt
        self.seconds = seconds; self.status = status; self.files = files
    }
}

/// JUnit for an `lgperf run`, written for CI pages: one testsuite per phase
/// holding, for each benchmark,
/// - one testcase for the benchmark itself (classname = benchmark id, e.g.
///   `baseline.spawn`; failed when it missed a budget, error when it could
///   not run, skipped when it does not apply here);
/// - one testcase per judged metric: every series with a guide target
///   (`meets_target` set), named by what it measured, e.g.
///   `spawn_time_ms: median 1806 ms [95% CI 1700-1900], p95 n too small (target < 200 ms: missed, clear)`;
/// - one testcase per acceptance criterion of the phase (criteria file),
///   with its verdict; a criterion on a series' guide target stands for that
///   series (one testcase, not two).
///
/// Outcomes of the judged testcases: a met target or criterion passes; a
/// missed criterion, a target missed on hardware, and a criterion with no
/// data (no sample, no pass) fail; a guide target missed under emulation
/// (accelerator tcg, or the process backend) is **skipped** with the reason,
/// because the guide's targets are for hardware KVM: never a pass. Samples,
/// statistics, labels and the metrics file go into each testcase's
/// `system-out`; each suite's properties carry its phase's metrics files.
public enum BenchmarkJUnit {
    /// - Parameters:
    ///   - criteria: the phases' acceptance criteria; nil judges series targets only.
    ///   - phaseBenchmarks: per phase, the ids of the benchmarks a phase run
    ///     runs. When the run left some out (`--benchmark`), only the criteria
    ///     whose metrics file this run wrote are judged, and the others are
    ///     named in the suite's `system-out`; a phase missing here counts as run
    ///     whole, so each of its criteria without data fails.
    public static func report(_ outcomes: [BenchmarkOutcome], criteria: PhaseCriteria? = nil,
                              phaseBenchmarks: [Phase: [String]] = [:], name: String = "lgperf run") -> JUnitReport {
        var tests: [TestResult] = []
        var notes: [String: [String]] = [:]
        var suiteMetrics: [String: [LoadedMetrics]] = [:]
        var phases: [Phase] = []
        for o in outcomes where !phases.contains(o.phase) { phases.append(o.phase) }

        for phase in phases {
            let inPhase = outcomes.filter { $0.phase == phase }
            let files = inPhase.flatMap(\.files)
            suiteMetrics[phase.rawValue] = files
            var phaseNotes: [String] = []

            // The criteria judged in this run, with their verdicts.
            var judged: [(criterion: Criterion, verdict: CriterionResult)] = []
            if let criteria {
                var list = criteria.criteria(for: phase)
                let ran = Set(inPhase.map(\.id))
                if let all = phaseBenchmarks[phase], !Set(all).isSubset(of: ran) {
                    let scopes = Set(files.map(\.file.scope))
                    let left = list.filter { !scopes.contains($0.scope) }
                    list = list.filter { scopes.contains($0.scope) }
                    if !left.isEmpty {
                        phaseNotes.append("Criteria not judged in this run (it ran \(ran.count) of the phase's \(all.count) benchmarks; "
                            + "run the whole phase with `lgperf run --phase \(phase.rawValue)`): " + left.map(\.id).joined(separator: ", "))
                    }
                }
                judged = Array(zip(list, PhaseCriteria.evaluate(list, files: files)))
                phaseNotes.append("Acceptance criteria from \(criteria.file).")
            }
            // A criterion on a series' guide target (median) stands for that series.
            let standIns = Set(judged.filter { $0.criterion.limit == .target && $0.criterion.stat == .median }.map(\.criterion.key))
            func owner(ofScope scope: String) -> BenchmarkOutcome? { inPhase.first { $0.files.contains { $0.file.scope == scope } } }

            for o in inPhase {
                tests.append(benchmarkTest(o))
                let multipleFiles = o.files.count > 1
                for f in o.files {
                    for (seriesName, s) in f.file.series where s.meetsTarget != nil && !standIns.contains("\(f.file.scope)/\(seriesName)") {
                        tests.append(seriesTest(o, file: f, name: seriesName, series: s, qualified: multipleFiles))
                    }
                }
                for (c, v) in judged where owner(ofScope: c.scope)?.id == o.id {
                    tests.append(criterionTest(c, v, classname: o.id, phase: phase, tags: o.tags, files: files, at: o.startedAt))
                }
            }
            for (c, v) in judged where owner(ofScope: c.scope) == nil {
                tests.append(criterionTest(c, v, classname: "\(phase.rawValue).criteria", phase: phase, tags: [phase.rawValue],
                                           files: files, at: inPhase.map(\.startedAt).min()))
            }
            phaseNotes.append(ReportedFigures.legend)
            notes[phase.rawValue] = phaseNotes
        }
        let started = outcomes.map(\.startedAt).min()
        let duration = outcomes.map(\.seconds).reduce(0, +)
        let run = TestRun(tests: tests, startedAt: started, duration: duration, complete: true, orphanIssues: [], suiteCount: 0)
        return JUnitReport(run: run, metrics: outcomes.flatMap(\.files), name: name, suiteMetrics: suiteMetrics, suiteNotes: notes)
    }

    /// Why a missed guide target does not count here: the labels are not
    /// hardware virtualisation (`emulated, TCG`, `process backend, no VM`);
    /// nil on hardware (and for host-only measurements, which have no VM to emulate).
    public static func emulation(_ labels: RunLabels) -> String? {
        if labels.backend == "process" { return "process backend, no VM" }
        if labels.accelerator == "tcg" { return "emulated, TCG" }
        return nil
    }

    // MARK: Testcases

    private static func benchmarkTest(_ o: BenchmarkOutcome) -> TestResult {
        let outcome: TestResult.Outcome
        switch o.status {
        case .passed: outcome = .passed
        case .failed(let m): outcome = .failed(message: m, details: o.times)
        case .error(let m): outcome = .error(message: m, details: o.times)
        case .skipped(let m): outcome = .skipped(message: m)
        }
        var out = ["benchmark \(o.id) (phase \(o.phase.rawValue), weeks \(o.phase.weeks)): \(o.times)"]
        if o.files.isEmpty { out.append("metrics files: none written") }
        for f in o.files {
            out.append("metrics file: \(f.fileName) (\(f.file.series.count) series)")
            out.append(labelsLine(f.file, f.file.labels))
        }
        let start = o.startedAt.timeIntervalSince1970
        return TestResult(id: o.id, module: o.phase.rawValue, classname: o.id, name: "benchmark: \(o.times)", displayName: o.times,
                          tags: o.tags.sorted(), outcome: outcome, duration: o.seconds, startedAt: start,
                          endedAt: start + o.seconds, knownIssues: [], testCaseCount: nil, output: out)
    }

    private static func seriesTest(_ o: BenchmarkOutcome, file f: LoadedMetrics, name seriesName: String, series s: MetricSeries,
                                   qualified: Bool) -> TestResult {
        let labels = f.file.labels(of: s)
        let target = Catalogue.target(for: s.metric)
        let figures = ReportedFigures(s)
        let confidence = target.unit == s.unit ? figures.confidence(against: target).rawValue : "unit mismatch"
        let met = s.meetsTarget == true
        let verdict = "\(met ? "met" : "missed")" + (figures.medianInterval != nil ? ", \(confidence)" : "")
        let shownName = qualified ? "\(f.file.scope)/\(seriesName)" : seriesName
        let name = "\(shownName): \(figures.headline) (target \(s.target ?? target.text): \(verdict))"
        let outcome: TestResult.Outcome
        if met {
            outcome = .passed
        } else if let why = emulation(labels) {
            outcome = .skipped(message: "\(why): the \(ReportedFigures.value(target.threshold, target.unit)) target is for hardware KVM "
                + "(\(figures.medianText) here, \(verdict))")
        } else {
            outcome = .failed(message: "\(shownName) \(figures.medianText) misses the target \(s.target ?? target.text) (\(confidence))",
                              details: s.description)
        }
        var out = seriesLines(f, seriesName, s)
        out.append("target: \(s.target ?? target.text) (the guide's, judged on the median): \(verdict)" + confidenceNote(figures.confidence(against: target)))
        if let g = s.grade { out.append("grade: \(g.rawValue) (the worse of the median's and the p95's band)") }
        let start = o.startedAt.timeIntervalSince1970
        return TestResult(id: "\(o.id)/\(f.file.scope)/\(seriesName)", module: o.phase.rawValue, classname: o.id, name: name,
                          displayName: nil, tags: o.tags.sorted(), outcome: outcome, duration: 0, startedAt: start, endedAt: start,
                          knownIssues: [], testCaseCount: nil, output: out)
    }

    private static func criterionTest(_ c: Criterion, _ v: CriterionResult, classname: String, phase: Phase, tags: [String],
                                      files: [LoadedMetrics], at date: Date?) -> TestResult {
        // The series the verdict was taken from: the newest file of the scope, as `evaluate` does.
        let file = files.filter { $0.file.scope == c.scope }.max { ($0.file.timestamp, $0.fileName) < ($1.file.timestamp, $1.fileName) }
        let series = file?.file[c.series]
        let figures = series.map(ReportedFigures.init)
        var measured = "no data"
        var confidence: ReportedFigures.Confidence?
        if let m = v.measured {
            let unit = v.unit ?? ""
            switch c.stat {
            case .median:
                measured = figures?.medianText ?? "median \(ReportedFigures.value(m, unit))"
                if let figures, figures.medianInterval != nil, let limit = v.limit { confidence = figures.confidence { c.op.holds($0, limit) } }
            case .p95 where (figures?.p95 == nil):
                measured = "p95 \(ReportedFigures.value(m, unit)) (n=\(series?.count ?? 0): too small for a p95)"
            default:
                measured = "\(c.stat.rawValue) \(ReportedFigures.value(m, unit))"
            }
        }
        let verdict: String
        switch v.status {
        case .met: verdict = "met"
        case .missed: verdict = "missed"
        case .noData: verdict = "no data"
        }
        // `target < 200 ms` for a guide-target criterion, `limit <= 2000 ms` for the others.
        let limit = c.limit != .target ? "limit \(v.limitText)"
            : v.limit != nil ? "target " + v.limitText.replacingOccurrences(of: " (guide target)", with: "") : "the guide target"
        let name = "criterion \(c.id): \(c.series) \(measured) (\(limit): \(verdict)\(confidence.map { ", \($0.rawValue)" } ?? ""))"
        let labels = v.backend.flatMap { b in v.accelerator.map { RunLabels(backend: b, accelerator: $0) } }
        let outcome: TestResult.Outcome
        switch v.status {
        case .met:
            outcome = .passed
        case .noData:
            outcome = .failed(message: "criterion \(c.id) has no data: \(v.note ?? "no samples") (no sample, no pass)", details: c.what)
        case .missed:
            if c.limit == .target, let labels, let why = emulation(labels), let t = series.map({ Catalogue.target(for: $0.metric) }) {
                outcome = .skipped(message: "\(why): the \(ReportedFigures.value(t.threshold, t.unit)) target is for hardware KVM "
                    + "(criterion \(c.id): \(measured) here, missed\(confidence.map { ", \($0.rawValue)" } ?? ""))")
            } else {
                outcome = .failed(message: "criterion \(c.id) missed: \(c.key) \(measured), \(limit)"
                    + (confidence.map { " (\($0.rawValue))" } ?? ""), details: c.what)
            }
        }
        var out = ["criterion \(c.id) of the \(phase.rawValue) phase: \(c.what)",
                   "verdict: \(verdict): \(c.key) \(measured), \(limit)" + (confidence.map(confidenceNote) ?? "")]
        if let note = v.note { out.append("note: \(note)") }
        if let file, let series { out += seriesLines(file, c.series, series) } else if let file {
            out.append("metrics file: \(file.fileName) (has no series '\(c.series)')")
        } else {
            out.append("metrics file: none with scope '\(c.scope)' in this run")
        }
        let start = (date ?? Date()).timeIntervalSince1970
        return TestResult(id: "\(classname)/criterion/\(c.id)", module: phase.rawValue, classname: classname, name: name,
                          displayName: nil, tags: tags.sorted(), outcome: outcome, duration: 0, startedAt: start, endedAt: start,
                          knownIssues: [], testCaseCount: nil, output: out)
    }

    // MARK: system-out

    /// What a reader needs to check a judged figure: the samples, the
    /// statistics with what each is worth, the labels and the source file.
    static func seriesLines(_ f: LoadedMetrics, _ name: String, _ s: MetricSeries) -> [String] {
        let figures = ReportedFigures(s)
        var lines = ["series: \(f.file.scope)/\(name): \(s.description)"]
        lines.append(samplesLine(s.samples, warmup: s.warmupSamples.count, unit: s.unit))
        var stats = [figures.medianText]
        if let ci = figures.medianInterval {
            stats[0] += " (ranks \(ci.lowerRank) and \(ci.upperRank) of \(s.count), exact coverage \(String(format: "%.1f", ci.coverage * 100)) %)"
        } else {
            stats[0] += " (a 95 % interval needs n >= 6)"
        }
        stats.append(figures.p95 != nil ? figures.p95Text : "p95 not shown: n=\(s.count) < \(ReportedFigures.p95MinimumCount) (the metrics file has it)")
        stats.append(figures.p99 != nil ? figures.p99Text : "p99 not shown: n=\(s.count) < \(ReportedFigures.p99MinimumCount) (the metrics file has it)")
        stats.append("min \(ReportedFigures.value(s.min, s.unit)), max \(ReportedFigures.value(s.max, s.unit))")
        stats.append("std_dev " + (s.stdDev.map { ReportedFigures.value($0, s.unit) } ?? "undefined (n = 1)"))
        lines.append("statistics: " + stats.joined(separator: "; "))
        lines.append(labelsLine(f.file, f.file.labels(of: s)))
        lines.append("metrics file: \(f.fileName)")
        return lines
    }

    /// `samples: n=10 (+1 warm-up, not counted), ms, in run order: 1806.2, ...` (6 significant
    /// figures); a series longer than `2 * keep` is shortened to its first and last `keep`.
    static func samplesLine(_ samples: [Double], warmup: Int, unit: String, keep: Int = 10) -> String {
        func number(_ v: Double) -> String { String(format: "%.6g", v) }
        let head = "samples: n=\(samples.count)" + (warmup > 0 ? " (+\(warmup) warm-up, not counted)" : "")
            + (unit.isEmpty ? "" : ", \(unit)") + ", in run order"
        if samples.count <= 2 * keep { return head + ": " + samples.map(number).joined(separator: ", ") }
        return head + " (first and last \(keep) of \(samples.count); all in the metrics file): "
            + samples.prefix(keep).map(number).joined(separator: ", ") + ", ..., "
            + samples.suffix(keep).map(number).joined(separator: ", ")
    }

    static func labelsLine(_ file: MetricsFile, _ labels: RunLabels) -> String {
        var parts = ["backend \(labels.backend)", "accelerator \(labels.accelerator)" + (labels.caveat.map { " (\($0))" } ?? "")]
        if let p = file.provenance {
            parts += ["build \(p.build)", "mode \(p.mode)", "origin \(p.origin)", "benchmark \(p.benchmark)"]
        } else {
            parts.append("build, mode: not recorded")
        }
        parts.append("iterations \(file.iterations) (warm-up \(file.warmup))")
        parts.append("commit \(String(file.commit.prefix(12)))")
        return "labels: " + parts.joined(separator: ", ")
    }

    private static func confidenceNote(_ c: ReportedFigures.Confidence) -> String {
        switch c {
        case .clear: return " (clear: the whole 95 % CI of the median is on one side of the limit)"
        case .uncertain: return " (uncertain: the 95 % CI of the median straddles the limit; a re-run could flip the verdict)"
        case .noInterval: return " (too few samples for a 95 % CI of the median: n >= 6 needed)"
        }
    }
}

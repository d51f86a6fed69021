import Foundation
import PerfMetrics
import PerfStats

/// `lgperf report week --phase P`: a markdown summary of the newest metrics
/// file per scope for the phase, with an SVG chart and a JSON data file
/// (raw samples) beside it, compared with the previous summary of the phase.
public enum WeeklySummary {
    public enum Status: String, Sendable, Codable {
        case pass = "PASS"
        case fail = "FAIL"
        /// Nothing failed, but a required metric has no data.
        case incomplete = "INCOMPLETE"
        /// No samples at all: never a success.
        case noData = "NO DATA"

        public var isSuccess: Bool { self == .pass }
    }

    public struct Options: Sendable {
        public var phase: Phase
        public var metrics: URL
        public var outputDirectory: URL
        /// The summary data to compare with; default: the one being replaced.
        public var previous: URL?
        public var threshold: Double
        public var alpha: Double
        public var now: Date
        /// The phases' acceptance criteria (`Fixtures/criteria/phase-criteria.json`).
        /// With it, the status is the verdict on the phase's own criteria; without
        /// it, on the series' targets and the metrics the guide lists for every phase.
        public var criteria: URL?
        /// Use test runs' metrics files too (provenance origin `test`); by
        /// default only the main job's are used, and the others are counted.
        public var includeTestRuns: Bool

        public init(phase: Phase, metrics: URL, outputDirectory: URL, previous: URL? = nil, threshold: Double = 0.10,
                    alpha: Double = 0.01, now: Date = Date(), criteria: URL? = nil, includeTestRuns: Bool = false) {
            self.phase = phase; self.metrics = metrics; self.outputDirectory = outputDirectory
            self.previous = previous; self.threshold = threshold; self.alpha = alpha; self.now = now
            self.criteria = criteria; self.includeTestRuns = includeTestRuns
        }

        public var selection: RunSelection { RunSelection(includeTestRuns: includeTestRuns) }
    }

    public struct Outcome: Sendable {
        public var status: Status
        public var markdown: URL
        public var data: URL
        public var chart: URL
        /// The one-glance chart (`weekN-M_<phase>_glance.svg`) and the trend chart (`trends_<phase>.svg`).
        public var glance: URL
        public var trends: URL
        public var filesUsed: [String]
        public var rejected: [String]
        public var comparedWith: String?
        /// Valid files left out (test runs'), `name: reason`.
        public var excluded: [String]
        /// The verdict on each of the phase's criteria (empty without a criteria file).
        public var criteria: [CriterionResult]
        /// Production only: the pre-deployment go/no-go over every phase.
        public var goNoGo: ProductionReadiness.GoNoGo? = nil
    }

    /// The metrics the guide expects for a phase. All phases need the four
    /// primary targets; the baseline adds CPU and network, which the guide's
    /// week 1-2 checklist lists ("Spawn <200ms, Memory <200MB, CPU <50%,
    /// Network <50ms").
    public static func requiredMetrics(for phase: Phase) -> [MetricKind] {
        phase == .baseline ? [.startup, .spawn, .memory, .latency, .cpu, .network] : [.startup, .spawn, .memory, .latency]
    }

    public static func generate(_ o: Options) throws -> Outcome {
        // A bad criteria file is an error before anything is written.
        let criteria = try o.criteria.map { try PhaseCriteria.load(from: $0) }
        let collection: MetricsCollection
        if FileManager.default.fileExists(atPath: o.metrics.path) {
            collection = try MetricsCollection.loadNewest(o.metrics, phase: o.phase, selection: o.selection)
        } else {
            collection = MetricsCollection(files: [], rejected: [])
        }
        let base = SummarySidecar.baseName(for: o.phase)
        let md = o.outputDirectory.appendingPathComponent(base + ".md")
        let json = o.outputDirectory.appendingPathComponent(base + ".json")
        let svg = o.outputDirectory.appendingPathComponent(base + ".svg")

        // The summary to compare with: an explicit one, else the newest
        // earlier summary of the phase built from *different* data files (the
        // one being replaced, or one kept in history/). Regenerating a summary
        // from the same files therefore still compares with the last real
        // change, not with itself.
        let currentNames = collection.newestPerScope(phase: o.phase).map(\.fileName)
        let history = o.outputDirectory.appendingPathComponent("history", isDirectory: true)
        var previous: SummarySidecar?
        var previousURL: URL?
        var previousNote: String?
        var existing: SummarySidecar?
        if FileManager.default.fileExists(atPath: json.path) {
            do { existing = try SummarySidecar.read(from: json) } catch {
                previousNote = "The previous summary data could not be read (\(error)); it is replaced."
            }
        }
        if let explicit = o.previous {
            let p = try SummarySidecar.read(from: explicit)
            guard p.phase == o.phase else {
                throw ReportError.unusableInput("\(explicit.path) is a \(p.phase.rawValue) summary, not \(o.phase.rawValue)")
            }
            previous = p
            previousURL = explicit
        } else {
            var candidates: [(URL, SummarySidecar)] = existing.map { [(json, $0)] } ?? []
            let names = (try? FileManager.default.contentsOfDirectory(atPath: history.path)) ?? []
            for n in names where n.hasPrefix(base + ".") && n.hasSuffix(".json") {
                let u = history.appendingPathComponent(n)
                if let p = try? SummarySidecar.read(from: u), p.phase == o.phase { candidates.append((u, p)) }
            }
            candidates.sort { $0.1.generated > $1.1.generated }
            if let hit = candidates.first(where: { $0.1.files.map(\.name) != currentNames }) {
                previous = hit.1
                previousURL = hit.0
            } else if !candidates.isEmpty {
                previousNote = "Every earlier \(o.phase.rawValue) summary was built from these same data files: nothing to compare yet."
            }
        }

        let rendered = try render(collection: collection, options: o, previous: previous, previousNote: previousNote,
                                  chartName: svg.lastPathComponent, metricsLocation: o.metrics, criteria: criteria)
        // The summary being replaced is kept in history/ when it was built
        // from other data, so that later summaries can still compare with it.
        if let existing, existing.files.map(\.name) != currentNames {
            let stamp = SummarySidecar.stamp(existing.generated).replacingOccurrences(of: ":", with: "")
            try AtomicFile.write(try existing.encoded(), to: history.appendingPathComponent("\(base).\(stamp).json"))
        }
        // Each file is replaced atomically; the markdown goes last, so a
        // summary never links a chart or data file that is not there.
        let glance = o.outputDirectory.appendingPathComponent(GlanceChart.fileName(for: o.phase))
        let trends = o.outputDirectory.appendingPathComponent(TrendChart.fileName(for: o.phase))
        try AtomicFile.write(glanceChart(rendered, phase: o.phase), to: glance)
        try AtomicFile.write(trendChart(o, criteria: criteria), to: trends)
        try AtomicFile.write(rendered.svg, to: svg)
        try AtomicFile.write(try rendered.sidecar.encoded(), to: json)
        try AtomicFile.write(rendered.markdown, to: md)
        return Outcome(status: rendered.status, markdown: md, data: json, chart: svg, glance: glance, trends: trends,
                       filesUsed: rendered.used.map(\.fileName),
                       rejected: collection.rejected.map { "\($0.url.lastPathComponent): \($0.reason)" },
                       comparedWith: previousURL?.path,
                       excluded: collection.excluded.map { "\($0.url.lastPathComponent): \($0.reason)" },
                       criteria: rendered.sidecar.criteria ?? [], goNoGo: rendered.sidecar.goNoGo)
    }

    public struct Rendered: Sendable {
        public var markdown: String
        public var svg: String
        public var sidecar: SummarySidecar
        public var status: Status
        public var used: [LoadedMetrics]
    }

    public static func render(collection: MetricsCollection, options o: Options, previous: SummarySidecar?,
                              previousNote: String? = nil, chartName: String, metricsLocation: URL,
                              criteria phaseCriteria: PhaseCriteria? = nil) throws -> Rendered {
        let phase = o.phase
        let collection = collection.selecting(o.selection)
        let used = collection.newestPerScope(phase: phase)
        let inPhase = collection.files.filter { $0.file.phase == phase }
        let superseded = inPhase.filter { f in !used.contains { $0.url == f.url } }

        // Rows: every series of every file used.
        struct Row {
            var file: LoadedMetrics; var name: String; var series: MetricSeries
            var key: String { "\(file.file.scope)/\(name)" }
            var labels: RunLabels { file.file.labels(of: series) }
        }
        let rows = used.flatMap { f in f.file.series.map { Row(file: f, name: $0.name, series: $0.value) } }
        let judged = rows.filter { $0.series.meetsTarget != nil }
        let required = requiredMetrics(for: phase)

        // Acceptance criteria, one per metric kind.
        struct Criterion { var kind: MetricKind; var required: Bool; var rows: [Row]
            var met: Bool? { rows.isEmpty ? nil : rows.allSatisfy { $0.series.meetsTarget == true } } }
        let criteria = MetricKind.allCases.map { k in
            Criterion(kind: k, required: required.contains(k), rows: judged.filter { $0.series.metric == k })
        }
        // With a criteria file: the phase's own criteria decide.
        let verdicts = phaseCriteria.map { PhaseCriteria.evaluate($0.criteria(for: phase), files: used) }
        let status: Status
        if rows.isEmpty || rows.allSatisfy({ $0.series.samples.isEmpty }) { status = .noData }
        else if let verdicts {
            if verdicts.isEmpty { status = .incomplete }
            else if verdicts.contains(where: { $0.status == .missed }) { status = .fail }
            else if verdicts.contains(where: { $0.status == .noData }) { status = .incomplete }
            else { status = .pass }
        }
        else if judged.contains(where: { $0.series.meetsTarget == false }) { status = .fail }
        else if judged.isEmpty || criteria.contains(where: { $0.required && $0.met == nil }) { status = .incomplete }
        else { status = .pass }

        // Production's status judges its own criteria, like every phase's;
        // the pre-deployment go/no-go over every phase is a verdict beside it.
        var readiness: String?
        var goNoGo: ProductionReadiness.GoNoGo?
        if phase == .production, let phaseCriteria {
            let earlier = ProductionReadiness.earlierPhases(metrics: metricsLocation, selection: o.selection, criteria: phaseCriteria)
            let decision = ProductionReadiness.decide(earlier, production: status, productionResults: verdicts ?? [])
            readiness = ProductionReadiness.markdown(earlier, production: status, decision: decision)
            goNoGo = decision
        }
        let caveats = used.compactMap { f in f.file.labels.caveat.map { (f, $0) } }
        var md = ""
        let title = "Week \(phase.weeks) \(phase.rawValue.capitalized) Summary: \(phase.focus)"
        md += "# \(title)\n\n"
        md += "Generated \(Format.xsdDateTime(o.now)) by `lgperf report week --phase \(phase.rawValue)` from `\(metricsLocation.path)`.\n\n"
        md += glanceHeader(phase)

        // Executive summary.
        md += "## Executive summary\n\n"
        let statusIcon: String
        switch status {
        case .pass: statusIcon = "✅"
        case .fail: statusIcon = "❌"
        case .incomplete: statusIcon = "⚠️"
        case .noData: statusIcon = "⛔"
        }
        md += "**Status: \(statusIcon) \(status.rawValue)**\n\n"
        if let readiness { md += readiness }
        if !caveats.isEmpty {
            md += "> ⚠️ **WARNING: these are not hardware-KVM numbers.**\n"
            for (f, c) in caveats {
                md += "> - `\(f.file.scope)` (\(f.file.labels.backend)/\(f.file.labels.accelerator)): \(c).\n"
            }
            md += "> Emulated (TCG) and process-backend figures show relative behaviour only; they must not be quoted as micro-VM performance on KVM hardware.\n\n"
        }
        switch status {
        case .noData:
            md += "No metrics file with samples was found for the \(phase.rawValue) phase (weeks \(phase.weeks)) in `\(metricsLocation.path)`. "
            md += "With no samples, no target can be met: this summary reports **NO DATA**, which is a failing result.\n\n"
        default:
            let met = judged.filter { $0.series.meetsTarget == true }.count
            md += "- \(used.count) metrics file\(used.count == 1 ? "" : "s") (newest per scope), \(rows.count) series, \(judged.count) judged against a target: \(met) met, \(judged.count - met) missed.\n"
            if let verdicts {
                let n = verdicts.count
                let count = { (s: CriterionResult.Status) in verdicts.filter { $0.status == s }.count }
                md += "- \(n) acceptance criteri\(n == 1 ? "on" : "a") for the \(phase.rawValue) phase: \(count(.met)) met, \(count(.missed)) missed, \(count(.noData)) without data.\n"
                for v in verdicts where v.status == .missed {
                    md += "- ❌ `\(v.id)` missed: \(cell(v.what)) \(v.stat) \(measuredText(v)), limit \(v.limitText)\(labelsText(v).map { " (\($0))" } ?? "").\n"
                }
                for v in verdicts where v.status == .noData {
                    md += "- ⛔ `\(v.id)` has no data: \(v.note ?? "no samples") (no sample, no pass).\n"
                }
                let criterionKeys = Set(verdicts.map(\.series))
                let context = judged.filter { $0.series.meetsTarget == false && !criterionKeys.contains($0.key) }
                for r in context {
                    md += "- `\(r.key)` median \(Format.number(r.series.median)) \(r.series.unit) misses its guide target \(r.series.target ?? "") (\(r.labels.backend)/\(r.labels.accelerator)); not a criterion of this phase, so context only.\n"
                }
                md += "\n"
                break
            }
            let missing = criteria.filter { $0.required && $0.met == nil }.map(\.kind.rawValue)
            if !missing.isEmpty { md += "- Required metrics without data: \(missing.joined(separator: ", ")) (no sample, no pass).\n" }
            let failed = judged.filter { $0.series.meetsTarget == false }
            for r in failed {
                md += "- ❌ `\(r.key)` median \(Format.number(r.series.median)) \(r.series.unit) misses its target \(r.series.target ?? "") (\(r.labels.backend)/\(r.labels.accelerator)).\n"
            }
            md += "\n"
        }

        // Environment.
        md += "## Test environment\n\n"
        if used.isEmpty {
            md += "No runs: nothing to describe.\n\n"
        } else {
            md += "| Scope | Backend | Accelerator | Host | CPU | Cores | Kernel | Memory | Load before/after | Iterations (warm-up) | Commit | Build, mode, origin |\n"
            md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            for f in used {
                let h = f.file.host
                let load = [h.loadAverageBefore, h.loadAverageAfter].map { $0.map { String(format: "%.2f", $0) } ?? "?" }.joined(separator: " / ")
                let accel = f.file.labels.caveat != nil ? "**\(f.file.labels.accelerator)** ⚠️" : f.file.labels.accelerator
                let backend = f.file.labels.backend == "process" ? "**process** ⚠️" : f.file.labels.backend
                md += "| \(cell(f.file.scope)) | \(backend) | \(accel) | \(cell(h.hostname)) | \(cell(h.cpuModel)) | \(h.cores) | \(cell(h.kernel)) | \(Format.number(h.memoryTotalMB)) MB | \(load) | \(f.file.iterations) (\(f.file.warmup)) | \(cell(String(f.file.commit.prefix(12)))) | \(f.file.provenance.map { cell($0.text) } ?? "not recorded") |\n"
            }
            let tools = used.flatMap { $0.file.tools.map { "\($0.key) \($0.value)" } }
            var seen = Set<String>()
            let distinctTools = tools.filter { seen.insert($0).inserted }.sorted()
            if !distinctTools.isEmpty { md += "\nTools: " + distinctTools.map { "`\($0)`" }.joined(separator: ", ") + ".\n" }
            let notes = used.flatMap { f in f.file.notes.map { "`\(f.file.scope)`: \($0)" } }
            if !notes.isEmpty { md += "\nNotes from the runs:\n" + notes.map { "- \($0)\n" }.joined() }
            md += "\n"
        }

        // Results.
        md += "## Results\n\n"
        if rows.isEmpty {
            md += "| Metric | Median | P95 | P99 | Target | Grade | Status |\n|---|---|---|---|---|---|---|\n"
            md += "| (none) | - | - | - | - | - | ⛔ NO DATA |\n\n"
        } else {
            md += "| Metric | Median [95% CI] | P95 | P99 | Target | Grade | Status |\n|---|---|---|---|---|---|---|\n"
            for r in rows {
                let s = r.series
                let l = r.labels
                let label = "\(l.backend)/\(l.accelerator)" + (l.caveat != nil ? " ⚠️ " + (l.backend == "process" ? "simulated" : "emulated") : "")
                let metric = "`\(r.key)` \(cell(s.description)) [\(label)], n=\(s.count)"
                var st: String
                switch s.meetsTarget {
                case .some(true): st = "✅ PASS"
                case .some(false): st = "❌ FAIL"
                case .none: st = "context (not judged)"
                }
                // With criteria, a target outside them does not decide the status: say so.
                if let verdicts, s.meetsTarget != nil, !verdicts.contains(where: { $0.series == r.key }) {
                    st = s.meetsTarget == true ? "✅ within target (context)" : "❌ beyond target (context, not a criterion)"
                }
                let figures = ReportedFigures(s)
                if s.meetsTarget != nil { st += ", " + figures.confidence(against: Catalogue.target(for: s.metric)).rawValue }
                md += "| \(metric) | \(figures.medianCell) | \(figures.p95Cell) | \(figures.p99Cell) | \(s.target.map(cell) ?? "-") | \(s.grade?.rawValue ?? "-") | \(st) |\n"
            }
            md += "\nMedians, p95 and p99 are type-7 percentiles of the measured samples (warm-up runs excluded). "
            md += "A target is met when the median is within it; the grade is the worse of the median's and p95's bands from the guide.\n\n"
            md += ReportedFigures.legend + "\n\n"
        }
        md += "![Distribution of samples per series, with targets](\(chartName))\n\n"
        md += "Chart: [\(chartName)](\(chartName)), one row per series and backend: dots are samples, the box spans Q1-Q3 with the median, the dashed red line is the target.\n\n"

        // Acceptance criteria.
        md += "## Acceptance criteria\n\n"
        if let verdicts, let phaseCriteria {
            md += "The \(phase.rawValue) phase's criteria, from `\(phaseCriteria.file)`, judged on the newest file per scope.\n\n"
            md += "| Criterion | Measured | Limit | Status | Backend/accelerator |\n|---|---|---|---|---|\n"
            for v in verdicts {
                let st: String
                switch v.status {
                case .met: st = "✅ met"
                case .missed: st = "❌ missed"
                case .noData: st = "⛔ NO DATA"
                }
                let labels = labelsText(v).map { l -> String in
                    let caveat = RunLabels(backend: v.backend!, accelerator: v.accelerator!).caveat
                    return caveat == nil ? l : "\(l) ⚠️ " + (v.backend == "process" ? "simulated" : "emulated")
                } ?? "-"
                var measured = measuredText(v)
                if v.stat == "median", v.measured != nil, let row = rows.first(where: { $0.key == v.series }) {
                    let figures = ReportedFigures(row.series)
                    measured = figures.medianText
                    if let limit = v.limit, let op = PerfReports.Criterion.Op(rawValue: v.op), figures.medianInterval != nil {
                        measured += ", " + figures.confidence { op.holds($0, limit) }.rawValue
                    }
                }
                md += "| `\(v.id)`: \(cell(v.what)) (`\(v.series)` \(v.stat)) | \(measured) | \(cell(v.limitText)) | \(st) | \(labels) |\n"
            }
            let notes = verdicts.filter { $0.note != nil }
            if !notes.isEmpty {
                md += "\n" + notes.map { "- `\($0.id)`: \(cell($0.note!))\n" }.joined()
            }
            md += "\nOverall: **\(status.rawValue)**. PASS needs every criterion of the phase met; a criterion whose file or series is missing or empty has NO DATA and never passes.\n\n"
        } else {
            md += "No criteria file was given: judged by the series' own targets and the metrics the guide lists for every phase.\n\n"
            md += "| Criterion | Required for \(phase.rawValue) | Result | Evidence |\n|---|---|---|---|\n"
            for c in criteria {
                let t = Catalogue.target(for: c.kind)
                let what = "\(c.kind.rawValue) (`\(Catalogue.fieldName(for: c.kind))`) median \(t.text)"
                let result: String
                switch c.met {
                case .some(true): result = "✅ met"
                case .some(false): result = "❌ not met"
                case .none: result = c.required ? "⛔ NO DATA" : "not measured"
                }
                let evidence = c.rows.isEmpty ? "-" : c.rows.map {
                    "`\($0.key)` \(Format.number($0.series.median)) \($0.series.unit) (\($0.labels.backend)/\($0.labels.accelerator))"
                }.joined(separator: "; ")
                md += "| \(what) | \(c.required ? "yes" : "no") | \(result) | \(evidence) |\n"
            }
            md += "\nOverall: **\(status.rawValue)**. PASS needs every judged series within its target and data for every required metric; a metric with no samples never passes.\n\n"
        }

        // Comparison.
        md += "## Comparison with the previous \(phase.rawValue) summary\n\n"
        var sidecarSeries: [SummarySidecar.Series] = []
        for r in rows {
            let s = r.series
            sidecarSeries.append(SummarySidecar.Series(
                key: r.key, scope: r.file.file.scope, name: r.name, metric: s.metric, unit: s.unit, description: s.description,
                backend: r.labels.backend, accelerator: r.labels.accelerator, median: s.median, p95: s.p95,
                p99: s.p99, target: s.target, grade: s.grade?.rawValue, meetsTarget: s.meetsTarget, samples: s.samples))
        }
        let sidecarFiles = used.map {
            SummarySidecar.File(name: $0.fileName, scope: $0.file.scope, timestamp: $0.file.timestamp,
                                backend: $0.file.labels.backend, accelerator: $0.file.labels.accelerator, commit: $0.file.commit,
                                provenance: $0.file.provenance, host: SummarySidecar.hostLabel($0.file.host))
        }
        if let note = previousNote { md += note + "\n\n" }
        if let p = previous {
            md += "Previous summary: generated \(Format.xsdDateTime(p.generated)), status \(p.status) → now \(status.rawValue).\n\n"
            if p.files.map(\.name) == sidecarFiles.map(\.name) && !sidecarFiles.isEmpty {
                md += "The data files are the same as for the previous summary: nothing changed since then.\n\n"
            }
            let prev = Dictionary(p.series.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            var table = "| Series | Previous median | Current median | Change | p-value | Verdict |\n|---|---|---|---|---|---|\n"
            var compared = 0, regressions: [String] = [], improvements: [String] = []
            var notComparable: [String] = []
            for r in sidecarSeries {
                guard let q = prev[r.key] else { continue }
                if q.unit != r.unit || q.metric != r.metric {
                    notComparable.append("`\(r.key)`: unit or metric changed (\(q.unit) → \(r.unit))"); continue
                }
                if q.backend != r.backend || q.accelerator != r.accelerator {
                    notComparable.append("`\(r.key)`: labels changed (\(q.backend)/\(q.accelerator) → \(r.backend)/\(r.accelerator)), a different configuration"); continue
                }
                guard !q.samples.isEmpty, !r.samples.isEmpty else { notComparable.append("`\(r.key)`: no samples"); continue }
                let c = try SeriesComparison.compare(key: r.key, metric: r.metric, unit: r.unit, baseline: q.samples,
                                                     current: r.samples, threshold: o.threshold, alpha: o.alpha)
                compared += 1
                if c.verdict == .regression { regressions.append(r.key) }
                if c.verdict == .improvement { improvements.append(r.key) }
                let v: String
                switch c.verdict {
                case .regression: v = "❌ regression (significant)"
                case .improvement: v = "✅ improvement (significant)"
                case .smallChange: v = "significant, within \(Format.percent(o.threshold, signed: false))"
                case .noSignificantChange: v = "no significant change"
                }
                table += "| `\(r.key)` | \(Format.number(c.ab.baselineMedian)) \(r.unit) | \(Format.number(c.ab.currentMedian)) \(r.unit) | \(Format.percent(c.ab.relativeChange)) | \(Format.pValue(c.ab.pValue)) | \(v) |\n"
            }
            if compared > 0 {
                md += table + "\n"
                md += "Significance: two-sided permutation test on the difference of medians (p < \(o.alpha)), combined with a \(Format.percent(o.threshold, signed: false)) threshold on the relative change.\n\n"
                md += regressions.isEmpty ? "No significant regression.\n" : "**Regressions:** \(regressions.map { "`\($0)`" }.joined(separator: ", ")).\n"
                if !improvements.isEmpty { md += "Improvements: \(improvements.map { "`\($0)`" }.joined(separator: ", ")).\n" }
                md += "\n"
            } else {
                md += "No series in common with the previous summary could be compared.\n\n"
            }
            for n in notComparable { md += "- Not compared: \(n)\n" }
            let newKeys = sidecarSeries.map(\.key).filter { prev[$0] == nil }
            let gone = p.series.map(\.key).filter { k in !sidecarSeries.contains { $0.key == k } }
            if !newKeys.isEmpty { md += "- New series: \(newKeys.map { "`\($0)`" }.joined(separator: ", "))\n" }
            if !gone.isEmpty { md += "- Series no longer present: \(gone.map { "`\($0)`" }.joined(separator: ", "))\n" }
            if !notComparable.isEmpty || !newKeys.isEmpty || !gone.isEmpty { md += "\n" }
        } else if previousNote == nil {
            md += "No previous \(phase.rawValue) summary: this is the first; the next one will be compared with it (raw samples are kept in `\(SummarySidecar.baseName(for: phase)).json`).\n\n"
        }

        // Data files.
        md += "## Data files\n\n"
        if used.isEmpty { md += "None used.\n" }
        for f in used {
            md += "- `\(f.fileName)`: scope `\(f.file.scope)`, \(Format.xsdDateTime(f.file.timestamp)), \(f.file.labels.backend)/\(f.file.labels.accelerator), \(f.file.series.count) series, commit `\(String(f.file.commit.prefix(12)))`"
            md += f.file.provenance.map { ", \($0.text) (`\(cell($0.command))`)" } ?? ", provenance not recorded"
            md += "\n"
        }
        if superseded.count + collection.unread.count > 0 {
            md += "\nOlder \(phase.rawValue) files not used (a newer file of the same scope exists): \(superseded.count + collection.unread.count).\n"
        }
        if let note = collection.exclusionNote {
            md += "\nFiles left out: \(note). Pass `--include-test-runs` to use them.\n"
            for e in collection.excluded { md += "- `\(e.url.lastPathComponent)`: \(e.reason)\n" }
        }
        if !collection.rejected.isEmpty {
            md += "\nRejected files (not valid metrics files, not used):\n"
            for r in collection.rejected { md += "- `\(r.url.lastPathComponent)`: \(r.reason)\n" }
        }
        md += "\nSummary data (raw samples, for the next comparison): `\(SummarySidecar.baseName(for: phase)).json`.\n"

        let chartRows = rows.map { r in
            SVGChart.Row(label: r.key, labels: r.labels, unit: r.series.unit, samples: r.series.samples,
                         target: r.series.meetsTarget != nil ? Catalogue.target(for: r.series.metric).threshold : nil)
        }
        let svg = SVGChart.render(title: "\(title): \(status.rawValue)", rows: chartRows)
        let sidecar = SummarySidecar(phase: phase, generated: o.now, status: status.rawValue, files: sidecarFiles, series: sidecarSeries,
                                     criteria: verdicts, criteriaFile: phaseCriteria?.file, goNoGo: goNoGo)
        return Rendered(markdown: md, svg: svg, sidecar: sidecar, status: status, used: used)
    }

    /// `median 1053 ms`, or `-` with no data.
    static func measuredText(_ v: CriterionResult) -> String {
        guard let m = v.measured else { return "-" }
        return "\(v.stat) \(m == m.rounded() ? Format.compact(m) : Format.number(m))" + (v.unit.map { $0.isEmpty ? "" : " \($0)" } ?? "")
    }

    /// `qemu/tcg`, or nil when the series was not found.
    static func labelsText(_ v: CriterionResult) -> String? {
        guard let b = v.backend, let a = v.accelerator else { return nil }
        return "\(b)/\(a)"
    }

    /// Escapes a markdown table cell.
    static func cell(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}

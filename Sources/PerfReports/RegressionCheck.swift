import Foundation
import PerfMetrics
import PerfStats

/// The verdict on one series, Firecracker-style: a change counts only when the
/// permutation test on medians is significant (p < alpha) *and* the relative
/// change is beyond the threshold.
public enum Verdict: String, Sendable, Codable, Equatable {
    case regression
    case improvement
    /// Significant, but within the threshold.
    case smallChange = "small change"
    case noSignificantChange = "no significant change"
}

public struct SeriesComparison: Sendable, Equatable {
    public var key: String
    public var metric: MetricKind
    public var unit: String
    public var higherIsBetter: Bool
    public var baselineCount: Int
    public var currentCount: Int
    public var ab: ABComparison
    public var verdict: Verdict

    public static func compare(key: String, metric: MetricKind, unit: String, baseline: [Double], current: [Double],
                               threshold: Double, alpha: Double) throws -> SeriesComparison {
        let ab = try ABComparison(baseline: baseline, current: current)
        let higher = Catalogue.target(for: metric).direction == .atLeast
        let verdict: Verdict
        if ab.isRegression(threshold: threshold, alpha: alpha, higherIsBetter: higher) {
            verdict = .regression
        } else if ab.pValue < alpha {
            let better = higher ? ab.relativeChange : -ab.relativeChange
            verdict = better > threshold ? .improvement : .smallChange
        } else {
            verdict = .noSignificantChange
        }
        return SeriesComparison(key: key, metric: metric, unit: unit, higherIsBetter: higher, baselineCount: baseline.count,
                                currentCount: current.count, ab: ab, verdict: verdict)
    }
}

/// One side of a comparison: the series of a metrics file, or of a weekly
/// summary (its `.json` data file, found next to the `.md`).
public struct ComparisonInput: Sendable {
    public struct Entry: Sendable {
        public var scope: String
        public var name: String
        public var metric: MetricKind
        public var unit: String
        public var labels: RunLabels
        public var samples: [Double]
        /// The provenance of the metrics file the series came from (nil when
        /// not recorded).
        public var provenance: Provenance?
        public var key: String { "\(scope)/\(name)" }

        public init(scope: String, name: String, metric: MetricKind, unit: String, labels: RunLabels, samples: [Double],
                    provenance: Provenance? = nil) {
            self.scope = scope; self.name = name; self.metric = metric; self.unit = unit; self.labels = labels
            self.samples = samples; self.provenance = provenance
        }
    }

    public var path: String
    public var entries: [Entry]
    public var isSummary: Bool

    /// Loads a metrics file (`*.json` in the guide's format), a summary's data
    /// file (`week*_summary.json`) or a summary (`week*_summary.md`, read
    /// through its data file).
    public static func load(_ url: URL) throws -> ComparisonInput {
        var target = url
        if url.pathExtension == "md" { target = url.deletingPathExtension().appendingPathExtension("json") }
        guard FileManager.default.fileExists(atPath: target.path) else {
            throw ReportError.unusableInput(target == url ? "\(url.path) does not exist"
                : "\(url.path) has no data file \(target.lastPathComponent) next to it")
        }
        let data: Data
        do { data = try Data(contentsOf: target) } catch {
            throw ReportError.unusableInput("cannot read \(target.path): \(error.localizedDescription)")
        }
        guard !data.isEmpty else { throw ReportError.unusableInput("\(target.path) is empty") }
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           object["kind"] as? String == SummarySidecar.kindValue {
            let s = try SummarySidecar.read(from: target)
            let provenance = Dictionary(s.files.map { ($0.scope, $0.provenance) }, uniquingKeysWith: { a, _ in a })
            let entries = s.series.map {
                Entry(scope: $0.scope, name: $0.name, metric: $0.metric, unit: $0.unit,
                      labels: RunLabels(backend: $0.backend, accelerator: $0.accelerator), samples: $0.samples,
                      provenance: provenance[$0.scope] ?? nil)
            }
            return ComparisonInput(path: target.path, entries: entries, isSummary: true)
        }
        let file: MetricsFile
        do { file = try MetricsFile.decode(data, name: target.path) } catch {
            throw ReportError.unusableInput("\(error)")
        }
        let entries = file.series.map {
            Entry(scope: file.scope, name: $0.name, metric: $0.value.metric, unit: $0.value.unit,
                  labels: file.labels(of: $0.value), samples: $0.value.samples, provenance: file.provenance)
        }
        return ComparisonInput(path: target.path, entries: entries, isSummary: false)
    }
}

/// `lgperf compare`: per series present in both inputs, the A/B test plus the
/// relative threshold. Exit codes: 0 no regression, 1 regression, 2 unusable input.
public enum RegressionCheck {
    public enum Status: Int32, Sendable {
        case noRegression = 0
        case regression = 1
        case unusableInput = 2
    }

    public struct Result: Sendable {
        public var baseline: String
        public var current: String
        public var threshold: Double
        public var alpha: Double
        public var rows: [SeriesComparison]
        public var labels: [String: (baseline: RunLabels, current: RunLabels)]
        public var onlyInBaseline: [String]
        public var onlyInCurrent: [String]
        public var warnings: [String]

        public var regressions: [SeriesComparison] { rows.filter { $0.verdict == .regression } }
        public var status: Status { regressions.isEmpty ? .noRegression : .regression }
    }

    /// Throws `ReportError.unusableInput` for corrupt, empty or mismatched
    /// inputs (different units or metrics for the same series, a series
    /// without samples, nothing in common), and for a test run's metrics
    /// (provenance origin `test`) unless `selection` includes test runs: a
    /// test run's numbers are not compared with the main job's by default.
    public static func compare(baseline: URL, current: URL, threshold: Double, alpha: Double = 0.01,
                               selection: RunSelection = .mainJob) throws -> Result {
        guard threshold >= 0, threshold.isFinite else { throw ReportError.unusableInput("threshold must be a non-negative number") }
        let a = try ComparisonInput.load(baseline)
        let b = try ComparisonInput.load(current)
        if !selection.includeTestRuns {
            for input in [a, b] {
                let tests = input.entries.compactMap(\.provenance).filter { $0.origin != Provenance.benchmarkOrigin }
                if let p = tests.first {
                    let n = Set(input.entries.filter { $0.provenance?.origin == p.origin }.map(\.scope)).count
                    throw ReportError.unusableInput("\(input.path) holds a test run's numbers (\(n) file\(n == 1 ? "" : "s") with provenance origin \"\(p.origin)\", \(p.build) build, \(p.mode) mode): left out, test runs are not compared with the main job's numbers; pass --include-test-runs to compare them anyway")
                }
            }
        }
        // Series are matched by scope/name; two single-scope metrics files
        // whose scopes differ are matched by series name.
        var keyA: (ComparisonInput.Entry) -> String = { $0.key }
        var keyB = keyA
        let common0 = Set(a.entries.map(\.key)).intersection(b.entries.map(\.key))
        if common0.isEmpty, Set(a.entries.map(\.scope)).count == 1, Set(b.entries.map(\.scope)).count == 1 {
            keyA = { $0.name }; keyB = { $0.name }
        }
        var mapB: [String: ComparisonInput.Entry] = [:]
        for e in b.entries { mapB[keyB(e)] = e }
        let keysA = a.entries.map(keyA)
        var rows: [SeriesComparison] = []
        var labels: [String: (RunLabels, RunLabels)] = [:]
        var warnings: [String] = []
        for ea in a.entries {
            let k = keyA(ea)
            guard let eb = mapB[k] else { continue }
            guard ea.metric == eb.metric else {
                throw ReportError.unusableInput("series \(k) is metric '\(ea.metric.rawValue)' in \(a.path) but '\(eb.metric.rawValue)' in \(b.path)")
            }
            guard ea.unit == eb.unit else {
                throw ReportError.unusableInput("series \(k) is in \(ea.unit) in \(a.path) but in \(eb.unit) in \(b.path): different units")
            }
            guard !ea.samples.isEmpty, !eb.samples.isEmpty else {
                throw ReportError.unusableInput("series \(k) has no samples in \(ea.samples.isEmpty ? a.path : b.path)")
            }
            guard (ea.samples + eb.samples).allSatisfy(\.isFinite) else {
                throw ReportError.unusableInput("series \(k) has a NaN or infinite sample")
            }
            if ea.labels != eb.labels {
                warnings.append("\(k): labels differ (\(ea.labels.backend)/\(ea.labels.accelerator) vs \(eb.labels.backend)/\(eb.labels.accelerator)): this compares different configurations")
            }
            if let pa = ea.provenance, let pb = eb.provenance, (pa.build, pa.mode, pa.origin) != (pb.build, pb.mode, pb.origin) {
                warnings.append("\(k): runs differ (\(pa.text) vs \(pb.text)): this compares different configurations")
            }
            labels[k] = (ea.labels, eb.labels)
            rows.append(try SeriesComparison.compare(key: k, metric: ea.metric, unit: ea.unit, baseline: ea.samples,
                                                     current: eb.samples, threshold: threshold, alpha: alpha))
        }
        guard !rows.isEmpty else {
            throw ReportError.unusableInput("no metric series in common between \(a.path) [\(keysA.joined(separator: ", "))] and \(b.path) [\(b.entries.map(keyB).joined(separator: ", "))]")
        }
        let onlyA = keysA.filter { mapB[$0] == nil }
        let setA = Set(keysA)
        let onlyB = b.entries.map(keyB).filter { !setA.contains($0) }
        for (tag, lab) in labels {
            if lab.0.caveat != nil || lab.1.caveat != nil {
                warnings.append("\(tag): \([lab.0.caveat, lab.1.caveat].compactMap { $0 }.first!)")
            }
        }
        return Result(baseline: a.path, current: b.path, threshold: threshold, alpha: alpha, rows: rows,
                      labels: labels.mapValues { (baseline: $0.0, current: $0.1) }, onlyInBaseline: onlyA,
                      onlyInCurrent: onlyB, warnings: warnings.sorted())
    }

    /// A plain-text table for the terminal.
    public static func table(_ r: Result) -> String {
        var lines: [[String]] = [["Series", "Labels", "Unit", "Baseline median", "Current median", "Change", "p-value", "Verdict"]]
        for row in r.rows {
            let lab = r.labels[row.key].map { l in
                l.baseline == l.current ? "\(l.current.backend)/\(l.current.accelerator)"
                    : "\(l.baseline.backend)/\(l.baseline.accelerator)->\(l.current.backend)/\(l.current.accelerator)"
            } ?? ""
            lines.append([row.key + (row.higherIsBetter ? " (higher is better)" : ""), lab, row.unit,
                          Format.number(row.ab.baselineMedian), Format.number(row.ab.currentMedian),
                          Format.percent(row.ab.relativeChange), Format.pValue(row.ab.pValue),
                          row.verdict == .regression ? "REGRESSION" : row.verdict.rawValue])
        }
        var out = TextTable.render(lines)
        out += "\nthreshold \(Format.percent(r.threshold, signed: false)), significance p < \(r.alpha) (permutation test on medians, \(r.rows.first?.ab.permutations ?? 0) shuffles)\n"
        if !r.onlyInBaseline.isEmpty { out += "only in baseline (not compared): \(r.onlyInBaseline.joined(separator: ", "))\n" }
        if !r.onlyInCurrent.isEmpty { out += "only in current (not compared): \(r.onlyInCurrent.joined(separator: ", "))\n" }
        for w in r.warnings { out += "warning: \(w)\n" }
        out += r.regressions.isEmpty ? "result: no regression\n" : "result: \(r.regressions.count) regression(s): \(r.regressions.map(\.key).joined(separator: ", "))\n"
        return out
    }

    /// The JSON body of a regression alert. `text` makes it readable by
    /// Slack-style incoming webhooks as it is.
    public static func alertPayload(_ r: Result) throws -> Data {
        let regressions: [[String: Any]] = r.regressions.map { row in
            var d: [String: Any] = [
                "series": row.key, "metric": row.metric.rawValue, "unit": row.unit,
                "baseline_median": row.ab.baselineMedian, "current_median": row.ab.currentMedian,
                "relative_change": row.ab.relativeChange, "p_value": row.ab.pValue,
                "higher_is_better": row.higherIsBetter,
            ]
            if let l = r.labels[row.key] {
                d["backend"] = l.current.backend
                d["accelerator"] = l.current.accelerator
                if let c = l.current.caveat { d["caveat"] = c }
            }
            return d
        }
        let summary = r.regressions.map { "\($0.key) \(Format.number($0.ab.baselineMedian)) -> \(Format.number($0.ab.currentMedian)) \($0.unit) (\(Format.percent($0.ab.relativeChange)), p=\(Format.pValue($0.ab.pValue)))" }
        let body: [String: Any] = [
            "event": "performance_regression",
            "text": "LuminaGuard performance regression beyond \(Format.percent(r.threshold, signed: false)): " + summary.joined(separator: "; "),
            "threshold": r.threshold, "alpha": r.alpha,
            "baseline": r.baseline, "current": r.current,
            "regressions": regressions,
        ]
        return try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .prettyPrinted])
    }
}

/// Parses "10%", "10 %", "0.1": a bare number at most 1 is a fraction, a
/// larger one is read as a percentage.
public func parseThreshold(_ text: String) throws -> Double {
    let t = text.trimmingCharacters(in: .whitespaces)
    if t.hasSuffix("%") {
        guard let v = Double(t.dropLast().trimmingCharacters(in: .whitespaces)), v >= 0, v.isFinite else {
            throw ReportError.unusableInput("threshold '\(text)' is not a percentage like 10%")
        }
        return v / 100
    }
    guard let v = Double(t), v >= 0, v.isFinite else { throw ReportError.unusableInput("threshold '\(text)' is not a number like 10% or 0.1") }
    return v <= 1 ? v : v / 100
}

/// Left-aligned columns separated by two spaces.
enum TextTable {
    static func render(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = Array(repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for (n, r) in rows.enumerated() {
            out += r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ") + "\n"
            if n == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        return out
    }
}

extension RegressionCheck {
    /// What `lgperf compare` prints and exits with.
    public struct Execution: Sendable {
        public var status: Status
        public var output: String
        public var errors: String
        public var result: Result?
    }

    /// The whole command: compare, print, alert. Unusable input gives status 2
    /// with the reason; a failed alert is reported but keeps status 1.
    public static func execute(baseline: URL, current: URL, threshold: Double, alpha: Double = 0.01,
                               webhook: URL? = nil, selection: RunSelection = .mainJob) async -> Execution {
        let r: Result
        do { r = try compare(baseline: baseline, current: current, threshold: threshold, alpha: alpha, selection: selection) } catch {
            return Execution(status: .unusableInput, output: "", errors: "error: unusable input: \(error)\n", result: nil)
        }
        var errors = ""
        var output = table(r)
        if r.status == .regression, let webhook {
            do {
                let delivery = try await WebhookAlert.post(try alertPayload(r), to: webhook)
                output += "alert sent to \(webhook.absoluteString) (HTTP \(delivery.statusCode))\n"
            } catch {
                errors += "warning: the regression alert was not delivered: \(error)\n"
            }
        }
        return Execution(status: r.status, output: output, errors: errors, result: r)
    }
}

import Foundation
import PerfMetrics

/// The main job's console table: one row per series, labelled with its backend.
/// Medians carry their 95 % confidence interval and percentiles are shown only
/// where the sample count supports them (``ReportedFigures``); a legend follows.
public enum ResultsTable {
    public static func render(_ files: [MetricsFile]) -> String {
        var rows: [[String]] = [["Scope", "Metric", "n", "Median [95% CI]", "P95", "P99", "Target", "Grade", "Status", "Backend"]]
        for f in files {
            for (name, s) in f.series {
                let labels = f.labels(of: s)
                let backend = "\(labels.backend)/\(labels.accelerator)"
                let figures = ReportedFigures(s)
                var status: String
                switch s.meetsTarget {
                case true?: status = "meets target"
                case false?: status = labels.caveat != nil ? "below target (\(shortCaveat(labels)))" : "below target"
                case nil: status = "info"
                }
                if s.meetsTarget != nil {
                    let t = Catalogue.target(for: s.metric)
                    status += ", " + (t.unit == s.unit ? figures.confidence(against: t).rawValue : "unit mismatch")
                }
                rows.append(["\(f.scope)/\(f.phase.rawValue)", name, String(s.count), figures.medianCell, figures.p95Cell,
                             figures.p99Cell, s.target ?? "-", s.grade?.rawValue ?? "-", status, backend])
            }
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        var out = ""
        for (i, r) in rows.enumerated() {
            out += zip(r, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces) + "\n"
            if i == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        if rows.count > 1 { out += ReportedFigures.legend + "\n" }
        return out
    }

    static func shortCaveat(_ l: RunLabels) -> String {
        l.backend == "process" ? "process backend, no VM" : l.accelerator == "tcg" ? "emulated, TCG" : l.accelerator
    }
}

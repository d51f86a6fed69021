import Foundation
import PerfMetrics

/// The main job's console table: one row per series, labelled with its backend.
public enum ResultsTable {
    public static func render(_ files: [MetricsFile]) -> String {
        var rows: [[String]] = [["Scope", "Metric", "Median", "P95", "P99", "Target", "Grade", "Status", "Backend"]]
        for f in files {
            for (name, s) in f.series {
                let labels = f.labels(of: s)
                let backend = "\(labels.backend)/\(labels.accelerator)"
                let status: String
                switch s.meetsTarget {
                case true?: status = "meets target"
                case false?: status = labels.caveat != nil ? "below target (\(shortCaveat(labels)))" : "below target"
                case nil: status = "info"
                }
                rows.append(["\(f.scope)/\(f.phase.rawValue)", name, fmt(s.median, s.unit), fmt(s.p95, s.unit), fmt(s.p99, s.unit), s.target ?? "-",
                             s.grade?.rawValue ?? "-", status, backend])
            }
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        var out = ""
        for (i, r) in rows.enumerated() {
            out += zip(r, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ") + "\n"
            if i == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        return out
    }

    static func shortCaveat(_ l: RunLabels) -> String {
        l.backend == "process" ? "process backend, no VM" : l.accelerator == "tcg" ? "emulated, TCG" : l.accelerator
    }

    static func fmt(_ v: Double, _ unit: String) -> String {
        String(format: v >= 100 ? "%.0f %@" : v >= 10 ? "%.1f %@" : "%.2f %@", v, unit)
    }
}

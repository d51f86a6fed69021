import Foundation
import PerfMetrics
import PerfStats

/// A hand-written SVG: one row per series, each on its own axis (series have
/// different units), showing every sample as a dot (deterministic jitter), the
/// box from Q1 to Q3 with the median, whiskers from min to max, and the
/// target as a dashed red line when the series is judged. Rows are labelled
/// with backend and accelerator; emulated or process-backend rows say so.
public enum SVGChart {
    public struct Row: Sendable {
        public var label: String
        public var labels: RunLabels
        public var unit: String
        public var samples: [Double]
        /// A threshold to draw, and whether lower is better.
        public var target: Double?

        public init(label: String, labels: RunLabels, unit: String, samples: [Double], target: Double?) {
            self.label = label; self.labels = labels; self.unit = unit; self.samples = samples; self.target = target
        }
    }

    public static func render(title: String, rows: [Row]) -> String {
        let width = 900.0, left = 300.0, right = 40.0, rowHeight = 70.0, top = 50.0
        let height = top + Double(max(rows.count, 1)) * rowHeight + 40
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <title>\(escape(title))</title>
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        <text x="\(Int(width / 2))" y="24" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>

        """
        if rows.isEmpty {
            s += "<text x=\"\(Int(width / 2))\" y=\"\(Int(top + 30))\" text-anchor=\"middle\" fill=\"#b00020\" font-weight=\"bold\">NO DATA: no samples to plot</text>\n"
        }
        for (i, row) in rows.enumerated() {
            let y0 = top + Double(i) * rowHeight
            let mid = y0 + rowHeight / 2 - 5
            let sorted = row.samples.sorted()
            let warn = row.labels.caveat != nil
            s += "<g>\n"
            if i % 2 == 1 {
                s += "<rect x=\"0\" y=\"\(f(y0))\" width=\"\(Int(width))\" height=\"\(f(rowHeight))\" fill=\"#f4f4f4\"/>\n"
            }
            s += "<text x=\"8\" y=\"\(f(mid - 6))\" font-weight=\"bold\">\(escape(row.label))</text>\n"
            let tag = "\(row.labels.backend)/\(row.labels.accelerator)"
                + (warn ? (row.labels.backend == "process" ? " (simulated: no VM)" : " (emulated: not KVM)") : "")
            s += "<text x=\"8\" y=\"\(f(mid + 10))\" fill=\"\(warn ? "#b00020" : "#555555")\">\(escape(tag)), \(escape(row.unit)), n=\(sorted.count)</text>\n"
            guard let lo0 = sorted.first, let hi0 = sorted.last else {
                s += "<text x=\"\(f(left))\" y=\"\(f(mid))\" fill=\"#b00020\">no samples</text>\n</g>\n"
                continue
            }
            var lo = lo0, hi = hi0
            if let t = row.target, t.isFinite, t <= hi0 * 3, t >= lo0 / 3 { lo = min(lo, t); hi = max(hi, t) }
            if hi == lo { hi = lo + max(abs(lo) * 0.05, 1e-9); lo -= max(abs(lo) * 0.05, 1e-9) }
            let pad = (hi - lo) * 0.05
            lo -= pad; hi += pad
            let plotWidth = width - left - right
            func x(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * plotWidth }
            // Axis with min and max ticks.
            let axisY = y0 + rowHeight - 14
            s += "<line x1=\"\(f(left))\" y1=\"\(f(axisY))\" x2=\"\(f(width - right))\" y2=\"\(f(axisY))\" stroke=\"#999999\"/>\n"
            for v in [lo + pad, (lo + hi) / 2, hi - pad] {
                s += "<text x=\"\(f(x(v)))\" y=\"\(f(axisY + 12))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555555\">\(escape(Format.number(v)))</text>\n"
            }
            // Whisker min..max and the box.
            let q1 = Percentile.of(sorted: sorted, 0.25), q3 = Percentile.of(sorted: sorted, 0.75)
            let med = Percentile.of(sorted: sorted, 0.5)
            s += "<line x1=\"\(f(x(lo0)))\" y1=\"\(f(mid))\" x2=\"\(f(x(hi0)))\" y2=\"\(f(mid))\" stroke=\"#333333\"/>\n"
            s += "<rect x=\"\(f(x(q1)))\" y=\"\(f(mid - 12))\" width=\"\(f(max(1, x(q3) - x(q1))))\" height=\"24\" fill=\"#cfe2ff\" stroke=\"#1f4e9c\"/>\n"
            s += "<line x1=\"\(f(x(med)))\" y1=\"\(f(mid - 14))\" x2=\"\(f(x(med)))\" y2=\"\(f(mid + 14))\" stroke=\"#1f4e9c\" stroke-width=\"3\"><title>median \(escape(Format.number(med))) \(escape(row.unit))</title></line>\n"
            // Dots, at most 400 per row so a large run stays readable.
            var rng = SplitMix64(seed: UInt64(i) &+ 0x5EED)
            let stride = max(1, sorted.count / 400)
            var k = 0
            while k < row.samples.count {
                let v = row.samples[k]
                let jitter = Double(rng.next() % 1000) / 1000 * 18 - 9
                s += "<circle cx=\"\(f(x(v)))\" cy=\"\(f(mid + jitter))\" r=\"2\" fill=\"#222222\" fill-opacity=\"0.45\"/>\n"
                k += stride
            }
            if let t = row.target, t >= lo, t <= hi {
                s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(y0 + 6))\" x2=\"\(f(x(t)))\" y2=\"\(f(axisY))\" stroke=\"#d00000\" stroke-dasharray=\"5,3\" stroke-width=\"2\"/>\n"
                s += "<text x=\"\(f(x(t) + 4))\" y=\"\(f(y0 + 14))\" fill=\"#d00000\" font-size=\"10\">target \(escape(Format.number(t)))</text>\n"
            } else if let t = row.target {
                s += "<text x=\"\(f(width - right))\" y=\"\(f(y0 + 14))\" text-anchor=\"end\" fill=\"#d00000\" font-size=\"10\">target \(escape(Format.number(t))) \(escape(row.unit)) (off scale)</text>\n"
            }
            s += "</g>\n"
        }
        s += "<text x=\"8\" y=\"\(f(height - 10))\" font-size=\"10\" fill=\"#555555\">box: Q1-Q3 with median; line: min-max; dots: samples; dashed red: target</text>\n"
        s += "</svg>\n"
        return s
    }

    private static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        Format.xmlSafe(s).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

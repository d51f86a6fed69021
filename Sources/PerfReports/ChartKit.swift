import Foundation
import PerfMetrics

/// Small pieces shared by the hand-written SVG charts (glance, trends,
/// program): number formats, log-axis ticks, the emulation badge and hatch.
enum ChartKit {
    /// One decimal: SVG coordinates.
    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String { SVGChart.escape(s) }

    /// A short, readable number: `1053`, `12.4`, `0.42`, `0.0031`.
    static func short(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "inf" : "-inf") }
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 10 { return trim(String(format: "%.1f", v)) }
        if a >= 1 { return trim(String(format: "%.2f", v)) }
        if a >= 0.01 { return trim(String(format: "%.3f", v)) }
        if a >= 0.0001 { return String(format: "%.2g", v) }
        return String(format: "%.1e", v)
    }

    /// A ratio with its sign of direction: `5.27×`, `0.42×`.
    static func ratio(_ r: Double) -> String {
        guard r.isFinite else { return r > 0 ? "∞×" : "0×" }
        return short(r) + "×"
    }

    private static func trim(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }

    /// Tick values of a log axis from `lo` to `hi` (both powers of ten or
    /// not): 1-2-5 per decade when there are few decades, else decades only.
    static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi > lo else { return [] }
        let d0 = Int(floor(log10(lo))), d1 = Int(ceil(log10(hi)))
        let steps: [Double] = (d1 - d0) <= 2 ? [1, 2, 5] : ((d1 - d0) <= 4 ? [1, 3] : [1])
        var out: [Double] = []
        for d in d0...d1 {
            for s in steps {
                let v = s * pow(10, Double(d))
                if v >= lo * 0.999 && v <= hi * 1.001 { out.append(v) }
            }
        }
        return out
    }

    /// Ticks of a linear axis: about `count` round numbers covering lo..hi.
    static func linearTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(max(count, 1))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var v = ceil(lo / step) * step
        while v <= hi + step * 1e-9 { out.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return out
    }

    /// `<defs>` with the hatch used to mark emulated (TCG) or simulated
    /// (process backend) figures.
    static let defs = """
    <defs>
    <pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">
    <rect width="6" height="6" fill="#fde7c8"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c25e00" stroke-width="2.2"/>
    </pattern>
    </defs>

    """

    /// `TCG` for emulated figures, `SIM` for the process backend, nil for
    /// hardware-accelerated ones.
    static func badgeText(_ l: RunLabels?) -> String? {
        guard let l, l.caveat != nil else { return nil }
        return l.backend == "process" ? "SIM" : (l.accelerator == "tcg" ? "TCG" : l.accelerator.uppercased())
    }

    /// The width of a badge (fixed per text length, so layouts can reserve it).
    static func badgeWidth(_ text: String) -> Double { Double(text.count) * 7 + 8 }

    /// A small orange badge whose left edge is at `x`, baseline at `y`; returns its width.
    static func badge(_ text: String, x: Double, y: Double, into s: inout String) -> Double {
        let w = badgeWidth(text)
        s += "<rect x=\"\(f(x))\" y=\"\(f(y - 11))\" width=\"\(f(w))\" height=\"14\" rx=\"3\" fill=\"#c25e00\"/>"
        s += "<text x=\"\(f(x + w / 2))\" y=\"\(f(y))\" text-anchor=\"middle\" font-size=\"10\" font-weight=\"bold\" fill=\"white\">\(escape(text))</text>\n"
        return w
    }

    /// Width of `text` in pixels, roughly (DejaVu Sans-like fonts), to lay
    /// labels out without overlaps.
    static func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
        Double(text.count) * size * (bold ? 0.58 : 0.54)
    }

    /// `text` cut to about `width` pixels, with an ellipsis.
    static func fit(_ text: String, width: Double, size: Double, bold: Bool = false) -> String {
        let per = size * (bold ? 0.64 : 0.58)
        let n = Int(width / per)
        guard text.count > n, n > 1 else { return text }
        return String(text.prefix(n - 1)) + "…"
    }

    /// `2026-02-19 14:03` (UTC).
    static func minute(_ d: Date) -> String { UTCTime.format(d, "yyyy-MM-dd HH:mm") }

    /// `2026-02-19 14:03:07` (UTC).
    static func second(_ d: Date) -> String { UTCTime.format(d, "yyyy-MM-dd HH:mm:ss") }

    /// Opening of a chart: the root element, a white background, the defs.
    static func open(width: Double, height: Double, title: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">
        <title>\(escape(title))</title>
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        \(defs)
        """
    }
}

import Foundation
import PerfMetrics

/// `trends_<phase>.svg` beside the weekly summaries: one panel per judged
/// metric of the phase (a series with a guide target or named by one of the
/// phase's criteria) and configuration (as `lgperf trends` keeps them apart:
/// backend/accelerator, build, mode), across every run in the metrics
/// directory. The x axis is the runs in date order, each labelled with its
/// date and the guide's week of the phase (counted from the phase's first
/// run: the phase's first week, then the next); the median is the line, the
/// p95 the dashed line, the limit the red line, and `lgperf trends`' drift
/// flags ring the runs they flag (red: worse, green: better).
public enum TrendChart {
    /// `trends_chaos.svg`.
    public static func fileName(for phase: Phase) -> String { "trends_\(phase.rawValue).svg" }

    public struct Panel: Sendable {
        public var series: Trends.Series
        /// The line to draw and its text (`< 200 ms`), when there is a fixed one.
        public var limit: Double?
        public var limitText: String?
        /// Host label (`hostname / cpu model`) per run, parallel to `series.points`.
        public var hosts: [String]
    }

    /// The panels of a phase: judged series only, in `Trends.compute`'s order.
    public static func panels(_ collection: MetricsCollection, phase: Phase, criteria: [Criterion]?, threshold: Double,
                              selection: RunSelection = .mainJob) -> [Panel] {
        let all = Trends.compute(collection, phase: phase, threshold: threshold, selection: selection)
        let hostOf = Dictionary(collection.files.map { ($0.fileName, SummarySidecar.hostLabel($0.file.host)) }, uniquingKeysWith: { a, _ in a })
        var out: [Panel] = []
        for s in all {
            let key = "\(s.scope)/\(s.name)"
            let named = (criteria ?? []).filter { $0.key == key }
            guard s.target != nil || !named.isEmpty else { continue }
            var limit: Double?, text: String?
            // A criterion's fixed number first, else the guide target.
            for c in named {
                switch c.limit {
                case .value(let v): limit = v; text = "\(c.op.rawValue) \(ChartKit.short(v)) \(s.unit) (\(c.id))"
                case .target:
                    let t = Catalogue.target(for: s.metric); limit = t.threshold; text = "\(t.text) (guide target)"
                case .relative: continue
                }
                break
            }
            if limit == nil, s.target != nil {
                let t = Catalogue.target(for: s.metric); limit = t.threshold; text = "\(t.text) (guide target)"
            }
            if limit == nil, let c = named.first, case .relative(let ref, let st, let factor) = c.limit {
                text = "\(c.op.rawValue) \(ChartKit.short(factor)) × \(ref) \(st.rawValue) (varies per run, not drawn)"
            }
            out.append(Panel(series: s, limit: limit, limitText: text, hosts: s.points.map { hostOf[$0.file] ?? "?" }))
        }
        // The phase's criteria first, in the criteria file's order (as in the glance chart); then the rest.
        let order = (criteria ?? []).map(\.key)
        func rank(_ p: Panel) -> Int { order.firstIndex(of: "\(p.series.scope)/\(p.series.name)") ?? order.count }
        return out.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }

    /// The guide's week of the phase for each run: the phase's first week
    /// from its first run, then one more per 7 days.
    public static func weekLabels(_ dates: [Date], phase: Phase) -> [String] {
        guard let first = dates.min() else { return [] }
        let start = Int(phase.weeks.split(separator: "-")[0])!
        let end = start + 1
        return dates.map { d in
            let w = start + Int(d.timeIntervalSince(first) / (7 * 86400))
            return w <= end ? "wk \(w)" : "wk \(w) (late)"
        }
    }

    static let width = 1120.0
    static let panelHeight = 190.0
    static let left = 90.0, right = 230.0

    public static func render(phase: Phase, panels: [Panel], threshold: Double, note: String? = nil) -> String {
        let f = ChartKit.f, esc = ChartKit.escape
        let top = 70.0
        let height = top + Double(max(panels.count, 1)) * panelHeight + 70
        let title = "Week \(phase.weeks) \(phase.rawValue.capitalized): trends of the judged metrics across runs"
        var s = ChartKit.open(width: width, height: height, title: title)
        s += "<text x=\"\(f(width / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(esc(title))</text>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"46\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444444\">One panel per metric and configuration (runs of different backends, builds or modes are never one line). Drift: a median more than \(esc(Format.percent(threshold, signed: false))) from the first or the previous run (lgperf trends).</text>\n"
        if let note { s += "<text x=\"\(f(width / 2))\" y=\"62\" text-anchor=\"middle\" font-size=\"11\" fill=\"#b00020\">\(esc(note))</text>\n" }
        if panels.isEmpty {
            s += "<text x=\"\(f(width / 2))\" y=\"\(f(top + 40))\" text-anchor=\"middle\" fill=\"#b00020\" font-weight=\"bold\">NO DATA: no run of the \(phase.rawValue) phase with a judged metric</text>\n"
        }
        for (i, p) in panels.enumerated() {
            panel(p, phase: phase, threshold: threshold, y: top + Double(i) * panelHeight, into: &s)
        }
        // Legend.
        let ly = top + Double(max(panels.count, 1)) * panelHeight + 22
        var x = 16.0
        func item(_ glyph: String, _ text: String) {
            s += glyph
            s += "<text x=\"\(f(x + 30))\" y=\"\(f(ly + 4))\" font-size=\"11\">\(esc(text))</text>\n"
            x += 30 + ChartKit.textWidth(text, size: 11) + 22
        }
        item("<line x1=\"\(f(x))\" y1=\"\(f(ly))\" x2=\"\(f(x + 24))\" y2=\"\(f(ly))\" stroke=\"#1f4e9c\" stroke-width=\"2.5\"/><circle cx=\"\(f(x + 12))\" cy=\"\(f(ly))\" r=\"4\" fill=\"#1f4e9c\"/>", "median")
        item("<line x1=\"\(f(x))\" y1=\"\(f(ly))\" x2=\"\(f(x + 24))\" y2=\"\(f(ly))\" stroke=\"#7f9ccc\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/><line x1=\"\(f(x + 7))\" y1=\"\(f(ly - 5))\" x2=\"\(f(x + 17))\" y2=\"\(f(ly - 5))\" stroke=\"#7f9ccc\" stroke-width=\"2\"/>", "p95 (tick on each run)")
        item("<line x1=\"\(f(x))\" y1=\"\(f(ly))\" x2=\"\(f(x + 24))\" y2=\"\(f(ly))\" stroke=\"#d00000\" stroke-width=\"2\" stroke-dasharray=\"7,3\"/>", "limit")
        item("<circle cx=\"\(f(x + 12))\" cy=\"\(f(ly))\" r=\"8\" fill=\"none\" stroke=\"#b00020\" stroke-width=\"2.5\"/>", "drift, worse")
        item("<circle cx=\"\(f(x + 12))\" cy=\"\(f(ly))\" r=\"8\" fill=\"none\" stroke=\"#1e7b34\" stroke-width=\"2.5\"/>", "drift, better")
        item("<rect x=\"\(f(x))\" y=\"\(f(ly - 6))\" width=\"24\" height=\"12\" fill=\"url(#hatch)\"/>", "emulated (TCG) / simulated (SIM)")
        s += "<text x=\"16\" y=\"\(f(ly + 26))\" font-size=\"11\" fill=\"#444444\">x axis: the runs in date order (UTC), with the guide's week of the phase counted from its first run here (\"late\": after the phase's two weeks).</text>\n"
        s += "</svg>\n"
        return s
    }

    private static func panel(_ p: Panel, phase: Phase, threshold: Double, y: Double, into s: inout String) {
        let f = ChartKit.f, esc = ChartKit.escape
        let series = p.series
        let plotTop = y + 44, plotBottom = y + panelHeight - 46
        let plotLeft = left, plotRight = width - right
        // Header.
        let name = "\(series.scope)/\(series.name)"
        s += "<line x1=\"10\" y1=\"\(f(y + 4))\" x2=\"\(f(width - 10))\" y2=\"\(f(y + 4))\" stroke=\"#dddddd\"/>\n"
        // Badge first (its width is known), then the name; the configuration on the right.
        var hx = 16.0
        let labels = RunLabels(backend: series.backend, accelerator: series.accelerator)
        if let b = ChartKit.badgeText(labels) { hx += ChartKit.badge(b, x: hx, y: y + 21, into: &s) + 8 }
        s += "<text x=\"\(f(hx))\" y=\"\(f(y + 22))\" font-size=\"13\" font-weight=\"bold\">\(esc(name))</text>\n"
        s += "<text x=\"\(f(width - 16))\" y=\"\(f(y + 22))\" text-anchor=\"end\" font-size=\"11\" fill=\"#555555\">[\(esc(series.configuration))], \(esc(series.unit)), \(series.points.count) run\(series.points.count == 1 ? "" : "s")</text>\n"
        let flagged = series.points.filter(\.drift)
        let worse = flagged.filter(\.worse).count
        var sub = flagged.isEmpty ? "no drift" : "drift in \(flagged.count) run\(flagged.count == 1 ? "" : "s") (\(worse) worse, \(flagged.count - worse) better)"
        sub += "; limit " + (p.limitText ?? "none")
        let hosts = Array(Set(p.hosts)).sorted()
        if hosts.count > 1 { sub += "; runs from \(hosts.count) hosts: compare with care" }
        s += "<text x=\"16\" y=\"\(f(y + 37))\" font-size=\"11\" fill=\"\(hosts.count > 1 || worse > 0 ? "#b00020" : "#555555")\">\(esc(ChartKit.fit(sub, width: width - 32, size: 11)))</text>\n"

        let pts = series.points
        guard !pts.isEmpty else { return }
        // y scale: medians, p95s and the limit; log when they span more than 20x.
        // The limit is drawn when it is within 10x of the data; further off,
        // it would flatten the trend (the glance chart shows how far off it
        // is), so it is named at the edge instead.
        var values = pts.flatMap { [$0.median, $0.p95] }
        let dmin = values.min()!, dmax = values.max()!
        var onScale: Double?
        if let l = p.limit, dmin <= 0 || (l >= dmin / 10 && l <= dmax * 10) { onScale = l; values.append(l) }
        let vmin = values.min()!, vmax = values.max()!
        let useLog = vmin > 0 && vmax / vmin > 20
        var lo: Double, hi: Double
        let ticks: [Double]
        if useLog {
            lo = pow(10, floor(log10(vmin))); hi = pow(10, ceil(log10(vmax)))
            ticks = ChartKit.logTicks(lo, hi)
        } else {
            lo = min(0, vmin); hi = vmax == lo ? lo + 1 : vmax * 1.1 - (vmax < 0 ? vmax * 0.2 : 0)
            let t = ChartKit.linearTicks(lo, hi, count: 4)
            hi = max(hi, t.last ?? hi)
            ticks = t
        }
        func yv(_ v: Double) -> Double {
            if useLog { return plotBottom - (log10(max(v, lo)) - log10(lo)) / (log10(hi) - log10(lo)) * (plotBottom - plotTop) }
            return plotBottom - (v - lo) / (hi - lo) * (plotBottom - plotTop)
        }
        let n = pts.count
        func xv(_ i: Int) -> Double {
            n == 1 ? (plotLeft + plotRight) / 2 : plotLeft + 20 + Double(i) / Double(n - 1) * (plotRight - plotLeft - 40)
        }
        s += "<rect x=\"\(f(plotLeft))\" y=\"\(f(plotTop))\" width=\"\(f(plotRight - plotLeft))\" height=\"\(f(plotBottom - plotTop))\" fill=\"\(labels.caveat != nil ? "url(#hatch)" : "#fafafa")\" fill-opacity=\"\(labels.caveat != nil ? "0.18" : "1")\" stroke=\"#bbbbbb\"/>\n"
        for t in ticks {
            s += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(yv(t)))\" x2=\"\(f(plotRight))\" y2=\"\(f(yv(t)))\" stroke=\"#cccccc\" stroke-width=\"0.7\"/>\n"
            s += "<text x=\"\(f(plotLeft - 6))\" y=\"\(f(yv(t) + 4))\" text-anchor=\"end\" font-size=\"10\" fill=\"#444444\">\(esc(ChartKit.short(t)))</text>\n"
        }
        s += "<text x=\"20\" y=\"\(f((plotTop + plotBottom) / 2))\" font-size=\"10\" fill=\"#444444\" transform=\"rotate(-90 20 \(f((plotTop + plotBottom) / 2)))\" text-anchor=\"middle\">\(esc(series.unit))\(useLog ? " (log)" : "")</text>\n"
        // The limit.
        if let l = p.limit, onScale == nil {
            let above = l > dmax
            let ty = above ? plotTop + 12 : plotBottom - 6
            s += "<text class=\"target-off-scale\" x=\"\(f(plotRight + 6))\" y=\"\(f(ty))\" font-size=\"10.5\" fill=\"#d00000\">limit \(esc(ChartKit.short(l))) \(esc(series.unit)) \(above ? "↑ above" : "↓ below")</text>\n"
        }
        if let l = onScale {
            let ly = yv(l)
            s += "<line class=\"target-line\" x1=\"\(f(plotLeft))\" y1=\"\(f(ly))\" x2=\"\(f(plotRight))\" y2=\"\(f(ly))\" stroke=\"#d00000\" stroke-width=\"2\" stroke-dasharray=\"7,3\"/>\n"
            s += "<text x=\"\(f(plotRight + 6))\" y=\"\(f(ly + 4))\" font-size=\"10.5\" fill=\"#d00000\">limit \(esc(ChartKit.short(l))) \(esc(series.unit))</text>\n"
        }
        // p95 and median lines.
        let p95Path = pts.enumerated().map { "\($0.offset == 0 ? "M" : "L") \(f(xv($0.offset))) \(f(yv($0.element.p95)))" }.joined(separator: " ")
        s += "<path d=\"\(p95Path)\" fill=\"none\" stroke=\"#7f9ccc\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>\n"
        let medPath = pts.enumerated().map { "\($0.offset == 0 ? "M" : "L") \(f(xv($0.offset))) \(f(yv($0.element.median)))" }.joined(separator: " ")
        s += "<path d=\"\(medPath)\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"2.5\"/>\n"
        let weeks = weekLabels(pts.map(\.timestamp), phase: phase)
        let every = max(1, Int(ceil(Double(n) / 10)))
        let minutes = pts.map { ChartKit.minute($0.timestamp) }
        let dates = Set(minutes).count == minutes.count ? minutes : pts.map { ChartKit.second($0.timestamp) }
        for (i, pt) in pts.enumerated() {
            let cx = xv(i), cy = yv(pt.median)
            // The p95 of each run: a whisker from the median up to a tick.
            s += "<line x1=\"\(f(cx))\" y1=\"\(f(cy))\" x2=\"\(f(cx))\" y2=\"\(f(yv(pt.p95)))\" stroke=\"#7f9ccc\" stroke-width=\"1.5\"/>"
            s += "<line x1=\"\(f(cx - 5))\" y1=\"\(f(yv(pt.p95)))\" x2=\"\(f(cx + 5))\" y2=\"\(f(yv(pt.p95)))\" stroke=\"#7f9ccc\" stroke-width=\"2\"/>\n"
            s += "<circle cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"4\" fill=\"#1f4e9c\"><title>\(esc(ChartKit.minute(pt.timestamp))): median \(esc(ChartKit.short(pt.median))) \(esc(series.unit)), p95 \(esc(ChartKit.short(pt.p95))), n=\(pt.count), \(esc(pt.file))</title></circle>\n"
            if pt.drift {
                let c = pt.worse ? "#b00020" : "#1e7b34"
                s += "<circle cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"8\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2.5\"/>\n"
                // The move that raised the flag: against the previous run, else against the first.
                let change = pt.changeFromPrevious.flatMap { abs($0) > threshold ? "\(Format.percent($0)) vs prev" : nil }
                    ?? "\(Format.percent(pt.changeFromFirst)) vs first"
                // Kept inside the plot: anchored at its end near the right edge, at its start near the left.
                let anchor = cx > plotRight - 90 ? "end" : (cx < plotLeft + 90 ? "start" : "middle")
                let tx = anchor == "end" ? cx + 8 : (anchor == "start" ? cx - 8 : cx)
                let ty = cy - 12 < plotTop + 10 ? cy + 20 : cy - 12
                s += "<text x=\"\(f(tx))\" y=\"\(f(ty))\" text-anchor=\"\(anchor)\" font-size=\"9.5\" font-weight=\"bold\" fill=\"\(c)\">DRIFT \(esc(change))</text>\n"
            }
            if i % every == 0 || i == n - 1 {
                s += "<line x1=\"\(f(cx))\" y1=\"\(f(plotBottom))\" x2=\"\(f(cx))\" y2=\"\(f(plotBottom + 4))\" stroke=\"#777777\"/>\n"
                s += "<text x=\"\(f(cx))\" y=\"\(f(plotBottom + 16))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#333333\">\(esc(dates[i]))</text>\n"
                s += "<text x=\"\(f(cx))\" y=\"\(f(plotBottom + 29))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555555\">\(esc(weeks[i]))</text>\n"
            }
        }
        // The latest value, at the right, clear of the limit's label.
        if let last = pts.last {
            var ty = plotTop + 12
            let limitY = onScale.map(yv) ?? p.limit.map { $0 > dmax ? plotTop + 8 : plotBottom }
            if let ly = limitY, abs(ly - (ty + 7)) < 24 { ty = plotBottom - 18 }
            if let ly = limitY, abs(ly - (ty + 7)) < 24 { ty = (plotTop + plotBottom) / 2 }
            s += "<text x=\"\(f(plotRight + 6))\" y=\"\(f(ty))\" font-size=\"10.5\" fill=\"#1f4e9c\">latest median \(esc(ChartKit.short(last.median))) \(esc(series.unit))</text>\n"
            s += "<text x=\"\(f(plotRight + 6))\" y=\"\(f(ty + 14))\" font-size=\"10.5\" fill=\"#555555\">vs first run \(esc(Format.percent(last.changeFromFirst)))</text>\n"
        }
    }
}

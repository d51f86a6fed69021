import Foundation
import PerfMetrics

/// The one-glance chart that opens a weekly summary
/// (`weekN-M_<phase>_glance.svg`): every judged metric of the phase (each
/// acceptance criterion, and each series with a guide target that no
/// criterion covers) on one log axis, as the ratio of its median and p95 to
/// its limit. The ratio is value/limit for lower-is-better metrics and
/// limit/value for higher-is-better ones, so right of the red line at 1
/// always means missed. Criteria that compare with an exact value or with
/// 0 (error counts) have no ratio: they are listed below the axis with
/// their value and verdict. Emulated (TCG) and simulated (process backend)
/// figures are hatched and carry a badge.
public enum GlanceChart {
    public enum Direction: String, Sendable, Equatable, Codable {
        case lowerIsBetter, higherIsBetter
        /// `==`: no ratio, met or missed only.
        case exact
    }

    public enum Verdict: String, Sendable, Equatable, Codable { case met, missed, noData = "no data" }

    /// One row of the chart.
    public struct Item: Sendable, Equatable {
        /// A criterion id (`chaos.kill_detected`) or a series key (`spawn/spawn_time_ms`).
        public var label: String
        /// `<scope>/<series>`.
        public var series: String
        public var unit: String
        /// `<`, `<=`, `>`, `>=` or `==`.
        public var op: String
        /// The number the judged statistic is compared with (nil: not known, no data).
        public var limit: Double?
        public var direction: Direction
        public var median: Double?
        public var p95: Double?
        public var count: Int
        /// The statistic the verdict is on (`median`, `max`, `last`, ...) and its value.
        public var judgedStat: String
        public var judged: Double?
        public var verdict: Verdict
        public var labels: RunLabels?
        /// True for a phase criterion; false for a guide target shown as context.
        public var isCriterion: Bool
        /// Context: a series' guide target while the phase has criteria (it does not decide the status).
        public var contextOnly: Bool
        public var note: String?
        /// How the limit is stated (`< guide target`, `<= 1.5 x replace/cold_spawn_ms median`) when it is not known as a number.
        public var limitText: String?

        public init(label: String, series: String, unit: String, op: String, limit: Double?, direction: Direction,
                    median: Double?, p95: Double?, count: Int, judgedStat: String, judged: Double?, verdict: Verdict,
                    labels: RunLabels?, isCriterion: Bool, contextOnly: Bool = false, note: String? = nil) {
            self.label = label; self.series = series; self.unit = unit; self.op = op; self.limit = limit
            self.direction = direction; self.median = median; self.p95 = p95; self.count = count
            self.judgedStat = judgedStat; self.judged = judged; self.verdict = verdict; self.labels = labels
            self.isCriterion = isCriterion; self.contextOnly = contextOnly; self.note = note
        }

        func with(limitText: String) -> Item { var i = self; i.limitText = limitText; return i }

        /// Whether the row goes on the ratio axis (a positive limit and an inequality).
        public var hasRatio: Bool {
            guard direction != .exact, let limit, limit > 0 else { return false }
            return true
        }

        /// `value` relative to the limit, > 1 beyond it (missed side).
        public func ratio(_ value: Double?) -> Double? {
            guard hasRatio, let v = value, let l = limit else { return nil }
            switch direction {
            case .lowerIsBetter: return v / l
            case .higherIsBetter: return v > 0 ? l / v : .infinity
            case .exact: return nil
            }
        }
    }

    /// Minimum samples for a p95 to be drawn solid; fewer give a hollow,
    /// indicative marker.
    public static let solidP95Samples = 20

    /// `week7-8_chaos_glance.svg`.
    public static func fileName(for phase: Phase) -> String { "week\(phase.weeks)_\(phase.rawValue)_glance.svg" }

    static func direction(op: String) -> Direction {
        switch op {
        case "<", "<=": return .lowerIsBetter
        case ">", ">=": return .higherIsBetter
        default: return .exact
        }
    }

    /// The rows for a phase: its criteria (in the criteria file's order), then
    /// every series with a guide target that no criterion covers (context
    /// when there are criteria, the judgement when there are none).
    public static func items(used: [LoadedMetrics], verdicts: [CriterionResult]?) -> [Item] {
        func find(_ key: String) -> (MetricsFile, MetricSeries)? {
            for f in used {
                for (name, s) in f.file.series where "\(f.file.scope)/\(name)" == key { return (f.file, s) }
            }
            return nil
        }
        var out: [Item] = []
        for v in verdicts ?? [] {
            let hit = find(v.series)
            let s = hit?.1
            let byCount = v.stat == Criterion.Stat.count.rawValue
            let verdict: Verdict = v.status == .met ? .met : (v.status == .missed ? .missed : .noData)
            let labels = v.backend.flatMap { b in v.accelerator.map { RunLabels(backend: b, accelerator: $0) } }
            out.append(Item(label: v.id, series: v.series, unit: v.unit ?? s?.unit ?? "", op: v.op, limit: v.limit,
                            direction: direction(op: v.op),
                            median: byCount || s?.samples.isEmpty != false ? nil : s?.median,
                            p95: byCount || s?.samples.isEmpty != false ? nil : s?.p95,
                            count: s?.count ?? 0, judgedStat: v.stat, judged: v.measured, verdict: verdict,
                            labels: labels, isCriterion: true, note: v.status == .noData ? v.note : nil).with(limitText: v.limitText))
        }
        let covered = Set((verdicts ?? []).map(\.series))
        for f in used {
            for (name, s) in f.file.series where s.meetsTarget != nil {
                let key = "\(f.file.scope)/\(name)"
                guard !covered.contains(key) else { continue }
                let t = Catalogue.target(for: s.metric)
                let empty = s.samples.isEmpty
                out.append(Item(label: key, series: key, unit: s.unit, op: t.direction == .below ? "<" : ">=", limit: t.threshold,
                                direction: t.direction == .below ? .lowerIsBetter : .higherIsBetter,
                                median: empty ? nil : s.median, p95: empty ? nil : s.p95, count: s.count,
                                judgedStat: "median", judged: empty ? nil : s.median,
                                verdict: empty ? .noData : (s.meetsTarget == true ? .met : .missed),
                                labels: f.file.labels(of: s), isCriterion: false, contextOnly: verdicts != nil,
                                note: empty ? "no samples" : nil))
            }
        }
        return out
    }

    // MARK: - rendering

    static let width = 1280.0
    static let labelX = 12.0
    static let plotLeft = 490.0
    static let plotRight = 940.0
    static let statusX = 958.0
    static let rowHeight = 40.0
    static let green = "#1e7b34", red = "#b00020", grey = "#666666", blue = "#1f4e9c"

    /// The chart. `title` names the phase and its status.
    public static func render(title: String, items: [Item]) -> String {
        let ratioRows = items.filter { $0.hasRatio && $0.verdict != .noData }
        let otherRows = items.filter { !($0.hasRatio && $0.verdict != .noData) }
        let top = 96.0
        let axisBand = 22.0
        let ratioHeight = ratioRows.isEmpty ? 0 : axisBand + Double(ratioRows.count) * rowHeight + axisBand
        let otherTop = top + ratioHeight + (ratioRows.isEmpty ? 0 : 18)
        let otherHeight = otherRows.isEmpty ? 0 : 26 + Double(otherRows.count) * rowHeight
        let legendTop = otherTop + otherHeight + 14
        let height = legendTop + 64
        var s = ChartKit.open(width: width, height: height, title: title)
        let esc = ChartKit.escape, f = ChartKit.f
        s += "<text x=\"\(f(width / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(esc(title))</text>\n"
        let met = items.filter { $0.verdict == .met }.count, missed = items.filter { $0.verdict == .missed }.count
        let none = items.count - met - missed
        s += "<text x=\"\(f(width / 2))\" y=\"46\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333333\">\(items.count) judged: "
        s += "<tspan fill=\"\(green)\" font-weight=\"bold\">\(met) met</tspan>, <tspan fill=\"\(red)\" font-weight=\"bold\">\(missed) missed</tspan>"
        s += none > 0 ? ", <tspan fill=\"\(grey)\" font-weight=\"bold\">\(none) without data</tspan>" : ""
        s += "</text>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"64\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444444\">Each row: median and p95 divided by the limit (for higher-is-better metrics: limit divided by the value), log scale.</text>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"79\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444444\">Right of the red line (1×) the limit is missed; the distance says by how much.</text>\n"

        if items.isEmpty {
            s += "<text x=\"\(f(width / 2))\" y=\"\(f(top + 20))\" text-anchor=\"middle\" fill=\"\(red)\" font-weight=\"bold\">NO DATA: nothing to judge (no criteria and no series with a target)</text>\n"
        }

        if !ratioRows.isEmpty {
            // The axis: decades around every ratio, 1 always inside.
            let all = ratioRows.flatMap { [$0.ratio($0.median), $0.ratio($0.p95), $0.ratio($0.judged)] }
                .compactMap { $0 }.filter { $0.isFinite && $0 > 0 }
            let lo = max(1e-3, pow(10, floor(log10(min(all.min() ?? 1, 1) / 1.3))))
            let hi = min(1e3, pow(10, ceil(log10(max(all.max() ?? 1, 1) * 1.3))))
            func x(_ r: Double) -> Double {
                let c = min(max(r, lo), hi)
                return plotLeft + (log10(c) - log10(lo)) / (log10(hi) - log10(lo)) * (plotRight - plotLeft)
            }
            let y0 = top + axisBand, y1 = y0 + Double(ratioRows.count) * rowHeight
            // Met (left) and missed (right) zones.
            s += "<rect x=\"\(f(plotLeft))\" y=\"\(f(y0))\" width=\"\(f(x(1) - plotLeft))\" height=\"\(f(y1 - y0))\" fill=\"#e9f5ec\"/>\n"
            s += "<rect x=\"\(f(x(1)))\" y=\"\(f(y0))\" width=\"\(f(plotRight - x(1)))\" height=\"\(f(y1 - y0))\" fill=\"#fbe9eb\"/>\n"
            s += "<text x=\"\(f((plotLeft + x(1)) / 2))\" y=\"\(f(y0 - 6))\" text-anchor=\"middle\" font-size=\"11\" fill=\"\(green)\" font-weight=\"bold\">◀ within the limit</text>\n"
            s += "<text x=\"\(f((x(1) + plotRight) / 2))\" y=\"\(f(y0 - 6))\" text-anchor=\"middle\" font-size=\"11\" fill=\"\(red)\" font-weight=\"bold\">beyond the limit: missed ▶</text>\n"
            for (i, item) in ratioRows.enumerated() {
                let ry = y0 + Double(i) * rowHeight
                if i % 2 == 1 {
                    s += "<rect x=\"0\" y=\"\(f(ry))\" width=\"\(f(plotLeft))\" height=\"\(f(rowHeight))\" fill=\"#f3f3f3\"/>"
                    s += "<rect x=\"\(f(plotRight))\" y=\"\(f(ry))\" width=\"\(f(width - plotRight))\" height=\"\(f(rowHeight))\" fill=\"#f3f3f3\"/>\n"
                }
                s += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(ry + rowHeight))\" x2=\"\(f(plotRight))\" y2=\"\(f(ry + rowHeight))\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n"
                rowLabels(item, y: ry, into: &s)
                marks(item, y: ry + rowHeight / 2, x: x, lo: lo, hi: hi, into: &s)
                status(item, y: ry, into: &s)
            }
            // Grid and ticks, above and below.
            for t in ChartKit.logTicks(lo, hi) {
                let major = abs(log10(t) - log10(t).rounded()) < 1e-9
                s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(y0))\" x2=\"\(f(x(t)))\" y2=\"\(f(y1))\" stroke=\"#9a9a9a\" stroke-opacity=\"\(major ? "0.45" : "0.2")\"/>\n"
                for ty in [y1 + 14] {
                    s += "<text x=\"\(f(x(t)))\" y=\"\(f(ty))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#444444\">\(esc(ChartKit.ratio(t)))</text>\n"
                }
            }
            s += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(y1))\" x2=\"\(f(plotRight))\" y2=\"\(f(y1))\" stroke=\"#777777\"/>\n"
            s += "<line id=\"limit-line\" class=\"target-line\" x1=\"\(f(x(1)))\" y1=\"\(f(y0 - 2))\" x2=\"\(f(x(1)))\" y2=\"\(f(y1 + 2))\" stroke=\"#d00000\" stroke-width=\"2.5\"><title>the limit (ratio 1)</title></line>\n"
            s += "<text x=\"\(f(plotRight))\" y=\"\(f(y1 + 14))\" text-anchor=\"end\" font-size=\"10\" fill=\"#444444\"> </text>\n"
            s += "<text x=\"\(f((plotLeft + plotRight) / 2))\" y=\"\(f(y1 + 28))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#444444\">ratio to the limit (log scale; red line = limit)</text>\n"
        }

        if !otherRows.isEmpty {
            let hy = otherTop + 14
            s += "<text x=\"\(f(labelX))\" y=\"\(f(hy))\" font-size=\"12\" font-weight=\"bold\" fill=\"#333333\">Criteria with no ratio to draw (an exact value, a limit of 0, or no data)</text>\n"
            let y0 = otherTop + 26
            for (i, item) in otherRows.enumerated() {
                let ry = y0 + Double(i) * rowHeight
                if i % 2 == 1 { s += "<rect x=\"0\" y=\"\(f(ry))\" width=\"\(f(width))\" height=\"\(f(rowHeight))\" fill=\"#f3f3f3\"/>\n" }
                rowLabels(item, y: ry, into: &s)
                let cy = ry + rowHeight / 2 + 4
                let text: String, color: String
                switch item.verdict {
                case .noData:
                    text = "NO DATA" + (item.note.map { ": \($0)" } ?? "") + " (no sample, no pass)"
                    color = grey
                case .met, .missed:
                    let v = item.judged.map { ChartKit.short($0) } ?? "-"
                    text = "\(item.judgedStat) = \(v)\(item.unit.isEmpty ? "" : " " + item.unit), must be \(item.op) \(item.limit.map(ChartKit.short) ?? "?")"
                    color = item.verdict == .met ? green : red
                }
                let boxW = plotRight - plotLeft
                if item.labels?.caveat != nil && item.verdict != .noData {
                    s += "<rect x=\"\(f(plotLeft))\" y=\"\(f(ry + 8))\" width=\"\(f(boxW))\" height=\"\(f(rowHeight - 16))\" fill=\"url(#hatch)\" fill-opacity=\"0.35\"/>\n"
                }
                s += "<rect x=\"\(f(plotLeft))\" y=\"\(f(ry + 8))\" width=\"\(f(boxW))\" height=\"\(f(rowHeight - 16))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" rx=\"3\"/>\n"
                s += "<text x=\"\(f(plotLeft + 8))\" y=\"\(f(cy))\" font-size=\"11\" fill=\"\(color)\">\(esc(ChartKit.fit(text, width: boxW - 16, size: 11)))</text>\n"
                status(item, y: ry, into: &s)
            }
        }
        legend(y: legendTop, into: &s)
        s += "</svg>\n"
        return s
    }

    /// The label column: id (bold) with a TCG/SIM badge, then what is measured.
    private static func rowLabels(_ item: Item, y: Double, into s: inout String) {
        let esc = ChartKit.escape, f = ChartKit.f
        let maxW = plotLeft - labelX - 12
        let badge = ChartKit.badgeText(item.labels)
        // The badge has its own column at the right of the labels: it never covers a name.
        let name = ChartKit.fit(item.label, width: maxW - 44, size: 12, bold: true)
        s += "<text x=\"\(f(labelX))\" y=\"\(f(y + 17))\" font-size=\"12\" font-weight=\"bold\"\(item.contextOnly ? " fill=\"#555555\"" : "")>\(esc(name))</text>\n"
        if let badge {
            _ = ChartKit.badge(badge, x: plotLeft - 10 - ChartKit.badgeWidth(badge), y: y + 17, into: &s)
        }
        var parts: [String] = []
        if item.isCriterion { if item.label != item.series { parts.append(item.series) } } else { parts.append(item.contextOnly ? "guide target, context only" : "guide target") }
        // With a badge, the labels are in it (TCG: qemu/tcg; SIM: process/none).
        if let l = item.labels, badge == nil || (l.backend != "qemu" && l.backend != "process") { parts.append("\(l.backend)/\(l.accelerator)") }
        if let m = item.median { parts.append("median \(ChartKit.short(m)) \(item.unit)".trimmingCharacters(in: .whitespaces)) }
        if let p = item.p95 { parts.append("p95 \(ChartKit.short(p))") }
        if item.count > 0 { parts.append("n=\(item.count)") }
        let line = ChartKit.fit(parts.joined(separator: " · "), width: maxW, size: 10.5)
        s += "<text x=\"\(f(labelX))\" y=\"\(f(y + 32))\" font-size=\"10.5\" fill=\"#555555\">\(esc(line))</text>\n"
    }

    /// The status column: verdict and ratio, then the judged value against its limit.
    private static func status(_ item: Item, y: Double, into s: inout String) {
        let esc = ChartKit.escape, f = ChartKit.f
        let head: String, color: String
        switch item.verdict {
        case .met: color = green; head = "met" + (item.ratio(item.judged).map { " · \(ChartKit.ratio($0)) of limit" } ?? "")
        case .missed: color = red; head = "MISSED" + (item.ratio(item.judged).map { " · \(ChartKit.ratio($0)) of limit" } ?? "")
        case .noData: color = grey; head = "NO DATA"
        }
        let context = item.contextOnly ? " (context)" : ""
        s += "<text x=\"\(f(statusX))\" y=\"\(f(y + 17))\" font-size=\"12\" font-weight=\"bold\" fill=\"\(color)\">\(esc(head + context))</text>\n"
        let unit = item.unit.isEmpty ? "" : " \(item.unit)"
        let detail: String
        if let v = item.judged {
            detail = "\(item.judgedStat) \(ChartKit.short(v))\(unit), limit \(item.op) \(item.limit.map(ChartKit.short) ?? "?")\(unit)"
        } else if let l = item.limit {
            detail = "limit \(item.op) \(ChartKit.short(l))\(unit)"
        } else {
            detail = "limit " + (item.limitText ?? item.op)
        }
        s += "<text x=\"\(f(statusX))\" y=\"\(f(y + 32))\" font-size=\"10.5\" fill=\"#333333\">\(esc(ChartKit.fit(detail, width: width - statusX - 8, size: 10.5)))</text>\n"
    }

    /// Median (filled circle), p95 (diamond; hollow with fewer than 20
    /// samples), the judged statistic when it is another one (triangle), and a
    /// bar from the median to the p95, hatched when emulated.
    private static func marks(_ item: Item, y: Double, x: (Double) -> Double, lo: Double, hi: Double, into s: inout String) {
        let f = ChartKit.f, esc = ChartKit.escape
        let color = item.verdict == .missed ? red : (item.verdict == .met ? blue : grey)
        let emulated = item.labels?.caveat != nil
        let rm = item.ratio(item.median), rp = item.ratio(item.p95)
        let extra = ["median", "p95"].contains(item.judgedStat) ? nil : item.ratio(item.judged)
        let ends = [rm, rp, extra].compactMap { $0 }
        if let a = ends.min(), let b = ends.max(), b > a {
            s += "<rect x=\"\(f(x(a)))\" y=\"\(f(y - 6))\" width=\"\(f(max(2, x(b) - x(a))))\" height=\"12\" fill=\"\(emulated ? "url(#hatch)" : "#c9d8f0")\" stroke=\"\(color)\" stroke-width=\"0.8\"/>\n"
        } else if emulated, let a = ends.first {
            s += "<rect x=\"\(f(x(a) - 8))\" y=\"\(f(y - 6))\" width=\"16\" height=\"12\" fill=\"url(#hatch)\"/>\n"
        }
        if let r = rp {
            let solid = item.count >= solidP95Samples
            let cx = x(r)
            s += "<path d=\"M \(f(cx)) \(f(y - 7)) L \(f(cx + 6)) \(f(y)) L \(f(cx)) \(f(y + 7)) L \(f(cx - 6)) \(f(y)) Z\" fill=\"\(solid ? color : "white")\" stroke=\"\(color)\" stroke-width=\"1.5\"><title>p95: \(esc(ChartKit.ratio(r))) of the limit (n=\(item.count))</title></path>\n"
        }
        if let r = extra {
            // Below the bar, pointing up at it, so that it never hides the median or p95.
            let cx = x(r)
            s += "<path d=\"M \(f(cx)) \(f(y + 8)) L \(f(cx + 5)) \(f(y + 16)) L \(f(cx - 5)) \(f(y + 16)) Z\" fill=\"\(color)\"><title>\(esc(item.judgedStat)): \(esc(ChartKit.ratio(r))) of the limit</title></path>\n"
            s += "<text x=\"\(f(cx + 8))\" y=\"\(f(y + 17))\" font-size=\"9.5\" fill=\"\(color)\">\(esc(item.judgedStat))</text>\n"
        }
        if let r = rm {
            s += "<circle cx=\"\(f(x(r)))\" cy=\"\(f(y))\" r=\"4.5\" fill=\"\(color)\" stroke=\"white\" stroke-width=\"1\"><title>median: \(esc(ChartKit.ratio(r))) of the limit</title></circle>\n"
        }
        // Values beyond the axis sit at its edge, with an arrow.
        for r in [rm, rp, extra].compactMap({ $0 }) where r < lo || r > hi {
            s += "<text x=\"\(f(x(r) + (r < lo ? 10 : -10)))\" y=\"\(f(y - 9))\" text-anchor=\"middle\" font-size=\"10\" fill=\"\(color)\">\(r < lo ? "◀" : "▶")</text>\n"
            break
        }
    }

    private static func legend(y: Double, into s: inout String) {
        let f = ChartKit.f
        var x = labelX
        let cy = y + 8
        s += "<line x1=\"0\" y1=\"\(f(y - 6))\" x2=\"\(f(width))\" y2=\"\(f(y - 6))\" stroke=\"#dddddd\"/>\n"
        func label(_ t: String, _ dx: Double) { s += "<text x=\"\(f(x + dx))\" y=\"\(f(cy + 4))\" font-size=\"11\">\(ChartKit.escape(t))</text>\n"; x += dx + ChartKit.textWidth(t, size: 11) + 18 }
        s += "<circle cx=\"\(f(x + 6))\" cy=\"\(f(cy))\" r=\"4.5\" fill=\"\(blue)\"/>"; label("median", 16)
        s += "<path d=\"M \(f(x + 6)) \(f(cy - 7)) L \(f(x + 12)) \(f(cy)) L \(f(x + 6)) \(f(cy + 7)) L \(f(x)) \(f(cy)) Z\" fill=\"\(blue)\"/>"; label("p95 (n ≥ \(solidP95Samples))", 16)
        s += "<path d=\"M \(f(x + 6)) \(f(cy - 7)) L \(f(x + 12)) \(f(cy)) L \(f(x + 6)) \(f(cy + 7)) L \(f(x)) \(f(cy)) Z\" fill=\"white\" stroke=\"\(blue)\" stroke-width=\"1.5\"/>"; label("p95 from fewer samples (indicative)", 16)
        s += "<path d=\"M \(f(x + 6)) \(f(cy - 5)) L \(f(x + 11)) \(f(cy + 3)) L \(f(x + 1)) \(f(cy + 3)) Z\" fill=\"\(blue)\"/>"; label("judged statistic when not the median (max, last)", 16)
        s += "<line x1=\"\(f(x + 6))\" y1=\"\(f(cy - 8))\" x2=\"\(f(x + 6))\" y2=\"\(f(cy + 8))\" stroke=\"#d00000\" stroke-width=\"2.5\"/>"; label("limit (1×)", 14)
        x = labelX
        let cy2 = cy + 24
        s += "<rect x=\"\(f(x))\" y=\"\(f(cy2 - 6))\" width=\"24\" height=\"12\" fill=\"url(#hatch)\"/>"
        s += "<text x=\"\(f(x + 30))\" y=\"\(f(cy2 + 4))\" font-size=\"11\">hatched, with a TCG badge: emulated (QEMU TCG, not hardware KVM); SIM: process backend, no VM. Such numbers show relative behaviour only.</text>\n"
        s += "<text x=\"\(f(x))\" y=\"\(f(cy2 + 22))\" font-size=\"11\" fill=\"#444444\">Red marks: limit missed; blue: met; grey: no data. Lower-is-better: value/limit; higher-is-better (throughput): limit/value, so its p95 (the fast tail) sits left of its median.</text>\n"
    }
}

extension WeeklySummary {
    /// The top of a weekly summary: the one-glance chart, and links to the
    /// trend chart and the program view.
    static func glanceHeader(_ phase: Phase) -> String {
        let glance = GlanceChart.fileName(for: phase), trends = TrendChart.fileName(for: phase)
        var md = "![At a glance: every judged metric of the phase against its limit](\(glance))\n\n"
        md += "At a glance ([\(glance)](\(glance))): each judged metric's median and p95 as a ratio to its limit on one log axis; "
        md += "right of the red line the limit is missed. Hatched, with a TCG badge: emulated figures. "
        md += "Across runs: [\(trends)](\(trends)) (medians per run with drift flags). "
        md += "All phases: [\(ProgramSummary.baseName).md](\(ProgramSummary.baseName).md).\n\n"
        return md
    }

    /// The one-glance chart of a rendered summary.
    static func glanceChart(_ r: Rendered, phase: Phase) -> String {
        let title = "Week \(phase.weeks) \(phase.rawValue.capitalized) at a glance: \(r.status.rawValue)"
        return GlanceChart.render(title: title, items: GlanceChart.items(used: r.used, verdicts: r.sidecar.criteria))
    }

    /// The trend chart of the phase over every run in the metrics directory.
    static func trendChart(_ o: Options, criteria: PhaseCriteria?) -> String {
        let all = (try? MetricsCollection.load(o.metrics)) ?? MetricsCollection(files: [], rejected: [])
        let panels = TrendChart.panels(all, phase: o.phase, criteria: criteria?.criteria(for: o.phase), threshold: o.threshold,
                                       selection: o.selection)
        return TrendChart.render(phase: o.phase, panels: panels, threshold: o.threshold,
                                 note: all.selecting(o.selection).exclusionNote)
    }
}

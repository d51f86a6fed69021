import Foundation
import PerfMetrics

/// `lgperf report program`: `program_summary.md` and `.svg` in the summaries
/// directory, the guide's 12-week table with each phase's latest status (from
/// its weekly summary's `.json`), run date, backend/accelerator, headline
/// figures and the change against the previous run of the phase (the
/// summaries kept in `history/`). Runs are compared only when they ran on the
/// same host (`hostname / cpu model`) and configuration; a phase never run is
/// "not run", never a pass.
public enum ProgramSummary {
    public static let baseName = "program_summary"
    public static let notRun = "not run"
    /// A change of a headline figure smaller than this is not called better or worse.
    public static let changeThreshold = 0.10

    /// A headline figure: a criterion's measured value, or (in summaries made
    /// without criteria) a judged series' median.
    public struct Figure: Sendable, Equatable {
        public var id: String
        public var label: String
        public var value: Double?
        public var unit: String
        /// `met`, `missed`, `no data`.
        public var status: String
        public var limitText: String
        /// `<`, `<=`, `>`, `>=`, `==`.
        public var op: String
    }

    public struct Entry: Sendable {
        public var phase: Phase
        /// The phase's weekly summary data, nil when the phase never ran (or it cannot be read).
        public var latest: SummarySidecar?
        /// The run compared with, when one on the same host and configuration exists.
        public var previous: SummarySidecar?
        /// Why nothing is compared, or what the comparison should be read with.
        public var comparisonNotes: [String]
        /// A summary data file that could not be read.
        public var problem: String?

        /// The summary's status, or `not run`.
        public var status: String { latest?.status ?? ProgramSummary.notRun }
    }

    public struct Outcome: Sendable {
        public var markdown: URL
        public var chart: URL
        public var entries: [Entry]
    }

    /// `hostname / cpu model` of a summary's runs (several joined with ` + `), nil when not recorded.
    public static func hostLabel(_ s: SummarySidecar) -> String? {
        let hosts = Array(Set(s.files.compactMap(\.host))).sorted()
        return hosts.isEmpty ? nil : hosts.joined(separator: " + ")
    }

    /// `qemu/tcg`, or several joined with `, `.
    public static func configuration(_ s: SummarySidecar) -> String {
        var seen: [String] = []
        for f in s.files where !seen.contains("\(f.backend)/\(f.accelerator)") { seen.append("\(f.backend)/\(f.accelerator)") }
        return seen.isEmpty ? "-" : seen.joined(separator: ", ")
    }

    /// When the data was measured: the newest data file's time, else when the summary was made.
    public static func runDate(_ s: SummarySidecar) -> Date { s.files.map(\.timestamp).max() ?? s.generated }

    public static func figures(_ s: SummarySidecar) -> [Figure] {
        if let criteria = s.criteria, !criteria.isEmpty {
            return criteria.map { c in
                let prefix = s.phase.rawValue + "."
                let label = c.id.hasPrefix(prefix) ? String(c.id.dropFirst(prefix.count)) : c.id
                return Figure(id: c.id, label: label, value: c.measured, unit: c.unit ?? "", status: c.status.rawValue,
                              limitText: c.limitText, op: c.op)
            }
        }
        return s.series.filter { $0.meetsTarget != nil }.map { r in
            let t = Catalogue.target(for: r.metric)
            return Figure(id: r.key, label: r.key, value: r.samples.isEmpty ? nil : r.median, unit: r.unit,
                          status: r.samples.isEmpty ? "no data" : (r.meetsTarget == true ? "met" : "missed"),
                          limitText: t.text, op: t.direction == .below ? "<" : ">=")
        }
    }

    /// Reads each phase's summary data and history from `summaries`.
    public static func load(summaries: URL) -> [Entry] {
        Phase.allCases.map { phase in
            let base = SummarySidecar.baseName(for: phase)
            let json = summaries.appendingPathComponent(base + ".json")
            guard FileManager.default.fileExists(atPath: json.path) else {
                return Entry(phase: phase, latest: nil, previous: nil, comparisonNotes: [], problem: nil)
            }
            let latest: SummarySidecar
            do { latest = try SummarySidecar.read(from: json) } catch {
                return Entry(phase: phase, latest: nil, previous: nil, comparisonNotes: [], problem: "\(error)")
            }
            let history = summaries.appendingPathComponent("history", isDirectory: true)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: history.path)) ?? []
            let earlier = names.filter { $0.hasPrefix(base + ".") && $0.hasSuffix(".json") }
                .compactMap { try? SummarySidecar.read(from: history.appendingPathComponent($0)) }
                .filter { $0.phase == phase && $0.generated < latest.generated && $0.files.map(\.name) != latest.files.map(\.name) }
                .sorted { $0.generated > $1.generated }
            let (previous, notes) = choosePrevious(latest: latest, earlier: earlier)
            return Entry(phase: phase, latest: latest, previous: previous, comparisonNotes: notes, problem: nil)
        }
    }

    /// The newest earlier run on the same host and configuration, and notes
    /// saying which runs were passed over and why.
    static func choosePrevious(latest: SummarySidecar, earlier: [SummarySidecar]) -> (SummarySidecar?, [String]) {
        guard let first = earlier.first else { return (nil, ["first run of the phase: nothing to compare"]) }
        let host = hostLabel(latest), config = configuration(latest)
        func why(_ e: SummarySidecar) -> String? {
            guard let host else { return "the host of this run is not recorded: not compared" }
            guard let other = hostLabel(e) else { return "the previous run (\(ChartKit.minute(runDate(e)))) has no host recorded: not compared" }
            if other != host { return "the previous run (\(ChartKit.minute(runDate(e)))) ran on another host (\(other), now \(host)): not compared" }
            if configuration(e) != config { return "the previous run (\(ChartKit.minute(runDate(e)))) ran on \(configuration(e)), now \(config): not compared" }
            return nil
        }
        guard let reason = why(first) else { return (first, []) }
        if let hit = earlier.dropFirst().first(where: { why($0) == nil }) {
            return (hit, [reason, "compared with the newest run on the same host and configuration instead (\(ChartKit.minute(runDate(hit))))"])
        }
        return (nil, [reason])
    }

    /// Change of each figure against `previous`: `spawn -6.0% (better)`.
    static func changes(_ latest: SummarySidecar, _ previous: SummarySidecar) -> [String] {
        var out: [String] = []
        if latest.status != previous.status { out.append("status \(previous.status) → \(latest.status)") }
        let before = Dictionary(figures(previous).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for fig in figures(latest) {
            guard let old = before[fig.id], old.unit == fig.unit else { continue }
            guard let a = old.value, let b = fig.value else {
                if old.value == nil && fig.value != nil { out.append("`\(fig.label)` now measured") }
                if old.value != nil && fig.value == nil { out.append("`\(fig.label)` no longer measured") }
                continue
            }
            if fig.op == "==" || a == 0 {
                if a != b { out.append("`\(fig.label)` \(ChartKit.short(a)) → \(ChartKit.short(b))") }
                continue
            }
            let rel = (b - a) / abs(a)
            guard abs(rel) >= 0.005 else { continue }
            let higherBetter = fig.op == ">" || fig.op == ">="
            let better = higherBetter ? rel > 0 : rel < 0
            // Within the regression threshold lgperf compare uses by default, a move is noise-sized: say so.
            let word = abs(rel) <= changeThreshold ? "within ±\(Format.percent(changeThreshold, signed: false))" : (better ? "better" : "worse")
            out.append("`\(fig.label)` \(Format.percent(rel)) (\(word))")
        }
        if out.isEmpty { out.append("no change of note") }
        return out
    }

    public static func generate(summaries: URL, now: Date = Date()) throws -> Outcome {
        let entries = load(summaries: summaries)
        let md = summaries.appendingPathComponent(baseName + ".md")
        let svg = summaries.appendingPathComponent(baseName + ".svg")
        let existing = Set((try? FileManager.default.contentsOfDirectory(atPath: summaries.path)) ?? [])
        let r = render(entries: entries, now: now, location: summaries, existing: existing)
        try AtomicFile.write(r.svg, to: svg)
        try AtomicFile.write(r.markdown, to: md)
        return Outcome(markdown: md, chart: svg, entries: entries)
    }

    static func icon(_ status: String) -> String {
        switch status {
        case WeeklySummary.Status.pass.rawValue: return "✅"
        case WeeklySummary.Status.fail.rawValue: return "❌"
        case WeeklySummary.Status.incomplete.rawValue: return "⚠️"
        case WeeklySummary.Status.noData.rawValue: return "⛔"
        default: return "⏳"
        }
    }

    /// `existing`: file names present beside the summaries (only those are linked).
    public static func render(entries: [Entry], now: Date, location: URL, existing: Set<String>) -> (markdown: String, svg: String) {
        let cell = WeeklySummary.cell
        var md = "# LuminaGuard performance program: 12-week status\n\n"
        md += "Generated \(Format.xsdDateTime(now)) by `lgperf report program` from the weekly summaries in `\(location.path)`.\n\n"
        md += "![Program status: one block per phase of the 12 weeks](\(baseName).svg)\n\n"
        let passed = entries.filter { $0.status == WeeklySummary.Status.pass.rawValue }
        let notRun = entries.filter { $0.latest == nil }
        md += "**\(passed.count) of \(entries.count) phases PASS**"
        md += notRun.isEmpty ? "." : "; not run: \(notRun.map(\.phase.rawValue).joined(separator: ", ")) (a phase not run is not a pass)."
        md += " The program is done when all six pass on the target hardware.\n\n"
        if let g = entries.first(where: { $0.phase == .production })?.latest?.goNoGo {
            md += "**Pre-deployment go/no-go: \(g.verdict)** (the production summary's verdict over every phase's latest criteria and its own"
            md += g.reasons.isEmpty ? ").\n\n" : "; \(g.reasons.count) reason\(g.reasons.count == 1 ? "" : "s"), first: \(cell(g.reasons[0]))).\n\n"
        }
        let emulated = entries.compactMap(\.latest).filter { s in s.files.contains { RunLabels(backend: $0.backend, accelerator: $0.accelerator).caveat != nil } }
        if !emulated.isEmpty {
            md += "> ⚠️ \(emulated.map(\.phase.rawValue).joined(separator: ", ")): emulated (TCG) or process-backend figures, not hardware-KVM numbers; they show relative behaviour only.\n\n"
        }
        md += "| Weeks | Phase | Focus | Status | Run date (UTC) | Backend / accelerator | Key figures (measured, limit) | Change vs previous run | Reports |\n"
        md += "|---|---|---|---|---|---|---|---|---|\n"
        for e in entries {
            let p = e.phase
            let base = SummarySidecar.baseName(for: p)
            guard let s = e.latest else {
                let why = e.problem.map { "summary data unreadable: \(cell($0))" } ?? "-"
                md += "| \(p.weeks) | \(p.rawValue.capitalized) | \(p.focus) | ⏳ not run | - | - | \(why) | - | - |\n"
                continue
            }
            let config = configuration(s)
            let caveat = s.files.contains { RunLabels(backend: $0.backend, accelerator: $0.accelerator).caveat != nil }
            let figs = figures(s).map { fig -> String in
                let mark = fig.status == "met" ? "✅" : (fig.status == "missed" ? "❌" : "⛔")
                let v = fig.value.map { ChartKit.short($0) + (fig.unit.isEmpty ? "" : " \(fig.unit)") } ?? "no data"
                return "\(mark) `\(cell(fig.label))` \(cell(v)) (\(cell(fig.limitText)))"
            }
            var change: [String] = []
            if let prev = e.previous {
                change.append("vs \(ChartKit.minute(runDate(prev))): " + changes(s, prev).joined(separator: ", "))
            }
            change += e.comparisonNotes.map(cell)
            var links: [String] = []
            for (name, text) in [(base + ".md", "summary"), (GlanceChart.fileName(for: p), "glance"), (TrendChart.fileName(for: p), "trends")]
            where existing.contains(name) { links.append("[\(text)](\(name))") }
            let host = hostLabel(s).map { "<br>host: \(cell($0))" } ?? ""
            md += "| \(p.weeks) | \(p.rawValue.capitalized) | \(p.focus) | \(icon(s.status)) **\(s.status)** | \(ChartKit.minute(runDate(s))) | \(config)\(caveat ? " ⚠️" : "")\(host) | \(figs.isEmpty ? "-" : figs.joined(separator: "<br>")) | \(change.joined(separator: "<br>")) | \(links.joined(separator: " · ")) |\n"
        }
        md += "\nStatus is each phase's weekly summary verdict on its own acceptance criteria (PASS only when all are met; INCOMPLETE when one has no data; never a pass without data). "
        md += "Changes compare the latest run of a phase with its previous one (kept in `history/`) only when both ran on the same host (hostname / CPU model) and backend/accelerator; otherwise the table says why it did not compare.\n"
        return (md, renderSVG(entries: entries, now: now))
    }

    // MARK: - chart

    static func renderSVG(entries: [Entry], now: Date) -> String {
        let f = ChartKit.f, esc = ChartKit.escape
        let width = 1240.0, left = 20.0, right = 20.0
        let weekW = (width - left - right) / 12
        let top = 84.0, blockH = 194.0
        let height = top + blockH + 92
        let title = "LuminaGuard performance program: 12-week status"
        var s = ChartKit.open(width: width, height: height, title: title)
        s += "<text x=\"\(f(width / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(esc(title))</text>\n"
        let passed = entries.filter { $0.status == WeeklySummary.Status.pass.rawValue }.count
        let notRun = entries.filter { $0.latest == nil }.count
        s += "<text x=\"\(f(width / 2))\" y=\"46\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333333\">\(passed) of \(entries.count) phases PASS\(notRun > 0 ? "; \(notRun) not run (not a pass)" : "") · generated \(esc(ChartKit.minute(now))) UTC</text>\n"
        for w in 1...12 {
            let x = left + Double(w - 1) * weekW
            s += "<text x=\"\(f(x + weekW / 2))\" y=\"\(f(top - 8))\" text-anchor=\"middle\" font-size=\"10.5\" fill=\"#555555\">week \(w)</text>\n"
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top - 20))\" x2=\"\(f(x))\" y2=\"\(f(top - 2))\" stroke=\"#cccccc\"/>\n"
        }
        for (i, e) in entries.enumerated() {
            let x = left + Double(i) * 2 * weekW + 3, w = 2 * weekW - 6, y = top
            let (fill, stroke, ink): (String, String, String)
            switch e.status {
            case WeeklySummary.Status.pass.rawValue: (fill, stroke, ink) = ("#dcf1e1", "#1e7b34", "#1e7b34")
            case WeeklySummary.Status.fail.rawValue: (fill, stroke, ink) = ("#fbe1e4", "#b00020", "#b00020")
            case WeeklySummary.Status.incomplete.rawValue: (fill, stroke, ink) = ("#fff2cc", "#a06800", "#8a5a00")
            case WeeklySummary.Status.noData.rawValue: (fill, stroke, ink) = ("#e8e8e8", "#555555", "#444444")
            default: (fill, stroke, ink) = ("#ffffff", "#999999", "#666666")
            }
            let dash = e.latest == nil ? " stroke-dasharray=\"6,4\"" : ""
            s += "<rect class=\"phase\" x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(w))\" height=\"\(f(blockH))\" rx=\"6\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"2\"\(dash)/>\n"
            let tx = x + 10, tw = w - 20
            func line(_ text: String, _ dy: Double, size: Double = 11, bold: Bool = false, color: String = "#333333") {
                s += "<text x=\"\(f(tx))\" y=\"\(f(y + dy))\" font-size=\"\(size)\"\(bold ? " font-weight=\"bold\"" : "") fill=\"\(color)\">\(esc(ChartKit.fit(text, width: tw, size: size, bold: bold)))</text>\n"
            }
            line("Weeks \(e.phase.weeks)", 18, size: 10.5, color: "#555555")
            line(e.phase.rawValue.capitalized, 36, size: 14, bold: true, color: "#111111")
            line(e.phase.focus, 52, size: 10.5, color: "#555555")
            line(e.latest == nil ? "NOT RUN" : e.status, 78, size: 15, bold: true, color: ink)
            guard let sc = e.latest else {
                line("no summary yet; run:", 100, size: 10.5, color: "#666666")
                line("lgperf run --phase", 116, size: 10.5, color: "#666666")
                line(e.phase.rawValue, 132, size: 10.5, color: "#666666")
                continue
            }
            let figs = figures(sc)
            let met = figs.filter { $0.status == "met" }.count
            line("\(met) of \(figs.count) criteria met", 98, size: 11)
            line(ChartKit.minute(runDate(sc)) + " UTC", 116, size: 10.5)
            let config = configuration(sc)
            s += "<text x=\"\(f(tx))\" y=\"\(f(y + 134))\" font-size=\"10.5\" fill=\"#333333\">\(esc(ChartKit.fit(config, width: tw - 64, size: 10.5)))</text>\n"
            let labels = sc.files.map { RunLabels(backend: $0.backend, accelerator: $0.accelerator) }
            let badges = Array(Set(labels.compactMap { ChartKit.badgeText($0) })).sorted(by: >)
            if !badges.isEmpty {
                let b = badges.joined(separator: "+")
                _ = ChartKit.badge(b, x: x + w - 10 - ChartKit.badgeWidth(b), y: y + 134, into: &s)
            }
            let change: String
            if let prev = e.previous {
                change = prev.status == sc.status ? "vs previous: \(prev.status) again" : "vs previous: \(prev.status) → \(sc.status)"
            } else if e.comparisonNotes.contains(where: { $0.contains("another host") }) {
                change = "previous run: other host"
            } else if e.comparisonNotes.contains(where: { $0.contains("not recorded") }) {
                change = "previous run: host unknown"
            } else if e.comparisonNotes.contains(where: { $0.contains("ran on") }) {
                change = "previous run: other backend"
            } else {
                change = "first run of the phase"
            }
            line(change, 156, size: 10.5, color: "#444444")
            let missed = figs.filter { $0.status == "missed" }.map(\.label)
            let noData = figs.filter { $0.status == "no data" }.map(\.label)
            if !missed.isEmpty { line("missed: " + missed.joined(separator: ", "), 174, size: 10.5, bold: true, color: "#b00020") }
            else if !noData.isEmpty { line("no data: " + noData.joined(separator: ", "), 174, size: 10.5, bold: true, color: "#8a5a00") }
        }
        // Legend.
        let ly = top + blockH + 30
        var x = left
        for (fill, stroke, text, dashed) in [("#dcf1e1", "#1e7b34", "PASS: every criterion met", false),
                                             ("#fbe1e4", "#b00020", "FAIL: a criterion missed", false),
                                             ("#fff2cc", "#a06800", "INCOMPLETE: a criterion without data", false),
                                             ("#e8e8e8", "#555555", "NO DATA", false),
                                             ("#ffffff", "#999999", "not run (never a pass)", true)] {
            s += "<rect x=\"\(f(x))\" y=\"\(f(ly - 10))\" width=\"22\" height=\"14\" rx=\"3\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"1.5\"\(dashed ? " stroke-dasharray=\"4,3\"" : "")/>"
            s += "<text x=\"\(f(x + 28))\" y=\"\(f(ly + 1))\" font-size=\"11\">\(esc(text))</text>\n"
            x += 28 + ChartKit.textWidth(text, size: 11) + 24
        }
        s += "<text x=\"\(f(left))\" y=\"\(f(ly + 26))\" font-size=\"11\" fill=\"#444444\">TCG badge: emulated (QEMU without hardware KVM); SIM: process backend. Changes are compared only between runs on the same host (hostname / CPU model) and backend/accelerator.</text>\n"
        s += "</svg>\n"
        return s
    }
}

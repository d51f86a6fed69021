import Foundation
import PerfMetrics

/// The pre-deployment go/no-go, a verdict of its own in the production
/// summary (whose status judges the production phase's own criteria, as
/// every phase's does): every earlier phase's criteria judged on its latest
/// metrics files (in the same location), plus the production phase's.
/// GO only when every criterion of every phase is met; a phase never run is
/// NO-GO, never a pass.
public enum ProductionReadiness {
    public struct PhaseVerdict: Sendable, Equatable {
        public var phase: Phase
        public var results: [CriterionResult]
        /// Ids of the criteria whose limit is the guide's target (set for hardware KVM).
        public var guideTargetIDs: Set<String> = []
        public var go: Bool { !results.isEmpty && results.allSatisfy { $0.status == .met } }
        public var anyMissed: Bool { results.contains { $0.status == .missed } }
    }

    /// The go/no-go as the summary's data file records it.
    public struct GoNoGo: Codable, Sendable, Equatable {
        /// `GO` or `NO-GO`.
        public var verdict: String
        /// Why not, one line per unmet criterion or phase never run (empty with GO).
        public var reasons: [String]
        public var go: Bool { verdict == "GO" }
        public init(go: Bool, reasons: [String]) { verdict = go ? "GO" : "NO-GO"; self.reasons = reasons }
    }

    /// The earlier phases' verdicts.
    public static func earlierPhases(metrics: URL, selection: RunSelection, criteria: PhaseCriteria) -> [PhaseVerdict] {
        Phase.allCases.filter { $0 != .production }.map { p in
            let files = (try? MetricsCollection.loadNewest(metrics, phase: p, selection: selection))?.newestPerScope(phase: p) ?? []
            let list = criteria.criteria(for: p)
            return PhaseVerdict(phase: p, results: PhaseCriteria.evaluate(list, files: files),
                                guideTargetIDs: Set(list.filter { $0.limit == .target }.map(\.id)))
        }
    }

    /// GO when every earlier phase is and the production phase's own status is PASS.
    public static func decide(_ verdicts: [PhaseVerdict], production: WeeklySummary.Status,
                              productionResults: [CriterionResult]) -> GoNoGo {
        var reasons: [String] = []
        for v in verdicts where !v.go {
            if v.results.isEmpty { reasons.append("\(v.phase.rawValue): no criteria"); continue }
            if v.results.allSatisfy({ $0.status == .noData }) {
                reasons.append("\(v.phase.rawValue): not run (no metrics file for any of its \(v.results.count) criteria)")
                continue
            }
            for r in v.results where r.status != .met { reasons.append("\(v.phase.rawValue): " + reason(r, guideTarget: v.guideTargetIDs.contains(r.id))) }
        }
        if production != .pass {
            let unmet = productionResults.filter { $0.status != .met }
            if unmet.isEmpty { reasons.append("production: status \(production.rawValue)") }
            for r in unmet { reasons.append("production: " + reason(r, guideTarget: false)) }
        }
        return GoNoGo(go: reasons.isEmpty, reasons: reasons)
    }

    /// One criterion not met, with where it was measured; a guide target
    /// missed under emulation says that the target is for hardware KVM.
    static func reason(_ r: CriterionResult, guideTarget: Bool) -> String {
        guard r.status == .missed else { return "`\(r.id)` has no data (\(r.note ?? "no samples"))" }
        let measured = r.measured.map { "\(r.stat) \(ReportedFigures.value($0, r.unit ?? ""))" } ?? "missed"
        var text = "`\(r.id)` missed: \(measured), limit \(r.limitText)"
        if let b = r.backend, let a = r.accelerator {
            text += " (\(b)/\(a))"
            if guideTarget, let why = BenchmarkJUnit.emulation(RunLabels(backend: b, accelerator: a)) {
                text += ": a hardware-KVM target, measured here \(why)"
            }
        }
        return text
    }

    public static func markdown(_ verdicts: [PhaseVerdict], production: WeeklySummary.Status, decision: GoNoGo) -> String {
        var md = "## Pre-deployment go/no-go\n\n"
        md += "**\(decision.verdict)**: every phase's acceptance criteria on its latest run, plus this production run's. "
        md += "This is a verdict of its own; the status above judges the production phase's own criteria.\n\n"
        md += "| Phase | Verdict | Criteria met | Not met |\n|---|---|---|---|\n"
        for v in verdicts {
            let bad = v.results.filter { $0.status != .met }.map { "`\($0.id)` (\($0.status.rawValue))" }
            let why = v.results.isEmpty ? "no criteria" : (bad.isEmpty ? "-" : bad.prefix(6).joined(separator: ", ") + (bad.count > 6 ? ", ..." : ""))
            md += "| \(v.phase.rawValue) | \(v.go ? "GO" : "NO-GO") | \(v.results.filter { $0.status == .met }.count)/\(v.results.count) | \(why) |\n"
        }
        md += "| production | \(production == .pass ? "GO" : "NO-GO") | see the acceptance criteria below | status \(production.rawValue) |\n\n"
        if !decision.reasons.isEmpty {
            md += "Why \(decision.verdict):\n" + decision.reasons.map { "- \($0)\n" }.joined() + "\n"
        }
        return md
    }
}

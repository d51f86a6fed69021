import Foundation
import PerfMetrics

/// The pre-deployment go/no-go of the production summary: every earlier
/// phase's criteria judged on its latest metrics files (in the same
/// location), plus the soak's own. GO only when every criterion of every
/// phase is met; a phase never run is NO-GO, never a pass.
public enum ProductionReadiness {
    public struct PhaseVerdict: Sendable, Equatable {
        public var phase: Phase
        public var results: [CriterionResult]
        public var go: Bool { !results.isEmpty && results.allSatisfy { $0.status == .met } }
        public var anyMissed: Bool { results.contains { $0.status == .missed } }
    }

    /// The earlier phases' verdicts (the production phase's own criteria are
    /// judged by its summary as usual).
    public static func earlierPhases(metrics: URL, selection: RunSelection, criteria: PhaseCriteria) -> [PhaseVerdict] {
        Phase.allCases.filter { $0 != .production }.map { p in
            let files = (try? MetricsCollection.loadNewest(metrics, phase: p, selection: selection))?.newestPerScope(phase: p) ?? []
            return PhaseVerdict(phase: p, results: PhaseCriteria.evaluate(criteria.criteria(for: p), files: files))
        }
    }

    public static func markdown(_ verdicts: [PhaseVerdict], soakGo: Bool) -> String {
        let go = soakGo && verdicts.allSatisfy(\.go)
        var md = "## Pre-deployment go/no-go\n\n**\(go ? "GO" : "NO-GO")**: every phase's criteria on its latest run, plus this soak.\n\n"
        md += "| Phase | Verdict | Criteria met | Not met |\n|---|---|---|---|\n"
        for v in verdicts {
            let bad = v.results.filter { $0.status != .met }.map { "`\($0.id)` (\($0.status.rawValue))" }
            let why = v.results.isEmpty ? "no criteria" : (bad.isEmpty ? "-" : bad.prefix(6).joined(separator: ", ") + (bad.count > 6 ? ", ..." : ""))
            md += "| \(v.phase.rawValue) | \(v.go ? "GO" : "NO-GO") | \(v.results.filter { $0.status == .met }.count)/\(v.results.count) | \(why) |\n"
        }
        md += "| production (soak) | \(soakGo ? "GO" : "NO-GO") | see below | |\n\n"
        return md
    }
}

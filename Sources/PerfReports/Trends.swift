import Foundation
import PerfMetrics

/// `lgperf trends`: the median of each series over time, oldest first, with
/// its spread, and a drift flag when a median moves beyond the threshold
/// relative to the first run or to the previous one. Series are kept apart by
/// backend and accelerator, and by build and mode (a TCG number and a KVM
/// number, or a debug quick run and a release full run, are not one trend).
/// Test runs' files are left out unless asked for (`RunSelection`).
public enum Trends {
    public struct Point: Sendable, Equatable, Codable {
        public var timestamp: Date
        public var file: String
        public var commit: String
        public var count: Int
        public var median: Double
        public var p95: Double
        public var min: Double
        public var max: Double
        /// Relative to the first point of the series.
        public var changeFromFirst: Double
        /// Relative to the previous point; nil for the first.
        public var changeFromPrevious: Double?
        /// Beyond the threshold, either way, against the first or the previous run.
        public var drift: Bool
        /// The drift is in the bad direction (slower, larger; lower for throughput).
        public var worse: Bool
    }

    public struct Series: Sendable, Equatable, Codable {
        /// `<scope>/<name> [backend/accelerator build mode]`, e.g.
        /// `spawn/spawn_time_ms [qemu/tcg release quick]`; files without
        /// provenance give `[backend/accelerator]`, and a test run's (when
        /// included) ends in ` test`.
        public var key: String
        public var scope: String
        public var name: String
        public var metric: MetricKind
        public var unit: String
        public var backend: String
        public var accelerator: String
        /// From the files' provenance; nil for files without it.
        public var build: String?
        public var mode: String?
        public var origin: String?
        public var target: String?
        public var points: [Point]
        public var drifted: Bool { points.contains(where: \.drift) }
        /// `qemu/tcg release quick`.
        public var configuration: String {
            Trends.configuration(backend: backend, accelerator: accelerator, build: build, mode: mode, origin: origin)
        }
    }

    /// `metric` filters by series name (`spawn_time_ms`), metric kind
    /// (`spawn`) or scope/name (`spawn/spawn_time_ms`).
    /// The bracketed part of a series key: `qemu/tcg release quick`.
    public static func configuration(_ l: RunLabels, _ p: Provenance?) -> String {
        configuration(backend: l.backend, accelerator: l.accelerator, build: p?.build, mode: p?.mode, origin: p?.origin)
    }

    static func configuration(backend: String, accelerator: String, build: String?, mode: String?, origin: String?) -> String {
        var parts = ["\(backend)/\(accelerator)"]
        if let build { parts.append(build) }
        if let mode { parts.append(mode) }
        if let origin, origin != Provenance.benchmarkOrigin { parts.append(origin) }
        return parts.joined(separator: " ")
    }

    /// Files `selection` does not admit (by default test runs') are left
    /// out; `collection.selecting(selection).exclusionNote` says how many.
    public static func compute(_ collection: MetricsCollection, metric: String? = nil, phase: Phase? = nil,
                               threshold: Double, selection: RunSelection = .mainJob) -> [Series] {
        var order: [String] = []
        var map: [String: Series] = [:]
        for m in collection.selecting(selection).chronological where phase == nil || m.file.phase == phase {
            let f = m.file
            for (name, s) in f.series {
                if let wanted = metric, wanted != name, wanted != s.metric.rawValue, wanted != "\(f.scope)/\(name)" { continue }
                let l = f.labels(of: s)
                let p = f.provenance
                let key = "\(f.scope)/\(name) [\(configuration(l, p))]"
                var series = map[key] ?? Series(key: key, scope: f.scope, name: name, metric: s.metric, unit: s.unit,
                                                backend: l.backend, accelerator: l.accelerator,
                                                build: p?.build, mode: p?.mode, origin: p?.origin,
                                                target: s.target, points: [])
                if map[key] == nil { order.append(key) }
                let first = series.points.first?.median ?? s.median
                let previous = series.points.last?.median
                func rel(_ base: Double) -> Double { base == 0 ? (s.median == 0 ? 0 : .infinity) : (s.median - base) / base }
                let dFirst = rel(first)
                let dPrev = previous.map(rel)
                let drift = abs(dFirst) > threshold || (dPrev.map { abs($0) > threshold } ?? false)
                let higherIsBetter = Catalogue.target(for: s.metric).direction == .atLeast
                let worst = [dFirst, dPrev ?? 0].max { abs($0) < abs($1) } ?? 0
                let worse = drift && (higherIsBetter ? worst < 0 : worst > 0)
                series.points.append(Point(timestamp: f.timestamp, file: m.fileName, commit: f.commit, count: s.count,
                                           median: s.median, p95: s.p95, min: s.min, max: s.max,
                                           changeFromFirst: dFirst, changeFromPrevious: dPrev, drift: drift, worse: worse))
                map[key] = series
            }
        }
        return order.map { map[$0]! }
    }

    /// Text in the manner of the guide's jq example (`110.20 rust_baseline_....json`),
    /// with the spread and change columns added.
    public static func render(_ series: [Series], threshold: Double) -> String {
        var out = ""
        for s in series {
            let caveat = RunLabels(backend: s.backend, accelerator: s.accelerator).caveat
            out += "\(s.scope)/\(s.name) (\(s.unit)) [\(s.configuration)]"
            out += s.target.map { ", target \($0)" } ?? ""
            out += ", \(s.points.count) run\(s.points.count == 1 ? "" : "s")\n"
            if let caveat { out += "  warning: \(caveat)\n" }
            var rows: [[String]] = [["  median", "p95-median", "min..max", "vs first", "vs previous", "flag", "timestamp", "file"]]
            for p in s.points {
                let flag = p.drift ? (p.worse ? "DRIFT (worse)" : "DRIFT (better)") : ""
                rows.append(["  " + Format.number(p.median), "+" + Format.number(p.p95 - p.median),
                             "\(Format.number(p.min))..\(Format.number(p.max))", Format.percent(p.changeFromFirst),
                             p.changeFromPrevious.map { Format.percent($0) } ?? "-", flag,
                             Format.xsdDateTime(p.timestamp), p.file])
            }
            out += TextTable.render(rows)
            let maxFirst = s.points.map { abs($0.changeFromFirst) }.max() ?? 0
            if s.drifted {
                let n = s.points.filter(\.drift).count
                out += "  drift beyond \(Format.percent(threshold, signed: false)) in \(n) run\(n == 1 ? "" : "s") (largest move from the first run: \(Format.percent(maxFirst, signed: false)))\n\n"
            } else {
                out += "  no drift beyond \(Format.percent(threshold, signed: false)) (largest move from the first run: \(Format.percent(maxFirst, signed: false)))\n\n"
            }
        }
        return out
    }
}

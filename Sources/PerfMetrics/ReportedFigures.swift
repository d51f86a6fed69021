import Foundation
import PerfStats

/// What a report may show of a series, and how much each figure can be
/// trusted: the one display rule of the results table, the weekly summaries
/// and the JUnit names. Metrics files keep every field of the guide
/// (p95 and p99 always); only what people read follows this rule.
///
/// - A percentile is shown only where the sample count supports it: p95
///   from n >= 20, p99 from n >= 100 (below that, the "p95" of 10 samples is
///   an interpolation between the two slowest runs, not a tail estimate).
///   Otherwise tables show `-` and sentences `n too small`.
/// - Each median carries its 95 % confidence interval (order statistics,
///   distribution-free; see ``MedianInterval``), and a judgement against a
///   limit is `clear` when the whole interval is on one side of it and
///   `uncertain` when the interval straddles it.
public struct ReportedFigures: Sendable, Equatable {
    public static let p95MinimumCount = 20
    public static let p99MinimumCount = 100
    public static let confidenceLevel = 0.95

    /// How sure a verdict against a limit is.
    public enum Confidence: String, Sendable, Equatable {
        /// The whole confidence interval of the median is on one side of the limit.
        case clear
        /// The interval straddles the limit: the verdict could flip on a re-run.
        case uncertain
        /// Too few samples for a confidence interval (fewer than 6).
        case noInterval = "n too small for a CI"
    }

    public let count: Int
    public let unit: String
    public let median: Double
    /// Nil with fewer than 6 samples.
    public let medianInterval: MedianInterval?
    /// Nil when n < 20.
    public let p95: Double?
    /// Nil when n < 100.
    public let p99: Double?

    public init(count: Int, unit: String, median: Double, p95: Double, p99: Double, samples: [Double]) {
        self.count = count
        self.unit = unit
        self.median = median
        self.p95 = count >= Self.p95MinimumCount ? p95 : nil
        self.p99 = count >= Self.p99MinimumCount ? p99 : nil
        medianInterval = (try? MedianInterval.of(samples, level: Self.confidenceLevel)) ?? nil
    }

    public init(_ series: MetricSeries) {
        self.init(count: series.count, unit: series.unit, median: series.median, p95: series.p95, p99: series.p99,
                  samples: series.samples)
    }

    /// How sure "the median meets the limit" is, where `meets` is the
    /// comparison the verdict uses (e.g. `{ $0 < 200 }`).
    public func confidence(_ meets: (Double) -> Bool) -> Confidence {
        guard let ci = medianInterval else { return .noInterval }
        return meets(ci.lower) == meets(ci.upper) ? .clear : .uncertain
    }

    /// How sure the series' guide target verdict is.
    public func confidence(against target: Target) -> Confidence {
        confidence { target.meets(median: $0) }
    }

    // MARK: Text

    /// `1806 ms`, `41.2 ms`, `0.19 ms`, `0.0123 ms`.
    public static func value(_ v: Double, _ unit: String) -> String {
        let n = number(v)
        return unit.isEmpty ? n : "\(n) \(unit)"
    }

    /// A measured number with about three significant figures.
    public static func number(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "inf" : "-inf") }
        let a = abs(v)
        if a >= 100 || v == v.rounded() && a < 1e15 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        if a >= 1 { return String(format: "%.2f", v) }
        return String(format: "%.3g", v)
    }

    /// `990-1120`, or `-5 to -2` when a bound is negative.
    public static func range(_ a: Double, _ b: Double) -> String {
        let sep = a < 0 || b < 0 ? " to " : "-"
        return number(a) + sep + number(b)
    }

    /// `median 1053 ms [95% CI 990-1120]`, or `median 1053 ms [95% CI: n too small]` below 6 samples.
    public var medianText: String {
        "median \(Self.value(median, unit)) [\(intervalText)]"
    }

    /// `95% CI 990-1120` or `95% CI: n too small`.
    public var intervalText: String {
        guard let ci = medianInterval else { return "95% CI: n too small" }
        return "95% CI \(Self.range(ci.lower, ci.upper))"
    }

    /// `p95 1299 ms`, or `p95 n too small` (n < 20).
    public var p95Text: String { p95.map { "p95 \(Self.value($0, unit))" } ?? "p95 n too small" }
    /// `p99 1400 ms`, or `p99 n too small` (n < 100).
    public var p99Text: String { p99.map { "p99 \(Self.value($0, unit))" } ?? "p99 n too small" }

    /// The headline for a name or sentence: median with its interval and the
    /// p95 (the p99 only when it can be shown).
    /// `median 1053 ms [95% CI 990-1120], p95 1299 ms` /
    /// `median 1806 ms [95% CI 1700-1900], p95 n too small`.
    public var headline: String {
        var parts = [medianText, p95Text]
        if p99 != nil { parts.append(p99Text) }
        return parts.joined(separator: ", ")
    }

    // Table cells.

    /// `1053 ms [990-1120]`, or `1053 ms [-]` without an interval.
    public var medianCell: String {
        Self.value(median, unit) + " [" + (medianInterval.map { Self.range($0.lower, $0.upper) } ?? "-") + "]"
    }
    /// The p95, or `-` when n < 20.
    public var p95Cell: String { p95.map { Self.value($0, unit) } ?? "-" }
    /// The p99, or `-` when n < 100.
    public var p99Cell: String { p99.map { Self.value($0, unit) } ?? "-" }

    /// The legend for tables that use these cells.
    public static let legend = "Median [95% CI]: the median with its distribution-free 95 % confidence interval "
        + "(order statistics; needs n >= 6, else [-]).\n"
        + "P95 is shown from n >= \(p95MinimumCount) samples and P99 from n >= \(p99MinimumCount); "
        + "'-' means n is too small for that percentile (the metrics file still has it).\n"
        + "clear: the whole CI is on one side of the target; uncertain: the CI straddles the target, "
        + "so the verdict could flip on a re-run."
}

import Foundation

/// A distribution-free confidence interval for the median, from order
/// statistics (the sign-test / binomial interval; Conover, *Practical
/// Nonparametric Statistics*, 3.2).
///
/// For n samples sorted as x(1) <= ... <= x(n), the number of samples below
/// the true median is Binomial(n, 1/2). The interval [x(l), x(u)] with
/// u = n - l + 1 covers the median with probability 1 - 2 P(B <= l - 1).
/// `l` is the largest rank for which that coverage is still at least the
/// level asked for, so the interval is the shortest symmetric one that keeps
/// its promise; its exact coverage (e.g. 97.85 % for n = 10) is reported.
/// No assumption about the shape of the distribution is made.
///
/// Below 6 samples no such interval reaches 95 % (for n = 5 even
/// [min, max] covers only 1 - 2/32 = 93.75 %): there is no interval then.
public struct MedianInterval: Sendable, Equatable, Codable {
    /// The level asked for, e.g. 0.95.
    public let level: Double
    /// 1-based ranks of the bounds in the sorted samples.
    public let lowerRank: Int
    public let upperRank: Int
    /// The exact coverage of [x(lowerRank), x(upperRank)], >= `level`.
    public let coverage: Double
    public let lower: Double
    public let upper: Double

    /// The ranks (1-based) and exact coverage for `count` samples, or nil
    /// when no order-statistic interval reaches `level` with so few samples.
    public static func ranks(count n: Int, level: Double = 0.95) throws -> (lower: Int, upper: Int, coverage: Double)? {
        guard level > 0, level < 1 else { throw StatsError.invalidArgument("confidence level \(level) outside (0, 1)") }
        guard n > 0 else { throw StatsError.emptySeries("median interval input") }
        let tail = (1 - level) / 2
        // P(B <= k) for B ~ Binomial(n, 1/2), term by term in log space so
        // that 2^-n does not underflow for large n.
        let nd = Double(n)
        var logTerm = -nd * M_LN2          // log P(B = 0)
        var cdf = 0.0
        var best: (Int, Int, Double)?
        var k = 0
        // Stop well before the middle: the tail there is near 1/2.
        while k <= (n - 1) / 2 {
            cdf += exp(logTerm)
            // Rank l = k + 1 is usable when P(B <= l - 1) <= tail (a tiny
            // tolerance keeps exact-boundary cases, e.g. tail = 1/64, usable).
            guard cdf <= tail * (1 + 1e-12) else { break }
            best = (k + 1, n - k, Swift.max(0, 1 - 2 * cdf))
            logTerm += log(Double(n - k) / Double(k + 1))
            k += 1
        }
        return best
    }

    /// The interval for these samples (any order), or nil when there are too
    /// few for the level. Throws on an empty series or a non-finite value.
    public static func of(_ samples: [Double], level: Double = 0.95) throws -> MedianInterval? {
        guard !samples.isEmpty else { throw StatsError.emptySeries("median interval input") }
        guard samples.allSatisfy({ $0.isFinite }) else { throw StatsError.nonFinite("median interval input") }
        guard let r = try ranks(count: samples.count, level: level) else { return nil }
        let sorted = samples.sorted()
        return MedianInterval(level: level, lowerRank: r.lower, upperRank: r.upper, coverage: r.coverage,
                              lower: sorted[r.lower - 1], upper: sorted[r.upper - 1])
    }

    public init(level: Double, lowerRank: Int, upperRank: Int, coverage: Double, lower: Double, upper: Double) {
        self.level = level; self.lowerRank = lowerRank; self.upperRank = upperRank
        self.coverage = coverage; self.lower = lower; self.upper = upper
    }

    /// The fewest samples for which an interval at `level` exists (6 at 95 %).
    public static func minimumCount(level: Double = 0.95) throws -> Int {
        var n = 1
        while try ranks(count: n, level: level) == nil { n += 1 }
        return n
    }
}

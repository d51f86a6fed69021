/// A/B comparison of two raw sample sets, in the manner of Firecracker's A/B
/// tests: a two-sided permutation test on the difference of medians. The
/// shuffles come from a seeded generator so that a comparison is reproducible.
public struct ABComparison: Sendable, Equatable {
    public let baselineMedian: Double
    public let currentMedian: Double
    /// (current - baseline) / baseline.
    public let relativeChange: Double
    /// Two-sided permutation p-value for "the medians differ".
    public let pValue: Double
    public let permutations: Int

    public init(baseline: [Double], current: [Double], permutations: Int = 4000, seed: UInt64 = 0x4C47_5045_5246) throws {
        guard !baseline.isEmpty else { throw StatsError.emptySeries("baseline samples") }
        guard !current.isEmpty else { throw StatsError.emptySeries("current samples") }
        guard permutations > 0 else { throw StatsError.invalidArgument("permutations must be positive") }
        let a = try Summary(baseline, name: "baseline samples").median
        let b = try Summary(current, name: "current samples").median
        baselineMedian = a
        currentMedian = b
        relativeChange = a == 0 ? (b == 0 ? 0 : .infinity) : (b - a) / a
        self.permutations = permutations
        let observed = abs(b - a)
        var pooled = baseline + current
        var rng = SplitMix64(seed: seed)
        var extreme = 0
        let n = baseline.count
        for _ in 0..<permutations {
            pooled.shuffle(using: &rng)
            let da = Self.median(pooled[0..<n])
            let db = Self.median(pooled[n...])
            // Small tolerance so that ties with the observed value count as extreme.
            if abs(db - da) >= observed - 1e-12 * Swift.max(1, observed) { extreme += 1 }
        }
        // (extreme + 1) / (permutations + 1): never exactly zero, as is standard.
        pValue = Double(extreme + 1) / Double(permutations + 1)
    }

    private static func median(_ slice: ArraySlice<Double>) -> Double {
        Percentile.of(sorted: slice.sorted(), 0.5)
    }

    /// A regression: significant at `alpha` and worse by more than `threshold`
    /// (relative), where "worse" is larger unless `higherIsBetter`.
    public func isRegression(threshold: Double, alpha: Double = 0.01, higherIsBetter: Bool = false) -> Bool {
        let worse = higherIsBetter ? -relativeChange : relativeChange
        return pValue < alpha && worse > threshold
    }
}

/// SplitMix64: a small, well-known seeded generator (Steele et al., 2014).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

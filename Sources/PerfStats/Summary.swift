/// Statistics over one measured series.
///
/// Conventions, used everywhere in the project:
/// - Percentiles use linear interpolation between closest ranks
///   (Hyndman & Fan type 7; numpy's default, Excel's PERCENTILE.INC):
///   for sorted x[0..n-1] and p in [0, 1], h = (n - 1) * p,
///   P = x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h]).
/// - `stdDev` is the *sample* standard deviation (divisor n - 1). It is `nil`
///   for n = 1, where it is undefined, rather than a made-up 0.
public enum StatsError: Error, Equatable, CustomStringConvertible {
    case emptySeries(String)
    case nonFinite(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .emptySeries(let what): return "no samples in \(what): an empty series has no statistics"
        case .nonFinite(let what): return "\(what) contains NaN or infinity"
        case .invalidArgument(let what): return what
        }
    }
}

public struct Summary: Sendable, Equatable, Codable {
    public let count: Int
    public let mean: Double
    public let median: Double
    public let p95: Double
    public let p99: Double
    public let min: Double
    public let max: Double
    /// Sample standard deviation (n - 1); nil when count == 1.
    public let stdDev: Double?

    public init(_ samples: [Double], name: String = "series") throws {
        guard !samples.isEmpty else { throw StatsError.emptySeries(name) }
        guard samples.allSatisfy({ $0.isFinite }) else { throw StatsError.nonFinite(name) }
        let sorted = samples.sorted()
        count = sorted.count
        let total = sorted.reduce(0, +)
        mean = total / Double(count)
        median = Percentile.of(sorted: sorted, 0.50)
        p95 = Percentile.of(sorted: sorted, 0.95)
        p99 = Percentile.of(sorted: sorted, 0.99)
        min = sorted[0]
        max = sorted[count - 1]
        if count > 1 {
            let m = mean
            let squares = sorted.reduce(0) { $0 + ($1 - m) * ($1 - m) }
            stdDev = (squares / Double(count - 1)).squareRoot()
        } else {
            stdDev = nil
        }
    }
}

public enum Percentile {
    /// Type-7 percentile of already sorted, non-empty data; p in [0, 1].
    public static func of(sorted: [Double], _ p: Double) -> Double {
        precondition(!sorted.isEmpty, "percentile of an empty series")
        precondition(p >= 0 && p <= 1, "percentile outside [0, 1]")
        let h = Double(sorted.count - 1) * p
        let lower = Int(h.rounded(.down))
        let upper = Swift.min(lower + 1, sorted.count - 1)
        let fraction = h - Double(lower)
        return sorted[lower] + fraction * (sorted[upper] - sorted[lower])
    }

    /// Type-7 percentile of unsorted data; throws on an empty series.
    public static func of(_ samples: [Double], _ p: Double) throws -> Double {
        guard !samples.isEmpty else { throw StatsError.emptySeries("percentile input") }
        guard p >= 0 && p <= 1 else { throw StatsError.invalidArgument("percentile \(p) outside [0, 1]") }
        return of(sorted: samples.sorted(), p)
    }
}

/// A measured series with its warm-up runs kept apart: warm-up samples are
/// recorded (so a reader can see them) but never enter the statistics.
public struct MeasuredSeries: Sendable, Equatable {
    public let warmup: [Double]
    public let samples: [Double]

    public init(warmup: [Double] = [], samples: [Double]) {
        self.warmup = warmup
        self.samples = samples
    }

    /// Splits a run in order: the first `warmupCount` observations are warm-up.
    public init(all: [Double], warmupCount: Int) throws {
        guard warmupCount >= 0 else { throw StatsError.invalidArgument("negative warm-up count") }
        let cut = Swift.min(warmupCount, all.count)
        warmup = Array(all.prefix(cut))
        samples = Array(all.dropFirst(cut))
    }

    public func summary(name: String = "series") throws -> Summary {
        try Summary(samples, name: name)
    }
}

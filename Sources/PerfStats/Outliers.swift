/// Tukey's fences: with quartiles Q1, Q3 (type-7) and IQR = Q3 - Q1, a value
/// outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] is a mild outlier, outside
/// [Q1 - 3 IQR, Q3 + 3 IQR] a severe one.
public struct OutlierReport: Sendable, Equatable, Codable {
    public let q1: Double
    public let q3: Double
    public let lowMild: Int
    public let lowSevere: Int
    public let highMild: Int
    public let highSevere: Int

    public var total: Int { lowMild + lowSevere + highMild + highSevere }

    public enum Class: String, Sendable, Equatable { case lowSevere, lowMild, normal, highMild, highSevere }

    public init(_ samples: [Double]) throws {
        guard !samples.isEmpty else { throw StatsError.emptySeries("outlier input") }
        let sorted = samples.sorted()
        q1 = Percentile.of(sorted: sorted, 0.25)
        q3 = Percentile.of(sorted: sorted, 0.75)
        var counts = [Class: Int]()
        for x in sorted { counts[Self.classify(x, q1: q1, q3: q3), default: 0] += 1 }
        lowMild = counts[.lowMild] ?? 0
        lowSevere = counts[.lowSevere] ?? 0
        highMild = counts[.highMild] ?? 0
        highSevere = counts[.highSevere] ?? 0
    }

    public static func classify(_ x: Double, q1: Double, q3: Double) -> Class {
        let iqr = q3 - q1
        if x < q1 - 3 * iqr { return .lowSevere }
        if x < q1 - 1.5 * iqr { return .lowMild }
        if x > q3 + 3 * iqr { return .highSevere }
        if x > q3 + 1.5 * iqr { return .highMild }
        return .normal
    }
}

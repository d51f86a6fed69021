/// An ordinary least-squares line y = intercept + slope * x, e.g. the total
/// memory of N sandboxes against N: the slope is what one more sandbox adds.
public struct LinearFit: Sendable, Equatable {
    public let slope: Double
    public let intercept: Double
    /// Coefficient of determination, 1 - SS_res / SS_tot; `nil` when every y
    /// is the same (SS_tot = 0, where it is undefined).
    public let rSquared: Double?
    public let count: Int

    /// Fits the points (x[i], y[i]). Needs at least two points with
    /// different x, all finite, and as many x as y.
    public init(x: [Double], y: [Double]) throws {
        guard x.count == y.count else {
            throw StatsError.invalidArgument("a line fit needs as many x as y (\(x.count) x, \(y.count) y)")
        }
        guard x.count >= 2 else { throw StatsError.invalidArgument("a line fit needs at least 2 points (got \(x.count))") }
        guard (x + y).allSatisfy(\.isFinite) else { throw StatsError.nonFinite("the points of a line fit") }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxx += (a - mx) * (a - mx); sxy += (a - mx) * (b - my); syy += (b - my) * (b - my)
        }
        guard sxx > 0 else { throw StatsError.invalidArgument("a line fit needs at least 2 different x values") }
        slope = sxy / sxx
        intercept = my - slope * mx
        var ssRes = 0.0
        for (a, b) in zip(x, y) { let r = b - (intercept + slope * a); ssRes += r * r }
        rSquared = syy > 0 ? 1 - ssRes / syy : nil
        count = x.count
    }

    public func predict(_ x: Double) -> Double { intercept + slope * x }
}

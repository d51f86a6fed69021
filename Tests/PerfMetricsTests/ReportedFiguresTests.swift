import Testing
import PerfStats
@testable import PerfMetrics

@Suite struct ReportedFiguresTests {
    func series(_ samples: [Double], metric: MetricKind = .spawn) throws -> MetricSeries {
        try MetricSeries(metric: metric, unit: "ms", description: "d", series: .init(samples: samples), judged: true)
    }

    @Test func percentilesAreShownOnlyFromTheirSampleCounts() throws {
        let ten = ReportedFigures(try series((1...10).map(Double.init)))
        #expect(ten.p95 == nil && ten.p99 == nil)
        #expect(ten.p95Text == "p95 n too small" && ten.p99Text == "p99 n too small")
        #expect(ten.p95Cell == "-" && ten.p99Cell == "-")
        let twenty = ReportedFigures(try series((1...20).map(Double.init)))
        #expect(twenty.p95 != nil && twenty.p99 == nil)
        #expect(twenty.p95Text.hasPrefix("p95 19.") && twenty.p95Text.hasSuffix(" ms"))
        let hundred = ReportedFigures(try series((1...100).map(Double.init)))
        #expect(hundred.p95 != nil && hundred.p99 != nil)
        #expect(hundred.headline.hasPrefix("median 50.5 ms [95% CI 40-61], p95 95.") && hundred.headline.hasSuffix(", p99 99.0 ms"))
        // The metrics file keeps the guide's fields whatever n is.
        #expect(abs(try series((1...10).map(Double.init)).p95 - 9.55) < 1e-9)
    }

    @Test func mediansCarryTheirOrderStatisticInterval() throws {
        let f = ReportedFigures(try series([1806, 1799, 1761, 1994, 1812, 1788, 1874, 1804, 1750, 1830]))
        let ci = try #require(f.medianInterval)
        #expect(ci.lowerRank == 2 && ci.upperRank == 9 && ci.lower == 1761 && ci.upper == 1874)
        #expect(f.medianText == "median 1805 ms [95% CI 1761-1874]")
        #expect(f.medianCell == "1805 ms [1761-1874]")
        #expect(f.headline == "median 1805 ms [95% CI 1761-1874], p95 n too small")
        let five = ReportedFigures(try series([1, 2, 3, 4, 5]))
        #expect(five.medianInterval == nil)
        #expect(five.medianText == "median 3 ms [95% CI: n too small]" && five.medianCell == "3 ms [-]")
    }

    @Test func clearOrUncertainAgainstATarget() throws {
        let spawn = Catalogue.target(for: .spawn)                       // < 200 ms
        // The whole interval above: a clear miss; below: a clear pass.
        #expect(ReportedFigures(try series([1806, 1799, 1761, 1994, 1812, 1788, 1874, 1804, 1750, 1830])).confidence(against: spawn) == .clear)
        #expect(ReportedFigures(try series((100...119).map(Double.init))).confidence(against: spawn) == .clear)
        // Straddling 200 ms: uncertain, whichever side the median is on.
        let straddle = ReportedFigures(try series((190...209).map(Double.init)))
        #expect(straddle.confidence(against: spawn) == .uncertain)
        #expect(ReportedFigures(try series([1, 2, 3])).confidence(against: spawn) == .noInterval)
        // Throughput targets are ">=": the same rule.
        let tp = Catalogue.target(for: .throughput)
        let ops = ReportedFigures(try MetricSeries(metric: .throughput, unit: "ops/min", description: "t",
                                                   series: .init(samples: (0..<10).map { 990 + Double($0) * 3 }), judged: true))
        #expect(ops.confidence(against: tp) == .uncertain)
        #expect(ops.confidence { $0 >= 900 } == .clear)
    }

    @Test func numbersKeepAboutThreeFigures() {
        #expect(ReportedFigures.value(1805.4, "ms") == "1805 ms")
        #expect(ReportedFigures.value(41.23, "ms") == "41.2 ms")
        #expect(ReportedFigures.value(1.234, "ms") == "1.23 ms")
        #expect(ReportedFigures.value(0.01234, "ms") == "0.0123 ms")
        #expect(ReportedFigures.value(0, "count") == "0 count")
        #expect(ReportedFigures.value(12, "") == "12")
        #expect(ReportedFigures.range(-5, -2) == "-5 to -2")
        #expect(ReportedFigures.range(990, 1120) == "990-1120")
    }
}

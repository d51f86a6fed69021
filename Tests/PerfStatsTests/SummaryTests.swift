import Testing
@testable import PerfStats

// Expected values computed by hand and checked with numpy
// (np.percentile(..., method="linear"), np.std(..., ddof=1)).
@Suite struct SummaryTests {
    func close(_ a: Double?, _ b: Double, _ tol: Double = 1e-9) -> Bool { a.map { abs($0 - b) <= tol } ?? false }

    @Test func fiveValues() throws {
        let s = try Summary([1, 2, 3, 4, 5])
        #expect(s.count == 5)
        #expect(s.mean == 3)
        #expect(s.median == 3)
        #expect(close(s.p95, 4.8))
        #expect(close(s.p99, 4.96))
        #expect(s.min == 1 && s.max == 5)
        #expect(close(s.stdDev, 1.5811388300841898))
    }

    @Test func unsortedInputGivesTheSameSummary() throws {
        #expect(try Summary([5, 1, 4, 2, 3]) == Summary([1, 2, 3, 4, 5]))
    }

    @Test func singleSampleHasNoStandardDeviation() throws {
        let s = try Summary([7])
        #expect(s.median == 7 && s.p95 == 7 && s.p99 == 7 && s.min == 7 && s.max == 7)
        #expect(s.stdDev == nil)
    }

    @Test func twoSamplesInterpolate() throws {
        let s = try Summary([3, 1])
        #expect(s.median == 2)
        #expect(close(s.p95, 2.9))
        #expect(close(s.p99, 2.98))
        #expect(close(s.stdDev, 1.4142135623730951))
    }

    @Test func tiesAreStable() throws {
        let s = try Summary([2, 2, 2, 2])
        #expect(s.median == 2 && s.p95 == 2 && s.stdDev == 0)
    }

    @Test func tenValuesMatchNumpy() throws {
        // np.percentile([12,15,11,19,14,13,18,16,17,100], [50,95,99]) -> 15.5, 63.55, 92.71
        let s = try Summary([12, 15, 11, 19, 14, 13, 18, 16, 17, 100])
        #expect(close(s.median, 15.5))
        #expect(close(s.p95, 63.55))
        #expect(close(s.p99, 92.71))
        #expect(close(s.stdDev, 27.003086243366084, 1e-9))
    }

    @Test func emptySeriesIsAnError() {
        #expect(throws: StatsError.self) { try Summary([]) }
        #expect(throws: StatsError.self) { try Percentile.of([Double](), 0.5) }
    }

    @Test func nonFiniteSamplesAreRejected() {
        #expect(throws: StatsError.self) { try Summary([1, .nan]) }
        #expect(throws: StatsError.self) { try Summary([1, .infinity]) }
    }

    @Test func warmupIsKeptApartFromTheStatistics() throws {
        let series = try MeasuredSeries(all: [900, 800, 10, 11, 12], warmupCount: 2)
        #expect(series.warmup == [900, 800])
        #expect(series.samples == [10, 11, 12])
        #expect(try series.summary().max == 12)
        // More warm-up than observations leaves nothing to summarise: an error, not zeros.
        let none = try MeasuredSeries(all: [1, 2], warmupCount: 5)
        #expect(throws: StatsError.self) { try none.summary() }
    }
}

@Suite struct OutlierTests {
    @Test func tukeyFences() throws {
        // q1 = 3.25, q3 = 7.75, IQR = 4.5: mild above 14.5, severe above 21.25.
        let r = try OutlierReport([1, 2, 3, 4, 5, 6, 7, 8, 9, 100])
        #expect(r.q1 == 3.25 && r.q3 == 7.75)
        #expect(r.highSevere == 1 && r.highMild == 0 && r.lowMild == 0 && r.lowSevere == 0)
        #expect(OutlierReport.classify(15, q1: 3.25, q3: 7.75) == .highMild)
        #expect(OutlierReport.classify(-4, q1: 3.25, q3: 7.75) == .lowMild)
        #expect(OutlierReport.classify(-11, q1: 3.25, q3: 7.75) == .lowSevere)
    }

    @Test func noOutliersInAnEvenSpread() throws {
        #expect(try OutlierReport([1, 2, 3, 4, 5]).total == 0)
    }
}

@Suite struct SignificanceTests {
    @Test func shiftedSeriesIsSignificant() throws {
        let base = (0..<40).map { 100 + Double($0 % 7) }
        let slow = base.map { $0 * 1.2 }
        let c = try ABComparison(baseline: base, current: slow)
        #expect(c.pValue < 0.01)
        #expect(abs(c.relativeChange - 0.2) < 0.01)
        #expect(c.isRegression(threshold: 0.10))
        #expect(!c.isRegression(threshold: 0.10, higherIsBetter: true))
    }

    @Test func sameDistributionIsNotSignificant() throws {
        let a = (0..<40).map { 100 + Double(($0 * 7) % 11) }
        let b = (0..<40).map { 100 + Double(($0 * 3) % 11) }
        let c = try ABComparison(baseline: a, current: b)
        #expect(c.pValue > 0.05)
        #expect(!c.isRegression(threshold: 0.10))
    }

    @Test func reproducibleWithTheSameSeed() throws {
        let a: [Double] = [1, 2, 3, 4, 5, 6], b: [Double] = [2, 3, 4, 5, 6, 7]
        #expect(try ABComparison(baseline: a, current: b).pValue == ABComparison(baseline: a, current: b).pValue)
    }

    @Test func emptyInputIsAnError() {
        #expect(throws: StatsError.self) { try ABComparison(baseline: [], current: [1]) }
    }
}

import Testing
@testable import PerfStats

// Expected ranks and coverages: the binomial (sign-test) interval for the
// median, computed exactly with Python's fractions (sum of C(n, k) / 2^n) and
// matching the published tables (Conover, Table A3; n = 10: x(2)..x(9);
// n = 100: x(40)..x(61)).
@Suite struct MedianIntervalTests {
    func close(_ a: Double, _ b: Double, _ tol: Double = 1e-9) -> Bool { abs(a - b) <= tol }

    @Test(arguments: [
        (6, 1, 6, 0.96875),
        (7, 1, 7, 0.984375),
        (10, 2, 9, 0.978515625),
        (20, 6, 15, 0.9586105346679688),
        (30, 10, 21, 0.9572260547429323),
        (50, 18, 33, 0.9671608624357315),
        (100, 40, 61, 0.9647997997822951),
        (1000, 469, 532, 0.9537088026395019),
    ])
    func knownRanks(n: Int, lower: Int, upper: Int, coverage: Double) throws {
        let r = try #require(try MedianInterval.ranks(count: n))
        #expect(r.lower == lower && r.upper == upper, "n=\(n)")
        #expect(close(r.coverage, coverage, 1e-9), "n=\(n): \(r.coverage)")
        #expect(r.coverage >= 0.95)
    }

    @Test func tooFewSamplesHaveNoInterval() throws {
        for n in 1...5 { #expect(try MedianInterval.ranks(count: n) == nil, "n=\(n)") }
        #expect(try MedianInterval.minimumCount() == 6)
        #expect(try MedianInterval.of([3, 1, 2, 5, 4]) == nil)
    }

    @Test func boundsAreTheOrderStatistics() throws {
        // 1...10 shuffled: ranks 2 and 9 are the values 2 and 9.
        let ci = try #require(try MedianInterval.of([7, 3, 10, 1, 9, 2, 8, 5, 4, 6]))
        #expect(ci.lower == 2 && ci.upper == 9)
        #expect(ci.lowerRank == 2 && ci.upperRank == 9 && ci.level == 0.95)
        #expect(ci.lower <= (try Summary([7, 3, 10, 1, 9, 2, 8, 5, 4, 6]).median))
    }

    @Test func otherLevels() throws {
        // 99 %: n = 10 gives x(1)..x(10) (coverage 1 - 2/1024). 90 %: n = 10 still x(2)..x(9)
        // (x(3)..x(8) would cover only 1 - 2 * 56/1024 = 89.1 %); n = 30 gives x(11)..x(20).
        let r99 = try #require(try MedianInterval.ranks(count: 10, level: 0.99))
        #expect(r99.lower == 1 && r99.upper == 10 && close(r99.coverage, 1 - 2.0 / 1024))
        let r90 = try #require(try MedianInterval.ranks(count: 10, level: 0.90))
        #expect(r90.lower == 2 && r90.upper == 9 && close(r90.coverage, 1 - 2 * 11.0 / 1024))
        let r90of30 = try #require(try MedianInterval.ranks(count: 30, level: 0.90))
        #expect(r90of30.lower == 11 && r90of30.upper == 20 && close(r90of30.coverage, 1 - 2 * 26504551.0 / 536870912))
    }

    @Test func largeSeriesDoNotUnderflow() throws {
        // 2^-5000 underflows a Double; the log-space sum must still find the ranks.
        // Normal approximation: n/2 -/+ 1.96 sqrt(n)/2 = 2500 -/+ 69.3.
        let r = try #require(try MedianInterval.ranks(count: 5000))
        #expect(abs(r.lower - 2431) <= 1 && r.upper == 5000 - r.lower + 1)
        #expect(r.coverage >= 0.95 && r.coverage < 0.96)
    }

    @Test func badInputIsAnError() {
        #expect(throws: StatsError.self) { try MedianInterval.of([]) }
        #expect(throws: StatsError.self) { try MedianInterval.of([1, .nan, 2, 3, 4, 5]) }
        #expect(throws: StatsError.self) { try MedianInterval.ranks(count: 10, level: 1) }
        #expect(throws: StatsError.self) { try MedianInterval.ranks(count: 0) }
    }
}

import Testing
@testable import PerfStats

// Expected values from numpy 2.4.6: np.polyfit(x, y, 1) and 1 - SS_res / SS_tot.
@Suite struct LinearFitTests {
    func close(_ a: Double, _ b: Double, _ tol: Double = 1e-9) -> Bool { abs(a - b) <= tol * max(1, abs(b)) }

    @Test func matchesNumpyPolyfit() throws {
        let f = try LinearFit(x: [1, 2, 5, 10, 20], y: [112.3, 221.9, 540.2, 1101.7, 2180.4])
        #expect(close(f.slope, 109.00787728026533), "\(f.slope)")
        #expect(close(f.intercept, 2.8401326699837366), "\(f.intercept)")
        #expect(close(try #require(f.rSquared), 0.9999497166141832), "\(String(describing: f.rSquared))")
        #expect(f.count == 5 && close(f.predict(3), 2.8401326699837366 + 3 * 109.00787728026533))
    }

    @Test func anExactLineAndAFlatOne() throws {
        let line = try LinearFit(x: [0, 1, 2], y: [3, 5, 7])
        #expect(close(line.slope, 2) && close(line.intercept, 3) && line.rSquared == 1)
        let flat = try LinearFit(x: [1, 2, 5], y: [4, 4, 4])
        #expect(flat.slope == 0 && flat.intercept == 4 && flat.rSquared == nil)
    }

    @Test func refusesWhatCannotBeFitted() {
        #expect(throws: StatsError.self) { try LinearFit(x: [1], y: [2]) }
        #expect(throws: StatsError.self) { try LinearFit(x: [1, 2], y: [2]) }
        #expect(throws: StatsError.self) { try LinearFit(x: [3, 3, 3], y: [1, 2, 3]) }
        #expect(throws: StatsError.self) { try LinearFit(x: [1, 2], y: [1, .nan]) }
    }
}

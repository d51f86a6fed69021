import Foundation
import PerfMetrics

/// How one catalogue benchmark ended in an `lgperf run`.
public struct BenchmarkOutcome: Sendable {
    public enum Status: Sendable, Equatable {
        case passed
        /// It ran, but a budget check on its numbers failed.
        case failed(String)
        /// It threw: no usable numbers.
        case error(String)
        /// It does not apply to this run (e.g. needs QEMU).
        case skipped(String)
    }

    public var id: String
    public var phase: Phase
    public var tags: [String]
    public var times: String
    public var startedAt: Date
    public var seconds: Double
    public var status: Status
    /// The metrics files it wrote.
    public var files: [LoadedMetrics]

    public init(id: String, phase: Phase, tags: [String], times: String, startedAt: Date, seconds: Double, status: Status,
                files: [LoadedMetrics]) {
        self.id = id; self.phase = phase; self.tags = tags; self.times = times; self.startedAt = startedAt
        self.seconds = seconds; self.status = status; self.files = files
    }
}

/// JUnit for an `lgperf run`: one testsuite per phase, one testcase per
/// benchmark (classname = phase, name = benchmark id), with the run's metrics
/// as properties.
public enum BenchmarkJUnit {
    public static func report(_ outcomes: [BenchmarkOutcome], name: String = "lgperf run") -> JUnitReport {
        let tests = outcomes.map { o -> TestResult in
            let outcome: TestResult.Outcome
            switch o.status {
            case .passed: outcome = .passed
            case .failed(let m): outcome = .failed(message: m, details: o.times)
            case .error(let m): outcome = .error(message: m, details: o.times)
            case .skipped(let m): outcome = .skipped(message: m)
            }
            let start = o.startedAt.timeIntervalSince1970
            return TestResult(id: o.id, module: o.phase.rawValue, classname: o.phase.rawValue, name: o.id, displayName: o.times,
                              tags: o.tags.sorted(), outcome: outcome, duration: o.seconds, startedAt: start,
                              endedAt: start + o.seconds, knownIssues: [], testCaseCount: nil)
        }
        let started = outcomes.map(\.startedAt).min()
        let duration = outcomes.map(\.seconds).reduce(0, +)
        let run = TestRun(tests: tests, startedAt: started, duration: duration, complete: true, orphanIssues: [], suiteCount: 0)
        return JUnitReport(run: run, metrics: outcomes.flatMap(\.files), name: name)
    }
}

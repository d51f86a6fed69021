import Foundation
import PerfMetrics
import PerfStats
import Testing
@testable import PerfReports

/// A runner that starts no VM: it records the order it was called in and
/// writes a metrics file like `lgperf run --benchmark baseline.spawn` would,
/// with spawn times drawn around each side's own median.
private final class FakeRunner: ABRunner, @unchecked Sendable {
    struct Call: Equatable { var step: ABStep; var benchmarks: [String]; var directory: URL }
    private let lock = NSLock()
    private var _calls: [Call] = []
    var calls: [Call] { lock.withLock { _calls } }

    let medians: [ABSide: Double]
    let perRun: Int
    /// Steps that write no metrics file (a benchmark that could not run).
    let silent: Set<String>
    /// Exit status per side (a missed budget exits 1 but still writes metrics).
    let exitStatus: [ABSide: Int32]

    init(a: Double, b: Double, perRun: Int = 5, silent: Set<String> = [], exitStatus: [ABSide: Int32] = [:]) {
        medians = [.a: a, .b: b]; self.perRun = perRun; self.silent = silent; self.exitStatus = exitStatus
    }

    func run(_ step: ABStep, benchmarks: [String], reportsDirectory: URL) async throws -> Int32 {
        let index: Int = lock.withLock {
            _calls.append(Call(step: step, benchmarks: benchmarks, directory: reportsDirectory))
            return _calls.count
        }
        if silent.contains("\(step.side.rawValue)\(step.round)") { return 1 }
        // Spread of +-5% around the median, different in every run.
        var rng = SplitMix64(seed: UInt64(index) &* 0x9E37_79B9)
        let center = medians[step.side]!
        let samples = (0..<perRun).map { _ in center * (0.95 + 0.1 * Double(rng.next() % 1000) / 1000) }
        let file = try Metrics.file(scope: "spawn", backend: "qemu", accelerator: "tcg", timestamp: .fixed(index),
                                    provenance: Metrics.mainJob("baseline.spawn"), series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: samples, description: "cold spawn to agent-ready"),
            .init(name: "guest_boot_ms", metric: .spawn, unit: "ms", samples: samples.map { $0 * 0.8 }, judged: false,
                  description: "kernel to init"),
        ])
        try file.write(into: reportsDirectory.appendingPathComponent("metrics", isDirectory: true))
        return exitStatus[step.side] ?? 0
    }
}

extension `Report generator` {
@Suite struct `A/B test on one host (lgperf ab)` {
    @Test func `runs are interleaved A B, B A, A B, ...`() {
        #expect(ABTest.schedule(rounds: 4).map(\.side.rawValue).joined() == "ABBAABBA")
        #expect(ABTest.schedule(rounds: 3).map(\.round) == [1, 1, 2, 2, 3, 3])
        #expect(ABTest.schedule(rounds: 1).map(\.side) == [.a, .b])
        #expect(ABTest.schedule(rounds: 0).isEmpty)
        // Each side once per round, and over two rounds once in each position.
        for r in 1...6 {
            let round = ABTest.schedule(rounds: 6).filter { $0.round == r }
            #expect(Set(round.map(\.side)) == [.a, .b] && round.count == 2)
        }
    }

    @Test func `the runner is called in schedule order, each run in its own reports directory`() async throws {
        let dir = try TempDir("ab-order")
        defer { dir.remove() }
        let runner = FakeRunner(a: 1000, b: 1000)
        let config = ABTest.Configuration(benchmarks: ["baseline.spawn", "baseline.memory"], rounds: 3, threshold: 0.1,
                                          workDirectory: dir.url)
        let outcome = await ABTest.run(config, runner: runner)
        #expect(runner.calls.map(\.step) == ABTest.schedule(rounds: 3))
        #expect(runner.calls.allSatisfy { $0.benchmarks == ["baseline.spawn", "baseline.memory"] })
        #expect(Set(runner.calls.map(\.directory.path)).count == 6)
        #expect(runner.calls.first?.directory.path.hasSuffix("A/round-1") == true)
        #expect(outcome.runs.map(\.step) == ABTest.schedule(rounds: 3))
        #expect(outcome.markdown.contains("A B | B A | A B"))
    }

    @Test func `a 30% slower B is a regression with its p-value, exit 1, and the table is written`() async throws {
        let dir = try TempDir("ab-slow")
        defer { dir.remove() }
        let config = ABTest.Configuration(benchmarks: ["baseline.spawn"], rounds: 3, threshold: 0.1,
                                          baselineLabel: "`main`", currentLabel: "`slow`", workDirectory: dir.url)
        let outcome = await ABTest.run(config, runner: FakeRunner(a: 1000, b: 1300))
        #expect(outcome.status == .regression && outcome.status.rawValue == 1)
        #expect(outcome.problem == nil)
        let row = try #require(outcome.rows.first { $0.key == "spawn/spawn_time_ms" })
        #expect(row.verdict == .regression)
        #expect(row.baselineCount == 15 && row.currentCount == 15, "samples pooled over 3 rounds of 5")
        #expect(row.ab.pValue < 0.01)
        #expect(abs(row.ab.relativeChange - 0.3) < 0.05)
        #expect(outcome.markdown.contains("| Series | A median | B median | Change | p-value | Verdict |"))
        #expect(outcome.markdown.contains("**REGRESSION**"))
        #expect(outcome.markdown.contains(Format.pValue(row.ab.pValue)))
        #expect(outcome.markdown.contains("**Result: 2 regressions**"))
        let table = try #require(outcome.table)
        #expect(try String(contentsOf: table, encoding: .utf8) == outcome.markdown)
        // The pooled files are what `lgperf compare` judges: same verdict.
        let a = try #require(outcome.pooled[.a]?.first), b = try #require(outcome.pooled[.b]?.first)
        #expect(try MetricsFile.read(from: a)["spawn_time_ms"]?.samples.count == 15)
        let direct = try RegressionCheck.compare(baseline: a, current: b, threshold: 0.1)
        #expect(direct.status == .regression)
        #expect(direct.rows.map(\.ab) == outcome.rows.map(\.ab))
    }

    @Test func `the same build on both sides is no regression, exit 0`() async throws {
        let dir = try TempDir("ab-same")
        defer { dir.remove() }
        let config = ABTest.Configuration(benchmarks: ["baseline.spawn"], rounds: 3, threshold: 0.1, workDirectory: dir.url)
        let outcome = await ABTest.run(config, runner: FakeRunner(a: 1000, b: 1000))
        #expect(outcome.status == .noRegression && outcome.status.rawValue == 0)
        #expect(outcome.regressions.isEmpty)
        #expect(outcome.markdown.contains("**Result: no regression** (exit 0)"))
    }

    @Test func `a faster B is an improvement, not a regression`() async throws {
        let dir = try TempDir("ab-fast")
        defer { dir.remove() }
        let config = ABTest.Configuration(benchmarks: ["baseline.spawn"], rounds: 2, threshold: 0.1, workDirectory: dir.url)
        let outcome = await ABTest.run(config, runner: FakeRunner(a: 1300, b: 1000))
        #expect(outcome.status == .noRegression)
        #expect(outcome.rows.first?.verdict == .improvement)
    }

    @Test func `a run that writes no metrics file makes it unusable, exit 2`() async throws {
        let dir = try TempDir("ab-unusable")
        defer { dir.remove() }
        let runner = FakeRunner(a: 1000, b: 1000, silent: ["B2"])
        let config = ABTest.Configuration(benchmarks: ["baseline.spawn"], rounds: 3, threshold: 0.1, workDirectory: dir.url)
        let outcome = await ABTest.run(config, runner: runner)
        #expect(outcome.status == .unusableInput && outcome.status.rawValue == 2)
        #expect(outcome.problem?.contains("round 2, B") == true)
        #expect(runner.calls.count == 3, "stops at the failed run (A1 B1 B2)")
        #expect(outcome.markdown.contains("**Unusable**"))
        let zero = await ABTest.run(ABTest.Configuration(benchmarks: ["baseline.spawn"], rounds: 0, threshold: 0.1, workDirectory: dir.url),
                                    runner: FakeRunner(a: 1, b: 1))
        #expect(zero.status == .unusableInput)
    }

    @Test func `a run that missed a budget still counts and is named`() async throws {
        let dir = try TempDir("ab-budget")
        defer { dir.remove() }
        let config = ABTest.Configuration(benchmarks: ["baseline.spawn"], rounds: 2, threshold: 0.1, workDirectory: dir.url)
        let outcome = await ABTest.run(config, runner: FakeRunner(a: 1000, b: 1000, exitStatus: [.b: 1]))
        #expect(outcome.status == .noRegression)
        #expect(outcome.markdown.contains("round 1 B (exit 1)"))
    }

    @Test func `each run is lgperf run --benchmark ID --quick --no-reports`() {
        #expect(LGPerfRunner.arguments(benchmarks: ["baseline.spawn"], quick: true)
                == ["run", "--benchmark", "baseline.spawn", "--quick", "--no-reports"])
        #expect(ABRevision(argument: "worktree") == .worktree)
        #expect(ABRevision(argument: "origin/main") == .ref("origin/main"))
    }
}
}

import ArgumentParser
import Foundation
import LGSettings
import PerfReports
import Scenarios

/// `lgperf ab`: the regression gate as an A/B test on one host. The work is in
/// PerfReports (`ABTest`, `ABBuilder`, `LGPerfRunner`).
struct ABCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ab",
        abstract: "A/B test two revisions on this host: build both, run them interleaved, judge the pooled samples.",
        discussion: """
        Hosts of one kind differ about 2x in speed, so numbers stored from another machine are no baseline. \
        This checks out --baseline (and --current, unless it is the working tree) as git worktrees under \
        --cache-dir (kept: an unchanged revision rebuilds in seconds), builds each in release, then runs \
        the benchmarks of both interleaved, A B | B A | A B ..., each run one \
        `lgperf run --benchmark ID... --quick --no-reports` of that side's build with its own \
        LUMINAGUARD_REPORTS_DIR (<reports>/ab/<stamp>/A/round-N, B/round-N). Each side's samples are pooled \
        over the rounds (pooled/A, pooled/B: metrics files `lgperf compare` reads) and judged as \
        `lgperf compare` judges: two-sided permutation test on the difference of medians (p < 0.01) and \
        the relative --threshold. ITERATIONS, WARMUP and the other settings apply to both sides alike.

        The markdown table (series, A median, B median, change, p-value, verdict) is printed and written to \
        --output (default <reports>/ab/<stamp>/ab.md).

        Exit codes: 0 no regression, 1 regression, 2 unusable (a revision that does not resolve or build, \
        a run that wrote no metrics file, no series in common), 64 invalid arguments or settings.
        """)

    @Option(name: .long, help: ArgumentHelp("Revision A: a git ref (branch, tag, commit).", valueName: "ref"))
    var baseline: String

    @Option(name: .long, help: ArgumentHelp("Revision B: a git ref, or `worktree` for the working tree as it is.", valueName: "ref"))
    var current: String = "worktree"

    @Option(name: .customLong("benchmark"), help: ArgumentHelp("A benchmark id (repeatable), e.g. baseline.spawn.", valueName: "id"))
    var benchmarks: [String] = []

    @Option(name: .long, help: "Rounds; each runs A and B once (A B, then B A, ...).")
    var rounds: Int = 3

    @Option(name: .long, help: "Relative change that counts as a regression when also significant (e.g. 10% or 0.1).")
    var threshold: ReportThresholdOption = ReportThresholdOption(argument: "10%")!

    @Option(name: .long, help: ArgumentHelp("Where to write the markdown table.", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Where the revisions are checked out and built (default: <LUMINAGUARD_CACHE_DIR>/ab).", valueName: "dir"))
    var cacheDir: String?

    @Option(name: .long, help: ArgumentHelp("The git repository (default: the one holding the current directory).", valueName: "dir"))
    var repository: String?

    func validate() throws {
        guard !benchmarks.isEmpty else { throw ValidationError("give at least one --benchmark ID (lgperf list shows them)") }
        guard rounds >= 1 && rounds <= 1000 else { throw ValidationError("--rounds must be from 1 to 1000") }
        for id in benchmarks {
            do { _ = try BenchmarkCatalogue.benchmark(id) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() async throws {
        let settings = try CommandSettings.load(quick: true)
        let stamp = Self.stamp()
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
        let work = URL(fileURLWithPath: settings.reportsDirectory, isDirectory: true, relativeTo: cwd).standardizedFileURL
            .appendingPathComponent("ab/\(stamp)", isDirectory: true)
        let cache = URL(fileURLWithPath: cacheDir ?? settings.cacheDirectory + "/ab", isDirectory: true)
        let progress: @Sendable (String) -> Void = { Console.progress($0) }
        func unusable(_ why: String) -> ExitCode {
            Console.error("unusable: \(why)")
            return ExitCode(ABTest.Status.unusableInput.rawValue)
        }
        // Both sides are built before anything runs; identical revisions
        // share one build.
        var builds: [ABSide: ABBuild] = [:]
        do {
            let repo = try ABBuilder.repositoryRoot(from: repository.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? cwd)
            let a = ABRevision(argument: baseline), b = ABRevision(argument: current)
            builds[.a] = try ABBuilder.prepare(a, repository: repo, cache: cache, log: work.appendingPathComponent("build-A.log"), progress: progress)
            if a == b {
                builds[.b] = builds[.a]
            } else {
                builds[.b] = try ABBuilder.prepare(b, repository: repo, cache: cache, log: work.appendingPathComponent("build-B.log"), progress: progress)
            }
            if let ca = builds[.a]?.commit, ca == builds[.b]?.commit, builds[.a] != builds[.b] {
                builds[.b] = builds[.a]
            }
        } catch {
            throw unusable("\(error)")
        }
        if builds[.a] == builds[.b] { progress("A and B are the same revision: one build runs on both sides (an A/A test)") }
        let runner = LGPerfRunner(builds: builds, environment: ProcessInfo.processInfo.environment)
        let config = ABTest.Configuration(
            benchmarks: benchmarks, rounds: rounds, threshold: threshold.fraction,
            baselineLabel: builds[.a]!.label,
            currentLabel: builds[.b]!.label + (builds[.a] == builds[.b] ? " (the same build as A: an A/A test)" : ""),
            workDirectory: work,
            output: output.map { URL(fileURLWithPath: $0) },
            runDescription: "lgperf " + LGPerfRunner.arguments(benchmarks: benchmarks, quick: true).joined(separator: " ")
                + " (ITERATIONS=\(settings.iterations), WARMUP=\(settings.warmup))")
        let outcome = await ABTest.run(config, runner: runner, progress: progress)
        print(outcome.markdown, terminator: "")
        if let t = outcome.table { Console.progress("table written to \(t.path)") }
        if let p = outcome.problem { Console.error("unusable: \(p)") }
        if outcome.status != .noRegression { throw ExitCode(outcome.status.rawValue) }
    }

    static func stamp() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd_HHmmss"
        return f.string(from: Date())
    }
}

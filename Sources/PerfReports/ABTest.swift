import Foundation
import PerfMetrics
import PerfStats

/// `lgperf ab`: an A/B test of two builds on one host, as Firecracker's A/B
/// tooling does it. Hosts of the same kind differ about 2x in speed, so a run
/// compared with numbers stored from another machine shows false regressions
/// (and hides real ones); here both revisions run on the same host, their runs
/// interleaved (A B | B A | A B ...) so that drift of the host (load, thermal,
/// other jobs) falls on both sides alike. Each side's samples are pooled over
/// the rounds and judged by `RegressionCheck` (permutation test plus relative
/// threshold), the same code as `lgperf compare`.
///
/// The building blocks are separate so that a test can drive the experiment
/// with fake runners: `ABTest.schedule` (the order), `ABRunner` (one run of
/// one side), `ABTest.run` (runs, pools, judges, renders).
public enum ABSide: String, Sendable, Equatable, CaseIterable, Codable {
    case a = "A"
    case b = "B"
}

/// One `lgperf run` of one side in one round.
public struct ABStep: Sendable, Equatable {
    public var round: Int
    public var side: ABSide
    public init(round: Int, side: ABSide) { self.round = round; self.side = side }
}

/// Runs the chosen benchmarks once for one side, writing its metrics files
/// under `reportsDirectory/metrics`. Returns the run's exit status (a run that
/// missed a budget exits 1 but its metrics still count; a run that wrote no
/// metrics file makes the experiment unusable).
public protocol ABRunner: Sendable {
    func run(_ step: ABStep, benchmarks: [String], reportsDirectory: URL) async throws -> Int32
}

public enum ABTest {
    /// Exit codes, as `lgperf compare`: 0 no regression, 1 regression, 2 unusable.
    public typealias Status = RegressionCheck.Status

    public struct Configuration: Sendable {
        /// Benchmark ids (`baseline.spawn`), all run in each `lgperf run`.
        public var benchmarks: [String]
        public var rounds: Int
        public var threshold: Double
        public var alpha: Double
        /// What A and B are, for the table ("main 99beb5fa0296").
        public var baselineLabel: String
        public var currentLabel: String
        /// Where each run's reports directory, the pooled files and the
        /// table go.
        public var workDirectory: URL
        /// The table's file (default: `workDirectory/ab.md`).
        public var output: URL?
        /// Shown in the table: how each run is started.
        public var runDescription: String

        public init(benchmarks: [String], rounds: Int, threshold: Double, alpha: Double = 0.01, baselineLabel: String = "baseline",
                    currentLabel: String = "current", workDirectory: URL, output: URL? = nil, runDescription: String = "") {
            self.benchmarks = benchmarks; self.rounds = rounds; self.threshold = threshold; self.alpha = alpha
            self.baselineLabel = baselineLabel; self.currentLabel = currentLabel; self.workDirectory = workDirectory
            self.output = output; self.runDescription = runDescription
        }

        public var outputURL: URL { output ?? workDirectory.appendingPathComponent("ab.md") }
    }

    /// One finished run.
    public struct RunRecord: Sendable {
        public var step: ABStep
        public var reportsDirectory: URL
        public var exitStatus: Int32
        public var metricsFiles: [URL]
        public var seconds: Double
    }

    public struct Outcome: Sendable {
        public var status: Status
        /// The markdown table and what it rests on (also written to `table`).
        public var markdown: String
        public var table: URL?
        public var runs: [RunRecord]
        /// One comparison per scope present on both sides, in benchmark order.
        public var results: [RegressionCheck.Result]
        /// Why the experiment is unusable (status 2), if it is.
        public var problem: String?
        public var pooled: [ABSide: [URL]]

        public var rows: [SeriesComparison] { results.flatMap(\.rows) }
        public var regressions: [SeriesComparison] { rows.filter { $0.verdict == .regression } }
    }

    /// The order of the runs: A B, then B A, then A B, ... (round r from 1
    /// starts with A when r is odd). Each side runs once per round and, over
    /// two rounds, once in each position, so a steady drift of the host
    /// cancels out instead of favouring one side.
    public static func schedule(rounds: Int) -> [ABStep] {
        guard rounds > 0 else { return [] }
        return (1...rounds).flatMap { r -> [ABStep] in
            r % 2 == 1 ? [ABStep(round: r, side: .a), ABStep(round: r, side: .b)]
                       : [ABStep(round: r, side: .b), ABStep(round: r, side: .a)]
        }
    }

    /// Runs the schedule, pools each side's samples per scope, judges every
    /// series with `RegressionCheck` and writes the markdown table.
    public static func run(_ config: Configuration, runner: some ABRunner,
                           progress: @Sendable (String) -> Void = { _ in }) async -> Outcome {
        var runs: [RunRecord] = []
        func unusable(_ why: String, pooled: [ABSide: [URL]] = [:]) -> Outcome {
            var md = header(config, runs: runs)
            md += "\n**Unusable**: \(why)\n"
            let table = try? write(md, to: config.outputURL)
            return Outcome(status: .unusableInput, markdown: md, table: table, runs: runs, results: [], problem: why, pooled: pooled)
        }
        guard config.rounds > 0 else { return unusable("--rounds must be at least 1") }
        guard !config.benchmarks.isEmpty else { return unusable("no benchmark chosen") }
        let steps = schedule(rounds: config.rounds)
        for (i, step) in steps.enumerated() {
            let dir = config.workDirectory.appendingPathComponent("\(step.side.rawValue)/round-\(step.round)", isDirectory: true)
            progress("(\(i + 1)/\(steps.count)) round \(step.round), \(step.side.rawValue) (\(step.side == .a ? config.baselineLabel : config.currentLabel)) -> \(dir.path)")
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                return unusable("cannot create \(dir.path): \(error.localizedDescription)")
            }
            let t0 = Date()
            let status: Int32
            do { status = try await runner.run(step, benchmarks: config.benchmarks, reportsDirectory: dir) } catch {
                return unusable("round \(step.round), \(step.side.rawValue): the run could not start: \(error)")
            }
            let files = metricsFiles(in: dir.appendingPathComponent("metrics", isDirectory: true))
            runs.append(RunRecord(step: step, reportsDirectory: dir, exitStatus: status, metricsFiles: files,
                                  seconds: Date().timeIntervalSince(t0)))
            progress("    exit \(status), \(files.count) metrics file\(files.count == 1 ? "" : "s") in \(String(format: "%.0f", Date().timeIntervalSince(t0))) s")
            if files.isEmpty {
                return unusable("round \(step.round), \(step.side.rawValue): the run exited \(status) and wrote no metrics file (see \(dir.path))")
            }
        }
        // Pool per side and scope.
        var pooled: [ABSide: [URL]] = [:]
        var pooledByScope: [ABSide: [String: URL]] = [:]
        var scopesBySide: [ABSide: [String]] = [:]
        for side in ABSide.allCases {
            let sideRuns = runs.filter { $0.step.side == side }
            var byScope: [String: [MetricsFile]] = [:]
            var order: [String] = []
            for r in sideRuns {
                var scopesHere: Set<String> = []
                for url in r.metricsFiles {
                    let f: MetricsFile
                    do { f = try MetricsFile.read(from: url) } catch { return unusable("\(error)") }
                    if byScope[f.scope] == nil { order.append(f.scope) }
                    byScope[f.scope, default: []].append(f)
                    scopesHere.insert(f.scope)
                }
                if let first = sideRuns.first, r.step != first.step {
                    let expected = Set(first.metricsFiles.compactMap { try? MetricsFile.read(from: $0).scope })
                    if scopesHere != expected {
                        return unusable("side \(side.rawValue): round \(r.step.round) wrote \(scopesHere.sorted()) but round \(first.step.round) wrote \(expected.sorted()): a benchmark failed in some rounds")
                    }
                }
            }
            scopesBySide[side] = order
            let dir = config.workDirectory.appendingPathComponent("pooled/\(side.rawValue)", isDirectory: true)
            for scope in order {
                do {
                    let url = try pool(byScope[scope]!).write(into: dir)
                    pooled[side, default: []].append(url)
                    pooledByScope[side, default: [:]][scope] = url
                } catch {
                    return unusable("cannot pool \(side.rawValue)'s \(scope) files: \(error)", pooled: pooled)
                }
            }
        }
        let scopesA = scopesBySide[.a] ?? [], scopesB = scopesBySide[.b] ?? []
        let common = scopesA.filter { scopesB.contains($0) }
        guard !common.isEmpty else {
            return unusable("no benchmark wrote the same scope on both sides (A: \(scopesA), B: \(scopesB))", pooled: pooled)
        }
        var results: [RegressionCheck.Result] = []
        for scope in common {
            guard let a = pooledByScope[.a]?[scope], let b = pooledByScope[.b]?[scope] else { continue }
            do {
                results.append(try RegressionCheck.compare(baseline: a, current: b, threshold: config.threshold, alpha: config.alpha))
            } catch {
                return unusable("\(scope): \(error)", pooled: pooled)
            }
        }
        var extra: [String] = []
        let onlyA = scopesA.filter { !common.contains($0) }, onlyB = scopesB.filter { !common.contains($0) }
        if !onlyA.isEmpty { extra.append("only in A (not compared): \(onlyA.joined(separator: ", "))") }
        if !onlyB.isEmpty { extra.append("only in B (not compared): \(onlyB.joined(separator: ", "))") }
        let md = render(config, runs: runs, results: results, notes: extra)
        let status: Status = results.contains { $0.status == .regression } ? .regression : .noRegression
        let table: URL?
        do { table = try write(md, to: config.outputURL) } catch {
            return Outcome(status: .unusableInput, markdown: md, table: nil, runs: runs, results: results,
                           problem: "cannot write \(config.outputURL.path): \(error.localizedDescription)", pooled: pooled)
        }
        return Outcome(status: status, markdown: md, table: table, runs: runs, results: results, problem: nil, pooled: pooled)
    }

    /// One metrics file holding every round's samples of one scope (the
    /// first round's file with its series rebuilt from the pooled samples by
    /// the project's own statistics), so that `lgperf compare` on the two
    /// pooled files gives the same verdicts as this table.
    static func pool(_ files: [MetricsFile]) throws -> MetricsFile {
        guard let first = files.first else { throw ReportError.unusableInput("nothing to pool") }
        var out = MetricsFile(timestamp: first.timestamp, scope: first.scope, phase: first.phase,
                              iterations: files.map(\.iterations).reduce(0, +), warmup: files.map(\.warmup).reduce(0, +),
                              labels: first.labels, host: first.host, tools: first.tools, commit: first.commit,
                              notes: first.notes + ["lgperf ab: \(files.count) runs pooled (samples in round order)"],
                              provenance: first.provenance)
        for (name, s) in first.series {
            let parts = files.compactMap { $0[name] }
            guard parts.count == files.count else {
                throw ReportError.unusableInput("series \(first.scope)/\(name) is missing from \(files.count - parts.count) of \(files.count) runs")
            }
            guard parts.allSatisfy({ $0.unit == s.unit && $0.metric == s.metric }) else {
                throw ReportError.unusableInput("series \(first.scope)/\(name) changes unit or metric between runs")
            }
            var merged = try MetricSeries(metric: s.metric, unit: s.unit, description: s.description,
                                          series: MeasuredSeries(warmup: parts.flatMap(\.warmupSamples), samples: parts.flatMap(\.samples)),
                                          judged: s.target != nil)
            merged.producedBy = s.producedBy
            out.add(name, merged)
        }
        return out
    }

    static func metricsFiles(in dir: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    static func write(_ text: String, to url: URL) throws -> URL {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
        return url
    }

    static func header(_ c: Configuration, runs: [RunRecord]) -> String {
        var md = "## lgperf ab: \(c.benchmarks.joined(separator: ", "))\n\n"
        md += "- **A** (baseline): \(c.baselineLabel)\n- **B** (current): \(c.currentLabel)\n"
        let order = schedule(rounds: c.rounds).map(\.side.rawValue)
        let shown = stride(from: 0, to: order.count, by: 2).map { order[$0..<Swift.min($0 + 2, order.count)].joined(separator: " ") }
        md += "- \(c.rounds) round\(c.rounds == 1 ? "" : "s") on this host, interleaved: \(shown.joined(separator: " | "))"
        if !c.runDescription.isEmpty { md += "; each run: `\(c.runDescription)`" }
        md += "\n"
        let bad = runs.filter { $0.exitStatus != 0 }
        if !bad.isEmpty {
            md += "- runs that exited non-zero (a missed budget; their samples still count): "
                + bad.map { "round \($0.step.round) \($0.step.side.rawValue) (exit \($0.exitStatus))" }.joined(separator: ", ") + "\n"
        }
        return md
    }

    /// The markdown table: series, A median, B median, change, p-value, verdict.
    static func render(_ c: Configuration, runs: [RunRecord], results: [RegressionCheck.Result], notes: [String]) -> String {
        var md = header(c, runs: runs)
        let shuffles = results.first?.rows.first?.ab.permutations ?? 0
        md += "- samples pooled per side over the rounds; a regression is a change worse than \(Format.percent(c.threshold, signed: false)) "
            + "with p < \(c.alpha) (two-sided permutation test on the difference of medians, \(shuffles) shuffles)\n\n"
        md += "| Series | A median | B median | Change | p-value | Verdict |\n|---|---:|---:|---:|---:|---|\n"
        for r in results {
            for row in r.rows {
                let series = "\(row.key) (n \(row.baselineCount)/\(row.currentCount)\(row.higherIsBetter ? ", higher is better" : ""))"
                let verdict = row.verdict == .regression ? "**REGRESSION**" : row.verdict.rawValue
                md += "| \(series) | \(Format.number(row.ab.baselineMedian)) \(row.unit) | \(Format.number(row.ab.currentMedian)) \(row.unit) | "
                    + "\(Format.percent(row.ab.relativeChange)) | \(Format.pValue(row.ab.pValue)) | \(verdict) |\n"
            }
        }
        md += "\n"
        let regressions = results.flatMap(\.regressions)
        md += regressions.isEmpty ? "**Result: no regression** (exit 0)\n"
            : "**Result: \(regressions.count) regression\(regressions.count == 1 ? "" : "s")**: \(regressions.map(\.key).joined(separator: ", ")) (exit 1)\n"
        let lines = notes + Array(Set(results.flatMap { $0.warnings })).sorted().map { "warning: \($0)" }
            + results.flatMap { r in r.onlyInBaseline.map { "only in A (not compared): \($0)" } + r.onlyInCurrent.map { "only in B (not compared): \($0)" } }
        if !lines.isEmpty { md += "\n" + lines.map { "- \($0)" }.joined(separator: "\n") + "\n" }
        return md
    }
}

// MARK: - Revisions: check out and build each side

/// A revision to test: a git ref (checked out as a worktree under the cache)
/// or the working tree as it is (uncommitted changes included).
public enum ABRevision: Sendable, Equatable {
    case worktree
    case ref(String)

    public init(argument: String) {
        self = argument == "worktree" ? .worktree : .ref(argument)
    }
}

/// A built side: where its sources are and its release `lgperf`.
public struct ABBuild: Sendable, Equatable {
    public var label: String
    public var sourceDirectory: URL
    public var binary: URL
    /// The commit, when the side is a committed revision.
    public var commit: String?
}

public enum ABBuilder {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Resolves `revision`, checks it out as a detached git worktree in
    /// `cache/<commit 12>` (kept between calls, so an unchanged revision
    /// rebuilds in seconds) and builds it in release (`swift build -c
    /// release`, its own `.build` inside). The working tree is built where it
    /// is, in the project's `.build`.
    public static func prepare(_ revision: ABRevision, repository: URL, cache: URL, log: URL,
                               progress: @Sendable (String) -> Void) throws -> ABBuild {
        let source: URL
        let label: String
        var commit: String?
        switch revision {
        case .worktree:
            source = repository
            let head = (try? git(["rev-parse", "HEAD"], in: repository).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"
            let dirty = ((try? git(["status", "--porcelain", "--untracked-files=no"], in: repository)) ?? "").isEmpty ? "" : ", with uncommitted changes"
            label = "working tree `\(repository.path)` (HEAD \(head.prefix(12))\(dirty))"
        case .ref(let ref):
            let sha: String
            do { sha = try git(["rev-parse", "--verify", "--quiet", ref + "^{commit}"], in: repository).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
                throw Failure("'\(ref)' is not a commit in \(repository.path) (git rev-parse: \(error)); fetch it first (CI: actions/checkout with fetch-depth: 0)")
            }
            commit = sha
            label = ref == sha || sha.hasPrefix(ref) ? "`\(sha.prefix(12))`" : "`\(ref)` (`\(sha.prefix(12))`)"
            source = cache.appendingPathComponent(String(sha.prefix(12)), isDirectory: true)
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            let head = try? git(["rev-parse", "HEAD"], in: source).trimmingCharacters(in: .whitespacesAndNewlines)
            if head != sha {
                // A directory restored from a CI cache holds the build but not
                // the worktree's git link: check out again, keep the build.
                let fm = FileManager.default
                let buildDir = source.appendingPathComponent(".build")
                let kept = cache.appendingPathComponent(".build-\(sha.prefix(12))-kept")
                try? fm.removeItem(at: kept)
                if fm.fileExists(atPath: source.path) {
                    progress("checking \(source.path) out again (not a worktree of \(sha.prefix(12)))")
                    if fm.fileExists(atPath: buildDir.path) { try? fm.moveItem(at: buildDir, to: kept) }
                    _ = try? git(["worktree", "remove", "--force", source.path], in: repository)
                    try? fm.removeItem(at: source)
                }
                _ = try? git(["worktree", "prune"], in: repository)
                progress("checking out \(sha.prefix(12)) in \(source.path)")
                do { _ = try git(["worktree", "add", "--detach", source.path, sha], in: repository) } catch {
                    throw Failure("git worktree add \(source.path) \(sha) failed: \(error)")
                }
                if fm.fileExists(atPath: kept.path) { try? fm.moveItem(at: kept, to: buildDir) }
            }
        }
        progress("building \(label) in release (log: \(log.path))")
        let status = try runLogged("/usr/bin/env", ["swift", "build", "-c", "release", "--product", "lgperf"], in: source, log: log)
        guard status == 0 else {
            throw Failure("swift build -c release failed in \(source.path) (exit \(status)); see \(log.path)")
        }
        let binary = source.appendingPathComponent(".build/release/lgperf")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw Failure("the build in \(source.path) left no \(binary.path)")
        }
        return ABBuild(label: label, sourceDirectory: source, binary: binary, commit: commit)
    }

    /// The repository's top level.
    public static func repositoryRoot(from dir: URL) throws -> URL {
        let top: String
        do { top = try git(["rev-parse", "--show-toplevel"], in: dir).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
            throw Failure("\(dir.path) is not in a git repository: \(error)")
        }
        return URL(fileURLWithPath: top, isDirectory: true)
    }

    @discardableResult
    static func git(_ args: [String], in dir: URL) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir.path] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let msg = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure("git \(args.joined(separator: " ")) exited \(p.terminationStatus)\(msg.isEmpty ? "" : ": \(msg)")")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs a program with its output appended to `log`; returns its exit status.
    static func runLogged(_ executable: String, _ args: [String], in dir: URL, log: URL,
                          environment: [String: String]? = nil) throws -> Int32 {
        try FileManager.default.createDirectory(at: log.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.currentDirectoryURL = dir
        if let environment { p.environment = environment }
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

/// The real runner: `lgperf run --benchmark ID... --quick --no-reports` of
/// each side's own build, from its own source directory (its Fixtures and
/// guest image script), with LUMINAGUARD_REPORTS_DIR set to the run's
/// directory. Other settings (ITERATIONS, WARMUP, LUMINAGUARD_*) are passed
/// through unchanged, so both sides run with the same ones.
public struct LGPerfRunner: ABRunner {
    public var builds: [ABSide: ABBuild]
    public var baseEnvironment: [String: String]
    public var quick: Bool

    public init(builds: [ABSide: ABBuild], environment: [String: String], quick: Bool = true) {
        self.builds = builds; self.baseEnvironment = environment; self.quick = quick
    }

    public static func arguments(benchmarks: [String], quick: Bool) -> [String] {
        ["run"] + benchmarks.flatMap { ["--benchmark", $0] } + (quick ? ["--quick"] : []) + ["--no-reports"]
    }

    public func run(_ step: ABStep, benchmarks: [String], reportsDirectory: URL) async throws -> Int32 {
        guard let build = builds[step.side] else { throw ABBuilder.Failure("no build for side \(step.side.rawValue)") }
        var env = baseEnvironment
        env["LUMINAGUARD_REPORTS_DIR"] = reportsDirectory.path
        env["LUMINAGUARD_ROOT"] = build.sourceDirectory.path
        env["LUMINAGUARD_LGPERF_BIN"] = build.binary.path
        if let commit = build.commit { env["GITHUB_SHA"] = commit }
        let log = reportsDirectory.appendingPathComponent("lgperf-run.log")
        let args = Self.arguments(benchmarks: benchmarks, quick: quick)
        let environment = env
        return try await Task.detached {
            try ABBuilder.runLogged(build.binary.path, args, in: build.sourceDirectory, log: log, environment: environment)
        }.value
    }
}

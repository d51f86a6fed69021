import ArgumentParser
import Foundation
import PerfMetrics
import PerfReports
import VMFixtures

#if canImport(Glibc)
import Glibc
#endif

/// Report commands' messages end in their own newline; Console writes them.
private func printError(_ text: String) {
    Console.line(String(text.hasSuffix("\n") ? text.dropLast() : Substring(text)))
}

private func fileURL(_ path: String) -> URL { URL(fileURLWithPath: path) }

/// `Fixtures/criteria/phase-criteria.json` in the project (LUMINAGUARD_ROOT or
/// the package root), like the other Fixtures files.
var defaultCriteriaPath: String { ProjectPaths.root + "/Fixtures/criteria/phase-criteria.json" }

struct ReportThresholdOption: ExpressibleByArgument {
    var fraction: Double
    init?(argument: String) {
        guard let v = try? parseThreshold(argument) else { return nil }
        fraction = v
    }
    var defaultValueDescription: String { Format.percent(fraction, signed: false) }
}

/// A phase on the command line (a wrapper rather than a retroactive
/// conformance of PerfMetrics' type).
struct ReportPhaseOption: ExpressibleByArgument {
    var phase: Phase
    init?(argument: String) {
        guard let p = Phase(rawValue: argument.lowercased()) else { return nil }
        phase = p
    }
    static var allValueStrings: [String] { Phase.allCases.map(\.rawValue) }
}

// MARK: - report

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Generate JUnit XML and weekly summaries.",
        discussion: """
        Outputs go under LUMINAGUARD_REPORTS_DIR (default: reports/): metrics/ is read, junit/ and summaries/ \
        are written. Every file is written atomically: a failed run leaves the previous file as it was.
        """,
        subcommands: [JUnitReportCommand.self, WeekReportCommand.self, ProgramReportCommand.self])
}

struct JUnitReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "junit",
        abstract: "JUnit XML from a Swift Testing event stream (plus metrics files).",
        discussion: """
        Input: the JSON Lines file written by
          swift test --event-stream-output-path FILE.jsonl --event-stream-version 0
        One <testcase> per test function (classname = its suite), with time, <failure>, <error> or <skipped> \
        and its message; tags go into the testcase's group attribute and the testsuite's properties. With \
        --metrics, the testsuite's properties also hold backend, accelerator, iterations and, per series, \
        median, p95, p99, target, grade and meets_target (newest metrics file per scope).

        The XML is validated with libxml2 against the project's schema (embedded; the same text as \
        Fixtures/schemas/junit-luminaguard.xsd) and against junit-10.xsd: --xsd PATH, or \
        ../shared/reference/junit-10.xsd relative to the package root when present. Invalid XML is an \
        error and is not written.

        Exit codes: 0 written, 1 error (unreadable or corrupt event stream, no test ran, invalid XML, \
        unusable metrics).
        """)

    @Option(name: .long, help: ArgumentHelp("The event stream (JSON Lines).", valueName: "file.jsonl"))
    var events: String

    @Option(name: .long, help: ArgumentHelp("A metrics file or a directory of them.", valueName: "dir"))
    var metrics: String?

    @Option(name: .long, help: "Only metrics files of this phase.")
    var phase: ReportPhaseOption?

    @Option(name: .long, help: ArgumentHelp("Where to write (default: <reports>/junit/<events name>.xml).", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("junit-10.xsd to validate against as well.", valueName: "path"))
    var xsd: String?

    @Option(name: .long, help: "The testsuites element's name.")
    var name: String = "lgperf"

    @Flag(name: .long, help: "Write a report even when no test ran.")
    var allowEmpty = false

    func run() async throws {
        let paths = ReportPaths.fromSettings()
        let eventsURL = fileURL(events)
        let out = output.map(fileURL)
            ?? paths.junit.appendingPathComponent(eventsURL.deletingPathExtension().lastPathComponent + ".xml")
        do {
            let o = try JUnitGenerator.generate(.init(events: eventsURL, metrics: metrics.map(fileURL), phase: phase?.phase, output: out,
                                                     referenceSchema: xsd.map(fileURL), allowEmpty: allowEmpty, name: name))
            let r = o.run
            print("wrote \(o.output.path): \(r.total) tests, \(r.failures) failures, \(r.errors) errors, \(r.skipped) skipped")
            print("validated against: \(o.validatedAgainst.joined(separator: ", "))")
            if !o.metricsUsed.isEmpty { print("metrics: \(o.metricsUsed.map(\.fileName).joined(separator: ", "))") }
            for n in o.notes { printError("note: \(n)\n") }
            for rej in o.rejectedMetrics { printError("warning: rejected metrics file \(rej)\n") }
            if !r.complete { printError("warning: the event stream has no runEnded record: the run was cut short\n") }
        } catch {
            printError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}

struct WeekReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "week",
        abstract: "Markdown summary of a phase: weekN-M_<phase>_summary.md (+ .json, .svg), its glance and trend charts.",
        discussion: """
        Phases: baseline (weeks 1-2), scale (3-4), exhaustion (5-6), chaos (7-8), recovery (9-10), \
        production (11-12). Uses the newest metrics file per scope for the phase, from the main job only: \
        test runs' files (provenance origin "test") are left out and counted unless --include-test-runs. \
        The summary has an executive summary, the test environment (with a warning for emulated or \
        process-backend numbers), the results table, the phase's acceptance criteria, a comparison with \
        the previous summary of the phase (permutation test on the raw samples kept in the .json beside \
        it) and the data files used.

        Status: the phase's own criteria (Fixtures/criteria/phase-criteria.json, or --criteria FILE) decide: \
        PASS only when every criterion is met, FAIL when one is missed, INCOMPLETE when one has no data \
        (its file or series is missing or empty), NO DATA with no samples at all; never a success without data.
        The production summary adds, beside its status, the pre-deployment go/no-go: GO only when every \
        phase's criteria on its latest run and the production phase's own are met (in the .json as go_no_go).

        Exit codes: 0 written (whatever the status; add --strict to exit 1 unless PASS), 1 error.
        """)

    @Option(name: .long, help: "The phase.")
    var phase: ReportPhaseOption

    @Option(name: .long, help: ArgumentHelp("Metrics directory (default: <reports>/metrics).", valueName: "dir"))
    var metrics: String?

    @Option(name: .long, help: ArgumentHelp("Output directory (default: <reports>/summaries).", valueName: "dir"))
    var outputDir: String?

    @Option(name: .long, help: ArgumentHelp("Summary data (.json) to compare with (default: the summary being replaced).", valueName: "file"))
    var previous: String?

    @Option(name: .long, help: "Relative change that counts as a regression when also significant.")
    var threshold: ReportThresholdOption = ReportThresholdOption(argument: "10%")!

    @Option(name: .long, help: ArgumentHelp("The phases' acceptance criteria (default: <project>/Fixtures/criteria/phase-criteria.json).", valueName: "file"))
    var criteria: String?

    @Flag(name: .long, help: "Use test runs' metrics files too (provenance origin \"test\").")
    var includeTestRuns = false

    @Flag(name: .long, help: "Exit 1 unless the status is PASS.")
    var strict = false

    func run() async throws {
        let paths = ReportPaths.fromSettings()
        do {
            let phase = self.phase.phase
            let o = try WeeklySummary.generate(.init(
                phase: phase, metrics: metrics.map(fileURL) ?? paths.metrics,
                outputDirectory: outputDir.map(fileURL) ?? paths.summaries, previous: previous.map(fileURL),
                threshold: threshold.fraction, criteria: fileURL(criteria ?? defaultCriteriaPath),
                includeTestRuns: includeTestRuns))
            print("wrote \(o.markdown.path) (status \(o.status.rawValue))")
            print("      \(o.glance.path)")
            print("      \(o.chart.path)")
            print("      \(o.trends.path)")
            print("      \(o.data.path)")
            print(o.filesUsed.isEmpty ? "no metrics files for phase \(phase.rawValue)" : "from: \(o.filesUsed.joined(separator: ", "))")
            if let c = o.comparedWith { print("compared with \(c)") }
            let met = o.criteria.filter { $0.status == .met }.count
            let missed = o.criteria.filter { $0.status == .missed }.count
            print("criteria: \(o.criteria.count) for \(phase.rawValue): \(met) met, \(missed) missed, \(o.criteria.count - met - missed) without data")
            if let g = o.goNoGo {
                print("pre-deployment go/no-go (every phase): \(g.verdict)")
                for r in g.reasons { print("  \(r)") }
            }
            if !o.excluded.isEmpty {
                print("left out \(o.excluded.count) test-run file\(o.excluded.count == 1 ? "" : "s") (provenance origin \"test\"; --include-test-runs to use them)")
            }
            for r in o.rejected { printError("warning: rejected metrics file \(r)\n") }
            _ = writeProgramSummary(o.markdown.deletingLastPathComponent())
            if strict && !o.status.isSuccess { throw ExitCode.failure }
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}

// MARK: - program

struct ProgramReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "program",
        abstract: "The 12-week program view: program_summary.md (+ .svg) from every phase's weekly summary.",
        discussion: """
        One row per phase of the guide's 12 weeks (baseline 1-2 ... production 11-12): its focus, the latest \
        status from its weekly summary's data (weekN-M_<phase>_summary.json), the run date, backend/accelerator \
        and host, the headline figures (each acceptance criterion's measured value and limit), the change \
        against the previous run of the phase (summaries/history/), and links to the weekly summary, its glance \
        chart and its trend chart. A phase never run shows "not run", never PASS. Runs are compared only when \
        they ran on the same host (hostname / CPU model) and backend/accelerator; otherwise the table says why not. \
        `lgperf run` refreshes it after writing the phase summaries.

        Exit codes: 0 written (whatever the statuses; --strict: 1 unless every phase PASSes), 1 error.
        """)

    @Option(name: .long, help: ArgumentHelp("Summaries directory, read and written (default: <reports>/summaries).", valueName: "dir"))
    var summaries: String?

    @Flag(name: .long, help: "Exit 1 unless every phase's status is PASS.")
    var strict = false

    func run() async throws {
        let dir = summaries.map(fileURL) ?? ReportPaths.fromSettings().summaries
        do {
            let o = try ProgramSummary.generate(summaries: dir)
            print("wrote \(o.markdown.path)")
            print("      \(o.chart.path)")
            for e in o.entries {
                print("  weeks \(e.phase.weeks) \(e.phase.rawValue): \(e.status)" + (e.problem.map { " (\($0))" } ?? ""))
            }
            if strict && !o.entries.allSatisfy({ $0.status == WeeklySummary.Status.pass.rawValue }) { throw ExitCode.failure }
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}

/// Refreshes the program view after phase summaries were written (`lgperf run`).
func writeProgramSummary(_ summaries: URL) -> Bool {
    do {
        let o = try ProgramSummary.generate(summaries: summaries)
        Console.progress("wrote \(o.markdown.path) (\(o.entries.filter { $0.status == WeeklySummary.Status.pass.rawValue }.count) of \(o.entries.count) phases PASS)")
        return true
    } catch {
        Console.error("program summary: \(error)")
        return false
    }
}

// MARK: - compare

struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two metrics files for regressions.",
        discussion: """
        For each metric series present in both inputs: a two-sided permutation test on the difference of \
        medians (p < 0.01) combined with a relative threshold, as Firecracker's A/B tests do. A series \
        regresses when the change is significant and worse than the threshold; throughput is \
        higher-is-better, every other metric lower-is-better. Inputs: metrics files, or weekly summaries \
        (week*_summary.md, read through the .json beside it).

        Exit codes:
          0  no regression
          1  at least one regression
          2  unusable input: unreadable, corrupt or empty file, series without samples, the same series \
        with different units or metrics, no series in common, a test run's metrics (provenance origin \
        "test") without --include-test-runs (or an --alert-webhook that is not http(s))
          64 invalid command line (from the argument parser)
        A regression whose alert could not be delivered still exits 1, with a warning on stderr.
        """)

    @Option(name: .long, help: ArgumentHelp("The reference run.", valueName: "file"))
    var baseline: String

    @Option(name: .long, help: ArgumentHelp("The run to check.", valueName: "file"))
    var current: String

    @Option(name: .long, help: "Relative change that counts (e.g. 10% or 0.1).")
    var threshold: ReportThresholdOption = ReportThresholdOption(argument: "10%")!

    @Option(name: .long, help: ArgumentHelp("POST a JSON alert here when a regression is found.", valueName: "url"))
    var alertWebhook: String?

    @Flag(name: .long, help: "Compare test runs' metrics too (provenance origin \"test\").")
    var includeTestRuns = false

    func run() async throws {
        var hook: URL?
        if let s = alertWebhook {
            guard let u = URL(string: s), let scheme = u.scheme, ["http", "https"].contains(scheme.lowercased()) else {
                printError("error: --alert-webhook '\(s)' is not an http(s) URL\n")
                throw ExitCode(2)
            }
            hook = u
        }
        let e = await RegressionCheck.execute(baseline: fileURL(baseline), current: fileURL(current),
                                              threshold: threshold.fraction, webhook: hook,
                                              selection: RunSelection(includeTestRuns: includeTestRuns))
        print(e.output, terminator: "")
        printError(e.errors)
        if e.status != .noRegression { throw ExitCode(e.status.rawValue) }
    }
}

// MARK: - trends

struct TrendsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trends",
        abstract: "Medians per metric over time.",
        discussion: """
        Reads every metrics file in DIR (default: <reports>/metrics) and prints, per series (kept apart by \
        backend and accelerator, build and mode: `spawn/spawn_time_ms [qemu/tcg release quick]`), the median \
        of each run oldest first with its spread (p95 - median and min..max), the change from the first and \
        the previous run, and DRIFT where a change is beyond the threshold. Test runs' files (provenance \
        origin "test") are left out, and counted, unless --include-test-runs.

        Exit codes: 0 printed, 2 no usable metrics file (or nothing matches --metric).
        """)

    @Argument(help: ArgumentHelp("Directory of metrics files.", valueName: "dir"))
    var directory: String?

    @Option(name: .long, help: "Only this series (spawn_time_ms), metric (spawn) or scope/series.")
    var metric: String?

    @Option(name: .long, help: "Only this phase.")
    var phase: ReportPhaseOption?

    @Option(name: .long, help: "Drift threshold relative to the first or previous run.")
    var threshold: ReportThresholdOption = ReportThresholdOption(argument: "10%")!

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @Flag(name: .long, help: "Use test runs' metrics files too (provenance origin \"test\").")
    var includeTestRuns = false

    func run() async throws {
        let dir = directory.map(fileURL) ?? ReportPaths.fromSettings().metrics
        let collection: MetricsCollection
        do { collection = try MetricsCollection.load(dir) } catch {
            printError("error: \(error)\n")
            throw ExitCode(2)
        }
        for r in collection.rejected { printError("warning: rejected \(r.url.lastPathComponent): \(r.reason)\n") }
        let selection = RunSelection(includeTestRuns: includeTestRuns)
        if let note = collection.selecting(selection).exclusionNote {
            printError("note: \(note); pass --include-test-runs to use them\n")
        }
        let series = Trends.compute(collection, metric: metric, phase: phase?.phase, threshold: threshold.fraction,
                                    selection: selection)
        guard !series.isEmpty else {
            printError("error: no series in \(dir.path)" + (metric.map { " matching '\($0)'" } ?? "") + "\n")
            throw ExitCode(2)
        }
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            e.dateEncodingStrategy = .iso8601
            print(String(decoding: try e.encode(series), as: UTF8.self))
        } else {
            print(Trends.render(series, threshold: threshold.fraction), terminator: "")
        }
    }
}

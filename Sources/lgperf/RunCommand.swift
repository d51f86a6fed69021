import ArgumentParser
import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfReports
import Scenarios
import VMFixtures

/// The main job's engine: runs catalogue benchmarks by phase, writes their
/// metrics files, a JUnit report and each phase's weekly summary, and prints
/// the results table.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run benchmarks of the catalogue by phase; write metrics, JUnit and weekly summaries.",
        discussion: """
        Phases: baseline (weeks 1-2, the default), scale (3-4), exhaustion (5-6), chaos (7-8), recovery (9-10), \
        production (11-12), or all. `lgperf list` shows every benchmark and what it times.
        Outputs under LUMINAGUARD_REPORTS_DIR (default ./reports): metrics/, junit/lgperf-run-<stamp>.xml, \
        summaries/weekN-M_<phase>_summary.{md,svg,json} (+ _glance.svg, trends_<phase>.svg) and program_summary.{md,svg}.
        Settings: every variable in the README's table (ITERATIONS, WARMUP, LUMINAGUARD_*); `lgperf list --settings` \
        shows their values. Exit codes: 0 every benchmark ran, met its budgets and its phase criteria (a guide target missed under emulation is reported as skipped, not failed), 1 otherwise, \
        64 bad arguments or settings.
        """)

    @Flag(help: "Quick mode: 10 iterations, 1 warm-up, quick phase sizes.")
    var quick = false

    @Option(name: .customLong("phase"), help: ArgumentHelp("A phase to run (repeatable), or all.", valueName: "phase"))
    var phases: [String] = []

    @Flag(help: "Run all six phases.")
    var all = false

    @Option(name: .customLong("benchmark"), help: ArgumentHelp("A benchmark id to run (repeatable), e.g. baseline.spawn.", valueName: "id"))
    var benchmarks: [String] = []

    @Option(help: "Backend: auto, qemu, firecracker or process (overrides LUMINAGUARD_BACKEND).")
    var backend: String?

    @Flag(help: "Write metrics files only (no JUnit, no weekly summaries).")
    var noReports = false

    @Option(help: "The production soak's duration in seconds (overrides LUMINAGUARD_SOAK_SECS; quick default 60, full 1800).")
    var duration: Double?

    func run() async throws {
        ProcessRegistry.shared.installSignalHandlers { sig in
            Console.line("\n[lgperf] interrupted (signal \(sig)): ending every VM started by this run")
        }
        var env = ProcessInfo.processInfo.environment
        if let backend { env["LUMINAGUARD_BACKEND"] = backend }
        // Validated with the other settings, so a bad value gets the same error.
        if let duration { env["LUMINAGUARD_SOAK_SECS"] = Settings.format(duration) }
        let settings: Settings
        do { settings = try Settings.load(environment: env, mode: quick ? .quick : .full) } catch { throw invalid(error) }
        Settings.install(settings)
        let selected: [Benchmark]
        do { selected = try selection() } catch { throw invalid(error) }
        let chosen = try BackendChoice.resolve(settings.backend, log: Console.line)
        Console.progress("backend \(chosen.kind.rawValue), accelerator \(chosen.accelerator.rawValue), \(Provenance.currentBuild) build, \(settings.mode.rawValue) mode: \(settings.iterations) iterations after \(settings.warmup) warm-up")
        if chosen.kind == .process {
            Console.progress("NOTE: process backend = simulation mode: no VM is started; numbers are labelled 'process'.")
        } else if chosen.accelerator == .tcg {
            Console.progress("NOTE: TCG = software emulation (no usable hardware KVM here); VM numbers are far slower than on KVM and are labelled 'tcg'.")
        }
        let context = BenchmarkContext(settings: settings, backend: chosen, origin: .benchmark, progress: { Console.line($0) })
        let runStart = Date()
        var outcomes: [BenchmarkOutcome] = []
        for (i, b) in selected.enumerated() {
            Console.progress("(\(i + 1)/\(selected.count)) \(b.id) [\(b.parameters(settings))]")
            outcomes.append(await Self.execute(b, context))
            if ProcessRegistry.shared.interruptSignal != nil { break }
        }
        if let sig = ProcessRegistry.shared.interruptSignal {
            ProcessRegistry.shared.killAll()
            Console.progress("interrupted: no reports written for this run")
            Glibc.exit(128 + sig)
        }
        let elapsed = Date().timeIntervalSince(runStart)
        let reports = ReportPaths(root: RunContext.reportsDirectory)
        var reportFailed = false
        if !noReports && !outcomes.isEmpty {
            reportFailed = !writeReports(outcomes, reports: reports, settings: settings)
        }
        let files = outcomes.flatMap(\.files).map(\.file)
        if !files.isEmpty {
            print(ResultsTable.render(files), terminator: "")
            for caveat in Set(files.compactMap(\.labels.caveat)).sorted() { print("Note: \(caveat).") }
        }
        print("")
        for o in outcomes { print("\(Self.statusWord(o.status))  \(o.id) (\(String(format: "%.1f", o.seconds)) s)\(Self.detail(o.status))") }
        print(String(format: "%d benchmarks in %.0f s: %d passed, %d failed, %d errors, %d skipped", outcomes.count, elapsed,
                     outcomes.filter { $0.status == .passed }.count,
                     outcomes.filter { if case .failed = $0.status { true } else { false } }.count,
                     outcomes.filter { if case .error = $0.status { true } else { false } }.count,
                     outcomes.filter { if case .skipped = $0.status { true } else { false } }.count))
        let bad = outcomes.contains { if case .failed = $0.status { true } else if case .error = $0.status { true } else { false } }
        if bad || reportFailed { throw ExitCode.failure }
    }

    /// The benchmarks asked for, in catalogue order.
    func selection() throws -> [Benchmark] {
        if !benchmarks.isEmpty {
            guard phases.isEmpty && !all else { throw ConfigError("give --benchmark or --phase/--all, not both") }
            return try benchmarks.map { try BenchmarkCatalogue.benchmark($0) }
        }
        var wanted: Set<Phase> = []
        if all { wanted = Set(Phase.allCases) }
        for p in phases {
            if p.lowercased() == "all" { wanted = Set(Phase.allCases); continue }
            guard let phase = Phase(rawValue: p.lowercased()) else {
                throw ConfigError("unknown phase '\(p)': expected \(Phase.allCases.map(\.rawValue).joined(separator: ", ")) or all")
            }
            wanted.insert(phase)
        }
        if wanted.isEmpty { wanted = [.baseline] }
        return BenchmarkCatalogue.all.filter { wanted.contains($0.phase) && $0.inPhaseRun }
    }

    /// Runs one benchmark: its files, then its budget checks.
    static func execute(_ b: Benchmark, _ context: BenchmarkContext) async -> BenchmarkOutcome {
        let started = Date()
        let t0 = Monotonic.nanos()
        func seconds() -> Double { Double(Monotonic.nanos() - t0) / 1e9 }
        do {
            let written = try await b.run(context)
            let loaded = written.map { LoadedMetrics(url: $0.url, file: $0.file) }
            var failures: [String] = []
            for w in written {
                var checks = b.budgeted ? try Budget.checks(for: w.file, backend: context.backend) : []
                if let ratio = w.file["harness_overhead_ratio"]?.median {
                    checks.append(try Budget.forBackend(context.backend).harnessOverheadCheck(ratio: ratio))
                }
                for check in checks {
                    Console.progress("[\(b.id)] budget \(check.ok ? "ok  " : "FAIL") \(check.text)")
                    if !check.ok { failures.append(check.text) }
                }
            }
            let left = Leftovers.vmms(runDirectory: nil)
            if !left.isEmpty {
                failures.append("VMM processes left running: \(left)")
                for p in left { kill(p, SIGKILL) }
            }
            let status: BenchmarkOutcome.Status = failures.isEmpty ? .passed : .failed(failures.joined(separator: "; "))
            return BenchmarkOutcome(id: b.id, phase: b.phase, tags: b.tags, times: b.times, startedAt: started, seconds: seconds(),
                                    status: status, files: loaded)
        } catch let skip as BenchmarkNotApplicable {
            Console.progress("[\(b.id)] skipped: \(skip)")
            return BenchmarkOutcome(id: b.id, phase: b.phase, tags: b.tags, times: b.times, startedAt: started, seconds: seconds(),
                                    status: .skipped(skip.description), files: [])
        } catch {
            Console.error("[\(b.id)] \(error)")
            return BenchmarkOutcome(id: b.id, phase: b.phase, tags: b.tags, times: b.times, startedAt: started, seconds: seconds(),
                                    status: .error("\(error)"), files: [])
        }
    }

    /// JUnit for the whole run and the weekly summary of each phase run.
    func writeReports(_ outcomes: [BenchmarkOutcome], reports: ReportPaths, settings: Settings) -> Bool {
        var ok = true
        let stamp = Self.stamp(Date())
        let junit = reports.junit.appendingPathComponent("lgperf-run-\(stamp).xml")
        // The JUnit judges each phase's criteria too; an unusable criteria file
        // fails the run (the weekly summaries below say why as well).
        var criteria: PhaseCriteria?
        do { criteria = try PhaseCriteria.load(from: URL(fileURLWithPath: defaultCriteriaPath)) } catch {
            Console.error("JUnit report: \(error); criteria not judged")
            ok = false
        }
        var phaseBenchmarks: [Phase: [String]] = [:]
        for b in BenchmarkCatalogue.all where b.inPhaseRun { phaseBenchmarks[b.phase, default: []].append(b.id) }
        do {
            let report = BenchmarkJUnit.report(outcomes, criteria: criteria, phaseBenchmarks: phaseBenchmarks)
            let (validated, notes) = try JUnitGenerator.validateAndWrite(report, to: junit)
            let r = report.run
            Console.progress("wrote \(junit.path) (validated against \(validated.count) schemas): \(r.total) testcases, \(r.failures) failures, \(r.errors) errors, \(r.skipped) skipped")
            for n in notes { Console.note(n) }
            // The JUnit is the gate: a criterion missed (a guide target missed
            // under emulation is skipped there, not failed) fails the run.
            if r.failures + r.errors > 0 {
                for t in r.tests {
                    switch t.outcome {
                    case .failed(let m, _), .error(let m, _): Console.progress("FAILED \(t.classname): \(m.split(separator: "\n").first ?? "")")
                    default: break
                    }
                }
                ok = false
            }
        } catch {
            Console.error("JUnit report: \(error)")
            ok = false
        }
        var phases: [Phase] = []
        for o in outcomes where !phases.contains(o.phase) { phases.append(o.phase) }
        for phase in phases {
            do {
                let o = try WeeklySummary.generate(.init(phase: phase, metrics: reports.metrics, outputDirectory: reports.summaries,
                                                         criteria: URL(fileURLWithPath: defaultCriteriaPath)))
                let met = o.criteria.filter { $0.status == .met }.count
                Console.progress("wrote \(o.markdown.path) (status \(o.status.rawValue): \(met) of \(o.criteria.count) criteria met)")
                for c in o.criteria where c.status != .met {
                    Console.progress("  \(phase.rawValue) criterion \(c.id): \(c.status.rawValue), measured \(c.measured.map { String(format: "%.4g", $0) } ?? "-") (limit \(c.limitText))")
                }
                if let g = o.goNoGo {
                    Console.progress("pre-deployment go/no-go: \(g.verdict)" + (g.reasons.isEmpty ? "" : " (\(g.reasons.count) reason\(g.reasons.count == 1 ? "" : "s"))"))
                    for r in g.reasons.prefix(12) { Console.progress("  \(r)") }
                }
            } catch {
                Console.error("weekly summary for \(phase.rawValue): \(error)")
                ok = false
            }
        }
        if !writeProgramSummary(reports.summaries) { ok = false }
        return ok
    }

    static func stamp(_ d: Date) -> String { UTCTime.format(d, "yyyyMMdd_HHmmss") }

    static func statusWord(_ s: BenchmarkOutcome.Status) -> String {
        switch s { case .passed: "PASS "; case .failed: "FAIL "; case .error: "ERROR"; case .skipped: "SKIP " }
    }

    static func detail(_ s: BenchmarkOutcome.Status) -> String {
        switch s { case .passed: ""; case .failed(let m), .error(let m), .skipped(let m): ": " + m.split(separator: "\n").prefix(2).joined(separator: " ") }
    }
}

/// `lgperf list`: the catalogue (and, with --settings, every setting).
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List every benchmark: id, phase, tags, what it times.")

    @Flag(help: "Also list every setting (environment variable) with its value and what it accepts.")
    var settings = false

    @Flag(help: "Quick-mode values for the parameters.")
    var quick = false

    func run() throws {
        let s: Settings
        do { s = try Settings.load(mode: quick ? .quick : .full) } catch { throw invalid(error) }
        for phase in Phase.allCases {
            print("\(phase.rawValue) (weeks \(phase.weeks): \(phase.focus))")
            for b in BenchmarkCatalogue.all where b.phase == phase {
                print("  \(b.id)\(b.inPhaseRun ? "" : " (on request: --benchmark \(b.id))")")
                print("      tags:   \(b.tags.joined(separator: ", "))")
                print("      times:  \(b.times)")
                print("      params: \(b.parameters(s))")
            }
        }
        if settings {
            print("\nsettings (\(s.mode.rawValue) mode):")
            let env = ProcessInfo.processInfo.environment
            for v in Settings.variables {
                let value = env[v.name].map { "= \($0)" } ?? "(default \(v.defaultText))"
                print("  \(v.name) \(value)  [\(v.accepts)] \(v.meaning)")
            }
        }
    }
}

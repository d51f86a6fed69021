import Foundation
import PerfReports
import Testing
import HostProbes
import LGSettings
import PerfMetrics
import Scenarios
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Shared set-up for the validation suites: they select a benchmark from the
/// catalogue, run it as `lgperf run` would (quick sizes; ITERATIONS and the
/// other settings apply), and assert on the files it wrote.
enum Fixture {
    /// The settings of a test run: quick mode, validated once.
    static func settings() throws -> Settings {
        let s = try Settings.load(mode: .quick)
        Settings.install(s)
        return s
    }

    /// The backend the suites measure: the best one here (QEMU under TCG on a
    /// host without hardware KVM). With LUMINAGUARD_REQUIRE_VM=1 (set by
    /// scripts/test.sh wherever QEMU is installed) falling back to the
    /// process backend is a failure, not a silent downgrade.
    static func backend() throws -> any VMBackend {
        let s = try settings()
        let b = try BackendChoice.resolve(s.backend, log: { print($0) })
        if s.requireVM && b.kind == .process {
            throw VMError("LUMINAGUARD_REQUIRE_VM=1 but only the process backend is available")
        }
        if var q = b as? QEMUBackend { q.runDirectory = runDirectory; return q }
        if b.kind == .process { return try processBackend() }
        return b
    }

    static func processBackend() throws -> ProcessBackend {
        try ProcessBackend(runDirectory: runDirectory)
    }

    /// The validation suites' own run directory: their VMs' sockets and
    /// workspaces live here, which tells their processes from those of other
    /// suites running in the same `swift test` process.
    static let runDirectory: String = {
        let path = "/tmp/lgval-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    static func context(backend: (any VMBackend)? = nil, settings: Settings? = nil) throws -> BenchmarkContext {
        BenchmarkContext(settings: try settings ?? self.settings(), backend: try backend ?? self.backend(), origin: .test,
                         runDirectory: runDirectory, progress: { print($0) })
    }

    /// Runs catalogue benchmark `id`; its files go to reports/test-runs/metrics.
    static func run(_ id: String, backend: (any VMBackend)? = nil, settings: Settings? = nil) async throws -> [WrittenMetrics] {
        let files = try await BenchmarkCatalogue.benchmark(id).run(try context(backend: backend, settings: settings))
        expectNoVMLeft()
        return files
    }

    /// The one file of a benchmark that writes one.
    static func runOne(_ id: String, backend: (any VMBackend)? = nil, settings: Settings? = nil) async throws -> MetricsFile {
        let files = try await run(id, backend: backend, settings: settings)
        try #require(files.count == 1, "\(id) wrote \(files.count) files")
        return files[0].file
    }

    /// The project's criteria for `phase`, judged on the files a benchmark wrote.
    static func criteria(_ phase: Phase, _ written: [WrittenMetrics]) throws -> [CriterionResult] {
        let criteria = try PhaseCriteria.load(from: URL(fileURLWithPath: ProjectPaths.root + "/Fixtures/criteria/phase-criteria.json"))
        let scopes = Set(written.map(\.file.scope))
        return PhaseCriteria.evaluate(criteria.criteria(for: phase).filter { scopes.contains($0.scope) },
                                      files: written.map { LoadedMetrics(url: $0.url, file: $0.file) })
    }

    /// Fails the test if any VM started by the suites is still running.
    static func expectNoVMLeft(sourceLocation: SourceLocation = #_sourceLocation) {
        let left = Leftovers.vmms(runDirectory: runDirectory)
        #expect(left.isEmpty, "VMM processes left running: \(left)", sourceLocation: sourceLocation)
        for p in left { kill(p, SIGKILL) }
    }

    /// Every budget check of a file holds (each failing one's text in the message).
    static func expectWithinBudget(_ file: MetricsFile, _ backend: any VMBackend, sourceLocation: SourceLocation = #_sourceLocation) throws {
        expectWithinBudget(try Budget.checks(for: file, backend: backend), sourceLocation: sourceLocation)
    }

    /// The single value of a count series (errors, refusals, leftovers).
    static func count(_ file: MetricsFile, _ name: String) throws -> Int {
        let s = try #require(file[name], "\(file.scope) has no \(name)")
        try #require(s.count == 1)
        return Int(s.samples[0])
    }
}

extension Fixture {
    /// Logs every budget check and fails the test with the text of each one
    /// that failed (an empty list fails too: nothing judged is not a pass).
    static func expectWithinBudget(_ checks: [BudgetCheck], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!checks.isEmpty, "no budget check applied", sourceLocation: sourceLocation)
        for c in checks { print("budget: \(c)") }
        let failed = checks.filter { !$0.ok }
        #expect(failed.isEmpty, "over budget: \(failed.map(\.text).joined(separator: "; "))", sourceLocation: sourceLocation)
    }
}

/// Every validation suite nests in this one, so that no two measuring tests
/// run at once (`.serialized` covers sub-suites), however `swift test` is called.
@Suite(.serialized) struct Validation {}

import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import ToolCalls
import VMFixtures

/// Who runs a benchmark: the main job (`lgperf run`, release) or a test run
/// (`swift test`, usually debug). Their files go to different folders.
public enum RunOrigin: String, Sendable { case benchmark, test }

/// What a benchmark runs with: the validated settings, the backend, where its
/// VMs live and where its files go. Built once by the caller (CLI or test).
public struct BenchmarkContext: Sendable {
    public var settings: Settings
    public var backend: any VMBackend
    public var origin: RunOrigin
    /// The caller's private folder for VM sockets (tests: per process), or
    /// nil for the settings' LUMINAGUARD_RUN_DIR.
    public var runDirectory: String?
    public var metricsDirectory: URL
    /// The command line recorded in every file's provenance.
    public var command: String
    public var progress: @Sendable (String) -> Void

    public init(settings: Settings, backend: any VMBackend, origin: RunOrigin, runDirectory: String? = nil,
                metricsDirectory: URL? = nil, command: String = CommandLine.arguments.joined(separator: " "),
                progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.settings = settings; self.backend = backend; self.origin = origin; self.runDirectory = runDirectory
        self.metricsDirectory = metricsDirectory
            ?? (origin == .test ? RunContext.testRunMetricsDirectory : RunContext.metricsDirectory)
        self.command = command; self.progress = progress
    }

    public func config(_ phase: Phase) -> RunConfig { RunConfig(settings, phase: phase) }

    /// The backend as QEMU, for benchmarks that need QEMU's own controls
    /// (virtio-net, QMP, snapshots).
    public func qemu(for what: String) throws -> QEMUBackend {
        guard let q = backend as? QEMUBackend else {
            throw BenchmarkNotApplicable("\(what) needs the QEMU backend (this run uses \(backend.kind.rawValue))")
        }
        return q
    }

    /// The process backend in this run's folder (agents as local processes).
    public func processBackend() throws -> ProcessBackend { try ProcessBackend(runDirectory: runDirectory) }

    /// An empty metrics file labelled for `backend` (the run's by default).
    public func newFile(scope: String, phase: Phase, backend: (any VMBackend)? = nil, iterations: Int, warmup: Int,
                        loadBefore: Double?, notes: [String]) -> MetricsFile {
        RunContext.newFile(scope: scope, phase: phase, backend: backend ?? self.backend, iterations: iterations,
                           warmup: warmup, loadBefore: loadBefore, notes: notes)
    }
}

/// A benchmark that does not apply to this run (e.g. needs QEMU): skipped
/// with the reason, never counted as a pass.
public struct BenchmarkNotApplicable: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// One benchmark, defined once: the tests and `lgperf run` both run it.
public struct Benchmark: Sendable {
    /// `<phase>.<name>`, e.g. `baseline.spawn`.
    public let id: String
    public let phase: Phase
    /// Swift Testing tags of the suite that runs it (metric and phase tags).
    public let tags: [String]
    /// Exactly what is timed: its start and end points.
    public let times: String
    /// The settings it uses, with their values.
    public let parameters: @Sendable (Settings) -> String
    /// False for benchmarks of the harness itself (run on request only).
    public let inPhaseRun: Bool
    /// Its files are judged against Fixtures/budgets (`Budget.checks`).
    public let budgeted: Bool
    let body: @Sendable (BenchmarkContext) async throws -> [MetricsFile]

    public init(id: String, phase: Phase, tags: [String], times: String, inPhaseRun: Bool = true, budgeted: Bool = false,
                parameters: @escaping @Sendable (Settings) -> String,
                body: @escaping @Sendable (BenchmarkContext) async throws -> [MetricsFile]) {
        self.id = id; self.phase = phase; self.tags = tags; self.times = times; self.inPhaseRun = inPhaseRun
        self.budgeted = budgeted; self.parameters = parameters; self.body = body
    }

    /// Runs it and writes its files (provenance stamped, atomically, never
    /// over an existing file); returns them as read back through the
    /// validating reader.
    public func run(_ context: BenchmarkContext) async throws -> [WrittenMetrics] {
        context.progress("[\(id)] \(times)")
        let files = try await body(context)
        guard !files.isEmpty else { throw ConfigError("\(id) produced no metrics file") }
        var out: [WrittenMetrics] = []
        for var f in files {
            f.provenance = Provenance(build: Provenance.currentBuild, benchmark: id, mode: context.settings.mode.rawValue,
                                      command: context.command, origin: context.origin.rawValue)
            if context.origin == .test && context.settings.thrownErrorBacktraces {
                f.notes.append("Measured in a Swift Testing process that captured a backtrace for every thrown Swift error (SWT_SWIFT_ERROR_BACKTRACING_ENABLED was not 0): code that throws on its normal path, such as the MCP SDK's JSON decoding, ran 2-3x slower than it does elsewhere.")
            }
            while FileManager.default.fileExists(atPath: context.metricsDirectory.appendingPathComponent(f.fileName).path) {
                f.timestamp = f.timestamp.addingTimeInterval(1)
            }
            let url = try f.write(into: context.metricsDirectory)
            context.progress("[\(id)] wrote \(url.path)")
            out.append(WrittenMetrics(url: url, file: try MetricsFile.read(from: url)))
        }
        return out
    }
}

/// A metrics file as written and read back.
public struct WrittenMetrics: Sendable {
    public var url: URL
    public var file: MetricsFile
    public subscript(name: String) -> MetricSeries? { file[name] }
}

/// Every benchmark of the guide's six phases, in run order.
public enum BenchmarkCatalogue {
    public static let all: [Benchmark] = BaselineBenchmarks.all + ScaleBenchmarks.all + ExhaustionBenchmarks.all
        + ChaosBenchmarks.all + RecoveryBenchmarks.all + ProductionBenchmarks.all + [QEMUJailBenchmarks.cost]

    public static func benchmark(_ id: String) throws -> Benchmark {
        guard let b = all.first(where: { $0.id == id }) else {
            throw ConfigError("unknown benchmark '\(id)': expected one of \(all.map(\.id).joined(separator: ", ")) (lgperf list)")
        }
        return b
    }

    /// The benchmarks a phase run executes.
    public static func phase(_ p: Phase) -> [Benchmark] { all.filter { $0.phase == p && $0.inPhaseRun } }
}

/// Helpers the benchmark definitions share.
enum Measure {
    static func ms(since t0: UInt64) -> Double { Double(Monotonic.nanos() - t0) / 1e6 }

    /// A one-sample series holding a count (errors, refusals, leftovers).
    static func count(_ value: Int, _ metric: MetricKind, _ description: String) throws -> MetricSeries {
        try MetricSeries(metric: metric, unit: "count", description: description, series: .init(samples: [Double(value)]), judged: false)
    }

    static func iterationsText(_ s: Settings) -> String { "ITERATIONS=\(s.iterations), WARMUP=\(s.warmup)" }
}

/// VMM or agent processes this process started that are still running:
/// descendants whose command line names `runDirectory` (every descendant
/// VMM when nil).
public enum Leftovers {
    public static func vmms(runDirectory: String?) -> [Int32] {
        ProcProbes.descendants(of: getpid()).filter { pid in
            let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            if let dir = runDirectory { return cmd.contains(dir + "/") }
            return cmd.contains("qemu-system") || cmd.contains("lg-guest-agent") || cmd.contains("firecracker")
        }
    }
}

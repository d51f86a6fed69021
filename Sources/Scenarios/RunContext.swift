import Foundation
import LGSettings
import HostProbes
import PerfMetrics
import VMFixtures

/// How many runs a benchmark measures: ITERATIONS and WARMUP from the
/// settings, and whether the run is quick.
public struct RunConfig: Sendable, Equatable {
    public var iterations: Int
    public var warmup: Int
    public var quick: Bool
    public var phase: Phase

    public init(iterations: Int, warmup: Int, quick: Bool = false, phase: Phase = .baseline) {
        self.iterations = iterations; self.warmup = warmup; self.quick = quick; self.phase = phase
    }

    public init(_ settings: Settings, phase: Phase) {
        self.init(iterations: settings.iterations, warmup: settings.warmup, quick: settings.mode == .quick, phase: phase)
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Facts recorded next to every number: host, tool versions, commit, load.
public enum RunContext {
    public static func labels(for backend: any VMBackend) -> RunLabels {
        RunLabels(backend: backend.kind.rawValue, accelerator: backend.accelerator.rawValue)
    }

    public static func host(loadBefore: Double?) -> HostDescription {
        let f = HostFacts.collect()
        return HostDescription(hostname: f.hostname, cpuModel: f.cpuModel, cores: f.cores, kernel: f.kernel,
                               memoryTotalMB: f.memoryTotalMB, loadAverageBefore: loadBefore,
                               loadAverageAfter: ProcProbes.loadAverage1())
    }

    nonisolated(unsafe) private static var toolCache: [String: String]?
    private static let lock = NSLock()

    /// Versions of what produced the numbers (computed once per process).
    public static func tools(for backend: any VMBackend) -> [String: String] {
        lock.lock()
        if toolCache == nil {
            var t: [String: String] = ["lgperf": "0.1.0"]
            if let v = firstLine(of: "qemu-system-x86_64", ["--version"]) { t["qemu"] = v }
            if let v = firstLine(of: "swift", ["--version"]) { t["swift"] = v }
            toolCache = t
        }
        var t = toolCache!
        lock.unlock()
        t["backend"] = backend.kind.rawValue
        if let q = backend as? QEMUBackend { t["guest_image"] = q.image.key }
        return t
    }

    /// The commit measured: GITHUB_SHA, else the checkout's HEAD (with
    /// "-dirty" when it has uncommitted changes), else "unknown".
    public static var commit: String { commitOnce }

    private static let commitOnce: String = {
        if let sha = Settings.shared.commitOverride { return sha }
        guard let head = firstLine(of: "git", ["-C", ProjectPaths.root, "rev-parse", "HEAD"]) else { return "unknown" }
        let dirty = firstLine(of: "git", ["-C", ProjectPaths.root, "status", "--porcelain", "--untracked-files=no"]) != nil
        return dirty ? head + "-dirty" : head
    }()

    static func firstLine(of tool: String, _ args: [String]) -> String? {
        guard let path = ChildProcess.which(tool) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init)
    }

    /// reports/ (or LUMINAGUARD_REPORTS_DIR).
    public static var reportsDirectory: URL {
        URL(fileURLWithPath: Settings.shared.reportsDirectory, isDirectory: true).standardizedFileURL
    }

    /// Where the main job's metrics go: reports/metrics.
    public static var metricsDirectory: URL { reportsDirectory.appendingPathComponent("metrics") }

    /// Where test runs' metrics go, apart from the main job's, so that
    /// summaries, trends and comparisons never mix debug test numbers with
    /// release benchmark numbers: reports/test-runs/metrics.
    public static var testRunMetricsDirectory: URL { reportsDirectory.appendingPathComponent("test-runs/metrics") }
}

extension RunContext {
    /// An empty metrics file labelled for `backend`, to add series to.
    public static func newFile(scope: String, phase: Phase, backend: any VMBackend, iterations: Int, warmup: Int,
                               loadBefore: Double?, notes: [String]) -> MetricsFile {
        var f = MetricsFile(scope: scope, phase: phase, iterations: iterations, warmup: warmup,
                            labels: labels(for: backend), host: host(loadBefore: loadBefore),
                            tools: tools(for: backend), commit: commit, notes: notes)
        if let caveat = f.labels.caveat { f.notes.append("Caveat: \(caveat).") }
        return f
    }
}

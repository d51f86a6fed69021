import Foundation
import PerfStats

/// Where a number came from. Every metrics file and every printed figure
/// carries this, so an emulated or process-backend number is never read as a
/// hardware-KVM one.
public struct RunLabels: Codable, Sendable, Equatable {
    /// `qemu`, `firecracker` or `process`; `host` for a series measured on
    /// the host with no sandbox at all (see ``MetricSeries/producedBy``).
    public var backend: String
    /// `kvm`, `tcg` or `none`.
    public var accelerator: String

    public init(backend: String, accelerator: String) {
        self.backend = backend
        self.accelerator = accelerator
    }

    /// True when the figures do not come from a hardware-accelerated VM.
    public var isEmulatedOrSimulated: Bool { accelerator != "kvm" }

    /// A measurement taken on the host alone, with no sandbox.
    public static let hostOnly = RunLabels(backend: "host", accelerator: "none")

    public var caveat: String? {
        if backend == "process" { return "process backend: no VM, the guest agent ran as a local process" }
        if accelerator == "tcg" { return "emulated, TCG: no hardware virtualisation" }
        return nil
    }
}

/// What produced a metrics file: which build, benchmark, mode and command,
/// and whether it was the main job or a test run. Readers that summarise a
/// directory (weekly summaries, trends, compare) use only the main job's
/// files by default, so a debug test number never stands beside a release one.
public struct Provenance: Codable, Sendable, Equatable {
    /// `release` or `debug`.
    public var build: String
    /// The catalogue id of the benchmark, e.g. `baseline.spawn`.
    public var benchmark: String
    /// `quick` or `full`.
    public var mode: String
    /// The command line that produced the file.
    public var command: String
    /// `benchmark` (the main job, `lgperf run`) or `test` (a test run).
    public var origin: String

    public static let builds = ["release", "debug"]
    public static let modes = ["quick", "full"]
    public static let origins = [benchmarkOrigin, testOrigin]
    public static let benchmarkOrigin = "benchmark"
    public static let testOrigin = "test"

    public init(build: String = Provenance.currentBuild, benchmark: String, mode: String, command: String, origin: String) {
        self.build = build; self.benchmark = benchmark; self.mode = mode; self.command = command; self.origin = origin
    }

    /// The build configuration of this binary: `debug` or `release`.
    public static var currentBuild: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// True for a file written by a test run rather than the main job.
    public var isTestRun: Bool { origin == Self.testOrigin }

    /// What is wrong with these values, if anything (nil when valid).
    public var problem: String? {
        if !Self.builds.contains(build) { return "provenance.build '\(build)' is not one of \(Self.builds.joined(separator: ", "))" }
        if benchmark.isEmpty { return "provenance.benchmark is empty" }
        if !Self.modes.contains(mode) { return "provenance.mode '\(mode)' is not one of \(Self.modes.joined(separator: ", "))" }
        if command.isEmpty { return "provenance.command is empty" }
        if !Self.origins.contains(origin) { return "provenance.origin '\(origin)' is not one of \(Self.origins.joined(separator: ", "))" }
        return nil
    }

    /// `release quick benchmark`: for labels and tables.
    public var text: String { "\(build) \(mode) \(origin)" }
}

public struct HostDescription: Codable, Sendable, Equatable {
    public var hostname: String
    public var cpuModel: String
    public var cores: Int
    public var kernel: String
    public var memoryTotalMB: Double
    public var loadAverageBefore: Double?
    public var loadAverageAfter: Double?

    public init(hostname: String, cpuModel: String, cores: Int, kernel: String, memoryTotalMB: Double,
                loadAverageBefore: Double? = nil, loadAverageAfter: Double? = nil) {
        self.hostname = hostname; self.cpuModel = cpuModel; self.cores = cores; self.kernel = kernel
        self.memoryTotalMB = memoryTotalMB; self.loadAverageBefore = loadAverageBefore; self.loadAverageAfter = loadAverageAfter
    }

    enum CodingKeys: String, CodingKey {
        case hostname, cores, kernel
        case cpuModel = "cpu_model", memoryTotalMB = "memory_total_mb"
        case loadAverageBefore = "load_average_before", loadAverageAfter = "load_average_after"
    }
}

/// One measured series in a metrics file: the guide's statistics plus what a
/// reader needs to trust them.
public struct MetricSeries: Codable, Sendable, Equatable {
    public var metric: MetricKind
    public var unit: String
    public var description: String
    public var count: Int
    public var mean: Double
    public var median: Double
    public var p95: Double
    public var p99: Double
    public var min: Double
    public var max: Double
    public var stdDev: Double?
    public var samples: [Double]
    public var warmupSamples: [Double]
    /// Set for series judged against the guide's target ("< 200 ms").
    public var target: String?
    public var meetsTarget: Bool?
    public var grade: Grade?
    public var outliers: OutlierReport?
    /// Set only on a series that did not come from the file's sandbox (e.g.
    /// a host-only MCP round trip in a file labelled qemu/tcg); nil means
    /// the file's labels apply. Written as the series' own `backend` and
    /// `accelerator` fields.
    public var producedBy: RunLabels?

    enum CodingKeys: String, CodingKey {
        case metric, unit, description, count, mean, median, p95, p99, min, max, samples, target, grade, outliers
        case backend, accelerator
        case stdDev = "std_dev", warmupSamples = "warmup_samples", meetsTarget = "meets_target"
    }

    /// Builds a series from real samples. `judged` series are compared with the
    /// metric's target and graded; others are context (e.g. guest boot time).
    public init(metric: MetricKind, unit: String, description: String, series: MeasuredSeries, judged: Bool) throws {
        let s = try series.summary(name: description)
        self.metric = metric
        self.unit = unit
        self.description = description
        count = s.count; mean = s.mean; median = s.median; p95 = s.p95; p99 = s.p99
        min = s.min; max = s.max; stdDev = s.stdDev
        samples = series.samples
        warmupSamples = series.warmup
        outliers = try OutlierReport(series.samples)
        if judged {
            let t = Catalogue.target(for: metric)
            guard t.unit == unit else {
                throw MetricsFileError.invalid(file: "(new series)", problem: "\(description) is in \(unit) but the \(metric.rawValue) target is in \(t.unit)")
            }
            target = t.text
            meetsTarget = t.meets(median: s.median)
            grade = Catalogue.bands(for: metric).map { $0.grade(median: s.median, p95: s.p95) }
        }
    }

    /// This series, labelled as produced by something other than the file's
    /// sandbox.
    public func produced(by labels: RunLabels) -> MetricSeries {
        var s = self
        s.producedBy = labels
        return s
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metric = try c.decode(MetricKind.self, forKey: .metric)
        unit = try c.decode(String.self, forKey: .unit)
        description = try c.decode(String.self, forKey: .description)
        count = try c.decode(Int.self, forKey: .count)
        mean = try c.decode(Double.self, forKey: .mean)
        median = try c.decode(Double.self, forKey: .median)
        p95 = try c.decode(Double.self, forKey: .p95)
        p99 = try c.decode(Double.self, forKey: .p99)
        min = try c.decode(Double.self, forKey: .min)
        max = try c.decode(Double.self, forKey: .max)
        stdDev = try c.decodeIfPresent(Double.self, forKey: .stdDev)
        samples = try c.decode([Double].self, forKey: .samples)
        warmupSamples = try c.decode([Double].self, forKey: .warmupSamples)
        target = try c.decodeIfPresent(String.self, forKey: .target)
        meetsTarget = try c.decodeIfPresent(Bool.self, forKey: .meetsTarget)
        grade = try c.decodeIfPresent(Grade.self, forKey: .grade)
        outliers = try c.decodeIfPresent(OutlierReport.self, forKey: .outliers)
        switch (try c.decodeIfPresent(String.self, forKey: .backend), try c.decodeIfPresent(String.self, forKey: .accelerator)) {
        case (nil, nil): producedBy = nil
        case let (b?, a?): producedBy = RunLabels(backend: b, accelerator: a)
        default:
            throw DecodingError.dataCorruptedError(forKey: .backend, in: c, debugDescription: "a series' own labels need both backend and accelerator")
        }
    }
}

public enum MetricsFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, problem: String)
    case invalid(file: String, problem: String)

    public var description: String {
        switch self {
        case .unreadable(let f, let p): return "cannot read metrics file \(f): \(p)"
        case .invalid(let f, let p): return "metrics file \(f) is not valid: \(p)"
        }
    }
}

/// A metrics file in the guide's format: `timestamp`, `iterations`, one
/// object per metric (`spawn_time_ms`, `memory_mb`, ...), `meets_target`,
/// plus labels, host, tool versions and commit.
public struct MetricsFile: Sendable, Equatable {
    public static let formatVersion = 1

    public var timestamp: Date
    public var scope: String
    public var phase: Phase
    public var iterations: Int
    public var warmup: Int
    public var labels: RunLabels
    public var host: HostDescription
    public var tools: [String: String]
    public var commit: String
    public var notes: [String]
    /// What produced the file; nil in files written before it was recorded.
    public var provenance: Provenance?
    /// Series in insertion order; keys are the JSON field names.
    public private(set) var series: [(name: String, value: MetricSeries)]

    public static func == (a: MetricsFile, b: MetricsFile) -> Bool {
        a.timestamp == b.timestamp && a.scope == b.scope && a.phase == b.phase && a.iterations == b.iterations
            && a.warmup == b.warmup && a.labels == b.labels && a.host == b.host && a.tools == b.tools
            && a.commit == b.commit && a.notes == b.notes && a.provenance == b.provenance
            && a.series.map(\.name) == b.series.map(\.name) && a.series.map(\.value) == b.series.map(\.value)
    }

    public init(timestamp: Date = Date(), scope: String, phase: Phase, iterations: Int, warmup: Int,
                labels: RunLabels, host: HostDescription, tools: [String: String], commit: String, notes: [String] = [],
                provenance: Provenance? = nil) {
        self.timestamp = timestamp; self.scope = scope; self.phase = phase; self.iterations = iterations
        self.warmup = warmup; self.labels = labels; self.host = host; self.tools = tools; self.commit = commit
        self.notes = notes; self.provenance = provenance; self.series = []
    }

    public mutating func add(_ name: String, _ value: MetricSeries) {
        series.removeAll { $0.name == name }
        series.append((name, value))
    }

    public subscript(name: String) -> MetricSeries? { series.first { $0.name == name }?.value }

    /// True only when at least one judged series exists and every judged
    /// series meets its target. No samples, no pass.
    public var meetsTarget: Bool {
        let judged = series.compactMap { $0.value.meetsTarget }
        return !judged.isEmpty && judged.allSatisfy { $0 }
    }

    /// `<scope>_<phase>_YYYYMMDD_HHMMSS.json`, the guide's naming pattern.
    /// The labels of one of this file's series: its own where it has them.
    public func labels(of series: MetricSeries) -> RunLabels { series.producedBy ?? labels }

    public var fileName: String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: timestamp)
        func two(_ v: Int?) -> String { let v = v ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        return "\(scope)_\(phase.rawValue)_\(c.year!)\(two(c.month))\(two(c.day))_\(two(c.hour))\(two(c.minute))\(two(c.second)).json"
    }
}

extension MetricSeries {
    /// The guide's fields first, in its order; `std_dev` is written as null
    /// (not left out) when it is undefined.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(median, forKey: .median)
        try c.encode(p95, forKey: .p95)
        try c.encode(p99, forKey: .p99)
        try c.encode(min, forKey: .min)
        try c.encode(max, forKey: .max)
        try c.encode(stdDev, forKey: .stdDev)
        try c.encode(mean, forKey: .mean)
        try c.encode(count, forKey: .count)
        try c.encode(unit, forKey: .unit)
        try c.encode(metric, forKey: .metric)
        try c.encode(description, forKey: .description)
        try c.encode(target, forKey: .target)
        try c.encode(meetsTarget, forKey: .meetsTarget)
        try c.encode(grade, forKey: .grade)
        try c.encodeIfPresent(outliers, forKey: .outliers)
        try c.encode(samples, forKey: .samples)
        try c.encode(warmupSamples, forKey: .warmupSamples)
        try c.encodeIfPresent(producedBy?.backend, forKey: .backend)
        try c.encodeIfPresent(producedBy?.accelerator, forKey: .accelerator)
    }
}

/// Dates written in UTC with a fixed pattern (file names, chart labels).
public enum UTCTime {
    public static func format(_ date: Date, _ pattern: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = pattern
        return f.string(from: date)
    }
}

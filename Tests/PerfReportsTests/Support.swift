import Foundation
import PerfMetrics
import PerfStats
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import PerfReports

/// Every suite of this module runs inside this one, one test at a time: some
/// tests time real workloads and compare the timings, and the speed test
/// loads both cores; run side by side they would measure each other.
@Suite(.serialized) struct `Report generator` {}

/// Fixture files shipped with the tests (declared as a resource).
enum Fixture {
    static var root: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }
    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// The package root, from this file's location.
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// junit-10.xsd: the shared reference when present, and the copy shipped
    /// with the tests always.
    static var junit10Schemas: [URL] {
        var urls = [url("junit-10.xsd")]
        let shared = packageRoot.appendingPathComponent("../shared/reference/junit-10.xsd").standardizedFileURL
        if FileManager.default.fileExists(atPath: shared.path) { urls.append(shared) }
        return urls
    }
}

/// A directory under the system's temporary directory, removed by `remove()`.
struct TempDir {
    let url: URL
    init(_ label: String = "perfreports") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> URL { url.appendingPathComponent(name) }
}

/// Real measurements for test inputs.
enum Workload {
    /// Milliseconds of a closure, on the monotonic clock.
    static func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        let d = clock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// Milliseconds of CPU time this thread spent in a closure
    /// (CLOCK_THREAD_CPUTIME_ID). For a CPU-bound workload this is the
    /// measurement to compare: unlike wall time it does not grow when other
    /// processes take the core away (the machine is shared), so a 20% change
    /// in work shows as about 20%, not as noise.
    static func cpuMilliseconds(_ body: () throws -> Void) rethrows -> Double {
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
        try body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
        return Double(b.tv_sec - a.tv_sec) * 1000 + Double(b.tv_nsec - a.tv_nsec) / 1e6
    }

    /// A CPU-bound loop the optimiser cannot remove (the result is returned
    /// and checked by the caller).
    @inline(never)
    static func spin(_ iterations: Int) -> UInt64 {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in 0..<iterations { x = (x ^ UInt64(truncatingIfNeeded: i)) &* 0xBF58_476D_1CE4_E5B9; x ^= x >> 29 }
        return x
    }

    /// Iterations of `spin` that take about `ms` milliseconds here.
    static func calibrate(ms: Double) -> Int {
        var n = 20_000
        var sink: UInt64 = 0
        while true {
            let t = cpuMilliseconds { sink &+= spin(n) }
            if t >= 2 || n > 50_000_000 {
                // The first timings include start-up costs: use the median of a few more.
                let more = (0..<5).map { _ in cpuMilliseconds { sink &+= spin(n) } }.sorted()[2]
                precondition(sink != 1)
                return max(1000, Int(Double(n) * ms / max(more, 0.001)))
            }
            n *= 2
        }
    }

    /// Three series of CPU time measured in rounds (the order rotating each
    /// round), so that what varies over time (frequency, caches) falls on all
    /// three alike: `base`, `slow` with
    /// `factor` times the work, and `same`, a second run of `base`'s workload.
    static func interleaved3(samples: Int, iterations: Int, factor: Double) -> (base: [Double], slow: [Double], same: [Double]) {
        var out: [[Double]] = [[], [], []]
        var sink: UInt64 = 0
        let work = [iterations, Int(Double(iterations) * factor), iterations]
        for _ in 0..<3 { sink &+= spin(iterations) } // warm-up
        for round in 0..<samples {
            for k in 0..<3 {
                let which = (k + round) % 3
                out[which].append(cpuMilliseconds { sink &+= spin(work[which]) })
            }
        }
        precondition(sink != 1)
        return (out[0], out[1], out[2])
    }

    /// Wall time of spawning `/bin/true` and waiting for it, `n` times: a
    /// real (if VM-less) spawn measurement.
    static func processSpawns(_ n: Int) throws -> [Double] {
        try (0..<n).map { _ in
            try milliseconds {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/bin/true")
                try p.run()
                p.waitUntilExit()
            }
        }
    }

    /// This process's resident set size in MB, read `n` times.
    static func residentMB(_ n: Int) -> [Double] {
        (0..<n).map { _ in
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? "VmRSS: 0 kB"
            let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            return kb / 1024
        }
    }
}

enum Metrics {
    static var host: HostDescription {
        HostDescription(hostname: ProcessInfo.processInfo.hostName, cpuModel: "test cpu", cores: ProcessInfo.processInfo.activeProcessorCount,
                        kernel: "linux", memoryTotalMB: Double(ProcessInfo.processInfo.physicalMemory) / 1_048_576,
                        loadAverageBefore: 0.5, loadAverageAfter: 0.7)
    }

    struct SeriesSpec {
        var name: String
        var metric: MetricKind
        var unit: String
        var samples: [Double]
        var judged: Bool = true
        var description: String = ""
    }

    static func file(scope: String, phase: Phase = .baseline, backend: String, accelerator: String, timestamp: Date,
                     commit: String = "0123456789abcdef", provenance: Provenance? = nil, series: [SeriesSpec]) throws -> MetricsFile {
        var f = MetricsFile(timestamp: timestamp, scope: scope, phase: phase, iterations: series.first?.samples.count ?? 0,
                            warmup: 3, labels: RunLabels(backend: backend, accelerator: accelerator), host: host,
                            tools: ["swift": "6.3.1"], commit: commit, provenance: provenance)
        for s in series {
            f.add(s.name, try MetricSeries(metric: s.metric, unit: s.unit, description: s.description.isEmpty ? s.name : s.description,
                                           series: MeasuredSeries(samples: s.samples), judged: s.judged))
        }
        return f
    }

    /// The main job's provenance (release build unless said).
    static func mainJob(_ benchmark: String, build: String = "release", mode: String = "quick") -> Provenance {
        Provenance(build: build, benchmark: benchmark, mode: mode,
                   command: "scripts/run-performance-benchmarks.sh --\(mode)", origin: "benchmark")
    }

    /// A test run's provenance (debug build unless said).
    static func testRun(_ benchmark: String, build: String = "debug", mode: String = "quick") -> Provenance {
        Provenance(build: build, benchmark: benchmark, mode: mode,
                   command: "swift test --no-parallel --filter tag:\(benchmark.split(separator: ".").last ?? "")", origin: "test")
    }

    /// A metrics file with one latency series in ms, written into `dir`.
    @discardableResult
    static func write(_ file: MetricsFile, into dir: URL) throws -> URL {
        try file.write(into: dir)
    }
}

extension Date {
    /// A fixed, whole-second instant (file names have second resolution).
    static func fixed(_ offsetSeconds: Int) -> Date { Date(timeIntervalSince1970: 1_795_000_000 + Double(offsetSeconds)) }
}

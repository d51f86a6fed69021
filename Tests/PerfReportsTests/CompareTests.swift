import Foundation
import PerfMetrics
import PerfStats
import Testing
@testable import PerfReports

#if canImport(Glibc)
import Glibc
#endif

/// Timed series shared by the comparison tests: measured once, interleaved
/// (A, B, A, B, ...) so that load from other tests falls on both alike.
/// `slow` does 20% more work per sample than `base`; `same` repeats `base`.
private struct TimedRuns: Sendable {
    let base: [Double]
    let slow: [Double]
    let same: [Double]

    static let shared: TimedRuns = {
        let n = Workload.calibrate(ms: 1.5)
        let (base, slow, same) = Workload.interleaved3(samples: 60, iterations: n, factor: 1.2)
        return TimedRuns(base: base, slow: slow, same: same)
    }()
}

private func latencyFile(_ samples: [Double], at offset: Int, scope: String = "latency", unit: String = "ms",
                         metric: MetricKind = .latency, name: String = "tool_latency_ms") throws -> MetricsFile {
    try Metrics.file(scope: scope, backend: "process", accelerator: "none", timestamp: .fixed(offset), series: [
        .init(name: name, metric: metric, unit: unit, samples: samples, description: "busy loop"),
    ])
}

extension `Report generator` {
@Suite struct `Regression check (lgperf compare)` {
    @Test func `a real 20% slowdown is a regression, exit 1`() async throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-slow")
        defer { dir.remove() }
        let a = try latencyFile(runs.base, at: 0).write(into: dir.url)
        let b = try latencyFile(runs.slow, at: 60).write(into: dir.url)
        let e = await RegressionCheck.execute(baseline: a, current: b, threshold: 0.10)
        print(e.output)
        #expect(e.status == .regression, "\(e.output)\(e.errors)")
        let row = try #require(e.result?.rows.first)
        #expect(row.verdict == .regression)
        #expect(row.ab.pValue < 0.01)
        #expect(row.ab.relativeChange > 0.10 && row.ab.relativeChange < 0.35, "measured \(row.ab.relativeChange)")
        #expect(e.output.contains("REGRESSION"))
        #expect(e.output.contains("latency/tool_latency_ms") || e.output.contains("tool_latency_ms"))
        // The reverse direction is an improvement, not a regression.
        let back = await RegressionCheck.execute(baseline: b, current: a, threshold: 0.10)
        #expect(back.status == .noRegression)
        #expect(back.result?.rows.first?.verdict == .improvement)
    }

    @Test func `two runs of the same configuration are not flagged, exit 0`() async throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-same")
        defer { dir.remove() }
        let a = try latencyFile(runs.base, at: 0).write(into: dir.url)
        let b = try latencyFile(runs.same, at: 60).write(into: dir.url)
        let e = await RegressionCheck.execute(baseline: a, current: b, threshold: 0.10)
        #expect(e.status == .noRegression, "\(e.output)")
        #expect(e.result?.regressions.isEmpty == true)
        #expect(e.output.contains("result: no regression"))
    }

    @Test func `throughput is higher-is-better`() throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-throughput")
        defer { dir.remove() }
        // Operations per minute of the same timed loop: the slow run has lower throughput.
        let fast = runs.base.map { 60_000 / $0 }, slow = runs.slow.map { 60_000 / $0 }
        let a = try latencyFile(fast, at: 0, scope: "tp", unit: "ops/min", metric: .throughput, name: "throughput_ops_per_min").write(into: dir.url)
        let b = try latencyFile(slow, at: 60, scope: "tp", unit: "ops/min", metric: .throughput, name: "throughput_ops_per_min").write(into: dir.url)
        let down = try RegressionCheck.compare(baseline: a, current: b, threshold: 0.10)
        #expect(down.status == .regression)
        #expect(down.rows[0].higherIsBetter)
        let up = try RegressionCheck.compare(baseline: b, current: a, threshold: 0.10)
        #expect(up.status == .noRegression)
        #expect(up.rows[0].verdict == .improvement)
    }

    @Test func `the threshold is respected: a 20% change under a 30% threshold is no regression`() throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-threshold")
        defer { dir.remove() }
        let a = try latencyFile(runs.base, at: 0).write(into: dir.url)
        let b = try latencyFile(runs.slow, at: 60).write(into: dir.url)
        let r = try RegressionCheck.compare(baseline: a, current: b, threshold: 0.30)
        #expect(r.status == .noRegression)
        #expect(r.rows[0].verdict == .smallChange)
        #expect(try parseThreshold("10%") == 0.10)
        #expect(try parseThreshold("0.25") == 0.25)
        #expect(try parseThreshold("15") == 0.15)
        #expect(throws: ReportError.self) { try parseThreshold("ten") }
    }

    @Test func `unusable inputs exit 2 with the reason`() async throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-bad")
        defer { dir.remove() }
        let good = try latencyFile(runs.base, at: 0).write(into: dir.url)
        let text = try String(contentsOf: good, encoding: .utf8)

        func check(_ name: String, _ contents: String?, _ expected: String, baseline: URL? = nil) async throws {
            let bad = dir.path(name)
            if let contents { try Data(contents.utf8).write(to: bad) }
            let e = await RegressionCheck.execute(baseline: baseline ?? good, current: bad, threshold: 0.1)
            #expect(e.status == .unusableInput, "\(name)")
            #expect(e.status.rawValue == 2)
            #expect(e.errors.contains(expected), "\(name): \(e.errors)")
        }
        try await check("empty.json", "", "empty")
        try await check("truncated.json", String(text.prefix(text.count / 2)), "truncated or corrupt")
        try await check("missing.json", nil, "does not exist")
        // Same series, other unit: stats stay consistent, only the unit differs.
        // (an unjudged series can carry any unit)
        var f = try Metrics.file(scope: "latency", backend: "process", accelerator: "none", timestamp: .fixed(61), series: [
            .init(name: "tool_latency_ms", metric: .latency, unit: "us", samples: runs.base.map { $0 * 1000 }, judged: false),
        ])
        try await check("unit.json", String(decoding: try f.encoded(), as: UTF8.self), "different units")
        f = try Metrics.file(scope: "latency", backend: "process", accelerator: "none", timestamp: .fixed(62), series: [
            .init(name: "tool_latency_ms", metric: .network, unit: "ms", samples: runs.base),
        ])
        try await check("metric.json", String(decoding: try f.encoded(), as: UTF8.self), "metric")
        f = try Metrics.file(scope: "memory", backend: "process", accelerator: "none", timestamp: .fixed(63), series: [
            .init(name: "memory_mb", metric: .memory, unit: "MB", samples: Workload.residentMB(10)),
        ])
        try await check("nothing-in-common.json", String(decoding: try f.encoded(), as: UTF8.self), "no metric series in common")
        // A summary data file whose series has no samples.
        let sidecar = SummarySidecar(phase: .baseline, generated: .fixed(0), status: "NO DATA", files: [], series: [
            .init(key: "latency/tool_latency_ms", scope: "latency", name: "tool_latency_ms", metric: .latency, unit: "ms",
                  description: "", backend: "process", accelerator: "none", median: 0, p95: 0, p99: 0, target: nil, grade: nil,
                  meetsTarget: nil, samples: []),
        ])
        try await check("nosamples_summary.json", String(decoding: try sidecar.encoded(), as: UTF8.self), "no samples")
    }

    @Test func `weekly summaries can be compared through their data files`() throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-summaries")
        defer { dir.remove() }
        let m1 = dir.path("m1"), m2 = dir.path("m2")
        try latencyFile(runs.base, at: 0).write(into: m1)
        try latencyFile(runs.slow, at: 60).write(into: m2)
        let s1 = try WeeklySummary.generate(.init(phase: .baseline, metrics: m1, outputDirectory: dir.path("s1")))
        let s2 = try WeeklySummary.generate(.init(phase: .baseline, metrics: m2, outputDirectory: dir.path("s2")))
        let r = try RegressionCheck.compare(baseline: s1.markdown, current: s2.markdown, threshold: 0.1)
        #expect(r.status == .regression)
        #expect(r.rows.map(\.key) == ["latency/tool_latency_ms"])
    }

    @Test func `a regression alert is POSTed to the webhook`() async throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-webhook")
        defer { dir.remove() }
        let a = try latencyFile(runs.base, at: 0).write(into: dir.url)
        let b = try latencyFile(runs.slow, at: 60).write(into: dir.url)
        let server = try LoopbackHTTPServer()
        let e = await RegressionCheck.execute(baseline: a, current: b, threshold: 0.10,
                                              webhook: URL(string: "http://127.0.0.1:\(server.port)/hooks/perf")!)
        let request = try #require(server.wait())
        #expect(e.status == .regression)
        #expect(e.errors.isEmpty, "\(e.errors)")
        #expect(e.output.contains("alert sent"))
        #expect(request.head.hasPrefix("POST /hooks/perf HTTP/1.1"))
        #expect(request.head.lowercased().contains("content-type: application/json"))
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        #expect(body["event"] as? String == "performance_regression")
        let regressions = try #require(body["regressions"] as? [[String: Any]])
        #expect(regressions.count == 1)
        #expect(regressions.first?["series"] as? String == "latency/tool_latency_ms")
        #expect(regressions.first?["backend"] as? String == "process")
        let change = try #require(regressions.first?["relative_change"] as? Double)
        #expect(change > 0.10)
        #expect((body["text"] as? String)?.contains("regression") == true)
    }

    @Test func `no alert is sent without a regression, and a failed alert is reported`() async throws {
        let runs = TimedRuns.shared
        let dir = try TempDir("compare-webhook2")
        defer { dir.remove() }
        let a = try latencyFile(runs.base, at: 0).write(into: dir.url)
        let b = try latencyFile(runs.same, at: 60).write(into: dir.url)
        let server = try LoopbackHTTPServer(acceptTimeout: 1)
        let e = await RegressionCheck.execute(baseline: a, current: b, threshold: 0.10,
                                              webhook: URL(string: "http://127.0.0.1:\(server.port)/")!)
        #expect(e.status == .noRegression)
        #expect(server.wait() == nil)
        // A closed port: the regression stays a regression (exit 1), the alert failure is said.
        let c = try latencyFile(runs.slow, at: 90).write(into: dir.url)
        let closed = try LoopbackHTTPServer.unusedPort()
        let f = await RegressionCheck.execute(baseline: a, current: c, threshold: 0.10,
                                              webhook: URL(string: "http://127.0.0.1:\(closed)/")!)
        #expect(f.status == .regression)
        #expect(f.errors.contains("not delivered"))
    }
}

}

/// A one-request HTTP server on 127.0.0.1 (an ephemeral port) that records
/// what it receives and answers 200.
final class LoopbackHTTPServer: @unchecked Sendable {
    struct Request: Equatable { var head: String; var body: Data }
    let port: UInt16
    private let fd: Int32
    private let done = DispatchSemaphore(value: 0)
    private var received: Request?

    init(acceptTimeout: Int = 20) throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { throw ReportError.io("socket failed") }
        var one: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(sock, 4) == 0 else { close(sock); throw ReportError.io("bind/listen failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) }
        }
        fd = sock
        port = UInt16(bigEndian: addr.sin_port)
        let listener = sock
        Thread.detachNewThread { [self] in
            defer { close(listener); done.signal() }
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(acceptTimeout * 1000)) == 1 else { return }
            let conn = accept(listener, nil, nil)
            guard conn >= 0 else { return }
            defer { close(conn) }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var data = Data()
            var buffer = [UInt8](repeating: 0, count: 4096)
            var expected: Int?
            var headEnd: Int?
            while true {
                let n = read(conn, &buffer, buffer.count)
                if n <= 0 { break }
                data.append(contentsOf: buffer[0..<n])
                if headEnd == nil, let r = data.range(of: Data("\r\n\r\n".utf8)) {
                    headEnd = r.upperBound
                    let head = String(decoding: data[..<r.lowerBound], as: UTF8.self).lowercased()
                    let line = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    expected = line.flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                }
                if let h = headEnd, let e = expected, data.count - h >= e { break }
            }
            guard let h = headEnd else { return }
            received = Request(head: String(decoding: data[..<h], as: UTF8.self), body: Data(data[h...]))
            let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            _ = reply.withCString { write(conn, $0, strlen($0)) }
        }
    }

    /// The request, once the server is done (nil when none came in time).
    func wait() -> Request? {
        done.wait()
        return received
    }

    /// A port nothing listens on (bound, then closed).
    static func unusedPort() throws -> UInt16 {
        let s = try LoopbackHTTPServer(acceptTimeout: 0)
        _ = s.wait()
        return s.port
    }
}

import Foundation
import PerfMetrics
import PerfStats
import Testing
@testable import PerfReports

extension `Report generator` {
@Suite struct `Reading metrics directories` {
    func file(_ scope: String, _ phase: Phase = .baseline, at offset: Int, median: Double = 100) throws -> MetricsFile {
        var rng = SplitMix64(seed: UInt64(offset) &+ 3)
        return try Metrics.file(scope: scope, phase: phase, backend: "qemu", accelerator: "tcg", timestamp: .fixed(offset), series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms",
                  samples: (0..<11).map { _ in median + Double(rng.next() % 100) / 10 }),
        ])
    }

    @Test func `file names are parsed from the right`() {
        #expect(MetricsCollection.parseName("spawn_baseline_20260215_033805.json")! == ("spawn", .baseline, "20260215033805"))
        #expect(MetricsCollection.parseName("pool_spawn_scale_20260215_033805.json")! == ("pool_spawn", .scale, "20260215033805"))
        #expect(MetricsCollection.parseName("rust_baseline_20260215_033805.json")?.scope == "rust")
        #expect(MetricsCollection.parseName("spawn_weekly_20260215_033805.json") == nil)
        #expect(MetricsCollection.parseName("spawn_baseline_2026021_033805.json") == nil)
        #expect(MetricsCollection.parseName("notes.json") == nil)
        #expect(MetricsCollection.parseName("_baseline_20260215_033805.json") == nil)
    }

    @Test func `a summary reads only the newest file per scope`() throws {
        let dir = try TempDir("loader")
        defer { dir.remove() }
        for i in 0..<6 { try file("boot", at: i * 10).write(into: dir.url) }
        for i in 0..<3 { try file("memory", at: i * 10 + 1).write(into: dir.url) }
        try file("boot", .scale, at: 500).write(into: dir.url)
        let c = try MetricsCollection.loadNewest(dir.url, phase: .baseline)
        #expect(c.files.map(\.file.scope).sorted() == ["boot", "memory"])
        #expect(c.files.first { $0.file.scope == "boot" }?.file.timestamp == .fixed(50))
        #expect(c.unread.count == 5 + 2)
        #expect(try c.newestPerScope(phase: .baseline) == MetricsCollection.load(dir.url).newestPerScope(phase: .baseline))
    }

    @Test func `an invalid newest file is rejected and the next newest used`() throws {
        let dir = try TempDir("loader-bad")
        defer { dir.remove() }
        try file("boot", at: 0).write(into: dir.url)
        let newest = try file("boot", at: 10).write(into: dir.url)
        let text = try String(contentsOf: newest, encoding: .utf8)
        try Data(text.prefix(200).utf8).write(to: newest) // truncated
        try Data("[]".utf8).write(to: dir.path("odd-name.json"))
        let c = try MetricsCollection.loadNewest(dir.url, phase: .baseline)
        #expect(c.files.map(\.file.timestamp) == [.fixed(0)])
        #expect(Set(c.rejected.map(\.url.lastPathComponent)) == [newest.lastPathComponent, "odd-name.json"])
        #expect(c.unread.isEmpty)
    }

    @Test func `a file whose name disagrees with its contents makes the loader read everything`() throws {
        let dir = try TempDir("loader-lie")
        defer { dir.remove() }
        try file("boot", at: 0).write(into: dir.url)
        let memory = try file("memory", at: 10).write(into: dir.url)
        // A memory file renamed as the newest boot file.
        try FileManager.default.moveItem(at: memory, to: dir.path("boot_baseline_20991231_000000.json"))
        let c = try MetricsCollection.loadNewest(dir.url, phase: .baseline)
        #expect(c.files.count == 2)
        #expect(c.unread.isEmpty)
        #expect(c.newestPerScope(phase: .baseline).map(\.file.scope) == ["boot", "memory"])
    }
}
}

import Foundation
import LGSettings
import Testing
import PerfMetrics
import Scenarios
import VMFixtures

extension Validation {
@Suite(.tags(.scale))
struct `Scale: 5-10 concurrent sandboxes [tag:scale]` {
    @Test func `N agents at once, each its own MCP client and sandbox: latency, throughput, calls in flight, memory slope`() async throws {
        let levels = try Fixture.settings().scaleLevels, seconds = Int(try Fixture.settings().scaleWindowSeconds)
        let file = try await Fixture.runOne("scale.concurrency")
        #expect(try Fixture.count(file, "spawn_errors") == 0, "\(file.notes)")
        #expect(try Fixture.count(file, "call_errors") == 0, "\(file.notes)")
        for n in levels {
            #expect(try Fixture.count(file, "max_in_flight_n\(n)") == n, "N=\(n): the agents' calls were not all in flight at once")
            #expect(try Fixture.count(file, "call_errors_n\(n)") == 0, "\(file.notes)")
            #expect(try #require(file["spawn_n\(n)_ms"]).count == n)
            #expect(try #require(file["memory_n\(n)_mb"]).count == n)
            #expect(try #require(file["vmm_cpu_n\(n)_percent"]).count == n)
            #expect(try #require(file["host_cpu_n\(n)_percent"]).count == 1)
            #expect(try #require(file["tool_latency_n\(n)_ms"]).count >= n * 5, "each agent calls every tool at least once")
            let tp = try #require(file["throughput_n\(n)_ops_per_min"])
            #expect(tp.median > 0 && tp.count == seconds)
        }
        let largest = try #require(levels.last)
        #expect(try #require(file["tool_latency_ms"]).count == (try #require(file["tool_latency_n\(largest)_ms"])).count)
        #expect(try #require(file["throughput_ops_per_min"]).median > 0)
        #expect(try #require(file["throughput_ops_per_min"]).target != nil, "throughput is judged at the largest N")
        #expect(try Fixture.count(file, "max_in_flight") == largest)
        if levels.count >= 2 {
            #expect(try #require(file["pss_slope_mb_per_sandbox"]).median > 0, "\(file.notes)")
        }
        #expect(file.notes.contains { $0.contains("N | median | p95 | ops/min | in flight | PSS total") })
    }
}

@Suite(.tags(.exhaustion))
struct `Exhaustion: 100+ sandboxes and admission control [tag:exhaustion]` {
    @Test func `120 agent processes at once all answer`() async throws {
        let file = try await Fixture.runOne("exhaustion.agents")
        #expect(file.labels.backend == "process", "agents without VMs are labelled so")
        #expect(try Fixture.count(file, "spawn_errors") == 0)
        #expect(try Fixture.count(file, "call_errors") == 0)
        #expect(try #require(file["tool_latency_ms"]).count == 120)
    }

    @Test func `real VMs ramped in a memory cgroup until admission refuses: no OOM kill, none lost, the running ones answer`() async throws {
        let s = try Fixture.settings()
        let file = try await Fixture.runOne("exhaustion.vms")
        #expect(file.labels.backend == "qemu", "real VMs")
        let admitted = try Fixture.count(file, "admitted")
        #expect(admitted > 0 && admitted <= s.exhaustionVMs, "\(file.notes)")
        #expect(try Fixture.count(file, "refusals") > 0, "admission never refused: \(file.notes)")
        #expect(try Fixture.count(file, "refused_by_memory") > 0, "the memory cgroup's limit was never the one hit: \(file.notes)")
        #expect(try Fixture.count(file, "refused_beyond_capacity") == 1, "\(file.notes)")
        #expect(try Fixture.count(file, "oom_kills") == 0, "the kernel's OOM killer acted in the cgroup: \(file.notes)")
        #expect(try Fixture.count(file, "lost_vms") == 0, "\(file.notes)")
        #expect(try Fixture.count(file, "spawn_errors") == 0, "\(file.notes)")
        #expect(try Fixture.count(file, "call_errors") == 0, "a running VM did not answer: \(file.notes)")
        #expect(try #require(file["tool_latency_ms"]).count == admitted, "every running VM answered at capacity")
        #expect(try #require(file["memory_mb"]).count == admitted)
        let limit = try #require(file["cgroup_limit_mb"]).median
        #expect(limit == Double(s.exhaustionCgroupMB))
        #expect(try #require(file["cgroup_peak_mb"]).median <= limit)
        #expect(try #require(file["ramp_vms_running"]).max == Double(admitted))
        #expect(file.notes.contains { $0.contains("refusing to start a sandbox:") && $0.contains("memory cgroup") })
        #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/lgperf-exh-\(getpid())"), "the cgroup was not removed")
    }
}

@Suite(.tags(.chaos))
struct `Chaos: real faults, an independent health checker, untouched sandboxes [tag:chaos]` {
    @Test func `every fault kind is injected or says why not, detected within the bound, in-flight calls fail clearly, the untouched sandbox is unaffected`() async throws {
        let rounds = try Fixture.settings().chaosRounds
        let file = try await Fixture.runOne("chaos.faults")
        let injectable = FaultKind.allCases.filter { $0.notInjectableHere == nil }
        for kind in injectable {
            let d = try #require(file["detection_ms_\(kind.rawValue)"], "\(kind.rawValue) has no detection times")
            #expect(d.count == rounds, "\(kind.rawValue): \(d.count) of \(rounds) faults detected")
        }
        for kind in FaultKind.allCases where kind.notInjectableHere != nil {
            #expect(file.notes.contains { $0.contains("Not injected: \(kind.rawValue): ") }, "\(kind.rawValue) must say why it is not injected")
        }
        #expect(try Fixture.count(file, "not_injected_kinds") == FaultKind.allCases.count - injectable.count)
        #expect(try Fixture.count(file, "undetected_faults") == 0)
        #expect(try Fixture.count(file, "inflight_hung") == 0, "a call in flight vanished or hung")
        #expect(try Fixture.count(file, "fault_problems") == 0, "\(file.notes.filter { $0.hasPrefix("Problem") })")
        #expect(try Fixture.count(file, "bystander_errors") == 0)
        #expect(try Fixture.count(file, "bystander_affected") == 0, "\(file.notes.filter { $0.hasPrefix("Untouched") })")
        let bound = try #require(file["fault_bound_ms"]).max
        #expect(try #require(file["inflight_error_ms"]).max <= bound)
        #expect(try #require(file["inflight_error_ms"]).count == rounds * FaultRounds.vmKindCount)
    }
}

@Suite(.tags(.recovery))
struct `Recovery: through the warm pool [tag:recovery]` {
    @Test func `a failed sandbox is detected and replaced from the pool faster than cold, and the pool refills after a burst`() async throws {
        let rounds = try Fixture.settings().recoveryRounds
        let file = try await Fixture.runOne("recovery.pool")
        #expect(try Fixture.count(file, "recovery_errors") == 0, "\(file.notes.filter { $0.hasPrefix("Problem") })")
        #expect(try Fixture.count(file, "inflight_hung") == 0)
        let pooled = try #require(file["recovery_pool_ms"]), cold = try #require(file["recovery_cold_ms"])
        #expect(pooled.count == rounds && cold.count == rounds / 2)
        #expect(pooled.median <= cold.median, "recovery through the pool must beat a cold replacement")
        #expect(try #require(file["refill_ms"]).count >= 3)
    }
}

@Suite(.tags(.production))
struct `Production: soak by duration without leaks [tag:production]` {
    /// Shorter than the main job's quick 60 s, to keep the test run short;
    /// the slopes are per minute either way.
    static func soakSettings(leak: Bool) throws -> Settings {
        var s = try Fixture.settings()
        s.soakSeconds = 20
        s.testLeakFDPerCall = leak
        return s
    }

    @Test func `agents through MCP for the duration: per-minute series, no leak slopes, no drift, every criterion met`() async throws {
        let written = try await Fixture.run("production.soak", settings: try Self.soakSettings(leak: false))
        let file = try #require(written.first).file
        #expect(try #require(file["throughput_per_min"]).count == 1)
        #expect(try #require(file["harness_fds"]).count >= 6)
        let results = try Fixture.criteria(.production, written)
        #expect(results.allSatisfy { $0.status == .met }, "\(results.filter { $0.status != .met }.map { "\($0.id): \($0.measured ?? .nan) \($0.limitText)" })")
    }

    @Test func `a descriptor leaked per call makes the soak fail`() async throws {
        let written = try await Fixture.run("production.soak", settings: try Self.soakSettings(leak: true))
        let results = try Fixture.criteria(.production, written)
        let fd = try #require(results.first { $0.id == "production.fd_leak" })
        #expect(fd.status == .missed, "the fd slope \(fd.measured ?? .nan)/min must exceed the criterion")
    }
}
}

/// `lgperf list` and the suites show the same catalogue: every benchmark is
/// run by a validation test, and every test runs a benchmark that exists.
@Suite struct CatalogueCoverageTests {
    @Test func everyBenchmarkHasAValidationTestAndEveryTestABenchmark() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
        var used = Set<String>()
        let call = try Regex(#"Fixture\.run(?:One)?\("([a-z_]+\.[a-z_]+)""#)
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            for m in text.matches(of: call) { used.insert(String(text[m.range]).split(separator: "\"")[1].description) }
        }
        let ids = Set(BenchmarkCatalogue.all.map(\.id))
        #expect(ids.count == BenchmarkCatalogue.all.count, "benchmark ids are unique")
        #expect(used.subtracting(ids).isEmpty, "tests run unknown benchmarks: \(used.subtracting(ids).sorted())")
        #expect(ids.subtracting(used).isEmpty, "benchmarks no validation test runs: \(ids.subtracting(used).sorted())")
        for b in BenchmarkCatalogue.all {
            #expect(b.id.hasPrefix(b.phase.rawValue + "."), "\(b.id) is named after its phase")
            #expect(!b.times.isEmpty)
        }
    }
}

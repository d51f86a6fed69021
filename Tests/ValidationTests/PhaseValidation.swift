import Foundation
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
struct `Chaos: killed VMs and network partitions [tag:chaos]` {
    @Test func `a VM killed mid-call fails that call fast and leaves the others working`() async throws {
        let rounds = try Fixture.settings().chaosRounds
        let file = try await Fixture.runOne("chaos.vm_kill")
        #expect(try Fixture.count(file, "undetected_kills") == 0)
        #expect(try Fixture.count(file, "survivor_errors") == 0, "the other VM must keep working")
        let detection = try #require(file["failure_detection_ms"])
        #expect(detection.count == rounds && detection.max < 2000)
    }

    @Test func `a network partition stops traffic, spares the agent channel, and heals`() async throws {
        let file = try await Fixture.runOne("chaos.partition")
        #expect(try Fixture.count(file, "traffic_crossed") == 0, "traffic crossed a partition")
        #expect(try Fixture.count(file, "agent_channel_errors") == 0, "the agent channel is not part of the network")
        #expect(try #require(file["partition_heal_ms"]).count == (try Fixture.settings()).chaosRounds)
    }
}

@Suite(.tags(.recovery))
struct `Recovery: detection and replacement [tag:recovery]` {
    @Test func `a killed sandbox is detected and replaced`() async throws {
        let file = try await Fixture.runOne("recovery.replace")
        #expect(try Fixture.count(file, "recovery_errors") == 0)
        let recovery = try #require(file["recovery_time_ms"]), cold = try #require(file["cold_spawn_ms"])
        let rounds = try Fixture.settings().recoveryRounds
        #expect(recovery.count == rounds)
        #expect(recovery.min > cold.min, "recovery includes the replacement's spawn")
    }

    @Test func `a frozen guest times out with a clear error and recovers when resumed`() async throws {
        let file = try await Fixture.runOne("recovery.frozen")
        #expect(try Fixture.count(file, "unclear_errors") == 0, "a call to a frozen guest must fail with 'timed out'")
        #expect(try Fixture.count(file, "resume_errors") == 0)
        let waited = try #require(file["timeout_ms"])
        #expect(waited.min >= 1000 && waited.max < 3000)
    }
}

@Suite(.tags(.production))
struct `Production: soak without leaks [tag:production]` {
    @Test func `repeated spawn, work and shutdown leaks no descriptors, memory or processes`() async throws {
        let file = try await Fixture.runOne("production.soak")
        #expect(try Fixture.count(file, "fd_growth") <= 0, "descriptors leaked")
        #expect(try Fixture.count(file, "vm_left") == 0)
        let growth = try #require(file["harness_rss_growth_mb"]).median
        #expect(growth < 20, "harness RSS grew \(growth) MB")
        #expect(try #require(file["cycle_time_ms"]).count == (try Fixture.settings()).soakCycles)
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
        let call = try Regex(#"Fixture\.runOne?\("([a-z_]+\.[a-z_]+)""#)
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

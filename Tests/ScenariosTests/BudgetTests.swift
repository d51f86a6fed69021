import Foundation
import Testing
import PerfMetrics
import VMFixtures
@testable import Scenarios

/// The budget judgement on synthetic metrics files: floor-relative for VMs,
/// absolute for the process backend, never a silent pass.
@Suite struct BudgetTests {
    static let vm = Budget(key: "tcg", spawnMedianFloorRatio: 1.6, spawnP95FloorRatio: 2.2,
                           restoreMedianFloorRatio: 0.3, checkoutP95FloorRatio: 0.01, memoryPSSMedianMB: 200)
    static let process = Budget(key: "process", spawnMedianMs: 50, spawnP95Ms: 200, memoryPSSMedianMB: 50)

    static func file(scope: String = "spawn", backend: String = "qemu", accelerator: String = "tcg",
                     _ series: [String: [Double]]) throws -> MetricsFile {
        var f = MetricsFile(scope: scope, phase: .baseline, iterations: 3, warmup: 0,
                            labels: RunLabels(backend: backend, accelerator: accelerator),
                            host: HostDescription(hostname: "h", cpuModel: "c", cores: 2, kernel: "k", memoryTotalMB: 1),
                            tools: [:], commit: "x")
        for (name, samples) in series.sorted(by: { $0.key < $1.key }) {
            let metric: MetricKind = name == "memory_mb" ? .memory : .spawn
            f.add(name, try MetricSeries(metric: metric, unit: metric == .memory ? "MB" : "ms", description: name,
                                         series: .init(samples: samples), judged: name == "spawn_time_ms" || name == "memory_mb"))
        }
        return f
    }

    static func check(_ checks: [BudgetCheck], _ name: String) throws -> BudgetCheck {
        try #require(checks.first { $0.name == name }, "no '\(name)' check in \(checks)")
    }

    @Test func spawnWithinTheFloorRatioPasses() throws {
        // Median 1053 / floor 821 = 1.28 <= 1.6; p95 of [1000, 1053, 1300] = 1275.3 / 821 = 1.55 <= 2.2.
        let f = try Self.file(["spawn_time_ms": [1000, 1053, 1300], "platform_floor_ms": [800, 821, 900]])
        let checks = try Self.vm.checks(for: f)
        #expect(checks.count == 2 && checks.allSatisfy(\.ok))
        let median = try Self.check(checks, "spawn median")
        #expect(abs(median.value - 1053.0 / 821.0) < 1e-9 && median.limit == 1.6)
        #expect(median.text == "spawn median 1053 ms = 1.28 x floor 821 ms (budget <= 1.6 x)")
    }

    @Test func aSlowerMachineWithTheSameRatioStillPasses() throws {
        // Everything 2x slower (half a core): the absolute numbers would have
        // failed a 1200 ms budget, the ratio is unchanged.
        let f = try Self.file(["spawn_time_ms": [2000, 2106, 2600], "platform_floor_ms": [1600, 1642, 1800]])
        #expect(try Self.vm.checks(for: f).allSatisfy(\.ok))
    }

    @Test func spawnOverTheFloorRatioFailsSayingSo() throws {
        // A spawn a whole floor slower: 1874 / 821 = 2.28 > 1.6.
        let f = try Self.file(["spawn_time_ms": [1800, 1874, 1900], "platform_floor_ms": [800, 821, 900]])
        let median = try Self.check(try Self.vm.checks(for: f), "spawn median")
        #expect(!median.ok)
        #expect(median.text == "spawn median 1874 ms = 2.28 x floor 821 ms (budget <= 1.6 x)")
        #expect(median.description.hasPrefix("FAILED: "))
    }

    @Test func withoutAFloorEveryTimeCheckFails() throws {
        let f = try Self.file(["spawn_time_ms": [100, 110, 120], "memory_mb": [80, 81, 82]])
        let checks = try Self.vm.checks(for: f)
        let median = try Self.check(checks, "spawn median"), p95 = try Self.check(checks, "spawn p95")
        #expect(!median.ok && !p95.ok && median.value.isNaN)
        #expect(median.text.contains("no floor measured"))
        // Memory is absolute: judged with or without a floor.
        #expect(try Self.check(checks, "memory PSS median").ok)
    }

    @Test func aFloorOfZeroIsNoFloor() throws {
        let f = try Self.file(["spawn_time_ms": [100, 110, 120], "platform_floor_ms": [0, 0, 0]])
        #expect(try Self.vm.checks(for: f).allSatisfy { !$0.ok && $0.text.contains("no floor measured") })
    }

    @Test func poolFilesJudgeCheckoutAndRestoreAgainstTheFloor() throws {
        // In a pool file spawn_time_ms is the checkout; cold boots are context.
        let f = try Self.file(scope: "pool", ["spawn_time_ms": [1.0, 1.2, 1.7], "restore_to_ready_ms": [110, 116, 230],
                                              "cold_spawn_ms": [1000, 1100, 1200], "platform_floor_ms": [800, 821, 900]])
        let checks = try Self.vm.checks(for: f)
        #expect(Set(checks.map(\.name)) == ["pool checkout p95", "restore median"])
        let restore = try Self.check(checks, "restore median")
        #expect(restore.ok && abs(restore.value - 116.0 / 821.0) < 1e-9)
        #expect(restore.text == "restore median 116 ms = 0.141 x floor 821 ms (budget <= 0.3 x)")
        // A checkout p95 of 10 ms is over 0.01 x 821 ms.
        let slow = try Self.file(scope: "pool", ["spawn_time_ms": [1, 2, 10], "restore_to_ready_ms": [110, 116, 230],
                                                 "platform_floor_ms": [800, 821, 900]])
        #expect(!(try Self.check(try Self.vm.checks(for: slow), "pool checkout p95")).ok)
        let noFloor = try Self.file(scope: "pool", ["spawn_time_ms": [1, 1, 1], "restore_to_ready_ms": [110, 116, 230]])
        #expect(try Self.vm.checks(for: noFloor).allSatisfy { !$0.ok && $0.text.contains("no floor measured") })
    }

    @Test func processBackendBudgetsAreAbsolute() throws {
        let f = try Self.file(backend: "process", accelerator: "none", ["spawn_time_ms": [10, 12, 14], "memory_mb": [20, 21, 22]])
        let checks = try Self.process.checks(for: f)
        #expect(checks.count == 3 && checks.allSatisfy(\.ok))
        #expect(try Self.check(checks, "spawn median").text == "spawn median 12.0 ms (budget <= 50 ms)")
        let slow = try Self.file(backend: "process", accelerator: "none", ["spawn_time_ms": [60, 70, 80]])
        let median = try Self.check(try Self.process.checks(for: slow), "spawn median")
        #expect(!median.ok && median.text == "spawn median 70.0 ms (budget <= 50 ms)")
    }

    @Test func memoryIsAbsoluteForVMs() throws {
        let f = try Self.file(scope: "memory", ["memory_mb": [250, 260, 270]])
        let checks = try Self.vm.checks(for: f)
        #expect(checks.count == 1 && !checks[0].ok)
        #expect(checks[0].text == "memory PSS median 260 MB (budget <= 200 MB)")
    }

    @Test func aFileNoBudgetAppliesToIsAnErrorNotAPass() throws {
        let f = try Self.file(scope: "network", ["network_rtt_ms": [0.2, 0.3]])
        #expect(throws: ConfigError.self) { try Self.vm.checks(for: f) }
    }

    @Test func aFileIsJudgedOnlyWithItsOwnBackendsBudget() throws {
        let f = try Self.file(["spawn_time_ms": [10, 12, 14]])
        #expect(throws: ConfigError.self) { try Budget.checks(for: f, backend: try ProcessBackend()) }
    }

    @Test func budgetsFileHasEveryBackendsBudget() throws {
        let p = try ProcessBackend()
        let process = try Budget.forBackend(p)
        #expect(!process.relativeToFloor && (process.spawnMedianMs ?? 0) > 0)
        for accelerator in [Accelerator.tcg, .kvm] {
            let b = try Budget.load(kind: .qemu, accelerator: accelerator)
            #expect(b.relativeToFloor)
            #expect((b.spawnMedianFloorRatio ?? 0) > 1 && (b.spawnP95FloorRatio ?? 0) >= (b.spawnMedianFloorRatio ?? 0))
            #expect((b.restoreMedianFloorRatio ?? 0) > 0 && (b.checkoutP95FloorRatio ?? 0) > 0)
            #expect(b.memoryPSSMedianMB > 0 && b.harnessOverheadRatio != nil)
        }
    }

    @Test func aSectionMissingARatioIsAnError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lgbudget-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("b.json").path
        // An old absolute-ms budget is not silently used for a VM.
        try Data(#"{"tcg": {"spawn_median_ms": 1200, "spawn_p95_ms": 2500, "memory_pss_median_mb": 200}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        #expect { try Budget.load(kind: .qemu, accelerator: .tcg, path: path) } throws: {
            "\($0)".contains("spawn_median_floor_ratio")
        }
    }

    @Test func harnessOverheadCheck() {
        let b = Budget(key: "tcg", memoryPSSMedianMB: 200, harnessOverheadRatio: 1.1)
        #expect(b.harnessOverheadCheck(ratio: 1.043).ok)
        let over = b.harnessOverheadCheck(ratio: 1.2)
        #expect(!over.ok && over.text == "harness overhead 1.20 x a hand-started QEMU (budget <= 1.1 x)")
    }

    /// Start-up: template / cold and the server's first call / start-up from
    /// the template are same-run ratios; initialize is absolute (host-side).
    static let startup = Budget(key: "tcg", memoryPSSMedianMB: 200, startupTemplateColdRatio: 0.35,
                                mcpInitializeMs: 500, mcpFirstCallStartupRatio: 1.3)

    @Test func startupFromTheTemplateIsJudgedAgainstColdStartupOfTheSameRun() throws {
        let good = try Self.file(scope: "startup", [
            "startup_time_ms": [400, 420, 450], "startup_cold_ms": [2000, 2100, 2200], "startup_cold_fallbacks": [0],
            "mcp_server_initialize_ms": [40, 45, 60], "mcp_server_first_call_ms": [300, 320, 340],
            "template_restore_to_ready_ms": [140, 150, 160]])
        let checks = try Self.startup.checks(for: good)
        #expect(checks.count == 4 && checks.allSatisfy(\.ok), "\(checks)")
        #expect(try Self.check(checks, "start-up from the template").text
                == "start-up from the template median 420 ms = 0.2 x cold start-up 2100 ms (budget <= 0.35 x)")
        #expect(try Self.check(checks, "mcp-server first call").value == 320.0 / 420.0)

        // Slower from the template than the ratio allows, a fallback to cold,
        // a slow initialize: each fails, saying so.
        let bad = try Self.file(scope: "startup", [
            "startup_time_ms": [900, 950, 1000], "startup_cold_ms": [2000, 2100, 2200], "startup_cold_fallbacks": [1],
            "mcp_server_initialize_ms": [700, 800, 900], "mcp_server_first_call_ms": [1400, 1450, 1500],
            "template_restore_to_ready_ms": [140, 150, 160]])
        let failed = try Self.startup.checks(for: bad).filter { !$0.ok }.map(\.name)
        #expect(Set(failed) == ["start-up from the template", "template start-ups booted cold", "mcp-server initialize", "mcp-server first call"])
    }

    @Test func startupWithoutItsCalibrationsFails() throws {
        let f = try Self.file(scope: "startup", ["startup_time_ms": [400, 420, 450]])
        let checks = try Self.startup.checks(for: f)
        #expect(!checks.isEmpty && checks.allSatisfy { !$0.ok }, "\(checks)")
        #expect(try Self.check(checks, "start-up from the template").text.contains("startup_cold_ms was not measured"))
    }

    @Test func theBudgetsFileHasStartupBudgets() throws {
        for accelerator in [Accelerator.tcg, .kvm] {
            let b = try Budget.load(kind: .qemu, accelerator: accelerator)
            #expect(b.startupTemplateColdRatio == 0.35 && b.mcpInitializeMs == 500 && (b.mcpFirstCallStartupRatio ?? 0) >= 1)
        }
        #expect(try Budget.load(kind: .process, accelerator: .none).mcpInitializeMs == 500)
    }
}

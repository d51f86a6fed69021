import Foundation
import Testing
@testable import LGSettings

@Suite struct SettingsTests {
    @Test func defaultsFollowTheGuideAndTheMode() throws {
        let full = try Settings.load(environment: [:], mode: .full)
        let quick = try Settings.load(environment: [:], mode: .quick)
        #expect(full.iterations == 100 && full.warmup == 3 && quick.iterations == 10 && quick.warmup == 1)
        #expect(full.poolSize == 5 && full.snapshotRefreshSeconds == 3600 && full.readyTimeoutSeconds == 30)
        #expect(full.backend == "auto" && full.accelerator == "auto" && full.reportsDirectory == "reports")
        #expect(quick.scaleLevels == [1, 2, 5] && full.scaleLevels == [1, 2, 5, 10, 20] && quick.exhaustionVMs == 80 && full.exhaustionVMs == 250)
        #expect(quick.exhaustionCgroupMB == 1024 && full.exhaustionCgroupMB == 3072)
        #expect(full.testSpawnDelayMs == 0 && !full.requireVM)
        #expect(quick.scaleWindowSeconds == 10 && full.scaleWindowSeconds == 60)
    }

    @Test func scaleLevelsAreRisingCounts() throws {
        #expect(try Settings.load(environment: ["LUMINAGUARD_SCALE_LEVELS": " 1, 3 ,8"], mode: .quick).scaleLevels == [1, 3, 8])
        #expect(try Settings.load(environment: ["LUMINAGUARD_SCALE_LEVELS": "4"]).scaleLevels == [4])
    }

    /// Phase sizes never depend on whether ITERATIONS happens to be set.
    @Test func phaseSizesAreExplicit() throws {
        let s = try Settings.load(environment: ["ITERATIONS": "5"], mode: .quick)
        #expect(s.iterations == 5 && s.exhaustionVMs == 80 && s.soakSeconds == 60 && s.chaosRounds == 10)
        #expect(try Settings.load(environment: ["LUMINAGUARD_EXHAUSTION_VMS": "7"], mode: .quick).exhaustionVMs == 7)
    }

    @Test(arguments: [
        ("ITERATIONS", "0"), ("ITERATIONS", "abc"), ("ITERATIONS", "100001"), ("ITERATIONS", "1.5"), ("WARMUP", "-1"),
        ("LUMINAGUARD_BACKEND", "hyperv"), ("LUMINAGUARD_ACCEL", "hvf"), ("LUMINAGUARD_READY_TIMEOUT_SECS", "0"),
        ("LUMINAGUARD_READY_TIMEOUT_SECS", "nan"), ("LUMINAGUARD_POOL_SIZE", "21"), ("LUMINAGUARD_POOL_SIZE", "0"),
        ("LUMINAGUARD_SNAPSHOT_REFRESH_SECS", "59"), ("LUMINAGUARD_SCALE_LEVELS", "1,101"), ("LUMINAGUARD_SCALE_LEVELS", "2,1"),
        ("LUMINAGUARD_SCALE_LEVELS", "1,,2"), ("LUMINAGUARD_SCALE_LEVELS", "0"), ("LUMINAGUARD_SCALE_WINDOW_SECS", "0.5"), ("LUMINAGUARD_EXHAUSTION_VMS", "0"),
        ("LUMINAGUARD_CHAOS_ROUNDS", "x"), ("LUMINAGUARD_RECOVERY_ROUNDS", "0"), ("LUMINAGUARD_SOAK_SECS", "4"), ("LUMINAGUARD_HEALTH_INTERVAL_MS", "0"), ("LUMINAGUARD_TEST_LEAK_FD_PER_CALL", "2"),
        ("LUMINAGUARD_TEST_SPAWN_DELAY_MS", "60001"), ("LUMINAGUARD_REQUIRE_VM", "yes"),
    ])
    func everyBadValueGetsTheSameClearError(name: String, value: String) {
        #expect { try Settings.load(environment: [name: value]) } throws: { error in
            let text = "\(error)"
            return error is SettingsError && text.hasPrefix("\(name)=\(value) is not valid: expected ")
        }
    }

    @Test func everyProblemIsReportedAtOnce() {
        #expect { try Settings.load(environment: ["ITERATIONS": "0", "LUMINAGUARD_POOL_SIZE": "99"]) } throws: { error in
            (error as? SettingsError)?.problems.count == 2
        }
    }

    @Test func kernelAndInitrdGoTogether() {
        #expect(throws: SettingsError.self) { try Settings.load(environment: ["LUMINAGUARD_KERNEL": "/k"]) }
        #expect(throws: SettingsError.self) { try Settings.load(environment: ["LUMINAGUARD_INITRD": "/i"]) }
        #expect(throws: SettingsError.self) { try Settings.load(environment: ["LUMINAGUARD_RUN_DIR": "/" + String(repeating: "x", count: 80)]) }
    }

    /// Every variable the code reads is documented in `Settings.variables`
    /// and in the README's table; nothing outside LGSettings reads the
    /// environment directly (PATH for finding programs aside).
    @Test func everyVariableReadIsDocumented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let documented = Set(Settings.variables.map(\.name))
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(files.count > 20)
        let variable = try Regex(#"LUMINAGUARD_[A-Z_]+"#)
        var seen = Set<String>()
        for f in files {
            let text = try String(contentsOf: sources.appendingPathComponent(f), encoding: .utf8)
            for m in text.matches(of: variable) { seen.insert(String(text[m.range])) }
            if !f.hasPrefix("LGSettings/") && !f.hasPrefix("GuestAgent/") {
                for line in text.split(separator: "\n") where line.contains("environment[") || line.contains("getenv(") {
                    #expect(line.contains("\"PATH\""), "\(f) reads the environment outside the settings layer: \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(seen.count > 10)
        for v in seen.sorted() {
            #expect(documented.contains(v), "\(v) is read but not in Settings.variables")
        }
        for v in documented.sorted() {
            #expect(readme.contains("`\(v)`"), "\(v) is not in the README's table of environment variables")
        }
    }
}

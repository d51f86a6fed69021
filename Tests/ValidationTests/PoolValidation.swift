import Foundation
import Testing
import PerfMetrics
import Scenarios
import VMFixtures

extension Validation {
@Suite(.tags(.spawn, .baseline))
struct `Snapshot pool [tag:spawn] [tag:baseline]` {
    @Test func `cold boot vs snapshot restore vs pool checkout, side by side`() throws {
        let backend = try Fixture.qemu()
        let settings = try PoolSettings.fromEnvironment()
        let config = try Fixture.config()
        let result = try PoolScenario.run(backend: backend, settings: settings, config: config, progress: { Fixture.log($0) })
        Fixture.expectNoVMLeft()
        let file = try Fixture.writeAndCheck(result.file)
        let checkout = try #require(file["spawn_time_ms"]), restore = try #require(file["restore_to_ready_ms"])
        let cold = try #require(file["cold_spawn_ms"])
        #expect(checkout.count == config.iterations && restore.count == config.iterations && cold.count == config.iterations)
        #expect(checkout.median < restore.median && restore.median < cold.median)
        #expect(result.stats.hits >= config.iterations, "every measured checkout came from the pool")
        let floor = try #require(file[PlatformFloor.seriesName])
        #expect(floor.count == config.iterations && floor.warmupSamples.count == config.warmup)
        Fixture.expectWithinBudget(try Budget.checks(for: file, backend: backend))
        #expect(try #require(file["pool_total_pss_mb"]).median > 0)
    }
}
}

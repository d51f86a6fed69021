import Foundation
import PerfStats
import VMFixtures

/// What the harness adds to a spawn: the suite's cold spawn, and the same QEMU
/// command line started directly (sockets ready beforehand, the clock started
/// just before posix_spawn), each timed to the same guest marker, the agent's
/// readiness line. Runs alternate so that drift affects both alike.
public struct HarnessOverheadResult: Sendable {
    public var suiteMs: [Double]
    public var byHandMs: [Double]
    /// Medians of the two series; `ratio` is suite / by hand.
    public var suiteMedianMs: Double
    public var byHandMedianMs: Double
    public var ratio: Double
}

public enum HarnessOverhead {
    public static func measure(backend: QEMUBackend, pairs: Int, warmup: Int = 1, memoryMB: Int = 128,
                               progress: (String) -> Void = { _ in }) throws -> HarnessOverheadResult {
        var suite: [Double] = [], hand: [Double] = []
        for i in 0..<(warmup + pairs) {
            // Alternate which goes first within a pair.
            var a = 0.0, b = 0.0
            if i % 2 == 0 {
                a = try suiteOnce(backend, memoryMB); b = try byHandOnce(backend, memoryMB)
            } else {
                b = try byHandOnce(backend, memoryMB); a = try suiteOnce(backend, memoryMB)
            }
            if i >= warmup { suite.append(a); hand.append(b) }
            progress(String(format: "  overhead pair %d/%d: suite %.1f ms, by hand %.1f ms%@", i + 1, warmup + pairs, a, b, i < warmup ? " (warm-up)" : ""))
        }
        let sm = try Summary(suite, name: "suite spawns").median, hm = try Summary(hand, name: "hand-started boots").median
        return HarnessOverheadResult(suiteMs: suite, byHandMs: hand, suiteMedianMs: sm, byHandMedianMs: hm, ratio: sm / hm)
    }

    static func suiteOnce(_ backend: QEMUBackend, _ memoryMB: Int) throws -> Double {
        let vm = try backend.spawn(SpawnOptions(memoryMB: memoryMB))
        defer { vm.shutdown() }
        return Double(vm.timings.requestToHelloNs) / 1e6
    }

    /// The same QEMU command started directly, timed to the agent's first line.
    static func byHandOnce(_ backend: QEMUBackend, _ memoryMB: Int) throws -> Double {
        try PlatformFloor.firstLine(backend: backend, initramfs: backend.image.initramfs, memoryMB: memoryMB).ms
    }
}

import Foundation
import Testing
@testable import HostProbes
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ProcProbesTests {
    @Test func parsesTabSeparatedKBFields() {
        let f = ProcProbes.kbFields("VmRSS:\t   1234 kB\nThreads:\t3\nVmHWM:    10 kB\n")
        #expect(f["VmRSS"] == 1234 * 1024)
        #expect(f["VmHWM"] == 10 * 1024)
        #expect(f["Threads"] == 3)
    }

    /// A process that exits between open and read of its /proc file is an
    /// error, not a crash (readDataToEndOfFile traps on ESRCH).
    @Test func readingTheProcFileOfAProcessThatExitedThrows() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        let path = "/proc/\(child.processIdentifier)/stat"
        let h = try #require(FileHandle(forReadingAtPath: path))
        defer { try? h.close() }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(throws: ProbeError.self) { try ProcProbes.readAll(h, path: path) }
        #expect(throws: ProbeError.self) { try ProcProbes.read(path) }
    }

    @Test func hostCPUFromProcStatCountsAllButIdleAndIowait() throws {
        let t = try HostCPUMeter.parse("cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n")
        #expect(t.total == 1000 && t.busy == 160)
        #expect(throws: ProbeError.self) { try HostCPUMeter.parse("intr 1 2 3\n") }
        let live = try HostCPUMeter.times()
        #expect(live.total > 0 && live.busy <= live.total)
        let p = try HostCPUMeter().percent()
        #expect(p >= 0 && p <= 100)
    }

    @Test func ownMemoryGrowsWhenTouched() throws {
        let before = try ProcProbes.selfMemory()
        #expect(before.rssBytes > 1 << 20 && before.peakRSSBytes >= before.rssBytes && before.pssBytes > 0)
        // Touch 64 MiB and see RSS follow.
        let size = 64 << 20
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { p.deallocate() }
        for off in stride(from: 0, to: size, by: 4096) { p.storeBytes(of: 1, toByteOffset: off, as: UInt8.self) }
        let after = try ProcProbes.selfMemory()
        #expect(after.rssBytes >= before.rssBytes + UInt64(size) * 9 / 10)
    }

    @Test func childProcessesAreFoundInTheTree() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["5"]
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        #expect(ProcProbes.descendants(of: getpid()).contains(p.processIdentifier))
        let tree = try ProcProbes.treeMemory(of: getpid())
        #expect(tree.rssBytes > (try ProcProbes.selfMemory()).rssBytes)
    }

    @Test func cpuMeterAgreesWithTheProcessCPUClock() throws {
        // Compare with an independent source (CLOCK_PROCESS_CPUTIME_ID), so the
        // check holds however busy the machine is; /proc counts 10 ms ticks.
        func cpuNow() -> Double { var t = timespec(); clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 }
        let wallStart = Date(), cpuStart = cpuNow()
        let meter = try CPUMeter(pid: getpid())
        var x = 0.0
        while Date().timeIntervalSince(wallStart) < 0.5 { x += sin(x) + 1 }
        let pct = try meter.percent()
        let reference = 100 * (cpuNow() - cpuStart) / Date().timeIntervalSince(wallStart)
        #expect(x > 0)
        #expect(reference > 5, "the busy loop got no CPU at all")
        #expect(abs(pct - reference) < 15, "meter \(pct) % vs process CPU clock \(reference) %")
    }

    @Test func goneProcessIsAnError() {
        #expect(throws: ProbeError.self) { try ProcProbes.memory(of: 999_999_999) }
    }

    @Test func hostFacts() {
        let h = HostFacts.collect()
        #expect(h.cores >= 1 && h.memoryTotalMB > 100 && !h.kernel.isEmpty && !h.cpuModel.isEmpty)
        #expect(ProcProbes.loadAverage1() != nil && (ProcProbes.memAvailableMB() ?? 0) > 0)
    }
}

import Foundation
import AgentProtocol
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// What the harness adds to a spawn: the suite's cold spawn, and the same QEMU
/// command line started directly (sockets ready beforehand, the clock started
/// just before posix_spawn), each timed to the same guest marker, the agent's
/// readiness line. Runs alternate so that drift affects both alike.
public struct HarnessOverheadResult: Sendable {
    public var suiteMs: [Double]
    public var byHandMs: [Double]
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
        let sm = try median(suite), hm = try median(hand)
        return HarnessOverheadResult(suiteMs: suite, byHandMs: hand, ratio: sm / hm)
    }

    static func median(_ x: [Double]) throws -> Double {
        guard !x.isEmpty else { throw ConfigError("no samples") }
        let s = x.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func suiteOnce(_ backend: QEMUBackend, _ memoryMB: Int) throws -> Double {
        let vm = try backend.spawn(SpawnOptions(memoryMB: memoryMB))
        defer { vm.shutdown() }
        return Double(vm.timings.requestToHelloNs) / 1e6
    }

    static func byHandOnce(_ backend: QEMUBackend, _ memoryMB: Int) throws -> Double {
        let dir = try TempDirectory(prefix: "lghand")
        defer { dir.remove() }
        let agent = try UnixSocket.listen(at: dir.path + "/agent.sock")
        let qmp = try UnixSocket.listen(at: dir.path + "/qmp.sock")
        defer { close(agent); close(qmp) }
        let args = backend.arguments(directory: dir.path, memoryMB: memoryMB)
        let t0 = Monotonic.nanos()
        let child = try ChildProcess(executable: backend.qemuPath, arguments: args)
        defer { child.killNow() }
        let deadline = t0 + 60_000_000_000
        var ignored: [UInt8] = []
        guard UnixSocket.waitReadable(agent, watch: nil, watchOutput: &ignored, deadline: deadline) == .ready else {
            throw ConfigError("QEMU started by hand did not connect")
        }
        let fd = UnixSocket.acceptCloexec(agent)
        let channel = LineChannel(readFD: fd, writeFD: fd)
        _ = try channel.readLine(deadline: deadline)
        let t1 = Monotonic.nanos()
        channel.close()
        return Double(t1 - t0) / 1e6
    }
}

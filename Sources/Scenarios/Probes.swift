import Foundation
import AgentProtocol
import HostProbes
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Measurements on a running sandbox. Each returns raw samples.
public enum SandboxProbes {
    /// TCP round trips of 16 bytes to the guest's echo service through
    /// virtio-net and QEMU user networking (host side: 127.0.0.1 only).
    public static func networkRoundTripsMs(port: Int, count: Int, warmup: Int, timeout: Double = 10) throws -> (warmup: [Double], samples: [Double]) {
        let deadline = Monotonic.nanos() + UInt64(timeout * 1e9)
        // The guest's listener starts before its agent, but slirp accepts the
        // host side first and drops it if the guest refuses: retry until an
        // echo comes back.
        var fd: Int32 = -1
        var lastError = "no connection"
        while Monotonic.nanos() < deadline {
            guard let s = LoopbackPort.connect(port: port) else { lastError = "connect refused"; usleep(10_000); continue }
            let ch = LineChannel(readFD: s, writeFD: s, ownsFDs: false)
            do {
                try ch.send("hello")
                _ = try ch.readLine(deadline: min(deadline, Monotonic.nanos() + 2_000_000_000))
                fd = s
                break
            } catch {
                lastError = "\(error)"
                close(s)
                usleep(10_000)
            }
        }
        guard fd >= 0 else { throw ConfigError("the guest's echo service on 127.0.0.1:\(port) did not answer: \(lastError)") }
        let channel = LineChannel(readFD: fd, writeFD: fd)
        var warm: [Double] = [], samples: [Double] = []
        let payload = "0123456789abcde"  // 15 bytes + newline = 16
        for i in 0..<(warmup + count) {
            let t0 = Monotonic.nanos()
            try channel.send(payload)
            let echo = try channel.readLine(deadline: Monotonic.nanos() + UInt64(timeout * 1e9))
            let ms = Double(Monotonic.nanos() - t0) / 1e6
            guard echo == Array(payload.utf8) else { throw ConfigError("the guest echoed something else") }
            if i < warmup { warm.append(ms) } else { samples.append(ms) }
        }
        return (warm, samples)
    }

    /// Agent tool calls per minute: `windows` back-to-back windows of
    /// `seconds` each, each window's completed calls scaled to a minute.
    public static func throughputOpsPerMinute(session: AgentSession, windows: Int, seconds: Double) throws -> [Double] {
        _ = try session.call(.writeFile, ["path": .string("tp.txt"), "content": .string(String(repeating: "x", count: 256))])
        var out: [Double] = []
        for _ in 0..<windows {
            let start = Monotonic.nanos()
            let end = start + UInt64(seconds * 1e9)
            var ops = 0
            while Monotonic.nanos() < end {
                _ = try session.call(.readFile, ["path": .string("tp.txt")], timeout: 10)
                ops += 1
            }
            let elapsed = Double(Monotonic.nanos() - start) / 1e9
            out.append(Double(ops) * 60 / elapsed)
        }
        return out
    }

    /// CPU use of a process (percent of one core) over `seconds`: the window
    /// itself is the measurement, as `top` does it.
    public static func cpuPercent(pid: Int32, seconds: Double, during work: (() throws -> Void)? = nil) throws -> Double {
        let meter = try CPUMeter(pid: pid)
        if let work {
            let end = Monotonic.nanos() + UInt64(seconds * 1e9)
            while Monotonic.nanos() < end { try work() }
        } else {
            usleep(UInt32(seconds * 1e6))
        }
        return try meter.percent()
    }
}

/// Many sandboxes at once.
public enum Concurrency {
    public struct Result: Sendable {
        public var vms: [any SandboxVM]
        public var spawnMs: [Double]
        /// Every spawn that failed, refusals by admission control included.
        public var failures: [String]
        /// Of them, the spawns admission control refused (``AdmissionError``).
        public var refusals: [String]
        public var wallMs: Double
    }

    /// Spawns `count` sandboxes concurrently (at most `parallel` at a time).
    public static func spawn(backend: any VMBackend, count: Int, parallel: Int, options: SpawnOptions = SpawnOptions()) -> Result {
        spawn(count: count, parallel: parallel) { try backend.spawn(options) }
    }

    /// Runs `start` `count` times concurrently (at most `parallel` at a time).
    public static func spawn(count: Int, parallel: Int, _ start: @escaping @Sendable () throws -> any SandboxVM) -> Result {
        let vms = Collector<any SandboxVM>(), times = Collector<Double>(), failures = Collector<String>(), refusals = Collector<String>()
        let t0 = Monotonic.nanos()
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = max(1, parallel)
        for _ in 0..<count {
            queue.addOperation {
                do {
                    let vm = try start()
                    vms.append(vm)
                    times.append(Double(vm.timings.requestToReadyNs) / 1e6)
                } catch {
                    failures.append("\(error)")
                    if error is AdmissionError { refusals.append("\(error)") }
                }
            }
        }
        queue.waitUntilAllOperationsAreFinished()
        return Result(vms: vms.items, spawnMs: times.items, failures: failures.items, refusals: refusals.items,
                      wallMs: Double(Monotonic.nanos() - t0) / 1e6)
    }

    /// One call per sandbox, all at once; returns each call's latency (ms) and errors.
    public static func callAll(_ vms: [any SandboxVM], _ op: AgentOp, _ args: [String: JSON]) -> (ms: [Double], failures: [String]) {
        let ms = Collector<Double>(), failures = Collector<String>()
        DispatchQueue.concurrentPerform(iterations: vms.count) { i in
            let t0 = Monotonic.nanos()
            do {
                _ = try vms[i].session.call(op, args, timeout: 30)
                ms.append(Double(Monotonic.nanos() - t0) / 1e6)
            } catch {
                failures.append("\(error)")
            }
        }
        return (ms.items, failures.items)
    }
}

/// An array that concurrent work appends to.
public final class Collector<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T] = []
    public init() {}
    public func append(_ x: T) { lock.lock(); storage.append(x); lock.unlock() }
    public var items: [T] { lock.lock(); defer { lock.unlock() }; return storage }
}

import Foundation
import AgentProtocol
import PerfMetrics
import PerfStats
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The platform floor: what this host needs to boot any guest at all. The same
/// kernel, QEMU command line and `-append` as the backend's VMs, booting the
/// image's minimal initramfs (floor.cpio) whose /init only writes
/// ``marker`` to the agent channel. Machines of one kind differ ~2x in TCG
/// speed, so emulated budgets are ratios to the floor measured in the same run
/// (Fixtures/budgets/emulation-budgets.json), not absolute milliseconds.
public enum PlatformFloor {
    /// The line Fixtures/guest/floor-init writes to /dev/vport0p1.
    public static let marker = "lg-floor"
    /// The floor's series in spawn and pool metrics files.
    public static let seriesName = "platform_floor_ms"

    /// The floor series of a metrics file (not judged: a calibration, not a result).
    public static func series(warmup: [Double] = [], samples: [Double]) throws -> MetricSeries {
        try MetricSeries(metric: .spawn, unit: "ms",
                         description: "platform floor: QEMU start to the first line on the agent channel of a guest whose /init only announces itself (same kernel, QEMU flags and -append)",
                         series: MeasuredSeries(warmup: warmup, samples: samples), judged: false)
    }

    /// Milliseconds from starting QEMU to the floor's marker arriving on the
    /// agent socket. Throws if the image has no floor initramfs (custom
    /// LUMINAGUARD_KERNEL images, or an image built before the floor existed).
    public static func measure(backend: QEMUBackend, memoryMB: Int = 128, timeout: Double = 60) throws -> Double {
        guard let floor = backend.image.floorInitramfs else {
            throw ConfigError("the guest image \(backend.image.key) has no platform floor initramfs (floor.cpio); rebuild it with lgperf image build (custom LUMINAGUARD_KERNEL images have none)")
        }
        let boot = try firstLine(backend: backend, initramfs: floor, memoryMB: memoryMB, timeout: timeout)
        guard boot.line == marker else {
            throw ConfigError("the platform floor guest said '\(boot.line.prefix(200))', not '\(marker)'")
        }
        return boot.ms
    }

    /// Starts the backend's QEMU command line directly with `initramfs` (the
    /// agent socket listening beforehand, the clock started just before
    /// posix_spawn) and times the first line the guest writes on the agent
    /// channel; QEMU is ended before this returns. The floor and the harness
    /// overhead benchmark's hand-started boot both measure through this.
    public static func firstLine(backend: QEMUBackend, initramfs: String, memoryMB: Int = 128,
                                 timeout: Double = 60) throws -> (ms: Double, line: String) {
        // lgvm-PID.*: the orphan reaper and the suites' leak checks see these VMs too.
        let dir = try TempDirectory(prefix: "lgvm", base: backend.runDirectory)
        defer { dir.remove() }
        let agent = try UnixSocket.listen(at: dir.path + "/agent.sock")
        let qmp = try UnixSocket.listen(at: dir.path + "/qmp.sock")
        // The health port is on the same command line (same devices as every
        // VM); QEMU only needs something listening there, never read.
        let health = try UnixSocket.listen(at: dir.path + "/health.sock")
        defer { close(agent); close(qmp); close(health) }
        let errPath = dir.path + "/qemu.err"
        let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard errFD >= 0 else { throw ConfigError("cannot create \(errPath): \(String(cString: strerror(errno)))") }
        let args = backend.arguments(directory: dir.path, memoryMB: memoryMB, initramfs: initramfs)
        let t0 = Monotonic.nanos()
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: backend.qemuPath, arguments: args, fds: [1: errFD, 2: errFD])
        } catch {
            close(errFD)
            throw error
        }
        close(errFD)
        defer { child.killNow() }
        let deadline = t0 + UInt64(timeout * 1e9)
        func failure(_ what: String) -> ConfigError {
            var text = what
            if let status = child.poll() { text += " (QEMU \(ChildProcess.describe(status: status)))" }
            let err = ((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if !err.isEmpty { text += "\nQEMU said: \(err.suffix(1500))" }
            let console = (try? String(contentsOfFile: dir.path + "/console.log", encoding: .utf8)) ?? ""
            let tail = console.split(separator: "\n").suffix(15).joined(separator: "\n")
            if !tail.isEmpty { text += "\nguest console (last lines):\n\(tail)" }
            return ConfigError(text)
        }
        // QEMU connects to the agent socket during its start-up. Wait in short
        // slices so that a QEMU that exits before connecting fails at once.
        var ignored: [UInt8] = []
        while true {
            let slice = min(deadline, Monotonic.nanos() + 200_000_000)
            if UnixSocket.waitReadable(agent, watch: nil, watchOutput: &ignored, deadline: slice) == .ready { break }
            if child.poll() != nil { throw failure("QEMU exited before connecting its agent channel") }
            if Monotonic.nanos() >= deadline { throw failure("QEMU did not connect its agent channel within \(timeout) s") }
        }
        let fd = UnixSocket.acceptCloexec(agent)
        guard fd >= 0 else { throw failure("accept failed: \(String(cString: strerror(errno)))") }
        let channel = LineChannel(readFD: fd, writeFD: fd)
        defer { channel.close() }
        let line: [UInt8]
        do { line = try channel.readLine(deadline: deadline) } catch {
            throw failure("no line from the guest on its agent channel: \(error)")
        }
        let t1 = Monotonic.nanos()
        return (Double(t1 - t0) / 1e6, String(decoding: line, as: UTF8.self))
    }
}

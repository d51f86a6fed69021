import Foundation
import AgentProtocol
import HostProbes
import PerfMetrics
import PerfStats
import VMFixtures

/// One boot of one sandbox: its spawn timings and its memory after a small
/// standard workload (write, read and list a file through the agent).
public struct BootObservation: Sendable {
    public var timings: SpawnTimings
    public var memory: ProcessMemory
    /// VMM resident memory outside guest RAM (Firecracker's "overhead").
    public var overheadBytes: UInt64
    /// The platform floor boot interleaved with this spawn (QEMU only): ms
    /// from starting QEMU to the floor's marker (``PlatformFloor``).
    public var floorMs: Double? = nil
}

public enum BootSeries {
    /// Spawns `warmup + iterations` sandboxes one after another; each is
    /// ended before the next starts. With a QEMU backend and `floor` (the
    /// default), each spawn is paired with one platform floor boot
    /// (``PlatformFloor``), the floor first in every other pair, warm-ups
    /// included, so that drift affects both alike; the floor is kept in
    /// ``BootObservation/floorMs``. Progress lines go to `progress`.
    public static func run(backend: any VMBackend, config: RunConfig, options: SpawnOptions = SpawnOptions(),
                           floor: Bool = true,
                           progress: (String) -> Void = { _ in }) throws -> (warmup: [BootObservation], measured: [BootObservation]) {
        var warm: [BootObservation] = []
        var measured: [BootObservation] = []
        let qemu = floor ? backend as? QEMUBackend : nil
        let total = config.warmup + config.iterations
        for i in 0..<total {
            var floorMs: Double?
            if let q = qemu, i % 2 == 1 { floorMs = try PlatformFloor.measure(backend: q, memoryMB: options.memoryMB) }
            var obs = try observeOne(backend: backend, options: options)
            if let q = qemu, i % 2 == 0 { floorMs = try PlatformFloor.measure(backend: q, memoryMB: options.memoryMB) }
            obs.floorMs = floorMs
            let label = i < config.warmup ? "warm-up \(i + 1)/\(config.warmup)" : "\(i - config.warmup + 1)/\(config.iterations)"
            let floorText = floorMs.map { String(format: ", platform floor %.1f ms", $0) } ?? ""
            progress(String(format: "  spawn %@: %.1f ms to agent-ready (%@, %@)%@", label,
                            Double(obs.timings.requestToReadyNs) / 1e6, backend.kind.rawValue, backend.accelerator.rawValue, floorText))
            if i < config.warmup { warm.append(obs) } else { measured.append(obs) }
        }
        return (warm, measured)
    }

    static func observeOne(backend: any VMBackend, options: SpawnOptions) throws -> BootObservation {
        let vm = try backend.spawn(options)
        defer { vm.shutdown() }
        _ = try vm.session.call(.writeFile, ["path": .string("probe.txt"), "content": .string("luminaguard")])
        _ = try vm.session.call(.readFile, ["path": .string("probe.txt")])
        _ = try vm.session.call(.listDirectory, ["path": .string(".")])
        let mem = try ProcProbes.memory(of: vm.pid)
        let guestRAM = backend.kind == .process ? 0 : GuestRAM.residentBytes(pid: vm.pid, guestMB: options.memoryMB)
        return BootObservation(timings: vm.timings, memory: mem, overheadBytes: mem.rssBytes - min(mem.rssBytes, guestRAM))
    }

    /// The spawn metrics file: spawn time (judged) plus the parts it is made of.
    public static func spawnFile(backend: any VMBackend, config: RunConfig, warmup: [BootObservation],
                                 measured: [BootObservation], loadBefore: Double?, scope: String = "spawn") throws -> MetricsFile {
        var file = MetricsFile(scope: scope, phase: config.phase, iterations: measured.count, warmup: warmup.count,
                               labels: RunContext.labels(for: backend), host: RunContext.host(loadBefore: loadBefore),
                               tools: RunContext.tools(for: backend), commit: RunContext.commit,
                               notes: ["spawn_time_ms: from the spawn request to the guest agent's answer to a ping (ready)."])
        func ms(_ obs: [BootObservation], _ f: (SpawnTimings) -> UInt64) -> [Double] { obs.map { Double(f($0.timings)) / 1e6 } }
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "cold spawn to agent-ready",
                                                   series: MeasuredSeries(warmup: ms(warmup, \.requestToReadyNs), samples: ms(measured, \.requestToReadyNs)),
                                                   judged: true))
        file.add("vmm_process_start_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn request to VMM process started",
                                                          series: MeasuredSeries(warmup: ms(warmup, \.requestToProcessNs), samples: ms(measured, \.requestToProcessNs)),
                                                          judged: false))
        file.add("agent_hello_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn request to the agent's readiness announcement",
                                                    series: MeasuredSeries(warmup: ms(warmup, \.requestToHelloNs), samples: ms(measured, \.requestToHelloNs)),
                                                    judged: false))
        let guestInit = measured.compactMap(\.timings.guestKernelToInitMs)
        if guestInit.count == measured.count, !guestInit.isEmpty {
            file.add("guest_kernel_to_init_ms", try MetricSeries(metric: .spawn, unit: "ms",
                                                                 description: "guest clock (at the host TSC rate): kernel start to /init, the guest's own view",
                                                                 series: MeasuredSeries(samples: guestInit), judged: false))
            file.add("guest_kernel_to_agent_ms", try MetricSeries(metric: .spawn, unit: "ms",
                                                                  description: "guest clock: kernel start to the agent process starting",
                                                                  series: MeasuredSeries(samples: measured.compactMap(\.timings.guestKernelToAgentMs)), judged: false))
        }
        try addBreakdown(to: &file, warmup: warmup, measured: measured)
        let floor = measured.compactMap(\.floorMs)
        if floor.count == measured.count, !floor.isEmpty {
            file.add(PlatformFloor.seriesName, try PlatformFloor.series(warmup: warmup.compactMap(\.floorMs), samples: floor))
            let sm = try Summary(ms(measured, \.requestToReadyNs), name: "spawn_time_ms").median
            let fm = try Summary(floor, name: PlatformFloor.seriesName).median
            file.notes.append(String(format: "%@: the same kernel and QEMU command line booting a minimal initramfs to its first line on the agent channel, one boot beside each spawn; spawn median / floor median = %.2f (%.1f / %.1f ms).",
                                     PlatformFloor.seriesName, sm / fm, sm, fm))
        }
        if let caveat = file.labels.caveat { file.notes.append("Caveat: \(caveat).") }
        return file
    }

    /// Where a cold boot's time goes, boot by boot, from the host's clock and
    /// the guest's own (its uptime, at the host's TSC rate): QEMU start to
    /// the guest kernel's clock starting, kernel to /init, /init to the agent
    /// starting, the agent's own set-up to its hello, hello to the first ping
    /// answered. Only for guests whose agent reports its hello uptime.
    static func addBreakdown(to file: inout MetricsFile, warmup: [BootObservation], measured: [BootObservation]) throws {
        struct Part { let name: String; let description: String; let value: (SpawnTimings) -> Double? }
        let parts = [
            Part(name: "boot_qemu_to_kernel_ms", description: "boot breakdown: spawn request to the guest kernel's clock starting (QEMU start, PVH entry, early kernel)") { t in
                t.guestKernelToHelloMs.map { Double(t.requestToHelloNs) / 1e6 - $0 } },
            Part(name: "boot_kernel_to_init_ms", description: "boot breakdown: guest kernel start to /init starting (initcalls, initramfs unpacking)") { $0.guestKernelToInitMs },
            Part(name: "boot_init_to_agent_ms", description: "boot breakdown: /init start to the agent's own code running (the Swift runtime's start, /init's mounts)") { t in
                guard let i = t.guestKernelToInitMs, let a = t.guestKernelToAgentMs else { return nil }
                return a - i },
            Part(name: "boot_agent_to_hello_ms", description: "boot breakdown: agent start to its readiness announcement (its own set-up)") { t in
                guard let a = t.guestKernelToAgentMs, let h = t.guestKernelToHelloMs else { return nil }
                return h - a },
            Part(name: "boot_hello_to_ready_ms", description: "boot breakdown: the agent's announcement to its answer to the first ping (host clock)") { t in
                Double(t.requestToReadyNs - min(t.requestToReadyNs, t.requestToHelloNs)) / 1e6 },
        ]
        var medians: [String] = []
        for part in parts {
            let samples = measured.compactMap { part.value($0.timings) }
            guard samples.count == measured.count, !samples.isEmpty else { return }
            let warm = warmup.compactMap { part.value($0.timings) }
            file.add(part.name, try MetricSeries(metric: .spawn, unit: "ms", description: part.description,
                                                 series: MeasuredSeries(warmup: warm.count == warmup.count ? warm : [], samples: samples), judged: false))
            medians.append(String(format: "%@ %.1f", String(part.name.dropFirst(5).dropLast(3)), try Summary(samples, name: part.name).median))
        }
        file.notes.append("Boot breakdown, medians in ms (boot_*_ms; the guest's parts by its own clock, CLOCK_BOOTTIME): " + medians.joined(separator: ", ") + ".")
    }

    /// The memory metrics file: per-sandbox footprint (judged) and its parts.
    public static func memoryFile(backend: any VMBackend, config: RunConfig, warmup: [BootObservation],
                                  measured: [BootObservation], loadBefore: Double?, harnessPeakMB: Double) throws -> MetricsFile {
        var file = MetricsFile(scope: "memory", phase: config.phase, iterations: measured.count, warmup: warmup.count,
                               labels: RunContext.labels(for: backend), host: RunContext.host(loadBefore: loadBefore),
                               tools: RunContext.tools(for: backend), commit: RunContext.commit,
                               notes: ["memory_mb: PSS of one sandbox's VMM process (guest RAM it touched included) after a small standard workload; MB = 2^20 bytes.",
                                       "vmm_overhead_mb: VMM resident memory outside the guest RAM mapping, as Firecracker measures overhead."])
        func mb(_ obs: [BootObservation], _ f: (BootObservation) -> UInt64) -> [Double] { obs.map { Double(f($0)) / 1_048_576 } }
        file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "per-sandbox PSS after a standard workload",
                                               series: MeasuredSeries(warmup: mb(warmup, \.memory.pssBytes), samples: mb(measured, \.memory.pssBytes)),
                                               judged: true))
        file.add("vm_rss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "per-sandbox RSS after a standard workload",
                                               series: MeasuredSeries(warmup: mb(warmup, \.memory.rssBytes), samples: mb(measured, \.memory.rssBytes)),
                                               judged: false))
        if backend.kind != .process {
            file.add("vmm_overhead_mb", try MetricSeries(metric: .memory, unit: "MB", description: "VMM RSS excluding guest RAM",
                                                         series: MeasuredSeries(warmup: mb(warmup, \.overheadBytes), samples: mb(measured, \.overheadBytes)),
                                                         judged: false))
        }
        file.add("harness_peak_rss_mb", try MetricSeries(metric: .memory, unit: "MB", description: "the harness's own peak RSS (VmHWM) at the end of the run",
                                                         series: MeasuredSeries(samples: [harnessPeakMB]), judged: false))
        if let caveat = file.labels.caveat { file.notes.append("Caveat: \(caveat).") }
        return file
    }
}

/// Resident bytes of a VMM's guest RAM mapping, from /proc/PID/smaps: the
/// anonymous mapping whose size matches the guest's memory.
public enum GuestRAM {
    public static func residentBytes(pid: Int32, guestMB: Int) -> UInt64 {
        guard let text = try? ProcProbes.read("/proc/\(pid)/smaps") else { return 0 }
        let wantKB = UInt64(guestMB) * 1024
        var sizeKB: UInt64 = 0
        var best: UInt64 = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("Size:") {
                sizeKB = UInt64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            } else if line.hasPrefix("Rss:"), sizeKB >= wantKB, sizeKB <= wantKB + 4096 {
                let rss = (UInt64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
                best = max(best, rss)
            }
        }
        return best
    }
}

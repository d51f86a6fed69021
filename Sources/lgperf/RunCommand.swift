import ArgumentParser
import Foundation
import HostProbes
import PerfMetrics
import Scenarios
import VMFixtures

/// The main job: baseline suites on the best backend, a results table,
/// metrics files under reports/metrics/.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the baseline benchmarks (spawn, memory) and write metrics files.",
        discussion: """
        Environment: ITERATIONS (default 100, quick 10), WARMUP (default 3, quick 1), \
        LUMINAGUARD_BACKEND (auto|qemu|firecracker|process), LUMINAGUARD_ACCEL (auto|kvm|tcg), \
        LUMINAGUARD_REPORTS_DIR (default ./reports), LUMINAGUARD_READY_TIMEOUT_SECS (default 30).
        """)

    @Flag(help: "Quick mode: 10 iterations, 1 warm-up.")
    var quick = false

    @Option(help: "Backend: auto, qemu, firecracker or process (overrides LUMINAGUARD_BACKEND).")
    var backend: String?

    func run() throws {
        ProcessRegistry.shared.installSignalHandlers { sig in
            FileHandle.standardError.write(Data("\n[lgperf] interrupted (signal \(sig)): ending every VM started by this run\n".utf8))
        }
        let config = try RunConfig.fromEnvironment(quick: quick)
        let log = { (s: String) in FileHandle.standardError.write(Data((s + "\n").utf8)) }
        let chosen = try BackendChoice.resolve(backend ?? ProcessInfo.processInfo.environment["LUMINAGUARD_BACKEND"], log: log)
        log("[lgperf] backend \(chosen.kind.rawValue), accelerator \(chosen.accelerator.rawValue); \(config.iterations) iterations after \(config.warmup) warm-up")
        if chosen.kind == .process {
            log("[lgperf] NOTE: process backend = simulation mode: no VM is started; numbers are labelled 'process'.")
        } else if chosen.accelerator == .tcg {
            log("[lgperf] NOTE: TCG = software emulation (no usable hardware KVM here); VM numbers are far slower than on KVM and are labelled 'tcg'.")
        }
        let load = ProcProbes.loadAverage1()
        let boots = try BootSeries.run(backend: chosen, config: config, progress: log)
        let peak = (try? ProcProbes.selfMemory().peakRSSMB) ?? 0
        let files = [
            try BootSeries.spawnFile(backend: chosen, config: config, warmup: boots.warmup, measured: boots.measured, loadBefore: load),
            try BootSeries.memoryFile(backend: chosen, config: config, warmup: boots.warmup, measured: boots.measured,
                                      loadBefore: load, harnessPeakMB: peak),
        ]
        let dir = RunContext.metricsDirectory
        for f in files {
            let url = try f.write(into: dir)
            log("[lgperf] wrote \(url.path)")
        }
        print(ResultsTable.render(files), terminator: "")
        if let caveat = files.first?.labels.caveat { print("Note: \(caveat).") }
    }
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Say which backends can run here, and why the others cannot.")

    func run() throws {
        let survey = BackendChoice.survey()
        for b in survey {
            print("\(b.kind.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(b.usable ? "usable    " : "NOT usable") \(b.detail)")
            if let fix = b.fix, !b.usable { print(String(repeating: " ", count: 24) + "fix: \(fix)") }
        }
        do {
            let chosen = try BackendChoice.resolve(buildImage: false)
            print("default backend here: \(chosen.kind.rawValue) (\(chosen.accelerator.rawValue))")
        } catch {
            let qemuUsable = survey.contains { $0.kind == .qemu && $0.usable }
            print("default backend here: \(qemuUsable ? "qemu, once the guest image is built (lgperf image build)" : "none: \(error)")")
        }
    }
}

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image", abstract: "Build or inspect the guest image.",
                                                    subcommands: [Build.self, Status.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build the guest kernel and initramfs (cached by input hash).")
        func run() throws {
            let image = try GuestImage.build(progress: true)
            print("kernel:    \(image.kernel)\ninitramfs: \(image.initramfs)\nfloor:     \(image.floorInitramfs ?? "none")\nkey:       \(image.key)")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say what is cached and where.")
        func run() throws {
            print("cache: \(ProjectPaths.cacheDirectory)")
            guard let image = GuestImage.current() else {
                print("guest image: not built (lgperf image build)")
                throw ExitCode(1)
            }
            do {
                try image.validate()
                print("guest image: \(image.key) (valid)\nkernel:      \(image.kernel)\ninitramfs:   \(image.initramfs)\nfloor:       \(image.floorInitramfs ?? "none (rebuild with lgperf image build)")")
            } catch {
                print("guest image: \(image.key) is INVALID: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

import Foundation
import Testing
import HostProbes
import PerfMetrics
import Scenarios
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Shared set-up for the validation suites.
enum Fixture {
    /// The backend the suites measure: the best one here (QEMU under TCG on a
    /// host without hardware KVM). With LUMINAGUARD_REQUIRE_VM=1 (set by
    /// scripts/test.sh wherever QEMU is installed) falling back to the
    /// process backend is a failure, not a silent downgrade.
    static func backend() throws -> any VMBackend {
        let b = try BackendChoice.resolve(log: { print($0) })
        if ProcessInfo.processInfo.environment["LUMINAGUARD_REQUIRE_VM"] == "1" && b.kind == .process {
            throw VMError("LUMINAGUARD_REQUIRE_VM=1 but only the process backend is available")
        }
        if var q = b as? QEMUBackend { q.runDirectory = runDirectory; return q }
        if b.kind == .process { return try processBackend() }
        return b
    }

    static func qemu() throws -> QEMUBackend {
        var q = try BackendChoice.qemu()
        q.runDirectory = runDirectory
        return q
    }

    static func processBackend() throws -> ProcessBackend {
        try ProcessBackend(runDirectory: runDirectory)
    }

    /// The validation suites' own run directory: their VMs' sockets and
    /// workspaces live here, which tells their processes from those of other
    /// suites running in the same `swift test` process.
    nonisolated(unsafe) static let runDirectory: String = {
        let path = "/tmp/lgval-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// Quick mode unless ITERATIONS is set: a test run is a check, the main
    /// job is the measurement.
    static func config(phase: Phase = .baseline) throws -> RunConfig {
        let env = ProcessInfo.processInfo.environment
        return try RunConfig.fromEnvironment(quick: env["ITERATIONS"] == nil, phase: phase)
    }

    static func log(_ s: String) { print(s) }

    /// VMM (or agent) processes started by the validation suites.
    static func vmmChildren() -> [Int32] {
        ProcProbes.descendants(of: getpid()).filter { pid in
            let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return cmd.contains(runDirectory + "/")
        }
    }

    /// Fails the test if any VM started by it is still running.
    static func expectNoVMLeft(sourceLocation: SourceLocation = #_sourceLocation) {
        let left = vmmChildren()
        #expect(left.isEmpty, "VMM processes left running: \(left)", sourceLocation: sourceLocation)
        for p in left { kill(p, SIGKILL) }
    }

    /// Writes a metrics file where the main job's are (reports/metrics) and
    /// reads it back through the validating reader.
    static func writeAndCheck(_ file: MetricsFile) throws -> MetricsFile {
        let url = try file.write(into: RunContext.metricsDirectory)
        log("wrote \(url.path)")
        return try MetricsFile.read(from: url)
    }
}

/// Every validation suite nests in this one, so that no two measuring tests
/// run at once (`.serialized` covers sub-suites), however `swift test` is called.
@Suite(.serialized) struct Validation {}

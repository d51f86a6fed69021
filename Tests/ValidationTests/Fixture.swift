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
        return b
    }

    static func qemu() throws -> QEMUBackend {
        try BackendChoice.qemu()
    }

    /// Quick mode unless ITERATIONS is set: a test run is a check, the main
    /// job is the measurement.
    static func config(phase: Phase = .baseline) throws -> RunConfig {
        let env = ProcessInfo.processInfo.environment
        return try RunConfig.fromEnvironment(quick: env["ITERATIONS"] == nil, phase: phase)
    }

    static func log(_ s: String) { print(s) }

    /// VMM processes that are children of this test process.
    static func vmmChildren() -> [Int32] {
        ProcProbes.descendants(of: getpid()).filter { pid in
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            return comm.hasPrefix("qemu-system") || comm.hasPrefix("firecracker") || comm.hasPrefix("lg-guest-agent")
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

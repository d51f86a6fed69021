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
    /// Swift Testing captures a backtrace for every Swift error thrown in its
    /// process unless this is 0. Code that throws on its normal path (the MCP
    /// SDK's JSON decoding tries one type after another) then runs 2-3x
    /// slower than in any other process: MCP echo 1.35 ms vs 0.42 ms, read_file
    /// through MCP 1.95 ms vs 0.97 ms, same build. The scripts set it to 0.
    static let backtracingThrownErrors = ProcessInfo.processInfo.environment["SWT_SWIFT_ERROR_BACKTRACING_ENABLED"] != "0"

    static func writeAndCheck(_ file: MetricsFile) throws -> MetricsFile {
        var file = file
        if backtracingThrownErrors {
            log("warning: SWT_SWIFT_ERROR_BACKTRACING_ENABLED is not 0: Swift Testing captures a backtrace for every thrown error, which slows code that throws on its normal path (MCP round trips 2-3x); scripts/test.sh and the main job set it to 0")
            file.notes.append("Measured in a Swift Testing process that captured a backtrace for every thrown Swift error (SWT_SWIFT_ERROR_BACKTRACING_ENABLED was not 0): code that throws on its normal path, such as the MCP SDK's JSON decoding, ran 2-3x slower than it does elsewhere.")
        }
        let url = try file.write(into: RunContext.metricsDirectory)
        log("wrote \(url.path)")
        return try MetricsFile.read(from: url)
    }
}

extension Fixture {
    /// Logs every budget check and fails the test with the text of each one
    /// that failed (an empty list fails too: nothing judged is not a pass).
    static func expectWithinBudget(_ checks: [BudgetCheck], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!checks.isEmpty, "no budget check applied", sourceLocation: sourceLocation)
        for c in checks { log("budget: \(c)") }
        let failed = checks.filter { !$0.ok }
        #expect(failed.isEmpty, "over budget: \(failed.map(\.text).joined(separator: "; "))", sourceLocation: sourceLocation)
    }
}

/// Every validation suite nests in this one, so that no two measuring tests
/// run at once (`.serialized` covers sub-suites), however `swift test` is called.
@Suite(.serialized) struct Validation {}

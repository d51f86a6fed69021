import ArgumentParser
import Foundation
import HostProbes
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// `lgperf chaos inject KIND`: a fault injected into a sandbox that another
/// process runs (an `lgperf mcp-server`, a pool, a benchmark), found by the
/// VMM's pid, by the harness's pid, or by its VM run directory.
struct ChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos", abstract: "Inject faults into running sandboxes.",
        subcommands: [Inject.self, Kinds.self])

    struct Kinds: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the fault kinds, and which can be injected from outside the harness.")
        func run() throws {
            for k in FaultKind.allCases {
                let how = k.notInjectableHere ?? (k.processLevel ? "by pid: lgperf chaos inject \(k.rawValue) --pid|--harness|--run-dir" : "inside a benchmark only (needs the harness's own channel to the guest or the pool's snapshot): lgperf run --phase chaos")
                print("\(k.rawValue): \(how)")
            }
        }
    }

    struct Inject: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inject a process-level fault (vmm_kill, vmm_freeze) into a running VMM.",
            discussion: "Target one of: --pid (the QEMU process), --harness (the lgperf process running the sandboxes: every QEMU it started, or the first with --first), --run-dir (the QEMU whose command line names that VM directory). vmm_freeze sends SIGSTOP, then SIGCONT after --thaw-after seconds (0: leave it frozen).")

        @Argument(help: "Fault kind: \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")).")
        var kind: String
        @Option(help: "PID of the VMM (QEMU) process.") var pid: Int32?
        @Option(help: "PID of the harness that runs the sandboxes.") var harness: Int32?
        @Option(help: "A VM run directory (e.g. /tmp/lgvm-1234.AbCdEf).") var runDir: String?
        @Flag(help: "With --harness: only its first VMM.") var first = false
        @Option(help: "vmm_freeze: seconds until SIGCONT (0: stay frozen).") var thawAfter: Double = 2

        func validate() throws {
            guard let k = FaultKind(rawValue: kind) else {
                throw ValidationError("unknown fault kind '\(kind)': expected one of \(FaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard k.processLevel else {
                throw ValidationError("\(kind) cannot be injected from outside the harness: \(k.notInjectableHere ?? "it needs the harness's own channel to the guest (agent_crash, kernel_panic, workspace_full), the pool's snapshot (snapshot_corrupt) or QMP (network_partition); lgperf run --phase chaos injects it")")
            }
            guard [pid != nil, harness != nil, runDir != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one target: --pid, --harness or --run-dir")
            }
        }

        func targets() throws -> [Int32] {
            func isQEMU(_ p: Int32) -> Bool { cmdline(p).contains("qemu-system") }
            if let pid {
                guard isQEMU(pid) else { throw ValidationError("process \(pid) is not a QEMU process") }
                return [pid]
            }
            if let harness {
                let vmms = ProcProbes.descendants(of: harness).filter(isQEMU)
                guard !vmms.isEmpty else { throw ValidationError("process \(harness) runs no QEMU process") }
                return first ? [vmms[0]] : vmms
            }
            let dir = (runDir ?? "").hasSuffix("/") ? runDir! : runDir! + "/"
            let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            let vmms = all.compactMap(Int32.init).filter { isQEMU($0) && cmdline($0).contains(dir) }
            guard !vmms.isEmpty else { throw ValidationError("no QEMU process names \(dir) on its command line") }
            return vmms
        }

        func cmdline(_ pid: Int32) -> String {
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").replacingOccurrences(of: "\0", with: " ")
        }

        func run() throws {
            let k = FaultKind(rawValue: kind)!
            var frozen: [InjectedFault] = []
            for p in try targets() {
                let f = try FaultInjector.inject(k, pid: p)
                print("\(k.rawValue): pid \(p)")
                if k == .vmmFreeze { frozen.append(f) }
            }
            if !frozen.isEmpty && thawAfter > 0 {
                usleep(useconds_t(thawAfter * 1e6))
                for f in frozen { try f.undo() }
                print("thawed (SIGCONT) after \(thawAfter) s")
            }
        }
    }
}

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
        static let configuration = CommandConfiguration(abstract: "List the fault kinds, and where each can be injected from outside the harness.")
        func run() throws {
            for k in FaultKind.allCases {
                print("\(k.rawValue): \(ChaosCommand.applicability(k))")
            }
        }
    }

    /// Where `kind` applies, for `lgperf chaos kinds` and the README.
    static func applicability(_ k: FaultKind) -> String {
        if let why = k.notInjectableHere { return "not on this host: \(why)" }
        var parts: [String] = []
        switch k {
        case .vmmKill, .vmmFreeze:
            parts.append("mcp-server and pool serve through their control socket (--harness PID | --control PATH: verdict, detection time, replacement)")
            parts.append("any VMM by pid (--pid | --harness PID of a process without a control socket | --run-dir)")
        case .agentCrash, .kernelPanic, .workspaceFull:
            parts.append("mcp-server and pool serve through their control socket (--harness PID | --control PATH)")
        case .snapshotCorrupt:
            parts.append("pool serve (its private snapshot, through its control socket); not mcp-server (it restores no snapshot of its own)")
        case .networkPartition, .networkDegraded:
            parts.append("not mcp-server or pool serve (their sandboxes have no NIC: they answer why)")
        }
        parts.append("lgperf run --phase chaos")
        return parts.joined(separator: "; ")
    }

    struct Inject: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inject a fault into sandboxes another process runs.",
            discussion: """
                Any kind, through the control socket of a running lgperf mcp-server or lgperf pool serve \
                (<LUMINAGUARD_RUN_DIR>/lgperf-control-<pid>.sock, printed on its stderr at start): --harness PID \
                or --control PATH. That process injects the fault into its own sandbox with its own channels, \
                watches it with its own health checker and answers: which sandbox, when, the verdict and its \
                detection time, whether the fault was undone, and whether (and when) a replacement answered. \
                A kind that cannot apply to that process says why (exit 2). \
                The process-level kinds (vmm_kill, vmm_freeze) also work by pid on any VMM: --pid (the QEMU \
                process), --run-dir (the QEMU whose command line names that VM directory), or --harness PID of a \
                process without a control socket (every QEMU it started, or the first with --first); vmm_freeze \
                then sends SIGSTOP, and SIGCONT after --thaw-after seconds (0: leave it frozen). \
                Exit codes: 0 injected, 1 failed, 2 not applicable to that process, 64 bad arguments.
                """)

        @Argument(help: "Fault kind: \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")).")
        var kind: String
        @Option(help: "PID of the VMM (QEMU) process (vmm_kill, vmm_freeze).") var pid: Int32?
        @Option(help: "PID of the process that runs the sandboxes (its control socket; without one, its QEMU processes by pid).") var harness: Int32?
        @Option(help: "Path of a control socket.") var control: String?
        @Option(help: "A VM run directory (e.g. /tmp/lgvm-1234.AbCdEf) (vmm_kill, vmm_freeze).") var runDir: String?
        @Flag(help: "With --harness by pid: only its first VMM.") var first = false
        @Option(help: "vmm_freeze by pid: seconds until SIGCONT (0: stay frozen).") var thawAfter: Double = 2
        @Option(help: "Control socket: seconds a reversible fault (vmm_freeze, workspace_full, network kinds) stays after the verdict before it is undone.") var hold: Double = 0
        @Flag(help: "Control socket: leave a reversible fault in place.") var keep = false
        @Option(help: "Control socket: seconds to wait for the reply.") var timeout: Double = 180
        @Flag(help: "Control socket: print the reply as JSON.") var json = false

        func validate() throws {
            guard FaultKind(rawValue: kind) != nil else {
                throw ValidationError("unknown fault kind '\(kind)': expected one of \(FaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard [pid != nil, harness != nil, runDir != nil, control != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one target: --harness, --control, --pid or --run-dir")
            }
            guard hold >= 0 && hold <= 3600 else { throw ValidationError("--hold must be 0-3600 seconds") }
            guard timeout > 0 && timeout <= 3600 else { throw ValidationError("--timeout must be 0-3600 seconds") }
            let k = FaultKind(rawValue: kind)!
            if !k.processLevel, pid != nil || runDir != nil {
                throw ValidationError("\(kind) cannot be injected by pid: it needs the sandbox's own channels (health port, QMP, snapshot); give --harness PID of an lgperf mcp-server or lgperf pool serve, or --control PATH")
            }
        }
        func targets() throws -> [Int32] {
            // By its name: a jail's bubblewrap has QEMU on its command line too.
            func isQEMU(_ p: Int32) -> Bool {
                ((try? String(contentsOfFile: "/proc/\(p)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu-system")
            }
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

        /// The control socket to use, or nil for the by-pid path.
        func controlSocket(_ k: FaultKind) throws -> String? {
            if let control { return control }
            guard let harness else { return nil }
            let runDirectory = try CommandSettings.load().runDirectory
            do {
                let path = try ChaosControl.socket(ofProcess: harness, runDirectory: runDirectory)
                if access(path, F_OK) == 0 || !k.processLevel { return path }
            } catch {
                Console.error("chaos inject \(kind): \(error)")
                throw ExitCode(1)
            }
            // No control socket: the process-level kinds go by pid.
            Console.line("note: process \(harness) has no control socket (\(ChaosControl.socketPath(runDirectory: runDirectory, pid: harness))): injecting by pid, without its health checker's verdict")
            return nil
        }

        func cmdline(_ pid: Int32) -> String {
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").replacingOccurrences(of: "\0", with: " ")
        }

        func run() throws {
            let k = FaultKind(rawValue: kind)!
            if let path = try controlSocket(k) {
                let request = ChaosControl.Request(kind: k, holdSeconds: keep ? nil : hold)
                let reply: ChaosControl.Reply
                do { reply = try ChaosControl.send(request, to: path, timeout: timeout) } catch {
                    Console.error("chaos inject \(kind): \(error)")
                    throw ExitCode(1)
                }
                print(json ? reply.json.serialized() : reply.text)
                if reply.notApplicable != nil { throw ExitCode(2) }
                if !reply.injected { throw ExitCode(1) }
                return
            }
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

import Foundation
import LGSettings
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The guide's "simulation mode", made of real processes: the guest agent runs
/// as a local child and is ready when it has answered, exactly as in a VM.
/// Its numbers are labelled `backend: process`, `accelerator: none`, and are
/// never VM figures.
///
/// Jailed (the default) the agent runs under bubblewrap (``ProcessJail``):
/// as an unprivileged user, in its own pid, net (only `lo`), ipc, uts, user
/// and mount namespaces, seeing a read-only /usr, a private /tmp and /proc
/// and its workspace (a size-limited tmpfs) at /workspace, inside its own
/// cgroup (memory, pids, CPU). Unconfined it is a plain host process: for
/// benchmarking only, never picked on its own.
public struct ProcessBackend: VMBackend {
    public let kind = BackendKind.process
    public let accelerator = Accelerator.none
    public let agentPath: String
    public let confinement: ProcessConfinement
    public var limits: JailLimits

    /// Where each agent's workspace goes (default: LUMINAGUARD_RUN_DIR or /tmp).
    public var runDirectory: String?

    /// - Throws: when jailed and bubblewrap (or root with cgroups) is
    ///   missing: the error says what to install.
    public init(agentPath: String? = nil, runDirectory: String? = nil, confinement: ProcessConfinement = .jailed,
                limits: JailLimits = JailLimits()) throws {
        if confinement == .jailed {
            if let why = ProcessJail.unavailableReason() { throw why }
            JailReaper.reap()
        }
        self.agentPath = try agentPath ?? AgentBinary.locate()
        self.runDirectory = runDirectory
        self.confinement = confinement
        self.limits = limits
    }

    public var contains: Bool { confinement == .jailed }

    public func spawn(_ options: SpawnOptions) throws -> any SandboxVM {
        try options.admissionControl.spawn(.process, memoryMB: options.memoryMB) { try start(options, ticket: $0) }
    }

    private func start(_ options: SpawnOptions, ticket: AdmissionTicket) throws -> ChildSandbox {
        let t0 = Monotonic.nanos()
        let deadline = t0 + UInt64(options.readyTimeout * 1e9)
        let directory = try TempDirectory(prefix: "lg-proc", base: runDirectory)
        var jail: JailResources?
        let program: String, arguments: [String]
        do {
            switch confinement {
            case .unconfined:
                program = agentPath
                arguments = ["--stdio", "--mode", "process", "--workspace", directory.path, "--isolate"]
            case .jailed:
                // The jail's user must pass through the directory to its workspace.
                chmod(directory.path, 0o711)
                let id = (directory.path as NSString).lastPathComponent
                let cgroup = try SandboxCgroup(name: id, memoryMB: options.memoryMB, pids: limits.pids, cpuCores: limits.cpuCores)
                let workspace: SizedWorkspace
                do { workspace = try SizedWorkspace(path: directory.path + "/workspace", sizeMB: limits.workspaceMB, owner: ProcessJail.uid) } catch {
                    cgroup.remove(); throw error
                }
                jail = JailResources(cgroup: cgroup, workspace: workspace)
                let argv = try ProcessJail.command(agent: agentPath, hostWorkspace: workspace.path,
                                                   cgroupProcFiles: cgroup.procsFiles, limits: limits)
                program = argv[0]; arguments = Array(argv.dropFirst())
            }
        } catch {
            jail?.release(); directory.remove()
            throw error
        }
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            jail?.release(); directory.remove()
            throw VMError("socketpair failed: \(String(cString: strerror(errno)))")
        }
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: program, arguments: arguments, environment: confinement == .jailed ? ["PATH": "/usr/bin:/bin"] : nil,
                                     fds: [0: pair[1], 1: pair[1]])
        } catch {
            close(pair[0]); close(pair[1])
            jail?.release(); directory.remove()
            throw VMError("cannot start the guest agent \(agentPath): \(error)", fix: "swift build --product lg-guest-agent")
        }
        close(pair[1])
        let tProcess = Monotonic.nanos()
        let channel = LineChannel(readFD: pair[0], writeFD: pair[0])
        do {
            let session = try AgentSession(channel: channel, readyDeadline: deadline)
            let tHello = Monotonic.nanos()
            _ = try session.call(.ping, timeout: Double(deadline > tHello ? deadline - tHello : 1) / 1e9)
            let tReady = Monotonic.nanos()
            let timings = SpawnTimings(requestToReadyNs: tReady - t0, requestToProcessNs: tProcess - t0,
                                       requestToHelloNs: tHello - t0, guestKernelToInitMs: nil,
                                       guestKernelToAgentMs: nil, path: "cold")
            return ChildSandbox(backend: .process, accelerator: .none, child: child, session: session,
                                directory: directory, timings: timings, grace: 1, ticket: ticket, jail: jail,
                                hostWorkspace: jail?.workspace.path ?? directory.path)
        } catch {
            child.killNow()
            jail?.release()
            directory.remove()
            let hint = confinement == .jailed ? " (jailed with bubblewrap; exit status \(child.poll().map(ChildProcess.describe(status:)) ?? "running"))" : ""
            throw VMError("the guest agent (process backend) did not become ready\(hint): \(error)")
        }
    }
}

/// What a jailed process sandbox holds on the host besides its process.
struct JailResources: Sendable {
    let cgroup: SandboxCgroup
    let workspace: SizedWorkspace
    /// Kills what is left of the sandbox and frees its cgroup and workspace.
    func release() {
        cgroup.remove()
        workspace.unmount()
    }
}

/// A sandbox that is one child process (the agent itself, or a VMM that
/// needs no separate control channel) with its private directory.
final class ChildSandbox: SandboxVM, @unchecked Sendable {
    let id: String
    let backend: BackendKind
    let accelerator: Accelerator
    let child: ChildProcess
    let session: AgentSession
    let directory: TempDirectory
    let timings: SpawnTimings
    /// Seconds a SIGTERM gets before SIGKILL on shutdown (0: SIGKILL at once).
    let grace: Double
    /// Its place among the sandboxes admission counts.
    let ticket: AdmissionTicket
    /// A jailed process sandbox's cgroup and workspace.
    let jail: JailResources?
    let hostWorkspace: String?

    init(backend: BackendKind, accelerator: Accelerator, child: ChildProcess, session: AgentSession,
         directory: TempDirectory, timings: SpawnTimings, grace: Double, ticket: AdmissionTicket,
         jail: JailResources? = nil, hostWorkspace: String? = nil) {
        self.backend = backend; self.accelerator = accelerator; self.child = child; self.session = session
        self.directory = directory; self.timings = timings; self.grace = grace; self.ticket = ticket
        self.jail = jail; self.hostWorkspace = hostWorkspace
        id = (directory.path as NSString).lastPathComponent
    }

    var pid: Int32 { child.pid }
    var isRunning: Bool { child.isRunning }

    func shutdown() {
        if grace > 0 { child.terminate(grace: grace) } else { child.killNow() }
        session.channel.close()
        jail?.release()
        directory.remove()
        ticket.release()
    }

    /// The process is gone: its place is given back at once.
    func kill() { child.killNow(); jail?.cgroup.remove(); ticket.release() }

    deinit { shutdown() }
}

/// Finds the host build of the guest agent.
public enum AgentBinary {
    public static func locate() throws -> String {
        try BuiltBinary.locate("lg-guest-agent", override: Settings.shared.agentBinary, variable: "LUMINAGUARD_AGENT_BIN",
                               also: [ProjectPaths.root + "/.build-guest/release/lg-guest-agent"])
    }
}

/// The one way to find an executable this package builds: the variable that
/// overrides it, else beside the running binary (tests and the CLI share a
/// build directory), else the checkout's debug and release builds.
public enum BuiltBinary {
    public static func locate(_ name: String, override: String?, variable: String, also: [String] = []) throws -> String {
        if let p = override {
            guard access(p, X_OK) == 0 else { throw VMError("\(variable)=\(p) is not an executable file") }
            return p
        }
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((exe as NSString).deletingLastPathComponent + "/" + name)
        }
        let root = ProjectPaths.root
        candidates += ["\(root)/.build/debug/\(name)", "\(root)/.build/release/\(name)"] + also
        if let found = candidates.first(where: { access($0, X_OK) == 0 }) { return found }
        throw VMError("\(name) was not found; looked in: \(candidates.joined(separator: ", "))",
                      fix: "swift build --product \(name)   (or set \(variable))")
    }
}

/// Paths of the source tree, for scripts and fixtures.
public enum ProjectPaths {
    /// The package root (the directory holding Package.swift), found from this
    /// source file's location at build time, or LUMINAGUARD_ROOT.
    public static var root: String {
        if let r = Settings.shared.projectRoot { return r }
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    public static var cacheDirectory: String { Settings.shared.cacheDirectory }
}

/// A private temporary directory, removed by `remove()` and on harness exit.
public final class TempDirectory: @unchecked Sendable {
    public let path: String
    private var cleanupToken: Int?
    private let lock = NSLock()

    /// In `base`, else LUMINAGUARD_RUN_DIR, else /tmp.
    public init(prefix: String, base: String? = nil) throws {
        // Short base path: Unix socket paths are limited to 107 bytes.
        let base = base ?? Settings.shared.runDirectory
        // The owner's pid in the name tells whose directory it is.
        var template = Array("\(base)/\(prefix)-\(getpid()).XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw VMError("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: p)
        let captured = path
        cleanupToken = ProcessRegistry.shared.addCleanup { try? FileManager.default.removeItem(atPath: captured) }
    }

    public func remove() {
        lock.lock(); defer { lock.unlock() }
        if let t = cleanupToken { ProcessRegistry.shared.removeCleanup(t); cleanupToken = nil }
        try? FileManager.default.removeItem(atPath: path)
    }
}

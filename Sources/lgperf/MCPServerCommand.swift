import ArgumentParser
import Foundation
import LGSettings
import AgentProtocol
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// `lgperf mcp-server`: the sandbox's tools over MCP's stdio transport, for
/// any standard MCP client (configure it to run `lgperf mcp-server`).
/// Standard output carries nothing but JSON-RPC messages; logs go to stderr.
struct MCPServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-server",
        abstract: "Serve the sandbox tools (read_file, write_file, list_directory, search, execute_command) over MCP on stdin/stdout.",
        discussion: """
            Answers MCP requests on standard input/output (newline-delimited JSON-RPC, the MCP stdio \
            transport) at once, while its one sandbox starts beside it: restored from the persisted \
            template (LUMINAGUARD_SNAPSHOT_PATH; made by lgperf pool warmup), or booted cold, saying so, \
            when there is none. The first tool call waits for the sandbox. When standard input closes \
            the sandbox is ended. \
            Paths are relative to the sandbox's workspace. Logs go to standard error.
            """)

    enum BackendName: String, ExpressibleByArgument, CaseIterable {
        case qemu, process
    }

    @Option(help: "Sandbox backend: \(BackendName.allCases.map(\.rawValue).joined(separator: " or ")) (process: jailed with bubblewrap). Default: the best one available here that contains its sandbox.")
    var backend: BackendName?

    @Option(help: "Seconds one tool call may take before it fails (execute_command: its timeout_ms plus 5 s, if longer).")
    var callTimeout: Double = 30

    @Option(help: "Seconds the sandbox may take to become ready.")
    var readyTimeout: Double = Settings.shared.readyTimeoutSeconds

    @Flag(help: "Also expose 'echo', a tool answered by the host without the sandbox (for latency measurements).")
    var echoTool = false

    enum TransportName: String, ExpressibleByArgument, CaseIterable {
        case fdBlocking = "fd-blocking"
        case sdkStdio = "sdk-stdio"
        var kind: MCPTransportKind { self == .fdBlocking ? .fast : .sdkStdio }
    }

    @Option(help: "stdio transport implementation: fd-blocking (reads block in poll(2); the default) or sdk-stdio (the MCP SDK's own, which sleeps 10 ms when idle; for comparison).")
    var transport: TransportName = .fdBlocking

    @Flag(help: "Start no sandbox and serve only 'echo' (measures MCP and the transport alone).")
    var hostOnly = false

    @Flag(inversion: .prefixedNo, help: "Run QEMU jailed (uid 65534 under bubblewrap, its seccomp filter, its own cgroup) where the jail can be built, its sandbox restored from the persisted template like an unjailed one. --no-jail runs QEMU UNJAILED (as this user, no seccomp filter; a WARNING on stderr): for benchmarking only.")
    var jail = true

    @Flag(help: "Log each tool call's outcome to standard error.")
    var verbose = false

    func validate() throws {
        guard callTimeout > 0, callTimeout <= 3600 else { throw ValidationError("--call-timeout must be between 0 and 3600 seconds") }
        guard readyTimeout > 0, readyTimeout <= 600 else { throw ValidationError("--ready-timeout must be between 0 and 600 seconds") }
    }

    func run() async throws {
        ProcessRegistry.shared.installSignalHandlers()
        let settings = try CommandSettings.load()
        var options = ToolServerOptions(callTimeout: callTimeout, includeEchoTool: echoTool)
        if verbose { options.log = { Self.log($0) } }
        if hostOnly {
            Self.log("host-only: no sandbox, serving 'echo' on stdio")
            try await SandboxToolServer(sandbox: nil, options: options).runOnStandardIO(transport: transport.kind)
            return
        }
        // QEMU's version and the TSC rate, which a restore waits for, are
        // found while the backend and the image are.
        FirstSandbox.prefetch()
        // Refuse before serving anything: a backend that cannot contain its
        // sandbox is never served to agents.
        let chosen: any VMBackend
        do { chosen = try Self.containingBackend(backend, jail: jail) } catch {
            Self.log("refusing to serve: \(error)")
            throw ExitCode(1)
        }
        // Answer at once: `initialize` and `tools/list` need no sandbox. The
        // sandbox starts beside the server; the first tool call waits for it.
        let timeout = readyTimeout
        let t0 = Monotonic.nanos()
        let acquire: @Sendable () throws -> FirstSandbox = {
            try FirstSandbox.acquire(backend: chosen, fromSnapshot: true, readyTimeout: timeout, log: { Self.log($0) })
        }
        let pending = PendingSandbox(start: {
            let first = try acquire()
            let jailed = (chosen as? QEMUBackend).map { $0.jail != nil ? ", jailed" : ", UNJAILED" } ?? ""
            Self.log(String(format: "first sandbox from: %@ (%@, %@%@); %@ ready: %@ (ready %.1f ms after the backend was chosen)",
                            first.source, chosen.kind.rawValue, chosen.accelerator.rawValue, jailed, first.vm.id, first.summary,
                            Double(Monotonic.nanos() - t0) / 1e6))
            return first
        }, onFailure: { error in
            // No sandbox, no service: end at once with the reason (as before
            // the server answered without one).
            Self.log("cannot start the sandbox: \(error)")
            ProcessRegistry.shared.killAll()
            Glibc.exit(1)
        })
        // Faults from outside (`lgperf chaos inject KIND --harness PID`) go
        // through this process's own channels to its sandbox.
        let noSnapshot = "this server restores its sandbox from the persisted template (or boots it cold), which other processes share (LUMINAGUARD_SNAPSHOT_PATH): it is not corrupted from here (lgperf pool serve corrupts a pool's private snapshot)"
        let faults = ServerFaults(pending: pending, acquire: acquire, noSnapshot: noSnapshot, readyTimeout: timeout,
                                  interval: Double(settings.healthIntervalMs) / 1000, missAfter: Double(settings.healthMissMs) / 1000)
        let controlPath = ChaosControl.socketPath(runDirectory: settings.runDirectory, pid: getpid())
        var control: ChaosControlServer?
        do {
            control = try ChaosControlServer(path: controlPath) { faults.handle($0) }
            Self.log("control socket: \(controlPath) (lgperf chaos inject KIND --harness \(getpid()))")
        } catch {
            Self.log("no control socket (lgperf chaos inject reaches this server by pid only): \(error)")
        }
        defer { control?.close() }
        Self.log("serving MCP on stdio; the sandbox is starting")
        let tools = SandboxToolServer(pending: pending, options: options)
        do { try await tools.runOnStandardIO(transport: transport.kind) } catch {
            control?.close()
            pending.shutdown()
            Self.log("MCP server failed: \(error)")
            throw ExitCode(1)
        }
        control?.close()
        Self.log("standard input closed; ending the sandbox")
        pending.shutdown(wait: timeout)
    }

    /// The backend for `--backend` (`process` is the jailed one); without
    /// it, LUMINAGUARD_BACKEND or the best one usable here. Tools are served
    /// to agents: a backend that does not contain (an unconfined process) is
    /// refused, never fallen back to.
    static func containingBackend(_ name: BackendName?, jail: Bool = true) throws -> any VMBackend {
        var chosen = try makeBackend(name)
        // QEMU serves agents jailed wherever the jail can be built.
        if let q = chosen as? QEMUBackend {
            let (jailed, note) = q.jailedWherePossible(jail)
            chosen = jailed
            log(note)
        }
        guard chosen.contains else {
            throw VMError("the \(chosen.kind.rawValue) backend chosen does not contain its sandbox (LUMINAGUARD_BACKEND=process-unconfined): commands would run on this host",
                          fix: "unset LUMINAGUARD_BACKEND, and install QEMU (apt-get install -y qemu-system-x86) or bubblewrap (apt-get install -y bubblewrap)")
        }
        return chosen
    }

    /// The backend for `--backend`; without it, LUMINAGUARD_BACKEND (which
    /// may opt in to an unconfined process, for benchmarks) or the best one
    /// usable here.
    static func makeBackend(_ name: BackendName?) throws -> any VMBackend {
        switch name {
        case .process: return try ProcessBackend()
        case .qemu: return try BackendChoice.qemu()
        case nil: return try BackendChoice.resolve(log: { log($0) })
        }
    }

    static func log(_ message: String) {
        Console.line("lgperf mcp-server: \(message)")
    }
}

/// What `lgperf mcp-server` does for a fault request on its control socket:
/// inject into its sandbox, watched by its own health checker, and after a
/// fatal verdict replace the sandbox (as it started the first), so that the
/// next tool call is served by the replacement.
final class ServerFaults: Sendable {
    let pending: PendingSandbox
    let acquire: @Sendable () throws -> FirstSandbox
    let noSnapshot: String
    let readyTimeout: Double
    let interval: Double
    let missAfter: Double

    init(pending: PendingSandbox, acquire: @escaping @Sendable () throws -> FirstSandbox, noSnapshot: String,
         readyTimeout: Double, interval: Double, missAfter: Double) {
        self.pending = pending; self.acquire = acquire; self.noSnapshot = noSnapshot
        self.readyTimeout = readyTimeout; self.interval = interval; self.missAfter = missAfter
    }

    /// The ready sandbox, waiting up to the ready timeout while it starts.
    func ready() -> Result<FirstSandbox, FaultError> {
        let end = Monotonic.nanos() + UInt64(readyTimeout * 1e9)
        while true {
            if let f = pending.current { return .success(f) }
            if let why = pending.failure { return .failure(FaultError("the server has no sandbox: it could not be started: \(why)")) }
            if Monotonic.nanos() >= end { return .failure(FaultError("the server's sandbox was not ready within \(readyTimeout) s")) }
            usleep(5_000)
        }
    }

    func handle(_ request: ChaosControl.Request) -> ChaosControl.Reply {
        let first: FirstSandbox
        switch ready() {
        case .success(let f): first = f
        case .failure(let e):
            var r = ChaosControl.Reply(kind: request.kind.rawValue)
            r.error = e.description
            return r
        }
        MCPServerCommand.log("chaos: injecting \(request.kind.rawValue) into \(first.vm.id)")
        var (reply, verdict) = ChaosControl.injectWatched(request, into: first.vm, snapshotFile: nil, noSnapshot: noSnapshot,
                                                          interval: interval, missAfter: missAfter)
        guard reply.injected, let at = reply.injectedAt, verdict?.fatal == true || !first.vm.isRunning else {
            MCPServerCommand.log("chaos: " + reply.text.replacingOccurrences(of: "\n", with: "; "))
            return reply
        }
        // The sandbox cannot serve again: replace it as the first was made.
        MCPServerCommand.log("chaos: \(first.vm.id) failed (\(verdict?.reason ?? "VMM gone")); replacing it")
        guard pending.replace(start: acquire) else {
            reply.recovered = false
            reply.notes.append("no replacement: the server is shutting down")
            return reply
        }
        switch ready() {
        case .success(let next):
            reply.recordReplacement(next.vm, injectedAt: at,
                                    label: "\(next.source) (\(next.vm.id), ready in \(String(format: "%.1f", next.readyMs)) ms)")
        case .failure(let e):
            reply.recovered = false
            reply.notes.append("no replacement: \(e.description)")
        }
        MCPServerCommand.log("chaos: " + reply.text.replacingOccurrences(of: "\n", with: "; "))
        return reply
    }
}

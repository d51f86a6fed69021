import ArgumentParser
import Foundation
import LGSettings
import AgentProtocol
import ToolCalls
import VMFixtures

/// A fresh orchestrator process doing what an agent start needs, as the
/// guide defines start-up: initialise its MCP client, get its first sandbox
/// (from the persisted template, or cold) and complete one tool call through
/// MCP. The sandbox starts beside the MCP handshake, as a real orchestrator
/// would overlap them. The start-up benchmark times this process from its
/// spawn to its result line.
struct StartupProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "startup-probe",
                                                    abstract: "Initialise an MCP client, get a sandbox, run one tool call through MCP, print a result line (used by the start-up benchmark).")

    @Option(help: "Backend: auto, qemu, firecracker or process.")
    var backend: String?

    enum From: String, ExpressibleByArgument, CaseIterable { case template, cold }

    @Option(help: "Where the first sandbox comes from: template (the persisted template or snapshot; booted cold, labelled, when there is none) or cold.")
    var sandbox: From = .template

    @Flag(inversion: .prefixedNo, help: "Jail QEMU as lgperf mcp-server does (uid 65534, bubblewrap, seccomp, own cgroup; a restore maps a sealed copy of the template's RAM) where the jail can be built. --no-jail: UNJAILED, for comparison.")
    var jail = true

    func run() async throws {
        ProcessRegistry.shared.installSignalHandlers()
        let t0 = Monotonic.nanos()
        let name = try backend ?? CommandSettings.load().backend
        let fromSnapshot = sandbox == .template
        let jail = jail
        let pending = PendingSandbox(start: {
            FirstSandbox.prefetch()
            var chosen = try BackendChoice.resolve(name, buildImage: false, log: { Console.line($0) })
            // The orchestrator's sandbox is contained as the server's is.
            if let q = chosen as? QEMUBackend {
                let (jailed, note) = q.jailedWherePossible(jail)
                chosen = jailed
                Console.line("startup-probe: \(note)")
            }
            return try FirstSandbox.acquire(backend: chosen, fromSnapshot: fromSnapshot, log: { Console.line("startup-probe: \($0)") })
        })
        defer { pending.shutdown() }
        let conn = try await InProcessMCP.connect(to: SandboxToolServer(pending: pending))
        let initialized = Monotonic.nanos()
        let result = try await conn.client.callTool(name: SandboxTool.executeCommand.rawValue, arguments: ["command": "echo ready"])
        let done = Monotonic.nanos()
        await conn.close()
        guard result.isError != true, case .text(let text, _, _)? = result.content.first,
              (try? JSON.parse(text))?["stdout"]?.string == "ready\n" else {
            throw ValidationError("unexpected tool result: \(result.content)")
        }
        let first = try await pending.first()
        var line: [String: JSON] = [
            "backend": .string(first.vm.backend.rawValue), "accelerator": .string(first.vm.accelerator.rawValue),
            "sandbox_source": .string(first.source), "sandbox_ready_ms": .number(first.readyMs),
            "jailed": .bool((first.vm as? QEMUSandbox)?.jailed ?? false),
            "mcp_initialize_ms": .number(Double(initialized - t0) / 1e6), "first_call_ms": .number(Double(done - t0) / 1e6),
        ]
        if let why = first.fallbackReason { line["fallback"] = .string(why) }
        FileHandle.standardOutput.write(Data((JSON.object(line).serialized() + "\n").utf8))
    }
}

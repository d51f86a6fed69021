import Foundation
import AgentProtocol
import MCP
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Runs escape cases, each against a fresh sandbox of `backend` reached
/// through an SDK MCP client, and checks the host afterwards.
struct EscapeRunner {
    let backend: any VMBackend
    let bait: HostBait
    var memoryMB = 128
    /// Where each case's sandbox comes from (nil: a cold spawn of `backend`),
    /// e.g. a restore from the template, as `lgperf mcp-server` serves it.
    var sandbox: (@Sendable () throws -> any SandboxVM)?

    struct Outcome: CustomStringConvertible {
        let name: String
        let containedMeans: String
        let breaches: [String]
        let seconds: Double
        var description: String {
            (breaches.isEmpty ? "contained" : "BREACHED") + String(format: " (%.1f s) ", seconds) + "\(name): \(containedMeans)"
                + (breaches.isEmpty ? "" : " -- " + breaches.joined(separator: "; "))
        }
    }

    func run(_ c: EscapeCase) async throws -> Outcome {
        let t0 = Monotonic.nanos()
        let marker = String(Int.random(in: 100_000...999_999))
        let vm = try sandbox?() ?? backend.spawn(SpawnOptions(readyTimeout: 60, memoryMB: memoryMB))
        let tools = SandboxToolServer(sandbox: vm, options: ToolServerOptions(callTimeout: 20))
        let conn: InProcessMCP
        do { conn = try await InProcessMCP.connect(to: tools) } catch { vm.shutdown(); throw error }
        var breaches: [String]
        let context = EscapeContext(client: conn.client, bait: bait, promise: ContainmentPromise.of(backend, memoryMB: memoryMB), marker: marker)
        do { breaches = try await c.attempt(context) } catch {
            breaches = ["the attempt failed on the MCP side (not a clear tool error): \(error)"]
        }
        // Healthy, or cleanly ended: list_directory needs no new process, so a
        // sandbox at its pids limit still answers; an ended one says so.
        do {
            let health = try await context.call("list_directory", ["path": "."])
            var waited = 0
            while health.isError && vm.isRunning && waited < 20 { usleep(100_000); waited += 1 }
            if health.isError && vm.isRunning {
                breaches.append("the sandbox is running but no longer answers: \(health.text.prefix(200))")
            }
        } catch {
            breaches.append("the health check failed on the MCP side: \(error)")
        }
        await conn.close()
        vm.shutdown()
        // The host, afterwards.
        if !bait.filesInTarget.isEmpty { breaches.append("files written on the host: \(bait.filesInTarget)") }
        try? FileManager.default.contentsOfDirectory(atPath: bait.targetDir).forEach { try? FileManager.default.removeItem(atPath: bait.targetDir + "/" + $0) }
        if !bait.decoyAlive { breaches.append("the decoy host process was killed") }
        let left = HostBait.leftovers(marker)
        if !left.isEmpty { breaches.append("\(left.count) process(es) of the sandbox outlived it") }
        if kill(getpid(), 0) != 0 { breaches.append("the harness is gone") }
        return Outcome(name: c.name, containedMeans: c.containedMeans, breaches: breaches, seconds: Double(Monotonic.nanos() - t0) / 1e9)
    }
}

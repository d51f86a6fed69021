import ArgumentParser
import Foundation
import LGSettings
import AgentProtocol
import VMFixtures

/// A fresh orchestrator process doing the least real work an agent start
/// needs: choose the backend, start a sandbox, run one tool. The start-up
/// benchmark times this process from its spawn to its result line.
struct StartupProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "startup-probe",
                                                    abstract: "Start a sandbox, run one tool call, print a result line (used by the start-up benchmark).")

    @Option(help: "Backend: auto, qemu, firecracker or process.")
    var backend: String?

    func run() throws {
        ProcessRegistry.shared.installSignalHandlers()
        let chosen = try BackendChoice.resolve(backend ?? CommandSettings.load().backend, buildImage: false,
                                               log: { Console.line($0) })
        let vm = try chosen.spawn(SpawnOptions())
        defer { vm.shutdown() }
        let result = try vm.session.call(.executeCommand, ["command": .string("echo ready")])
        guard result["stdout"]?.string == "ready\n" else { throw ValidationError("unexpected tool result \(result.serialized())") }
        let line = JSON.object(["backend": .string(chosen.kind.rawValue), "accelerator": .string(chosen.accelerator.rawValue),
                                "spawn_ms": .number(Double(vm.timings.requestToReadyNs) / 1e6)]).serialized() + "\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}

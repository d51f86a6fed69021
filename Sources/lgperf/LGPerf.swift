import ArgumentParser
import Foundation
import VMFixtures

@main
struct LGPerf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lgperf",
        abstract: "LuminaGuard Perf: measures JIT micro-VM agent sandboxes against their performance targets.",
        subcommands: [RunCommand.self, ListCommand.self, DoctorCommand.self, ImageCommand.self, TableCommand.self, CheckCommand.self, StartupProbeCommand.self, PoolCommand.self, ReportCommand.self, CompareCommand.self, ABCommand.self, TrendsCommand.self, MCPServerCommand.self, ToolLatencyCommand.self, ChaosCommand.self])

    /// As ArgumentParser's, except that a run interrupted by Ctrl-C (or
    /// SIGTERM) exits 128 + signal even when its work fails first because the
    /// interrupt just ended its VMs.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if let sig = ProcessRegistry.shared.interruptSignal {
                ProcessRegistry.shared.killAll()
                Glibc.exit(128 + sig)
            }
            exit(withError: error)
        }
    }
}

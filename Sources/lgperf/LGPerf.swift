import ArgumentParser

@main
struct LGPerf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lgperf",
        abstract: "LuminaGuard Perf: measures JIT micro-VM agent sandboxes against their performance targets.",
        subcommands: [RunCommand.self, DoctorCommand.self, ImageCommand.self, TableCommand.self, CheckCommand.self, StartupProbeCommand.self, PoolCommand.self, ReportCommand.self, CompareCommand.self, TrendsCommand.self, MCPServerCommand.self, ToolLatencyCommand.self])
}

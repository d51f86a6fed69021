import ArgumentParser

// Placeholders for the report generator's commands (JUnit, weekly summaries,
// regression comparison, trends).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Generate JUnit XML and weekly summaries.")
}
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare", abstract: "Compare two metrics files for regressions.")
}
struct TrendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trends", abstract: "Medians per metric over time.")
}

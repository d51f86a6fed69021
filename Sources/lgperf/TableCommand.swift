import ArgumentParser
import Foundation
import PerfMetrics
import Scenarios

/// Prints the results table of existing metrics files.
struct TableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "table", abstract: "Print the results table of metrics files.")

    @Argument(help: "Metrics files (JSON).")
    var files: [String]

    func run() throws {
        let read = try files.map { try MetricsFile.read(from: URL(fileURLWithPath: $0)) }
        print(ResultsTable.render(read), terminator: "")
        for caveat in Set(read.compactMap(\.labels.caveat)).sorted() { print("Note: \(caveat).") }
    }
}

/// Validates metrics files; exits 1 naming the first bad file and its problem.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate metrics files (format, statistics vs samples, targets).")

    @Argument(help: "Metrics files (JSON).")
    var files: [String]

    func run() throws {
        var bad = 0
        for f in files {
            do {
                let m = try MetricsFile.read(from: URL(fileURLWithPath: f))
                print("ok   \(f): \(m.series.count) series, \(m.labels.backend)/\(m.labels.accelerator), meets_target \(m.meetsTarget)")
            } catch {
                bad += 1
                Console.error("\(error)")
            }
        }
        if bad > 0 { throw ExitCode(1) }
    }
}

import Foundation
import ArgumentParser
import LGSettings

/// The one way lgperf talks on stderr: progress as `[lgperf] ...`, problems
/// as `error: ...` / `warning: ...`. Results go to stdout.
enum Console {
    static func progress(_ text: String) { write("[lgperf] \(text)\n") }
    static func error(_ text: String) { write("error: \(text)\n") }
    static func warning(_ text: String) { write("warning: \(text)\n") }
    static func note(_ text: String) { write("note: \(text)\n") }
    /// A line as it is (benchmarks' own progress lines).
    static func line(_ text: String) { write(text + "\n") }

    private static func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// Settings for a command, validated: a bad value exits 64 naming the
/// variable, its value and what it accepts.
enum CommandSettings {
    static func load(quick: Bool = false) throws -> Settings {
        do {
            let s = try Settings.load(mode: quick ? .quick : .full)
            Settings.install(s)
            return s
        } catch {
            throw invalid(error)
        }
    }
}

/// A bad setting or argument: said on stderr in the one style, exit 64.
func invalid(_ error: Error) -> ExitCode {
    for line in "\(error)".split(separator: "\n") { Console.error(String(line)) }
    return ExitCode(64)
}

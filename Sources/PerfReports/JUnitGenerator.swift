import Foundation
import PerfMetrics

/// `lgperf report junit`: event stream (+ metrics) -> validated JUnit XML,
/// written atomically. Invalid output is an error and is never written.
public enum JUnitGenerator {
    public struct Options: Sendable {
        public var events: URL
        public var metrics: URL?
        /// Only metrics files of this phase (default: any phase).
        public var phase: Phase?
        public var output: URL
        /// An explicit junit-10.xsd (must exist when given).
        public var referenceSchema: URL?
        /// A run with no test at all is an error unless allowed (a `--filter`
        /// that matches nothing passes silently in Swift 6.3.1).
        public var allowEmpty: Bool
        public var name: String

        public init(events: URL, metrics: URL? = nil, phase: Phase? = nil, output: URL, referenceSchema: URL? = nil,
                    allowEmpty: Bool = false, name: String = "lgperf") {
            self.events = events; self.metrics = metrics; self.phase = phase; self.output = output
            self.referenceSchema = referenceSchema; self.allowEmpty = allowEmpty; self.name = name
        }
    }

    public struct Outcome: Sendable {
        public var output: URL
        public var run: TestRun
        public var metricsUsed: [LoadedMetrics]
        public var rejectedMetrics: [String]
        /// Schemas the document was validated against, by name or path.
        public var validatedAgainst: [String]
        /// Why the reference schema was not used, when it was not.
        public var notes: [String]
    }

    /// The package root, from this file's location at build time.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `../shared/reference/junit-10.xsd` relative to the package root (or to
    /// the current directory when that is a checkout), or the explicit path.
    public static func referenceSchemaLocation(explicit: URL?) throws -> URL? {
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit.path) else {
                throw ReportError.schemaUnusable(schema: explicit.path, problem: "no such file")
            }
            return explicit
        }
        let relative = "../shared/reference/junit-10.xsd"
        let candidates = [packageRoot.appendingPathComponent(relative).standardizedFileURL,
                          URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relative).standardizedFileURL]
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }

    public static func generate(_ options: Options) throws -> Outcome {
        let run = try EventStreamParser.parse(contentsOf: options.events)
        if run.tests.isEmpty && !options.allowEmpty {
            throw ReportError.noData("event stream \(options.events.path) has no test that started: the run executed no tests "
                + "(a --filter that matches nothing passes silently); pass --allow-empty to write an empty report")
        }
        var used: [LoadedMetrics] = []
        var rejected: [String] = []
        if let m = options.metrics {
            let collection = try MetricsCollection.load(m)
            used = collection.newestPerScope(phase: options.phase)
            rejected = collection.rejected.map { "\($0.url.lastPathComponent): \($0.reason)" }
            if used.isEmpty {
                throw ReportError.unusableInput("no valid metrics file\(options.phase.map { " for phase \($0.rawValue)" } ?? "") in \(m.path)"
                    + (rejected.isEmpty ? "" : " (rejected: " + rejected.joined(separator: "; ") + ")"))
            }
        }
        let report = JUnitReport(run: run, metrics: used, name: options.name)
        let (validated, notes) = try validateAndWrite(report, to: options.output, referenceSchema: options.referenceSchema)
        return Outcome(output: options.output, run: run, metricsUsed: used, rejectedMetrics: rejected,
                       validatedAgainst: validated, notes: notes)
    }

    /// Validates a report against the project's schema and junit-10.xsd
    /// (when found), then writes it atomically; invalid XML is never written.
    public static func validateAndWrite(_ report: JUnitReport, to output: URL,
                                        referenceSchema: URL? = nil) throws -> (validatedAgainst: [String], notes: [String]) {
        let data = report.xmlData()
        var validated: [String] = []
        var notes: [String] = []
        try XMLSchemaValidator(name: JUnitSchemas.luminaguardName + " (embedded)", schema: JUnitSchemas.luminaguard).validate(data)
        validated.append(JUnitSchemas.luminaguardName)
        if let reference = try referenceSchemaLocation(explicit: referenceSchema) {
            try XMLSchemaValidator(contentsOf: reference).validate(data)
            validated.append(reference.path)
        } else {
            notes.append("junit-10.xsd not found (looked for ../shared/reference/junit-10.xsd from the package root and the current directory); validated against the project's schema only")
        }
        try AtomicFile.write(data, to: output)
        return (validated, notes)
    }
}

/// Atomic writes (temporary file + rename, via `Data.write(options: .atomic)`):
/// a reader sees the old file or the new one, never a partial one.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        } catch {
            throw ReportError.io("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }
}

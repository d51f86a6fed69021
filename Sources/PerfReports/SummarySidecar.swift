import Foundation
import PerfMetrics

/// The machine-readable twin of a weekly summary
/// (`weekN-M_<phase>_summary.json` next to the `.md`): the raw samples per
/// series, so that the next summary of the same phase, and `lgperf compare`,
/// can run the significance test against it.
public struct SummarySidecar: Codable, Sendable, Equatable {
    public static let kindValue = "luminaguard-weekly-summary"
    public static let currentFormat = 1

    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var scope: String
        public var timestamp: Date
        public var backend: String
        public var accelerator: String
        public var commit: String
        /// The metrics file's provenance (nil for files without it, and in
        /// summaries written before it was recorded).
        public var provenance: Provenance?
        /// `hostname / cpu model` of the machine that ran it (nil in summaries
        /// written before it was recorded): runs are compared only on the same host.
        public var host: String?

        public init(name: String, scope: String, timestamp: Date, backend: String, accelerator: String, commit: String,
                    provenance: Provenance? = nil, host: String? = nil) {
            self.name = name; self.scope = scope; self.timestamp = timestamp; self.backend = backend
            self.accelerator = accelerator; self.commit = commit; self.provenance = provenance; self.host = host
        }
    }

    public struct Series: Codable, Sendable, Equatable {
        /// `<scope>/<series name>`, e.g. `spawn/spawn_time_ms`.
        public var key: String
        public var scope: String
        public var name: String
        public var metric: MetricKind
        public var unit: String
        public var description: String
        public var backend: String
        public var accelerator: String
        public var median: Double
        public var p95: Double
        public var p99: Double
        public var target: String?
        public var grade: String?
        public var meetsTarget: Bool?
        public var samples: [Double]

        enum CodingKeys: String, CodingKey {
            case key, scope, name, metric, unit, description, backend, accelerator, median, p95, p99, target, grade, samples
            case meetsTarget = "meets_target"
        }
    }

    public var kind: String
    public var formatVersion: Int
    public var phase: Phase
    public var weeks: String
    public var generated: Date
    public var status: String
    public var files: [File]
    public var series: [Series]
    /// The verdict on each of the phase's acceptance criteria, and the
    /// criteria file they came from (nil when the summary was made without one).
    public var criteria: [CriterionResult]?
    public var criteriaFile: String?
    /// Production only: the pre-deployment go/no-go over every phase, a
    /// verdict beside `status` (which judges the phase's own criteria).
    public var goNoGo: ProductionReadiness.GoNoGo?

    enum CodingKeys: String, CodingKey {
        case kind, phase, weeks, generated, status, files, series, criteria
        case formatVersion = "format_version", criteriaFile = "criteria_file", goNoGo = "go_no_go"
    }

    public init(phase: Phase, generated: Date, status: String, files: [File], series: [Series],
                criteria: [CriterionResult]? = nil, criteriaFile: String? = nil, goNoGo: ProductionReadiness.GoNoGo? = nil) {
        kind = Self.kindValue
        formatVersion = Self.currentFormat
        self.phase = phase
        weeks = phase.weeks
        self.generated = generated
        self.status = status
        self.files = files
        self.series = series
        self.criteria = criteria
        self.criteriaFile = criteriaFile
        self.goNoGo = goNoGo
    }

    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Milliseconds are kept: two summaries a second apart must still sort.
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Self.stamp(date))
        }
        return try e.encode(self)
    }

    public static func read(from url: URL) throws -> SummarySidecar {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ReportError.unusableInput("cannot read summary data \(url.path): \(error.localizedDescription)")
        }
        guard !data.isEmpty else { throw ReportError.unusableInput("summary data \(url.path) is empty") }
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = f.date(from: text) ?? ISO8601DateFormatter().date(from: text) { return date }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an ISO 8601 date"))
        }
        let s: SummarySidecar
        do { s = try d.decode(SummarySidecar.self, from: data) } catch {
            throw ReportError.unusableInput("summary data \(url.path) is not valid (truncated or corrupt): \(error)")
        }
        guard s.kind == kindValue else { throw ReportError.unusableInput("\(url.path) is not a weekly summary's data file (kind '\(s.kind)')") }
        guard s.formatVersion == currentFormat else {
            throw ReportError.unusableInput("\(url.path) has format_version \(s.formatVersion); this tool reads \(currentFormat)")
        }
        return s
    }

    /// ISO 8601 with milliseconds, UTC.
    public static func stamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    /// `hostname / cpu model`: the label two runs must share to be compared.
    public static func hostLabel(_ h: HostDescription) -> String { "\(h.hostname) / \(h.cpuModel)" }

    /// `week1-2_baseline_summary` for the baseline phase.
    public static func baseName(for phase: Phase) -> String { "week\(phase.weeks)_\(phase.rawValue)_summary" }
}

import Foundation
import PerfMetrics

/// One acceptance criterion of a phase, from `Fixtures/criteria/phase-criteria.json`:
/// a statistic of one series compared with a number, with the series' guide
/// target, or with a multiple of another series' statistic.
public struct Criterion: Sendable, Equatable {
    public enum Stat: String, Sendable, Codable, CaseIterable {
        case median, p95, max, min, count, last

        /// This statistic of `series` (nil when it has no samples).
        public func value(of series: MetricSeries) -> Double? {
            guard !series.samples.isEmpty else { return nil }
            switch self {
            case .median: return series.median
            case .p95: return series.p95
            case .max: return series.max
            case .min: return series.min
            case .count: return Double(series.count)
            case .last: return series.samples.last
            }
        }
    }

    public enum Op: String, Sendable, Codable, CaseIterable {
        case lessThan = "<", atMost = "<=", greaterThan = ">", atLeast = ">=", equal = "=="

        public func holds(_ a: Double, _ b: Double) -> Bool {
            guard a.isFinite, b.isFinite else { return false }
            switch self {
            case .lessThan: return a < b
            case .atMost: return a <= b
            case .greaterThan: return a > b
            case .atLeast: return a >= b
            case .equal: return a == b
            }
        }
    }

    public enum Limit: Sendable, Equatable {
        /// A fixed number.
        case value(Double)
        /// The series' guide target (the one its `meets_target` is judged by).
        case target
        /// `factor` times `stat` of another series (`<scope>/<series>`).
        case relative(series: String, stat: Stat, factor: Double)
    }

    public var id: String
    /// One readable sentence.
    public var what: String
    /// The metrics file's scope and the series' name in it.
    public var scope: String
    public var series: String
    public var stat: Stat
    public var op: Op
    public var limit: Limit

    public init(id: String, what: String, scope: String, series: String, stat: Stat, op: Op, limit: Limit) {
        self.id = id; self.what = what; self.scope = scope; self.series = series
        self.stat = stat; self.op = op; self.limit = limit
    }

    /// `<scope>/<series>`.
    public var key: String { "\(scope)/\(series)" }
}

/// The acceptance criteria of every phase, loaded and checked.
public struct PhaseCriteria: Sendable, Equatable {
    public static let kindValue = "luminaguard-phase-criteria"
    public static let currentFormat = 1

    /// Where the criteria were read from.
    public var file: String
    public var phases: [Phase: [Criterion]]

    public init(file: String, phases: [Phase: [Criterion]]) {
        self.file = file
        self.phases = phases
    }

    public func criteria(for phase: Phase) -> [Criterion] { phases[phase] ?? [] }

    /// Reads and checks a criteria file; every problem is an error naming the
    /// file, and the phase and criterion where it is.
    public static func load(from url: URL) throws -> PhaseCriteria {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CriteriaError(file: url.path, problem: "no such file")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CriteriaError(file: url.path, problem: "cannot be read: \(error.localizedDescription)")
        }
        return try decode(data, name: url.path)
    }

    public static func decode(_ data: Data, name: String) throws -> PhaseCriteria {
        func fail(_ problem: String) -> CriteriaError { CriteriaError(file: name, problem: problem) }
        guard !data.isEmpty else { throw fail("the file is empty") }
        let root: [String: JSONValue]
        do {
            guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: data) else {
                throw fail("the top level is not a JSON object")
            }
            root = o
        } catch let e as CriteriaError { throw e } catch {
            throw fail("not valid JSON (truncated or corrupt): \(error)")
        }
        guard case .string(kindValue)? = root["kind"] else {
            throw fail("'kind' must be \"\(kindValue)\" (found \(root["kind"]?.text ?? "nothing"))")
        }
        guard case .number(Double(currentFormat))? = root["format_version"] else {
            throw fail("'format_version' must be \(currentFormat) (found \(root["format_version"]?.text ?? "nothing"))")
        }
        guard case .object(let phasesObject)? = root["phases"] else { throw fail("missing object 'phases'") }
        let known = Phase.allCases.map(\.rawValue)
        var phases: [Phase: [Criterion]] = [:]
        var ids = Set<String>()
        for key in phasesObject.keys.sorted() {
            guard let phase = Phase(rawValue: key) else {
                throw fail("unknown phase '\(key)' (phases: \(known.joined(separator: ", ")))")
            }
            guard case .array(let list) = phasesObject[key]! else { throw fail("phase '\(key)': criteria must be a list") }
            guard !list.isEmpty else { throw fail("phase '\(key)' has no criteria: a phase with none could never be judged") }
            var criteria: [Criterion] = []
            for (i, item) in list.enumerated() {
                let c = try criterion(item, at: "phase '\(key)', criterion \(i + 1)", fail: fail)
                guard ids.insert(c.id).inserted else { throw fail("phase '\(key)': criterion id '\(c.id)' is used twice") }
                criteria.append(c)
            }
            phases[phase] = criteria
        }
        let missing = Phase.allCases.filter { phases[$0] == nil }
        guard missing.isEmpty else {
            throw fail("no criteria for phase\(missing.count == 1 ? "" : "s") \(missing.map(\.rawValue).joined(separator: ", "))")
        }
        return PhaseCriteria(file: name, phases: phases)
    }

    private static let fields: Set<String> = ["id", "what", "scope", "series", "stat", "op", "value", "relative_to", "note"]

    private static func criterion(_ item: JSONValue, at place: String, fail: (String) -> CriteriaError) throws -> Criterion {
        guard case .object(let o) = item else { throw fail("\(place) is not an object") }
        var here = place
        if case .string(let id)? = o["id"] { here = "\(place) ('\(id)')" }
        if let unknown = o.keys.sorted().first(where: { !fields.contains($0) }) {
            throw fail("\(here): unknown field '\(unknown)' (fields: \(fields.sorted().joined(separator: ", ")))")
        }
        func text(_ key: String, in object: [String: JSONValue], as shown: String? = nil) throws -> String {
            let label = shown ?? key
            guard let v = object[key] else { throw fail("\(here): missing '\(label)'") }
            guard case .string(let s) = v, !s.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail("\(here): '\(label)' must be a non-empty string (found \(v.text))")
            }
            return s
        }
        func stat(_ text: String, _ field: String) throws -> Criterion.Stat {
            guard let s = Criterion.Stat(rawValue: text) else {
                throw fail("\(here): bad \(field) '\(text)' (one of \(Criterion.Stat.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return s
        }
        let id = try text("id", in: o), what = try text("what", in: o)
        let scope = try text("scope", in: o), series = try text("series", in: o)
        for (k, v) in [("scope", scope), ("series", series)] where v.contains("/") {
            throw fail("\(here): '\(k)' '\(v)' must not contain '/' (scope and series are separate fields)")
        }
        let st = try stat(try text("stat", in: o), "stat")
        let opText = try text("op", in: o)
        guard let op = Criterion.Op(rawValue: opText) else {
            throw fail("\(here): bad op '\(opText)' (one of \(Criterion.Op.allCases.map(\.rawValue).joined(separator: " ")))")
        }
        let limit: Criterion.Limit
        switch (o["value"], o["relative_to"]) {
        case (nil, nil): throw fail("\(here): needs 'value' (a number or \"target\") or 'relative_to'")
        case (.some, .some): throw fail("\(here): has both 'value' and 'relative_to'; give one")
        case (.string("target")?, nil):
            guard op == .lessThan || op == .atLeast else {
                throw fail("\(here): a \"target\" criterion compares as the guide's targets do, with < or >= (found \(op.rawValue))")
            }
            limit = .target
        case (.number(let n)?, nil) where n.isFinite:
            limit = .value(n)
        case (let v?, nil):
            throw fail("\(here): 'value' must be a finite number or \"target\" (found \(v.text))")
        case (nil, let r?):
            guard case .object(let r) = r else { throw fail("\(here): 'relative_to' must be an object") }
            if let unknown = r.keys.sorted().first(where: { !["series", "stat", "factor"].contains($0) }) {
                throw fail("\(here): unknown field 'relative_to.\(unknown)' (fields: factor, series, stat)")
            }
            let ref = try text("series", in: r, as: "relative_to.series")
            let parts = ref.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw fail("\(here): 'relative_to.series' '\(ref)' is not \"<scope>/<series>\"")
            }
            guard ref != "\(scope)/\(series)" else { throw fail("\(here): 'relative_to.series' is the criterion's own series") }
            let refStat = try stat(try text("stat", in: r, as: "relative_to.stat"), "relative_to.stat")
            guard case .number(let f)? = r["factor"], f.isFinite, f > 0 else {
                throw fail("\(here): 'relative_to.factor' must be a positive number (found \(r["factor"]?.text ?? "nothing"))")
            }
            limit = .relative(series: ref, stat: refStat, factor: f)
        }
        return Criterion(id: id, what: what, scope: scope, series: series, stat: st, op: op, limit: limit)
    }
}

/// Any JSON value, with its exact type (a boolean is not a number).
indirect enum JSONValue: Decodable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// A short description for error messages.
    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let n): return Format.compact(n)
        case .string(let s): return "\"\(s)\""
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}

public struct CriteriaError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: String
    public var description: String { "criteria file \(file) is not usable: \(problem)" }
}

/// The verdict on one criterion.
public struct CriterionResult: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        case met
        case missed
        /// The file or the series is missing or empty: never a pass.
        case noData = "no data"
    }

    public var id: String
    public var what: String
    /// `<scope>/<series>`.
    public var series: String
    public var stat: String
    public var op: String
    public var status: Status
    /// The statistic measured (nil with no data).
    public var measured: Double?
    /// The number it was compared with (nil when it could not be known).
    public var limit: Double?
    /// How the limit was found, e.g. `guide target < 200 ms` or `1.5 x replace/cold_spawn_ms median`.
    public var limitText: String
    public var unit: String?
    public var backend: String?
    public var accelerator: String?
    /// Why there is no data, or what the reader should know.
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case id, what, series, stat, op, status, measured, limit, unit, backend, accelerator, note
        case limitText = "limit_text"
    }
}

extension PhaseCriteria {
    /// Judges `criteria` against `files` (the newest file per scope of the
    /// phase): a criterion whose file or series is missing or empty is
    /// `no data`.
    public static func evaluate(_ criteria: [Criterion], files: [LoadedMetrics]) -> [CriterionResult] {
        let byScope = Dictionary(files.map { ($0.file.scope, $0) }, uniquingKeysWith: { a, b in
            (a.file.timestamp, a.fileName) >= (b.file.timestamp, b.fileName) ? a : b
        })
        /// The series, or why it is not there.
        func find(_ scope: String, _ name: String) -> Result<(LoadedMetrics, MetricSeries), Missing> {
            guard let f = byScope[scope] else { return .failure(Missing(text: "no \(scope) metrics file for this phase")) }
            guard let s = f.file[name] else { return .failure(Missing(text: "\(f.fileName) has no series '\(name)'")) }
            return .success((f, s))
        }
        return criteria.map { c in
            var r = CriterionResult(id: c.id, what: c.what, series: c.key, stat: c.stat.rawValue, op: c.op.rawValue,
                                    status: .noData, measured: nil, limit: nil, limitText: limitText(c, unit: nil), unit: nil,
                                    backend: nil, accelerator: nil, note: nil)
            let file: LoadedMetrics, series: MetricSeries
            switch find(c.scope, c.series) {
            case .failure(let m): r.note = m.text; return r
            case .success(let hit): (file, series) = hit
            }
            let labels = file.file.labels(of: series)
            r.backend = labels.backend
            r.accelerator = labels.accelerator
            r.unit = series.unit
            r.limitText = limitText(c, unit: series.unit)
            guard let measured = c.stat.value(of: series) else {
                r.note = "\(c.key) in \(file.fileName) has no samples"
                return r
            }
            r.measured = measured
            switch c.limit {
            case .value(let v):
                r.limit = v
            case .target:
                let t = Catalogue.target(for: series.metric)
                r.limit = t.threshold
                r.limitText = "\(c.op.rawValue) \(Format.compact(t.threshold)) \(t.unit) (guide target)"
                guard t.unit == series.unit else {
                    r.status = .missed
                    r.note = "\(c.key) is in \(series.unit) but the \(series.metric.rawValue) target is in \(t.unit)"
                    return r
                }
                let targetOp: Criterion.Op = t.direction == .below ? .lessThan : .atLeast
                guard targetOp == c.op else {
                    r.status = .missed
                    r.note = "the criterion says \(c.op.rawValue) but the \(series.metric.rawValue) target is \(t.text): fix the criteria file"
                    return r
                }
            case .relative(let ref, let refStat, let factor):
                let parts = ref.split(separator: "/", maxSplits: 1).map(String.init)
                let refFile: LoadedMetrics, refSeries: MetricSeries
                switch find(parts[0], parts[1]) {
                case .failure(let m): r.note = m.text + " (needed for the limit)"; return r
                case .success(let hit): (refFile, refSeries) = hit
                }
                guard let base = refStat.value(of: refSeries) else {
                    r.note = "\(ref) has no samples (needed for the limit)"
                    return r
                }
                r.limit = factor * base
                r.limitText = "\(c.op.rawValue) \(Format.compact(factor)) x \(ref) \(refStat.rawValue) = \(Format.compact(factor * base)) \(refSeries.unit)"
                guard refSeries.unit == series.unit else {
                    r.status = .missed
                    r.note = "\(c.key) is in \(series.unit) but \(ref) is in \(refSeries.unit)"
                    return r
                }
                let refLabels = refFile.file.labels(of: refSeries)
                if refLabels != labels {
                    r.note = "\(ref) is \(refLabels.backend)/\(refLabels.accelerator), \(c.key) is \(labels.backend)/\(labels.accelerator)"
                }
            }
            r.status = c.op.holds(measured, r.limit!) ? .met : .missed
            return r
        }
    }

    private struct Missing: Error { var text: String }

    private static func limitText(_ c: Criterion, unit: String?) -> String {
        switch c.limit {
        case .value(let v): return "\(c.op.rawValue) \(Format.compact(v))" + (unit.map { $0.isEmpty ? "" : " \($0)" } ?? "")
        case .target: return "\(c.op.rawValue) guide target"
        case .relative(let ref, let stat, let factor): return "\(c.op.rawValue) \(Format.compact(factor)) x \(ref) \(stat.rawValue)"
        }
    }
}

extension Format {
    /// A stated number as it was written: `2000`, `1.5`, `0.25`; measured
    /// values that are not whole keep `number`'s 2 decimals.
    static func compact(_ v: Double) -> String {
        guard v.isFinite else { return number(v) }
        if v == v.rounded(), abs(v) < 1e15 { return String(format: "%.0f", v) }
        var t = String(format: "%.3f", v)
        while t.hasSuffix("0") { t.removeLast() }
        return t
    }
}

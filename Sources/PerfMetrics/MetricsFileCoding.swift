import Foundation
import PerfStats

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Top-level keys that are not metric series.
private let reservedKeys: Set<String> = [
    "format_version", "timestamp", "scope", "phase", "iterations", "warmup", "backend", "accelerator",
    "emulated", "caveat", "host", "tools", "commit", "notes", "meets_target", "series_order", "provenance",
]

extension MetricsFile {
    /// Pretty JSON in the guide's format.
    public func encoded() throws -> Data {
        // A file that could not be read back is not written.
        if let problem = provenance?.problem { throw MetricsFileError.invalid(file: fileName, problem: problem) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(EncodingBox(file: self))
    }

    /// Writes atomically (temporary file + rename) into `directory`, creating
    /// it if needed; returns the file's URL.
    @discardableResult
    public func write(into directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(fileName)
        try encoded().write(to: url, options: .atomic)
        return url
    }

    /// Reads and checks a metrics file. A truncated, corrupt or inconsistent
    /// file is rejected with an error naming the file and the problem.
    public static func read(from url: URL) throws -> MetricsFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MetricsFileError.unreadable(file: url.path, problem: error.localizedDescription)
        }
        return try decode(data, name: url.path)
    }

    public static func decode(_ data: Data, name: String) throws -> MetricsFile {
        if data.isEmpty { throw MetricsFileError.invalid(file: name, problem: "the file is empty") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw MetricsFileError.invalid(file: name, problem: "not valid JSON (truncated or corrupt): \(error.localizedDescription)")
        }
        guard let root = object as? [String: Any] else {
            throw MetricsFileError.invalid(file: name, problem: "the top level is not a JSON object")
        }
        func need<T>(_ key: String, _ type: T.Type) throws -> T {
            guard let v = root[key] else { throw MetricsFileError.invalid(file: name, problem: "missing field '\(key)'") }
            guard let t = v as? T else { throw MetricsFileError.invalid(file: name, problem: "field '\(key)' has the wrong type") }
            return t
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        // One decoding pass over the original bytes for the typed fields (host,
        // tools, every series) and the key order, rather than re-serialising
        // each field to decode it: about 4x faster per file, which matters
        // when a trend report reads a thousand files.
        let fields: TypedFields
        do { fields = try decoder.decode(TypedFields.self, from: data) } catch {
            throw MetricsFileError.invalid(file: name, problem: "not valid JSON (truncated or corrupt): \(error)")
        }
        func decodeField<T: Decodable>(_ key: String, as: T.Type) throws -> T {
            guard root[key] != nil, let decoded = fields.values[key] else {
                throw MetricsFileError.invalid(file: name, problem: "missing field '\(key)'")
            }
            switch decoded {
            case .success(let v):
                guard let t = v as? T else { throw MetricsFileError.invalid(file: name, problem: "field '\(key)' has the wrong type") }
                return t
            case .failure(let error):
                throw MetricsFileError.invalid(file: name, problem: "field '\(key)': \(error)")
            }
        }
        let stamp = try need("timestamp", String.self)
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = fractional.date(from: stamp) ?? ISO8601DateFormatter().date(from: stamp) else {
            throw MetricsFileError.invalid(file: name, problem: "timestamp '\(stamp)' is not ISO 8601")
        }
        let iterations = try need("iterations", Int.self)
        guard iterations > 0 else { throw MetricsFileError.invalid(file: name, problem: "iterations must be positive, found \(iterations)") }
        let phaseText = try need("phase", String.self)
        guard let phase = Phase(rawValue: phaseText) else {
            throw MetricsFileError.invalid(file: name, problem: "unknown phase '\(phaseText)'")
        }
        var file = MetricsFile(
            timestamp: date, scope: try need("scope", String.self), phase: phase, iterations: iterations,
            warmup: try need("warmup", Int.self),
            labels: RunLabels(backend: try need("backend", String.self), accelerator: try need("accelerator", String.self)),
            host: try decodeField("host", as: HostDescription.self),
            tools: try decodeField("tools", as: [String: String].self),
            commit: try need("commit", String.self),
            notes: (root["notes"] as? [String]) ?? [],
            provenance: try provenance(root["provenance"], file: name))
        // Series in the order the writer gave (`series_order`), else by name
        // (decoders do not keep a file's key order).
        let named = root.keys.filter { !reservedKeys.contains($0) }
        let stated = (root["series_order"] as? [String]) ?? []
        let order = stated.filter(named.contains) + named.filter { !stated.contains($0) }.sorted()
        for key in order {
            let s = try decodeField(key, as: MetricSeries.self)
            try check(s, key: key, file: name)
            file.add(key, s)
        }
        if file.series.isEmpty { throw MetricsFileError.invalid(file: name, problem: "no metric series in the file") }
        let statedMeets = try need("meets_target", Bool.self)
        if statedMeets != file.meetsTarget {
            throw MetricsFileError.invalid(file: name, problem: "meets_target says \(statedMeets) but its series say \(file.meetsTarget)")
        }
        return file
    }

    /// The `provenance` object: absent in older files (nil); when present,
    /// every field must be there with a valid value.
    private static func provenance(_ value: Any?, file: String) throws -> Provenance? {
        guard let value else { return nil }
        guard let object = value as? [String: Any] else {
            throw MetricsFileError.invalid(file: file, problem: "field 'provenance' is not an object")
        }
        func text(_ key: String) throws -> String {
            guard let v = object[key] else { throw MetricsFileError.invalid(file: file, problem: "field 'provenance' has no '\(key)'") }
            guard let s = v as? String else {
                throw MetricsFileError.invalid(file: file, problem: "field 'provenance.\(key)' has the wrong type (a string is needed)")
            }
            return s
        }
        let p = Provenance(build: try text("build"), benchmark: try text("benchmark"), mode: try text("mode"),
                           command: try text("command"), origin: try text("origin"))
        if let problem = p.problem { throw MetricsFileError.invalid(file: file, problem: problem) }
        return p
    }

    /// The statistics must be those of the samples: a hand-edited or
    /// truncated series is caught here.
    private static func check(_ s: MetricSeries, key: String, file: String) throws {
        guard !s.samples.isEmpty else { throw MetricsFileError.invalid(file: file, problem: "'\(key)' has no samples") }
        guard s.count == s.samples.count else {
            throw MetricsFileError.invalid(file: file, problem: "'\(key)' says count \(s.count) but holds \(s.samples.count) samples")
        }
        let recomputed = try Summary(s.samples, name: key)
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-6 * Swift.max(1, abs(a), abs(b)) }
        for (field, stated, actual) in [("median", s.median, recomputed.median), ("p95", s.p95, recomputed.p95),
                                        ("p99", s.p99, recomputed.p99), ("min", s.min, recomputed.min),
                                        ("max", s.max, recomputed.max)] where !close(stated, actual) {
            throw MetricsFileError.invalid(file: file, problem: "'\(key)'.\(field) is \(stated) but its samples give \(actual)")
        }
        if let t = s.meetsTarget {
            let target = Catalogue.target(for: s.metric)
            guard s.unit == target.unit else {
                throw MetricsFileError.invalid(file: file, problem: "'\(key)' is in \(s.unit) but the \(s.metric.rawValue) target is in \(target.unit)")
            }
            if t != target.meets(median: s.median) {
                throw MetricsFileError.invalid(file: file, problem: "'\(key)'.meets_target disagrees with its median")
            }
        }
    }
}

/// The top-level keys, with host, tools and every series
/// decoded (or the error that decoding gave, reported when the field is used).
private struct TypedFields: Decodable {
    var keys: [String] = []
    var values: [String: Result<Any, Error>] = [:]

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for k in c.allKeys {
            let key = k.stringValue
            keys.append(key)
            switch key {
            case "host": values[key] = Result { try c.decode(HostDescription.self, forKey: k) as Any }
            case "tools": values[key] = Result { try c.decode([String: String].self, forKey: k) as Any }
            case _ where reservedKeys.contains(key): continue
            default: values[key] = Result { try c.decode(MetricSeries.self, forKey: k) as Any }
            }
        }
    }
}

private struct EncodingBox: Encodable {
    let file: MetricsFile
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(MetricsFile.formatVersion, forKey: AnyKey("format_version"))
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        try c.encode(f.string(from: file.timestamp), forKey: AnyKey("timestamp"))
        try c.encode(file.iterations, forKey: AnyKey("iterations"))
        try c.encode(file.warmup, forKey: AnyKey("warmup"))
        try c.encode(file.scope, forKey: AnyKey("scope"))
        try c.encode(file.phase, forKey: AnyKey("phase"))
        try c.encode(file.labels.backend, forKey: AnyKey("backend"))
        try c.encode(file.labels.accelerator, forKey: AnyKey("accelerator"))
        try c.encode(file.labels.isEmulatedOrSimulated, forKey: AnyKey("emulated"))
        try c.encodeIfPresent(file.labels.caveat, forKey: AnyKey("caveat"))
        for (name, value) in file.series { try c.encode(value, forKey: AnyKey(name)) }
        try c.encode(file.series.map(\.name), forKey: AnyKey("series_order"))
        try c.encode(file.meetsTarget, forKey: AnyKey("meets_target"))
        try c.encode(file.host, forKey: AnyKey("host"))
        try c.encode(file.tools, forKey: AnyKey("tools"))
        try c.encode(file.commit, forKey: AnyKey("commit"))
        try c.encode(file.notes, forKey: AnyKey("notes"))
        try c.encodeIfPresent(file.provenance, forKey: AnyKey("provenance"))
    }
}

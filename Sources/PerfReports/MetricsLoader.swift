import Foundation
import LGSettings
import PerfMetrics

/// Where reports go: `LUMINAGUARD_REPORTS_DIR` (default `reports`), with
/// `metrics/`, `junit/` and `summaries/` beneath.
public struct ReportPaths: Sendable, Equatable {
    public var root: URL

    public init(root: URL) { self.root = root }

    /// From the settings: `LUMINAGUARD_REPORTS_DIR`, else `reports` in the
    /// current directory.
    public static func fromSettings(_ settings: Settings = .shared) -> ReportPaths {
        ReportPaths(root: URL(fileURLWithPath: settings.reportsDirectory, isDirectory: true))
    }

    public var metrics: URL { root.appendingPathComponent("metrics", isDirectory: true) }
    public var junit: URL { root.appendingPathComponent("junit", isDirectory: true) }
    public var summaries: URL { root.appendingPathComponent("summaries", isDirectory: true) }
}

/// Which metrics files a reader uses. The main job's files (provenance
/// origin `benchmark`) and files written before provenance was recorded are
/// always used; test runs' files only when asked for, so that a test run's
/// numbers (often a debug build in quick mode) never mix with the main job's.
public struct RunSelection: Sendable, Equatable {
    public var includeTestRuns: Bool

    public init(includeTestRuns: Bool) { self.includeTestRuns = includeTestRuns }

    /// The main job's files only (and files without provenance).
    public static let mainJob = RunSelection(includeTestRuns: false)
    /// Every valid file.
    public static let everything = RunSelection(includeTestRuns: true)

    /// Why `file` is left out, or nil when it is used.
    public func exclusionReason(_ file: MetricsFile) -> String? {
        guard let p = file.provenance, p.origin != Provenance.benchmarkOrigin, !includeTestRuns else { return nil }
        return "\(Self.testRunReasonPrefix) (provenance origin \"\(p.origin)\", \(p.build) build, \(p.mode) mode), not the main job's"
    }

    public func admits(_ file: MetricsFile) -> Bool { exclusionReason(file) == nil }

    static let testRunReasonPrefix = "a test run's file"
}

/// A metrics file and where it was read from.
public struct LoadedMetrics: Sendable, Equatable {
    public var url: URL
    public var file: MetricsFile
    public var fileName: String { url.lastPathComponent }

    public init(url: URL, file: MetricsFile) { self.url = url; self.file = file }
}

/// The metrics files of a directory: the valid ones, and the rejected ones
/// with the reason (a corrupt file is reported, never silently dropped).
public struct MetricsCollection: Sendable, Equatable {
    public var files: [LoadedMetrics]
    public var rejected: [(url: URL, reason: String)]
    /// Files left unread by `loadNewest` because, by their names, a newer
    /// file of the same scope and phase exists.
    public var unread: [URL]
    /// Valid files left out by the reader's `RunSelection` (test runs), with
    /// the reason.
    public var excluded: [(url: URL, reason: String)]

    public init(files: [LoadedMetrics], rejected: [(url: URL, reason: String)], unread: [URL] = [],
                excluded: [(url: URL, reason: String)] = []) {
        self.files = files
        self.rejected = rejected
        self.unread = unread
        self.excluded = excluded
    }

    public static func == (a: MetricsCollection, b: MetricsCollection) -> Bool {
        a.files == b.files && a.rejected.map(\.url) == b.rejected.map(\.url) && a.rejected.map(\.reason) == b.rejected.map(\.reason)
            && a.unread == b.unread && a.excluded.map(\.url) == b.excluded.map(\.url)
            && a.excluded.map(\.reason) == b.excluded.map(\.reason)
    }

    /// The files `selection` admits; the others move to `excluded`.
    public func selecting(_ selection: RunSelection) -> MetricsCollection {
        var kept: [LoadedMetrics] = []
        var excluded = self.excluded
        for f in files {
            if let why = selection.exclusionReason(f.file) { excluded.append((f.url, why)) } else { kept.append(f) }
        }
        return MetricsCollection(files: kept, rejected: rejected, unread: unread, excluded: excluded)
    }

    /// One line saying how many files were left out and why (nil when none
    /// was), e.g. "left out 2 metrics files: 2 test-run files (...)".
    public var exclusionNote: String? {
        guard !excluded.isEmpty else { return nil }
        let tests = excluded.filter { $0.reason.hasPrefix(RunSelection.testRunReasonPrefix) }.count
        var parts: [String] = []
        if tests > 0 {
            parts.append("\(tests) test-run file\(tests == 1 ? "" : "s") (provenance origin \"test\"), kept apart from the main job's numbers")
        }
        // Any other reason, as it is.
        parts += excluded.filter { !$0.reason.hasPrefix(RunSelection.testRunReasonPrefix) }.map { "\($0.url.lastPathComponent): \($0.reason)" }
        return "left out \(excluded.count) metrics file\(excluded.count == 1 ? "" : "s"): " + parts.joined(separator: "; ")
    }

    /// Oldest first; ties broken by file name so the order is stable.
    public var chronological: [LoadedMetrics] {
        files.sorted { ($0.file.timestamp, $0.fileName) < ($1.file.timestamp, $1.fileName) }
    }

    /// The newest file per scope for `phase` (scopes sorted by name).
    public func newestPerScope(phase: Phase?) -> [LoadedMetrics] {
        var newest: [String: LoadedMetrics] = [:]
        for m in files where phase == nil || m.file.phase == phase {
            if let seen = newest[m.file.scope],
               (seen.file.timestamp, seen.fileName) >= (m.file.timestamp, m.fileName) { continue }
            newest[m.file.scope] = m
        }
        return newest.keys.sorted().map { newest[$0]! }
    }

    /// Reads every `*.json` file directly inside `directory` (or the single
    /// file `directory` names). Files are parsed in parallel: reading 1,000
    /// files is most of a trend report's time. Files `selection` does not
    /// admit are listed in `excluded`.
    public static func load(_ location: URL, selection: RunSelection) throws -> MetricsCollection {
        try load(location).selecting(selection)
    }

    /// Every valid file in `location`, whatever its provenance.
    public static func load(_ location: URL) throws -> MetricsCollection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory) else {
            throw ReportError.unusableInput("metrics location \(location.path) does not exist")
        }
        let urls: [URL]
        if isDirectory.boolValue {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: location.path) } catch {
                throw ReportError.unusableInput("cannot list \(location.path): \(error.localizedDescription)")
            }
            urls = names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
                .map { location.appendingPathComponent($0) }
        } else {
            urls = [location]
        }
        let results = ParallelMap.map(urls) { url -> Result<MetricsFile, Error> in
            Result { try MetricsFile.read(from: url) }
        }
        var files: [LoadedMetrics] = []
        var rejected: [(URL, String)] = []
        for (url, result) in zip(urls, results) {
            switch result {
            case .success(let f): files.append(LoadedMetrics(url: url, file: f))
            case .failure(let e): rejected.append((url, "\(e)"))
            }
        }
        return MetricsCollection(files: files, rejected: rejected)
    }
}

extension MetricsCollection {
    /// The parts of a metrics file name `<scope>_<phase>_YYYYMMDD_HHMMSS.json`
    /// (the scope may itself contain underscores); nil for any other name.
    static func parseName(_ name: String) -> (scope: String, phase: Phase, stamp: String)? {
        guard name.hasSuffix(".json") else { return nil }
        let parts = name.dropLast(5).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return nil }
        let day = parts[parts.count - 2], time = parts[parts.count - 1]
        guard day.count == 8, time.count == 6, day.allSatisfy(\.isNumber), time.allSatisfy(\.isNumber),
              let phase = Phase(rawValue: String(parts[parts.count - 3])) else { return nil }
        let scope = parts[..<(parts.count - 3)].joined(separator: "_")
        guard !scope.isEmpty else { return nil }
        return (scope, phase, "\(day)\(time)")
    }

    /// What a summary of `phase` needs: the newest valid file per scope.
    /// Names in the standard pattern are used to read only the newest file of
    /// each scope (then the next newest if that one is invalid); files with
    /// other names are read in full. If a file's contents disagree with its
    /// name, every file is read instead. A summary of 1,000 files thus reads
    /// a handful; `load` (used by trends) reads and checks them all.
    /// A file `selection` does not admit (a test run's) does not count as
    /// its scope's newest: the next newest is read.
    public static func loadNewest(_ location: URL, phase: Phase, selection: RunSelection = .everything) throws -> MetricsCollection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return try load(location, selection: selection)
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: location.path) } catch {
            throw ReportError.unusableInput("cannot list \(location.path): \(error.localizedDescription)")
        }
        var groups: [String: [String: [String]]] = [:] // scope -> stamp -> names
        var others: [String] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            if let p = parseName(name) {
                if p.phase == phase { groups[p.scope, default: [:]][p.stamp, default: []].append(name) }
            } else {
                others.append(name)
            }
        }
        // Newest stamp first per scope.
        var queues: [String: [[String]]] = groups.mapValues { byStamp in
            byStamp.keys.sorted(by: >).map { byStamp[$0]!.sorted() }
        }
        var files: [LoadedMetrics] = []
        var rejected: [(URL, String)] = []
        var excluded: [(URL, String)] = []
        var batch = others.sorted()
        var satisfied = Set<String>()
        while true {
            for scope in queues.keys.sorted() where !satisfied.contains(scope) {
                if var q = queues[scope], !q.isEmpty { batch += q.removeFirst(); queues[scope] = q }
            }
            if batch.isEmpty { break }
            let urls = batch.map { location.appendingPathComponent($0) }
            let results = ParallelMap.map(urls) { url in Result { try MetricsFile.read(from: url) } }
            for (url, result) in zip(urls, results) {
                switch result {
                case .success(let f):
                    if let p = parseName(url.lastPathComponent) {
                        // The name must tell the truth, or the selection by name is void.
                        guard p.scope == f.scope, p.phase == f.phase else { return try load(location, selection: selection) }
                    }
                    if let why = selection.exclusionReason(f) { excluded.append((url, why)); continue }
                    if let p = parseName(url.lastPathComponent) { satisfied.insert(p.scope) }
                    files.append(LoadedMetrics(url: url, file: f))
                case .failure(let e): rejected.append((url, "\(e)"))
                }
            }
            batch = []
        }
        let unread = queues.keys.sorted().flatMap { queues[$0]!.flatMap { $0 } }.map { location.appendingPathComponent($0) }
        return MetricsCollection(files: files, rejected: rejected, unread: unread, excluded: excluded)
    }
}

/// A small parallel map over the machine's cores (order preserved).
enum ParallelMap {
    static func map<T: Sendable, R: Sendable>(_ items: [T], _ transform: @Sendable (T) -> R) -> [R] {
        if items.count < 8 { return items.map(transform) }
        let box = ResultBox<R>(count: items.count)
        let workers = Swift.max(1, Swift.min(ProcessInfo.processInfo.activeProcessorCount, items.count))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < items.count {
                box.set(i, transform(items[i]))
                i += workers
            }
        }
        return box.values()
    }
}

private final class ResultBox<R>: @unchecked Sendable {
    // Each index is written by exactly one worker; the lock guards the array itself.
    private var storage: [R?]
    private let lock = NSLock()
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: R) { lock.lock(); storage[i] = value; lock.unlock() }
    func values() -> [R] { storage.map { $0! } }
}

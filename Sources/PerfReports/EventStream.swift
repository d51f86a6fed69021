import Foundation

/// Errors of the report generator. Each names the input and the problem, so
/// that a CI log says what to fix.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    case eventStream(file: String, problem: String)
    case invalidReport(schema: String, problems: [String])
    case schemaUnusable(schema: String, problem: String)
    case noData(String)
    case unusableInput(String)
    case io(String)

    public var description: String {
        switch self {
        case .eventStream(let f, let p): return "event stream \(f): \(p)"
        case .invalidReport(let s, let ps):
            return "the generated JUnit XML does not validate against \(s) (nothing was written):\n  "
                + ps.joined(separator: "\n  ")
        case .schemaUnusable(let s, let p): return "schema \(s) cannot be used: \(p)"
        case .noData(let p): return p
        case .unusableInput(let p): return p
        case .io(let p): return p
        }
    }
}

/// One test function of a Swift Testing run, with its outcome, reconstructed
/// from the event stream (`--event-stream-version 0`).
public struct TestResult: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case passed
        /// Unknown issues recorded by expectations / `#require`.
        case failed(message: String, details: String)
        /// A thrown error (`Caught error: ...`).
        case error(message: String, details: String)
        /// Disabled by a trait (`testSkipped`) or cancelled at run time (`testCancelled`).
        case skipped(message: String)
        /// Started but never ended: the stream stops early (crash, kill, timeout).
        case unfinished
    }

    public var id: String
    /// The module (test target), e.g. `PerfReportsTests`.
    public var module: String
    /// The enclosing suite in dotted form, as Swift Testing's own xunit output
    /// writes it (`Module.Suite.Nested`), or the module for a free function.
    public var classname: String
    /// The test's name (`name` in the stream, e.g. `` `cold boot [tag:baseline]`() ``).
    public var name: String
    public var displayName: String?
    /// Tags without the leading dot, sorted.
    public var tags: [String]
    public var outcome: Outcome
    /// Seconds between `testStarted` and `testEnded` (monotonic clock); nil when not run.
    public var duration: Double?
    public var startedAt: Double?
    public var endedAt: Double?
    /// Messages of known issues (they do not fail the test).
    public var knownIssues: [String]
    /// Number of test cases (arguments) for a parameterized test.
    public var testCaseCount: Int?
    /// Lines for the testcase's `<system-out>` (samples, labels, source file).
    public var output: [String] = []
}

/// A whole run: the tests that took part, in the order they started.
public struct TestRun: Sendable, Equatable {
    public var tests: [TestResult]
    /// Wall-clock start of the run (seconds since 1970), from `runStarted`.
    public var startedAt: Date?
    /// Duration of the run (monotonic), when both `runStarted` and `runEnded` are present.
    public var duration: Double?
    /// False when the stream has no `runEnded` (the run was cut short).
    public var complete: Bool
    /// Issues recorded outside any test function (e.g. against a suite).
    public var orphanIssues: [String]
    public var suiteCount: Int

    public var total: Int { tests.count }
    public var failures: Int { tests.filter { if case .failed = $0.outcome { return true } else { return false } }.count }
    public var errors: Int {
        tests.filter {
            switch $0.outcome { case .error, .unfinished: return true; default: return false }
        }.count
    }
    public var skipped: Int { tests.filter { if case .skipped = $0.outcome { return true } else { return false } }.count }
    public var passed: Int { tests.filter { $0.outcome == .passed }.count }
}

/// Parses the JSON Lines event stream that `swift test --event-stream-output-path F
/// --event-stream-version 0` writes. Durations are not in the stream: they are
/// computed from the `instant.absolute` (monotonic) of start and end events.
public enum EventStreamParser {
    public static let supportedVersion = 0

    public static func parse(contentsOf url: URL) throws -> TestRun {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ReportError.eventStream(file: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, name: url.path)
    }

    private struct Record {
        var kind: String
        var payload: [String: Any]
    }

    public static func parse(_ data: Data, name: String) throws -> TestRun {
        guard !data.isEmpty else { throw ReportError.eventStream(file: name, problem: "the file is empty (did the test run start?)") }
        var records: [Record] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: Data(line)) } catch {
                throw ReportError.eventStream(file: name, problem: "line \(lineNumber) is not valid JSON (truncated or corrupt)")
            }
            guard let root = object as? [String: Any], let kind = root["kind"] as? String,
                  let payload = root["payload"] as? [String: Any] else {
                throw ReportError.eventStream(file: name, problem: "line \(lineNumber) is not an event-stream record (needs kind and payload)")
            }
            guard let version = root["version"] as? Int else {
                throw ReportError.eventStream(file: name, problem: "line \(lineNumber) has no version")
            }
            guard version == supportedVersion else {
                throw ReportError.eventStream(file: name, problem: "line \(lineNumber) has version \(version); only --event-stream-version \(supportedVersion) is supported")
            }
            records.append(Record(kind: kind, payload: payload))
        }
        guard !records.isEmpty else { throw ReportError.eventStream(file: name, problem: "no records") }

        // Test and suite declarations.
        var suites: [String: [String: Any]] = [:]
        var functions: [String: [String: Any]] = [:]
        var declarationOrder: [String: Int] = [:]
        for r in records where r.kind == "test" {
            guard let id = r.payload["id"] as? String, let k = r.payload["kind"] as? String else { continue }
            if k == "suite" { suites[id] = r.payload } else {
                functions[id] = r.payload
                declarationOrder[id] = declarationOrder[id] ?? declarationOrder.count
            }
        }

        struct State {
            var start: Double?
            var end: Double?
            var failures: [(String, String)] = []
            var errors: [(String, String)] = []
            var known: [String] = []
            var skip: String?
            var cases = 0
            var order: Int
        }
        var states: [String: State] = [:]
        var orphan: [String] = []
        var runStart: (abs: Double, wall: Double)?
        var runEnd: Double?
        var counter = 0
        func instant(_ p: [String: Any]) -> (abs: Double, wall: Double)? {
            guard let i = p["instant"] as? [String: Any], let a = i["absolute"] as? Double else { return nil }
            return (a, (i["since1970"] as? Double) ?? 0)
        }
        func texts(_ p: [String: Any]) -> (String, String) {
            let messages = (p["messages"] as? [[String: Any]]) ?? []
            let main = messages.first.flatMap { $0["text"] as? String } ?? ""
            var details = messages.dropFirst().compactMap { $0["text"] as? String }
            for c in (p["_comments"] as? [String]) ?? [] where !details.contains(c) { details.append(c) }
            return (main, details.joined(separator: "\n"))
        }

        for r in records where r.kind == "event" {
            let p = r.payload
            let kind = p["kind"] as? String ?? ""
            let testID = p["testID"] as? String
            switch kind {
            case "runStarted": runStart = instant(p)
            case "runEnded": runEnd = instant(p)?.abs
            case "testStarted", "testEnded", "testSkipped", "testCancelled", "testCaseStarted", "issueRecorded":
                guard let id = testID else {
                    if kind == "issueRecorded" { orphan.append(texts(p).0) }
                    continue
                }
                if functions[id] == nil {
                    // Events for suites: only issues matter (e.g. a suite initialiser that threw).
                    if kind == "issueRecorded", !isKnown(p), !isWarning(p) {
                        let (m, d) = texts(p)
                        orphan.append("\(id): \(m)\(d.isEmpty ? "" : ": " + d)")
                    }
                    continue
                }
                var s = states[id] ?? State(order: { counter += 1; return counter }())
                switch kind {
                case "testStarted": s.start = instant(p)?.abs
                case "testEnded": s.end = instant(p)?.abs
                case "testCaseStarted": s.cases += 1
                case "testSkipped", "testCancelled":
                    let comments = (p["_comments"] as? [String]) ?? []
                    let (m, _) = texts(p)
                    let reason = comments.first ?? (m.isEmpty ? "skipped" : m)
                    if s.skip == nil { s.skip = kind == "testCancelled" ? "cancelled: \(reason)" : reason }
                    if kind == "testSkipped" { s.start = s.start ?? instant(p)?.abs }
                default: // issueRecorded
                    let (m, d) = texts(p)
                    if isKnown(p) { s.known.append(d.isEmpty ? m : "\(m): \(d)") }
                    else if isWarning(p) { /* warnings do not fail a test */ }
                    else if (p["issue"] as? [String: Any])?["_error"] != nil { s.errors.append((m, d)) }
                    else { s.failures.append((m, d)) }
                }
                states[id] = s
            default:
                continue
            }
        }

        var results: [TestResult] = []
        // Declaration order (the order of the stream's `test` records) is
        // stable from run to run, unlike the order in which parallel tests start.
        for (id, s) in states.sorted(by: { (declarationOrder[$0.key] ?? 0, $0.value.order) < (declarationOrder[$1.key] ?? 0, $1.value.order) }) {
            guard s.start != nil || s.skip != nil else { continue }
            let decl = functions[id]!
            let module = String(id.prefix { $0 != "." })
            // The enclosing suite is the longest suite ID that prefixes this ID.
            let suite = suites.keys.filter { id.hasPrefix($0 + "/") }.max { $0.count < $1.count }
            let classname = (suite ?? module).replacingOccurrences(of: "/", with: ".")
            let tags = ((decl["_tags"] as? [String]) ?? []).map { $0.hasPrefix(".") ? String($0.dropFirst()) : $0 }.sorted()
            let outcome: TestResult.Outcome
            func joined(_ list: [(String, String)]) -> (String, String) {
                let first = list[0].1.isEmpty ? list[0].0 : "\(list[0].0): \(list[0].1)"
                let all = list.map { $0.1.isEmpty ? $0.0 : "\($0.0)\n\($0.1)" }.joined(separator: "\n\n")
                return (list.count > 1 ? "\(first) (and \(list.count - 1) more)" : first, all)
            }
            if !s.errors.isEmpty {
                let (m, d) = joined(s.errors + s.failures)
                outcome = .error(message: m, details: d)
            } else if !s.failures.isEmpty {
                let (m, d) = joined(s.failures)
                outcome = .failed(message: m, details: d)
            } else if let reason = s.skip {
                outcome = .skipped(message: reason)
            } else if s.end == nil {
                outcome = .unfinished
            } else {
                outcome = .passed
            }
            let duration = s.start.flatMap { a in s.end.map { Swift.max(0, $0 - a) } }
            results.append(TestResult(
                id: id, module: module, classname: classname, name: decl["name"] as? String ?? id,
                displayName: decl["displayName"] as? String, tags: tags, outcome: outcome, duration: duration,
                startedAt: s.start, endedAt: s.end, knownIssues: s.known,
                testCaseCount: (decl["isParameterized"] as? Bool) == true ? s.cases : nil))
        }
        let started = runStart.map { Date(timeIntervalSince1970: $0.wall) }
        let duration = runStart.flatMap { a in runEnd.map { Swift.max(0, $0 - a.abs) } }
        return TestRun(tests: results, startedAt: started, duration: duration, complete: runEnd != nil,
                       orphanIssues: orphan, suiteCount: suites.count)
    }

    private static func isKnown(_ p: [String: Any]) -> Bool {
        ((p["issue"] as? [String: Any])?["isKnown"] as? Bool) == true
    }

    /// Swift 6.3's v0 stream leaves warnings out; a later stream may carry a
    /// severity, and a warning never fails a test.
    private static func isWarning(_ p: [String: Any]) -> Bool {
        let sev = (p["issue"] as? [String: Any])?["severity"] as? String
        return sev == "warning"
    }
}

import Foundation
import FoundationXML
import PerfMetrics

/// JUnit XML for a Swift Testing run, written with FoundationXML.
///
/// Layout: `<testsuites>` holds one `<testsuite>` per test module (test
/// target), which holds one `<testcase>` per test function (a parameterized
/// test is one testcase), with `classname` = the enclosing suite. Outcomes:
/// `<failure>` for failed expectations, `<error>` for thrown errors and for
/// tests that never ended, `<skipped>` for disabled and cancelled tests.
/// Known issues do not fail a test; they are listed in `<system-out>`.
///
/// Names are written for people reading a CI page: Swift's raw-identifier
/// backticks, empty argument lists `()` and the `[tag:NAME]` tokens (which exist only
/// for `swift test --filter`) are removed from classnames and names
/// (``readableName(_:)``); the tags stay reachable, see below.
///
/// Tags: the common schema (junit-10.xsd) allows no `<properties>` inside a
/// `<testcase>`, so a test's tags go into its `group` attribute and into the
/// testsuite's `<properties>` as `tags:<classname>/<name>`. The testsuite's
/// properties also carry the run's labels and, per metric series, median,
/// p95, p99, target, grade and meets_target. A test's `output` lines go into
/// its `<system-out>`.
public struct JUnitReport: Sendable {
    public var run: TestRun
    public var metrics: [LoadedMetrics]
    public var hostname: String
    public var name: String
    /// When set, the metrics files whose properties each testsuite (by name)
    /// carries; otherwise every suite carries all of `metrics`.
    public var suiteMetrics: [String: [LoadedMetrics]]?
    /// Lines for a testsuite's `<system-out>`, by suite name.
    public var suiteNotes: [String: [String]]

    public init(run: TestRun, metrics: [LoadedMetrics] = [], hostname: String? = nil, name: String = "lgperf",
                suiteMetrics: [String: [LoadedMetrics]]? = nil, suiteNotes: [String: [String]] = [:]) {
        self.run = run
        self.metrics = metrics
        self.hostname = hostname ?? metrics.first?.file.host.hostname ?? ProcessInfo.processInfo.hostName
        self.name = name
        self.suiteMetrics = suiteMetrics
        self.suiteNotes = suiteNotes
    }

    /// A test or suite name as a person reads it: `` `cold boot [tag:baseline]`() ``
    /// -> `cold boot`, `` EvTests.`VM spawn [tag:spawn]` `` -> `EvTests.VM spawn`,
    /// `freeFunction()` -> `freeFunction`. Argument labels (`parameterized(_:)`)
    /// are kept: they tell overloads apart. Never empty.
    public static func readableName(_ raw: String) -> String {
        var s = raw.replacingOccurrences(of: "`", with: "")
        s = s.replacingOccurrences(of: #"\s*\[tag:[^\]]*\]"#, with: "", options: .regularExpression)
        s = s.replacingOccurrences(of: "()", with: "")
        s = s.replacingOccurrences(of: #"\s{2,}"#, with: " ", options: .regularExpression)
        s = s.replacingOccurrences(of: #"\s+\."#, with: ".", options: .regularExpression)
        s = s.trimmingCharacters(in: .whitespaces)
        return s.isEmpty ? raw : s
    }

    /// Properties describing where the numbers came from and what they were.
    public var metricProperties: [(String, String)] { Self.metricProperties(metrics) }

    /// Properties describing where these files' numbers came from and what they were.
    public static func metricProperties(_ metrics: [LoadedMetrics]) -> [(String, String)] {
        guard !metrics.isEmpty else { return [] }
        var props: [(String, String)] = []
        func distinct(_ values: [String]) -> String {
            var seen: [String] = []
            for v in values where !seen.contains(v) { seen.append(v) }
            return seen.joined(separator: ",")
        }
        props.append(("backend", distinct(metrics.map(\.file.labels.backend))))
        props.append(("accelerator", distinct(metrics.map(\.file.labels.accelerator))))
        props.append(("iterations", distinct(metrics.map { String($0.file.iterations) })))
        props.append(("emulated_or_simulated", String(metrics.contains { $0.file.labels.isEmulatedOrSimulated })))
        for m in metrics {
            let f = m.file
            let s = f.scope
            props.append(("\(s).source", m.fileName))
            props.append(("\(s).backend", f.labels.backend))
            props.append(("\(s).accelerator", f.labels.accelerator))
            props.append(("\(s).iterations", String(f.iterations)))
            if let caveat = f.labels.caveat { props.append(("\(s).caveat", caveat)) }
            for (key, series) in f.series {
                let p = "\(s).\(key)"
                props.append(("\(p).median", Format.number(series.median)))
                if let ci = ReportedFigures(series).medianInterval {
                    props.append(("\(p).median_ci95", "\(Format.number(ci.lower))-\(Format.number(ci.upper))"))
                }
                props.append(("\(p).p95", Format.number(series.p95)))
                props.append(("\(p).p99", Format.number(series.p99)))
                props.append(("\(p).unit", series.unit))
                props.append(("\(p).samples", String(series.count)))
                props.append(("\(p).target", series.target ?? "none"))
                props.append(("\(p).grade", series.grade?.rawValue ?? "n/a"))
                props.append(("\(p).meets_target", series.meetsTarget.map { String($0) } ?? "n/a"))
                if let own = series.producedBy {
                    props.append(("\(p).backend", own.backend))
                    props.append(("\(p).accelerator", own.accelerator))
                }
            }
        }
        return props
    }

    public func document() -> XMLDocument {
        let root = XMLElement(name: "testsuites")
        root.set("name", name)
        root.set("tests", String(run.total))
        root.set("failures", String(run.failures))
        root.set("errors", String(run.errors))
        root.set("time", Format.seconds(run.duration ?? totalTime(run.tests)))

        var modules: [String] = []
        for t in run.tests where !modules.contains(t.module) { modules.append(t.module) }
        let timestamp = run.startedAt.map(Format.xsdDateTime)
        let runProperties = metricProperties
        func tagKey(_ t: TestResult) -> String { "tags:\(Self.readableName(t.classname))/\(Self.readableName(t.name))" }
        for (index, module) in modules.enumerated() {
            let tests = run.tests.filter { $0.module == module }
            let sub = TestRun(tests: tests, startedAt: run.startedAt, duration: nil, complete: run.complete,
                              orphanIssues: [], suiteCount: 0)
            let suite = XMLElement(name: "testsuite")
            suite.set("name", module)
            suite.set("tests", String(sub.total))
            suite.set("failures", String(sub.failures))
            suite.set("errors", String(sub.errors))
            suite.set("skipped", String(sub.skipped))
            suite.set("time", Format.seconds(span(tests)))
            if let timestamp { suite.set("timestamp", timestamp) }
            suite.set("hostname", Format.xmlSafe(hostname.isEmpty ? "localhost" : hostname))
            suite.set("id", String(index))

            var props = suiteMetrics.map { Self.metricProperties($0[module] ?? []) } ?? runProperties
            if !run.complete { props.append(("run.complete", "false")) }
            for t in tests where !t.tags.isEmpty {
                props.append((tagKey(t), t.tags.joined(separator: ",")))
            }
            if !props.isEmpty {
                let properties = XMLElement(name: "properties")
                for (n, v) in props {
                    let p = XMLElement(name: "property")
                    p.set("name", Format.xmlSafe(n))
                    p.set("value", Format.xmlSafe(v))
                    properties.addChild(p)
                }
                suite.addChild(properties)
            }
            for t in tests { suite.addChild(testcase(t)) }
            if let notes = suiteNotes[module], !notes.isEmpty {
                suite.addChild(XMLElement(name: "system-out", stringValue: Format.xmlSafe(notes.joined(separator: "\n"))))
            }
            if index == 0, !run.orphanIssues.isEmpty {
                let err = XMLElement(name: "system-err", stringValue: Format.xmlSafe(
                    "Issues recorded outside any test function:\n" + run.orphanIssues.joined(separator: "\n")))
                suite.addChild(err)
            }
            root.addChild(suite)
        }
        let doc = XMLDocument(rootElement: root)
        doc.version = "1.0"
        doc.characterEncoding = "UTF-8"
        return doc
    }

    public func xmlData() -> Data {
        document().xmlData(options: [.nodePrettyPrint])
    }

    private func testcase(_ t: TestResult) -> XMLElement {
        let e = XMLElement(name: "testcase")
        e.set("name", Format.xmlSafe(Self.readableName(t.name)))
        e.set("classname", Format.xmlSafe(Self.readableName(t.classname)))
        e.set("time", Format.seconds(t.duration ?? 0))
        if !t.tags.isEmpty { e.set("group", t.tags.joined(separator: ",")) }
        func outcome(_ element: String, _ message: String, _ type: String?, _ text: String?) {
            let o = XMLElement(name: element)
            o.set("message", Format.xmlSafe(message))
            if let type { o.set("type", type) }
            if let text, !text.isEmpty { o.stringValue = Format.xmlSafe(text) }
            e.addChild(o)
        }
        switch t.outcome {
        case .passed: break
        case .failed(let m, let d): outcome("failure", m, "issue", d)
        case .error(let m, let d): outcome("error", m, "error", d)
        case .skipped(let m): outcome("skipped", m, nil, nil)
        case .unfinished:
            outcome("error", "the test started but never ended: the event stream stops before its testEnded (crash, kill or timeout)",
                    "unfinished", nil)
        }
        var out: [String] = t.output + t.knownIssues.map { "known issue: \($0)" }
        if let n = t.testCaseCount { out.append("parameterized: \(n) test case\(n == 1 ? "" : "s")") }
        if !out.isEmpty { e.addChild(XMLElement(name: "system-out", stringValue: Format.xmlSafe(out.joined(separator: "\n")))) }
        return e
    }

    private func span(_ tests: [TestResult]) -> Double {
        let starts = tests.compactMap(\.startedAt), ends = tests.compactMap(\.endedAt)
        guard let a = starts.min(), let b = ends.max(), b >= a else { return 0 }
        return b - a
    }

    private func totalTime(_ tests: [TestResult]) -> Double { span(tests) }
}

extension XMLElement {
    fileprivate func set(_ name: String, _ value: String) {
        addAttribute(XMLNode.attribute(withName: name, stringValue: value) as! XMLNode)
    }
}

/// Shared number and text formatting.
public enum Format {
    /// Seconds with microsecond resolution, no exponent: valid for both
    /// junit-10's SUREFIRE_TIME and xs:decimal.
    public static func seconds(_ s: Double) -> String {
        String(format: "%.6f", Swift.max(0, s.isFinite ? s : 0))
    }

    /// A measured value: up to 3 decimals, trailing zeros kept to 2 places.
    public static func number(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "inf" : "-inf") }
        if abs(v) >= 1000 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }

    public static func percent(_ fraction: Double, signed: Bool = true) -> String {
        guard fraction.isFinite else { return fraction > 0 ? "+inf%" : "-inf%" }
        return String(format: signed ? "%+.1f%%" : "%.1f%%", fraction * 100)
    }

    public static func pValue(_ p: Double) -> String {
        p < 0.001 ? String(format: "%.1e", p) : String(format: "%.3f", p)
    }

    /// `2026-11-27T17:23:11Z` (xs:dateTime, UTC).
    public static func xsdDateTime(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    /// Replaces characters XML 1.0 cannot carry (control characters other than
    /// tab, newline and carriage return; lone surrogates; U+FFFE/U+FFFF) with a
    /// visible `\u{..}` so that the document stays well-formed.
    public static func xmlSafe(_ s: String) -> String {
        func allowed(_ v: UInt32) -> Bool {
            v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v) || (0xE000...0xFFFD).contains(v)
                || (0x10000...0x10FFFF).contains(v)
        }
        if s.unicodeScalars.allSatisfy({ allowed($0.value) }) { return s }
        var out = ""
        for u in s.unicodeScalars {
            if allowed(u.value) { out.unicodeScalars.append(u) } else { out += "\\u{\(String(u.value, radix: 16))}" }
        }
        return out
    }
}

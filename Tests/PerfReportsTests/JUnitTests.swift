import Foundation
import FoundationXML
import PerfMetrics
import Testing
@testable import PerfReports

extension `Report generator` {
@Suite struct `JUnit XML from a Swift Testing event stream` {
    let events = Fixture.url("events/sample-run.jsonl")

    /// "Test run with 12 tests in 5 suites failed after ... with 4 issues
    /// (including 1 known issue)." from the same run's console output.
    func consoleTotals() throws -> (tests: Int, suites: Int, issues: Int, known: Int) {
        let text = try String(contentsOf: Fixture.url("events/sample-run.console.txt"), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").last { $0.contains("Test run with") })
        let numbers = line.split(whereSeparator: { !$0.isNumber && $0 != "." }).compactMap { Int($0) }
        // 12 tests, 5 suites, (a duration that is not an Int), 4 issues, 1 known
        #expect(numbers.count == 4, "unexpected summary line: \(line)")
        return (numbers[0], numbers[1], numbers[2], numbers[3])
    }

    /// Test names the console marks as failed ("✘ Test ... failed") and skipped.
    func consoleOutcomes() throws -> (failed: Set<String>, skipped: Set<String>) {
        let text = try String(contentsOf: Fixture.url("events/sample-run.console.txt"), encoding: .utf8)
        var failed = Set<String>(), skipped = Set<String>()
        for line in text.split(separator: "\n") {
            guard line.hasPrefix("✘ Test ") || line.hasPrefix("➜ Test "), !line.hasPrefix("✘ Test run ") else { continue }
            guard line.contains(" failed after") || line.contains("skipped") || line.contains("was cancelled") else { continue }
            // ✘ Test "pool spawn fails" failed after ... / ✘ Test freeFunction() failed ...
            let body = line.dropFirst(7)
            let name: String
            if body.hasPrefix("\"") { name = String(body.dropFirst().prefix { $0 != "\"" }) } else { name = String(body.prefix { $0 != " " }) }
            if line.contains(" failed after") { failed.insert(name) } else { skipped.insert(name) }
        }
        return (failed, skipped)
    }

    @Test func `parsed counts match the run's own summary`() throws {
        let run = try EventStreamParser.parse(contentsOf: events)
        let console = try consoleTotals()
        #expect(run.total == console.tests)
        #expect(run.suiteCount == console.suites)
        #expect(run.complete)
        // 4 issues including 1 known: 3 failing issues in 3 tests, 1 known issue.
        #expect(run.failures + run.errors == console.issues - console.known)
        #expect(run.tests.flatMap(\.knownIssues).count == console.known)
        #expect(run.failures == 2 && run.errors == 1 && run.skipped == 2 && run.passed == 7)

        let (failed, skipped) = try consoleOutcomes()
        let ours = Set(run.tests.filter {
            switch $0.outcome { case .failed, .error: return true; default: return false }
        }.map { $0.displayName ?? $0.name })
        #expect(ours == failed)
        let oursSkipped = Set(run.tests.filter { if case .skipped = $0.outcome { return true } else { return false } }
            .map { $0.displayName ?? $0.name })
        #expect(oursSkipped == skipped)
    }

    @Test func `classnames, tags, durations and messages come from the stream`() throws {
        let run = try EventStreamParser.parse(contentsOf: events)
        func test(_ display: String) throws -> TestResult { try #require(run.tests.first { ($0.displayName ?? $0.name) == display }) }
        let cold = try test("cold boot [tag:baseline]")
        #expect(cold.classname == "EvTests.`VM spawn [tag:spawn]`")
        #expect(cold.tags == ["baseline", "spawn"])
        #expect(try test("inner()").classname == "EvTests.MemorySuite.Nested")
        #expect(try test("freeFunction()").classname == "EvTests")
        #expect(try test("freeFunction()").tags.isEmpty)
        // rss() sleeps 30 ms.
        let rss = try #require(try test("rss()").duration)
        #expect(rss >= 0.030 && rss < 1)
        #expect(try test("pool spawn fails").outcome
            == .failed(message: "Expectation failed: (twice(2) → 4) == 5: pool spawn over target: 250 ms > 200 ms",
                       details: "Expectation failed: (twice(2) → 4) == 5\npool spawn over target: 250 ms > 200 ms"))
        #expect(try test("firecracker spawn").outcome == .skipped(message: "no hardware KVM on this host"))
        #expect(try test("cancelled at run time").outcome == .skipped(message: "cancelled: no usable KVM: kvm_pvm only"))
        if case .error(let m, _) = try test("throws error").outcome {
            #expect(m == "Caught error: guest did not answer within 5 s")
        } else { Issue.record("a thrown error must be an <error>") }
        #expect(try test("known issue").outcome == .passed)
        #expect(try test("records warning").outcome == .passed)
        #expect(try test("parameterized(_:)").testCaseCount == 3)
    }

    @Test func `the XML validates against both schemas and its counts match the run`() throws {
        let run = try EventStreamParser.parse(contentsOf: events)
        let data = JUnitReport(run: run, hostname: "ci-host").xmlData()
        try XMLSchemaValidator(name: "embedded", schema: JUnitSchemas.luminaguard).validate(data)
        for xsd in Fixture.junit10Schemas {
            #expect(try XMLSchemaValidator(contentsOf: xsd).problems(in: data) == [], "against \(xsd.path)")
        }

        let doc = try XMLDocument(data: data)
        let root = try #require(doc.rootElement())
        let console = try consoleTotals()
        #expect(root.name == "testsuites")
        #expect(root.attribute(forName: "tests")?.stringValue == String(console.tests))
        #expect(root.attribute(forName: "failures")?.stringValue == "2")
        #expect(root.attribute(forName: "errors")?.stringValue == "1")
        let cases = try root.nodes(forXPath: "//testcase")
        #expect(cases.count == console.tests)
        #expect(try root.nodes(forXPath: "//testcase/failure").count == 2)
        #expect(try root.nodes(forXPath: "//testcase/error").count == 1)
        #expect(try root.nodes(forXPath: "//testcase/skipped").count == 2)
        let suite = try #require(try root.nodes(forXPath: "testsuite").first as? XMLElement)
        #expect(suite.attribute(forName: "skipped")?.stringValue == "2")
        #expect(suite.attribute(forName: "hostname")?.stringValue == "ci-host")
        // Readable names (no backticks, `()` or [tag:] tokens); tags in the group attribute and a suite-level property.
        let cold = try #require(try root.nodes(forXPath: "//testcase[@name='cold boot']").first as? XMLElement)
        #expect(cold.attribute(forName: "group")?.stringValue == "baseline,spawn")
        #expect(cold.attribute(forName: "classname")?.stringValue == "EvTests.VM spawn")
        let tagProperty = try root.nodes(forXPath: "//property[@name='tags:EvTests.VM spawn/cold boot']")
        #expect((tagProperty.first as? XMLElement)?.attribute(forName: "value")?.stringValue == "baseline,spawn")
        let skipped = try #require(try root.nodes(forXPath: "//testcase[@name='firecracker spawn']/skipped").first as? XMLElement)
        #expect(skipped.attribute(forName: "message")?.stringValue == "no hardware KVM on this host")
        for case let tc as XMLElement in cases {
            for attribute in ["name", "classname"] {
                let v = try #require(tc.attribute(forName: attribute)?.stringValue)
                #expect(!v.contains("`") && !v.contains("()") && !v.contains("[tag:"), "\(attribute) \(v)")
            }
        }
        #expect(try root.nodes(forXPath: "//testcase[@name='freeFunction' and @classname='EvTests']").count == 1)
        #expect(try root.nodes(forXPath: "//testcase[@name='inner' and @classname='EvTests.MemorySuite.Nested']").count == 1)
        let failure = try #require(try root.nodes(forXPath: "//testcase[@name='pool spawn fails']/failure").first as? XMLElement)
        #expect(failure.attribute(forName: "message")?.stringValue?.contains("250 ms > 200 ms") == true)
    }

    @Test func `readable names drop backticks, empty argument lists and tag tokens`() {
        #expect(JUnitReport.readableName("`cold boot [tag:baseline]`()") == "cold boot")
        #expect(JUnitReport.readableName("EvTests.`VM spawn [tag:spawn] [tag:baseline]`") == "EvTests.VM spawn")
        #expect(JUnitReport.readableName("EvTests.`Suite [tag:spawn]`.`inner [tag:a]`") == "EvTests.Suite.inner")
        #expect(JUnitReport.readableName("freeFunction()") == "freeFunction")
        #expect(JUnitReport.readableName("parameterized(_:)") == "parameterized(_:)")
        #expect(JUnitReport.readableName("spawn_time_ms: median 1805 ms [95% CI 1761-1874] (target < 200 ms)")
            == "spawn_time_ms: median 1805 ms [95% CI 1761-1874] (target < 200 ms)")
        #expect(JUnitReport.readableName("`[tag:spawn]`()") == "`[tag:spawn]`()")
    }

    @Test func `metrics properties carry labels and per-series statistics`() throws {
        let dir = try TempDir("junit-metrics")
        defer { dir.remove() }
        let spawns = try Workload.processSpawns(15)
        let file = try Metrics.file(scope: "spawn", backend: "process", accelerator: "none", timestamp: .fixed(0), series: [
            .init(name: "spawn_time_ms", metric: .spawn, unit: "ms", samples: spawns, description: "spawn of /bin/true"),
        ])
        try Metrics.write(file, into: dir.url)
        let out = dir.path("junit/run.xml")
        let o = try JUnitGenerator.generate(.init(events: events, metrics: dir.url, output: out,
                                                  referenceSchema: Fixture.url("junit-10.xsd")))
        #expect(o.validatedAgainst.count == 2)
        let doc = try XMLDocument(contentsOf: out)
        func property(_ name: String) throws -> String? {
            (try doc.nodes(forXPath: "//testsuite/properties/property[@name='\(name)']").first as? XMLElement)?
                .attribute(forName: "value")?.stringValue
        }
        let series = try #require(file["spawn_time_ms"])
        #expect(try property("backend") == "process")
        #expect(try property("accelerator") == "none")
        #expect(try property("iterations") == "15")
        #expect(try property("spawn.caveat") == RunLabels(backend: "process", accelerator: "none").caveat)
        #expect(try property("spawn.spawn_time_ms.median") == Format.number(series.median))
        #expect(try property("spawn.spawn_time_ms.p95") == Format.number(series.p95))
        #expect(try property("spawn.spawn_time_ms.p99") == Format.number(series.p99))
        #expect(try property("spawn.spawn_time_ms.target") == "< 200 ms")
        #expect(try property("spawn.spawn_time_ms.grade") == series.grade?.rawValue)
        #expect(try property("spawn.spawn_time_ms.meets_target") == String(series.meetsTarget!))
    }

    @Test func `the common schema has no testcase properties, the validator says so`() throws {
        // Why tags are not a <properties> block inside <testcase>: junit-10.xsd rejects it.
        let xml = """
        <testsuites><testsuite name="m" tests="1" failures="0" errors="0">
        <testcase name="t"><properties><property name="tag" value="spawn"/></properties></testcase>
        </testsuite></testsuites>
        """
        let problems = try XMLSchemaValidator(contentsOf: Fixture.url("junit-10.xsd")).problems(in: Data(xml.utf8))
        #expect(problems.contains { $0.contains("properties") && $0.contains("line 2") })
        // And the project's schema wants counts it can check.
        let ours = try XMLSchemaValidator(name: "ours", schema: JUnitSchemas.luminaguard)
            .problems(in: Data(#"<testsuites name="x" tests="-1" failures="0" errors="0" time="0"/>"#.utf8))
        #expect(ours.contains { $0.contains("tests") })
        #expect(try ours.count > 0 && ours == XMLSchemaValidator(name: "ours", schema: JUnitSchemas.luminaguard)
            .problems(in: Data(#"<testsuites name="x" tests="-1" failures="0" errors="0" time="0"/>"#.utf8)))
        let malformed = try XMLSchemaValidator(name: "ours", schema: JUnitSchemas.luminaguard).problems(in: Data("<testsuites".utf8))
        #expect(!malformed.isEmpty)
        #expect(throws: ReportError.self) { try XMLSchemaValidator(name: "broken", schema: "<xs:schema").problems(in: Data("<a/>".utf8)) }
    }

    @Test func `the shipped schema file is the embedded schema`() throws {
        let file = try String(contentsOf: Fixture.packageRoot.appendingPathComponent("Fixtures/schemas/junit-luminaguard.xsd"), encoding: .utf8)
        #expect(file.trimmingCharacters(in: .newlines) == JUnitSchemas.luminaguard.trimmingCharacters(in: .newlines))
    }

    @Test func `a cut-short stream reports unfinished tests as errors and still validates`() throws {
        let lines = try String(contentsOf: events, encoding: .utf8).split(separator: "\n")
        // Keep everything up to the first testEnded: every started test is unfinished.
        let cut = try #require(lines.firstIndex { $0.contains(#""kind":"testEnded""#) })
        let run = try EventStreamParser.parse(Data(lines[..<cut].joined(separator: "\n").utf8), name: "cut")
        #expect(!run.complete)
        #expect(run.tests.contains { $0.outcome == .unfinished })
        let data = JUnitReport(run: run, hostname: "h").xmlData()
        try XMLSchemaValidator(name: "ours", schema: JUnitSchemas.luminaguard).validate(data)
        try XMLSchemaValidator(contentsOf: Fixture.url("junit-10.xsd")).validate(data)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#"type="unfinished""#))
        #expect(text.contains(#"name="run.complete" value="false""#))
    }

    @Test func `control characters in messages are escaped, not emitted`() throws {
        let run = TestRun(tests: [TestResult(
            id: "M.t()/f.swift:1:1", module: "M", classname: "M", name: "t()", displayName: nil, tags: ["spawn"],
            outcome: .failed(message: "ansi \u{1B}[31mred\u{1B}[0m", details: "nul \u{0}"), duration: 0.5,
            startedAt: 1, endedAt: 1.5, knownIssues: [], testCaseCount: nil)],
            startedAt: Date(), duration: 0.5, complete: true, orphanIssues: [], suiteCount: 0)
        let data = JUnitReport(run: run, hostname: "h").xmlData()
        try XMLSchemaValidator(name: "ours", schema: JUnitSchemas.luminaguard).validate(data)
        #expect(String(decoding: data, as: UTF8.self).contains("\\u{1b}[31mred"))
    }

    @Test func `bad event streams are errors and never replace an earlier report`() throws {
        let dir = try TempDir("junit-bad")
        defer { dir.remove() }
        let out = dir.path("junit.xml")
        _ = try JUnitGenerator.generate(.init(events: events, output: out, referenceSchema: Fixture.url("junit-10.xsd")))
        let before = try Data(contentsOf: out)

        let full = try String(contentsOf: events, encoding: .utf8)
        let cases: [(String, String)] = [
            ("empty.jsonl", ""),
            ("corrupt.jsonl", String(full.prefix(full.count / 3))),           // cut inside a JSON line
            ("version.jsonl", full.replacingOccurrences(of: #""version":0"#, with: #""version":7"#)),
            ("notests.jsonl", full.split(separator: "\n").filter { !$0.contains("testID") && !$0.contains(#""kind":"test""#) }.joined(separator: "\n")),
        ]
        for (name, text) in cases {
            let input = dir.path(name)
            try Data(text.utf8).write(to: input)
            #expect(throws: ReportError.self, "\(name)") {
                try JUnitGenerator.generate(.init(events: input, output: out, referenceSchema: Fixture.url("junit-10.xsd")))
            }
            #expect(try Data(contentsOf: out) == before, "\(name) must not touch the earlier report")
        }
        // A missing explicit schema is an error too, before anything is written.
        #expect(throws: ReportError.self) {
            try JUnitGenerator.generate(.init(events: events, output: dir.path("other.xml"), referenceSchema: dir.path("nope.xsd")))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("other.xml").path))
        // No temporary files are left behind either.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.hasSuffix(".xml") }
        #expect(leftovers == ["junit.xml"])
    }

    @Test func `an empty run is written only when allowed`() throws {
        let dir = try TempDir("junit-empty")
        defer { dir.remove() }
        let full = try String(contentsOf: events, encoding: .utf8)
        let onlyRun = full.split(separator: "\n").filter { $0.contains("runStarted") || $0.contains("runEnded") }.joined(separator: "\n")
        let input = dir.path("empty-run.jsonl")
        try Data(onlyRun.utf8).write(to: input)
        #expect(throws: ReportError.self) { try JUnitGenerator.generate(.init(events: input, output: dir.path("a.xml"))) }
        let o = try JUnitGenerator.generate(.init(events: input, output: dir.path("a.xml"), referenceSchema: Fixture.url("junit-10.xsd"), allowEmpty: true))
        #expect(o.run.total == 0)
        #expect(String(decoding: try Data(contentsOf: dir.path("a.xml")), as: UTF8.self).contains(#"tests="0""#))
    }
}
}

import Foundation
import Testing
import VMFixtures

/// `[tag:NAME]` tokens in a suite's or test's name must equal its `.tags(...)`
/// trait, or `--filter tag:NAME` and tag-aware tools would select different tests.
@Suite struct TagConsistencyTests {
    static let known: Set<String> = ["startup", "spawn", "memory", "latency", "cpu", "network", "throughput",
                                     "baseline", "scale", "exhaustion", "chaos", "recovery", "production", "containment"]

    struct Declaration { let file: String; let line: Int; let traitTags: Set<String>; let nameTags: Set<String>; let text: String }

    /// Each @Suite/@Test attribute with the declaration that follows it.
    static func declarations(in source: String, file: String) -> [Declaration] {
        let lines = source.components(separatedBy: "\n")
        var out: [Declaration] = []
        let tagToken = try! Regex(#"\[tag:([a-z]+)\]"#)
        let traitList = try! Regex(#"\.tags\(([^)]*)\)"#)
        for (i, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("@Suite") || trimmed.hasPrefix("@Test") else { continue }
            // The attribute and its declaration (struct/func), possibly on the next lines.
            var text = trimmed
            var j = i
            while !(text.contains("struct ") || text.contains("func ") || text.contains("class ")) && j + 1 < lines.count {
                j += 1
                text += " " + lines[j].trimmingCharacters(in: .whitespaces)
            }
            var traits = Set<String>()
            for m in text.matches(of: traitList) {
                let inner = String(text[m.range]).dropFirst(6).dropLast()
                for part in inner.split(separator: ",") {
                    traits.insert(part.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: ".")))
                }
            }
            let nameTags = Set(text.matches(of: tagToken).map { String(text[$0.range]).dropFirst(5).dropLast() }.map(String.init))
            out.append(Declaration(file: file, line: i + 1, traitTags: traits, nameTags: nameTags, text: text))
        }
        return out
    }

    @Test func tokensMatchTraitsInEveryTestFile() throws {
        let testsDir = ProjectPaths.root + "/Tests"
        let files = FileManager.default.enumerator(atPath: testsDir)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(files.count > 3)
        var checked = 0
        for f in files {
            let source = try String(contentsOfFile: testsDir + "/" + f, encoding: .utf8)
            for d in Self.declarations(in: source, file: f) {
                checked += 1
                #expect(d.traitTags == d.nameTags, "\(d.file):\(d.line): .tags \(d.traitTags.sorted()) but name tokens \(d.nameTags.sorted())")
                #expect(d.traitTags.isSubset(of: Self.known), "\(d.file):\(d.line): unknown tag in \(d.traitTags.sorted())")
            }
        }
        #expect(checked > 10)
    }

    @Test func theCheckCatchesAMismatch() {
        // Built line by line so that this file's own scan does not see it.
        let at = "@"
        let bad = [
            "\(at)Suite(.tags(.spawn, .baseline))",
            "struct `VM spawn [tag:spawn]` {}",
            "\(at)Test(.tags(.memory)) func `x [tag:memory] [tag:chaos]`() {}",
            "\(at)Test(.tags(.cpu)) func `fine [tag:cpu]`() {}",
        ].joined(separator: "\n")
        let d = Self.declarations(in: bad, file: "bad.swift")
        #expect(d.count == 3)
        #expect(d[0].traitTags != d[0].nameTags)
        #expect(d[1].traitTags != d[1].nameTags)
        #expect(d[2].traitTags == d[2].nameTags)
    }
}

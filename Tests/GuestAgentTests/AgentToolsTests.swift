import Foundation
import Testing
import AgentProtocol
import VMFixtures

/// The guest agent's tools, exercised through a real agent process.
@Suite(.serialized) struct AgentToolsTests {
    let vm: any SandboxVM
    let root: String

    init() throws {
        vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 10))
        root = vm.session.hello.workspace
    }

    @Test func helloDescribesTheAgent() {
        #expect(vm.session.hello.mode == "process")
        // Jailed, the agent sees its pid in its own pid namespace.
        #expect(vm.session.hello.pid > 0)
        #expect(root == "/workspace")
        #expect(!root.isEmpty)
        vm.shutdown()
    }

    @Test func writeReadListSearch() throws {
        defer { vm.shutdown() }
        let s = vm.session
        _ = try s.call(.writeFile, ["path": .string("notes.txt"), "content": .string("alpha\nneedle here\nomega")])
        #expect(try s.call(.readFile, ["path": .string("notes.txt")])["content"]?.string == "alpha\nneedle here\nomega")
        let entries = try s.call(.listDirectory, [:])["entries"]?.array ?? []
        #expect(entries.contains { $0["name"]?.string == "notes.txt" && $0["type"]?.string == "file" })
        let matches = try s.call(.search, ["pattern": .string("needle")])["matches"]?.array ?? []
        #expect(matches.count == 1 && matches.first?["line"]?.int == 2)
        let run = try s.call(.executeCommand, ["command": .string("cat notes.txt | wc -l; exit 3")])
        #expect(run["exit_code"]?.int == 3)
        #expect(run["stdout"]?.string?.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
    }

    /// search matches a pattern anywhere in a line, Character by Character
    /// (the agent has its own substring search: its build leaves out
    /// _StringProcessing, where String.contains(String) lives).
    @Test func searchFindsAPatternAnywhereInALine() throws {
        defer { vm.shutdown() }
        let s = vm.session
        _ = try s.call(.writeFile, ["path": .string("p.txt"), "content": .string("aaab\nab\nxyz ab\nb\nnaïve café\n")])
        func lines(_ pattern: String) throws -> [Int] {
            (try s.call(.search, ["pattern": .string(pattern)])["matches"]?.array ?? [])
                .filter { $0["file"]?.string == "p.txt" }.compactMap { $0["line"]?.int }
        }
        #expect(try lines("aab") == [1])
        #expect(try lines("ab") == [1, 2, 3])
        #expect(try lines("b") == [1, 2, 3, 4])
        #expect(try lines("café") == [5])
        #expect(try lines("ïve c") == [5])
        #expect(try lines("abc").isEmpty)
        #expect(try lines("aaaab").isEmpty)
    }

    @Test func everyReplySaysHowLongTheAgentTookByItsOwnClock() throws {
        defer { vm.shutdown() }
        let s = vm.session
        let t0 = Monotonic.nanos()
        let (_, pingMs) = try s.measuredCall(.ping)
        let rtt = Double(Monotonic.nanos() - t0) / 1e6
        let took = try #require(pingMs)
        #expect(took > 0 && took < rtt, "agent \(took) ms within a \(rtt) ms round trip")
        // A command that sleeps 200 ms inside the agent shows in the agent's time.
        let (_, cmdMs) = try s.measuredCall(.executeCommand, ["command": .string("sleep 0.2")])
        let commandMs = try #require(cmdMs)
        #expect(commandMs >= 200)
    }

    @Test func pathsOutsideTheWorkspaceAreRefused() throws {
        defer { vm.shutdown() }
        let sentinel = FileManager.default.temporaryDirectory.appendingPathComponent("lg-sentinel-\(UUID().uuidString)")
        try "secret".write(to: sentinel, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: sentinel) }
        for path in [sentinel.path, "../../../../../../" + sentinel.path, "/etc/passwd"] {
            #expect(throws: AgentError.self) { try vm.session.call(.readFile, ["path": .string(path)]) }
        }
        #expect(throws: AgentError.self) {
            try vm.session.call(.writeFile, ["path": .string("../../../../../../" + sentinel.path), "content": .string("x")])
        }
        #expect(try String(contentsOf: sentinel, encoding: .utf8) == "secret")
        // A symlink inside the workspace that points outside is refused too.
        _ = try vm.session.call(.executeCommand, ["command": .string("ln -s \(sentinel.path) link")])
        #expect(throws: AgentError.self) { try vm.session.call(.readFile, ["path": .string("link")]) }
    }

    @Test func badRequestsGetErrorsNotCrashes() throws {
        defer { vm.shutdown() }
        #expect(throws: AgentError.self) { try vm.session.call(opName: "no_such_tool") }
        #expect(throws: AgentError.self) { try vm.session.call(.readFile, [:]) }
        #expect(throws: AgentError.self) { try vm.session.call(.readFile, ["path": .number(3)]) }
        let big = String(repeating: "x", count: AgentLimits.maxFileBytes + 1)
        #expect(throws: AgentError.self) { try vm.session.call(.writeFile, ["path": .string("big"), "content": .string(big)]) }
        // Still alive and answering.
        #expect(try vm.session.ping() > 0)
    }

    @Test func readFileReturnsWholeFilesOfAnySizeUpToTheLimit() throws {
        defer { vm.shutdown() }
        let s = vm.session, limit = AgentLimits.maxFileBytes
        // Made by the shell, so that only read_file's reading is under test.
        _ = try s.call(.executeCommand, ["command": .string(
            "printf '' > empty; head -c 70000 /dev/zero | tr '\\0' a > multi; head -c \(limit) /dev/zero | tr '\\0' b > exact; "
            + "head -c \(limit + 1) /dev/zero | tr '\\0' c > over; mkfifo fifo; mkdir dir")])
        func read(_ path: String) throws -> JSON { try s.call(.readFile, ["path": .string(path)]) }
        #expect(try read("empty")["content"] == .string(""))
        #expect(try read("multi")["content"]?.string == String(repeating: "a", count: 70_000))
        #expect(try read("exact")["bytes"]?.int == limit)
        let over = #expect(throws: AgentError.self) { try read("over") }
        #expect("\(over.map { "\($0)" } ?? "")".contains("larger than the \(limit)-byte limit"))
        // A FIFO with no writer would block the agent for ever, a directory
        // has no content: both are refused at once, and the agent goes on.
        for special in ["fifo", "dir"] {
            let t0 = Monotonic.nanos()
            let refused = #expect(throws: AgentError.self) { try s.call(.readFile, ["path": .string(special)], timeout: 5) }
            #expect("\(refused.map { "\($0)" } ?? "")".contains("is not a regular file"))
            #expect(Double(Monotonic.nanos() - t0) / 1e9 < 2)
        }
        #expect(try s.ping() > 0)
    }

    @Test func readFileFollowsLinksThatStayInsideTheWorkspace() throws {
        defer { vm.shutdown() }
        let s = vm.session
        _ = try s.call(.executeCommand, ["command": .string(
            "mkdir -p sub && echo inside > sub/real.txt && ln -s sub/real.txt rel-link && ln -s ../sub sub/loop-free")])
        #expect(try s.call(.readFile, ["path": .string("rel-link")])["content"] == .string("inside\n"))
        #expect(try s.call(.readFile, ["path": .string("sub/loop-free/real.txt")])["content"] == .string("inside\n"))
        #expect(try s.call(.readFile, ["path": .string(root + "/sub/real.txt")])["content"] == .string("inside\n"))
        #expect(try s.call(.readFile, ["path": .string("sub/../sub/real.txt")])["content"] == .string("inside\n"))
        // `..` past the workspace is refused even when it would come back in.
        let back = (root as NSString).lastPathComponent
        #expect(throws: AgentError.self) { try s.call(.readFile, ["path": .string("../\(back)/sub/real.txt")]) }
    }

    @Test func commandTimeoutIsEnforced() throws {
        defer { vm.shutdown() }
        let t0 = Monotonic.nanos()
        let r = try vm.session.call(.executeCommand, ["command": .string("sleep 5"), "timeout_ms": .number(200)])
        #expect(r["timed_out"]?.bool == true)
        #expect(Double(Monotonic.nanos() - t0) / 1e9 < 2)
    }
}

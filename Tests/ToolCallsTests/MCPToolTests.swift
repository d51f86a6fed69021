import Foundation
import Testing
import AgentProtocol
import HostProbes
import MCP
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

@Suite struct `MCP tools against a process sandbox` {
    @Test func `tools/list offers the five agent tools with input schemas`() async throws {
        try await withSandbox { f in
            let (tools, _) = try await f.client.listTools()
            #expect(Set(tools.map(\.name)) == Set(SandboxTool.allCases.map(\.rawValue)))
            for t in tools {
                #expect(t.inputSchema.objectValue?["type"] == "object", "\(t.name)")
                #expect(t.description?.isEmpty == false)
            }
            #expect(f.conn.initializeResult.capabilities.tools != nil)
        }
    }

    @Test func `write_file then read_file round-trips through MCP and lands in the workspace`() async throws {
        try await withSandbox { f in
            let text = "line one\nligne deux é\n"
            let w = try await f.call("write_file", ["path": "notes.txt", "content": .string(text)])
            #expect(!w.isError, "\(w.text)")
            #expect(w.text.contains("\"bytes\":\(text.utf8.count)"))
            #expect(readHostFile(f.workspace + "/notes.txt") == text)
            let r = try await f.call("read_file", ["path": "notes.txt"])
            #expect(!r.isError)
            #expect(r.text == text)
        }
    }

    @Test func `list_directory shows entries with types`() async throws {
        try await withSandbox { f in
            try FileManager.default.createDirectory(atPath: f.workspace + "/sub", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: f.workspace + "/sub/a.txt", contents: Data("abc".utf8))
            try FileManager.default.createDirectory(atPath: f.workspace + "/sub/inner", withIntermediateDirectories: true)
            let r = try await f.call("list_directory", ["path": "sub"])
            #expect(!r.isError, "\(r.text)")
            let entries = try JSON.parse(r.text)["entries"]?.array ?? []
            #expect(entries.count == 2)
            #expect(entries.contains { $0["name"]?.string == "a.txt" && $0["type"]?.string == "file" && $0["size"]?.int == 3 })
            #expect(entries.contains { $0["name"]?.string == "inner" && $0["type"]?.string == "directory" })
        }
    }

    @Test func `search finds matching lines`() async throws {
        try await withSandbox { f in
            _ = try await f.call("write_file", ["path": "a.txt", "content": "alpha\nthe needle here\nomega\n"])
            _ = try await f.call("write_file", ["path": "b.txt", "content": "nothing\n"])
            let r = try await f.call("search", ["pattern": "needle"])
            #expect(!r.isError, "\(r.text)")
            let matches = try JSON.parse(r.text)["matches"]?.array ?? []
            #expect(matches.count == 1)
            #expect(matches.first?["file"]?.string == "a.txt")
            #expect(matches.first?["line"]?.int == 2)
        }
    }

    @Test func `execute_command runs in the workspace and reports exit code and output`() async throws {
        try await withSandbox { f in
            let r = try await f.call("execute_command", ["command": "echo hi; pwd; echo oops >&2; exit 3"])
            #expect(!r.isError, "\(r.text)")
            let j = try JSON.parse(r.text)
            #expect(j["exit_code"]?.int == 3)
            #expect(j["stdout"]?.string == "hi\n\(f.guestWorkspace)\n")
            #expect(j["stderr"]?.string == "oops\n")
            #expect(j["timed_out"]?.bool == false)
        }
    }

    @Test func `a file of exactly the size limit goes through both ways`() async throws {
        try await withSandbox { f in
            // Mixed content, including characters JSON must escape.
            let unit = "line \"quoted\" \\ tab\t é 🙂\n"
            var text = String(repeating: unit, count: AgentLimits.maxFileBytes / unit.utf8.count)
            text += String(repeating: "z", count: AgentLimits.maxFileBytes - text.utf8.count)
            #expect(text.utf8.count == AgentLimits.maxFileBytes)
            let w = try await f.call("write_file", ["path": "big.txt", "content": .string(text)])
            #expect(!w.isError, "\(w.text.prefix(200))")
            #expect(readHostFile(f.workspace + "/big.txt") == text)
            let r = try await f.call("read_file", ["path": "big.txt"])
            #expect(!r.isError)
            #expect(r.text == text)
        }
    }

    @Test func `concurrent calls from one client are all answered, each with its own result`() async throws {
        try await withSandbox { f in
            for i in 0..<6 { _ = try await f.call("write_file", ["path": .string("f\(i).txt"), "content": .string("content \(i)")]) }
            let client = f.client
            let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<24 {
                    group.addTask {
                        let tool = i % 4 == 3 ? "execute_command" : "read_file"
                        let args: [String: Value] = tool == "read_file" ? ["path": .string("f\(i % 6).txt")] : ["command": .string("cat f\(i % 6).txt")]
                        let r = try await client.callTool(name: tool, arguments: args)
                        #expect(r.isError != true)
                        return (i, r.content.map(SandboxFixture.text).joined())
                    }
                }
                var out: [Int: String] = [:]
                for try await (i, t) in group { out[i] = t }
                return out
            }
            #expect(results.count == 24)
            for (i, t) in results { #expect(t.contains("content \(i % 6)"), "call \(i): \(t)") }
        }
    }

    @Test func `a failing tool inside the sandbox is an isError result, not a protocol error`() async throws {
        try await withSandbox { f in
            let r = try await f.call("read_file", ["path": "does-not-exist.txt"])
            #expect(r.isError)
            #expect(r.text.contains("no such file"))
            // The connection and the sandbox are still fine afterwards.
            let ok = try await f.call("list_directory")
            #expect(!ok.isError)
        }
    }
}

@Suite struct `Bad tool input never reaches the host` {
    /// A file outside the workspace, next to it in /tmp, that no call may
    /// read or change.
    final class Sentinel: Sendable {
        let dir: TempDirectory
        let path: String
        let secret = "TOP-SECRET-\(UInt64.random(in: 0...UInt64.max))"
        init() throws {
            dir = try TempDirectory(prefix: "lg-sentinel")
            path = dir.path + "/secret.txt"
            _ = FileManager.default.createFile(atPath: path, contents: Data(secret.utf8))
        }
        /// The sentinel as a path relative to `workspace` (with '..').
        func relative(from workspace: String) -> String {
            let depth = workspace.split(separator: "/").count
            return String(repeating: "../", count: depth) + path.dropFirst()
        }
        var intact: Bool { readHostFile(path) == secret }
    }

    @Test func `reads outside the workspace are refused and leak nothing`() async throws {
        let s = try Sentinel()
        defer { s.dir.remove() }
        try await withSandbox { f in
            for path in [s.path, s.relative(from: f.workspace), "../" + (s.path as NSString).lastPathComponent,
                         "sub/../../x", "/etc/passwd"] {
                let r = try await f.call("read_file", ["path": .string(path)])
                #expect(r.isError, "read_file \(path) should fail")
                #expect(!r.text.contains(s.secret))
                #expect(r.text.contains("absolute path") || r.text.contains("outside the sandbox workspace"), "\(r.text)")
            }
            for tool in ["list_directory", "search"] {
                var args: [String: Value] = ["path": .string(s.dir.path)]
                if tool == "search" { args["pattern"] = "SECRET" }
                let r = try await f.call(tool, args)
                #expect(r.isError, "\(tool) on an absolute path should fail")
                #expect(!r.text.contains(s.secret) && !r.text.contains("secret.txt"))
            }
        }
        #expect(s.intact)
    }

    @Test func `writes outside the workspace are refused and change nothing`() async throws {
        let s = try Sentinel()
        defer { s.dir.remove() }
        try await withSandbox { f in
            let parent = (f.workspace as NSString).deletingLastPathComponent
            let escapeName = "lg-escape-\(UInt32.random(in: 0...UInt32.max)).txt"
            for path in [s.path, s.relative(from: f.workspace), "../" + escapeName, "a/../../" + escapeName] {
                let r = try await f.call("write_file", ["path": .string(path), "content": "overwritten"])
                #expect(r.isError, "write_file \(path) should fail")
            }
            #expect(!FileManager.default.fileExists(atPath: parent + "/" + escapeName))
        }
        #expect(s.intact)
    }

    @Test func `a symlink out of the workspace is refused by the agent`() async throws {
        let s = try Sentinel()
        defer { s.dir.remove() }
        try await withSandbox { f in
            // Lexically fine ("link.txt"), so it passes the host's check: the
            // agent resolves it and must refuse.
            try FileManager.default.createSymbolicLink(atPath: f.workspace + "/link.txt", withDestinationPath: s.path)
            let r = try await f.call("read_file", ["path": "link.txt"])
            #expect(r.isError)
            #expect(r.text.contains("outside the workspace"), "\(r.text)")
            #expect(!r.text.contains(s.secret))
            let w = try await f.call("write_file", ["path": "link.txt", "content": "overwritten"])
            #expect(w.isError)
        }
        #expect(s.intact)
    }

    @Test func `oversized content is refused and nothing is written`() async throws {
        try await withSandbox { f in
            let big = String(repeating: "x", count: AgentLimits.maxFileBytes + 1)
            let r = try await f.call("write_file", ["path": "big.txt", "content": .string(big)])
            #expect(r.isError)
            #expect(r.text.contains("limit is \(AgentLimits.maxFileBytes) bytes"), "\(r.text)")
            #expect(!FileManager.default.fileExists(atPath: f.workspace + "/big.txt"))
        }
    }

    @Test func `missing, mistyped and unknown arguments are isError results naming the argument`() async throws {
        try await withSandbox { f in
            let cases: [(String, [String: Value]?, String)] = [
                ("read_file", nil, "missing required argument 'path'"),
                ("read_file", ["path": 42], "'path' must be a string"),
                ("read_file", ["path": "a.txt", "offset": 3], "unknown argument 'offset'"),
                ("write_file", ["path": "a.txt"], "missing required argument 'content'"),
                ("search", ["pattern": "x", "max_results": "many"], "'max_results' must be an integer"),
                ("execute_command", ["command": ["ls"]], "'command' must be a string"),
                ("execute_command", ["command": "true", "timeout_ms": 0], "'timeout_ms' must be between 1 and 300000"),
            ]
            for (tool, args, expected) in cases {
                let r = try await f.call(tool, args)
                #expect(r.isError, "\(tool) \(String(describing: args))")
                #expect(r.text.contains(expected), "\(tool): \(r.text)")
            }
            #expect(!FileManager.default.fileExists(atPath: f.workspace + "/a.txt"))
        }
    }

    @Test func `an unknown tool is a JSON-RPC invalid-params error`() async throws {
        try await withSandbox { f in
            do {
                _ = try await f.client.callTool(name: "rm_rf", arguments: [:])
                Issue.record("an unknown tool was accepted")
            } catch let e as MCPError {
                #expect(e.code == -32602)
                #expect("\(e)".contains("Unknown tool: 'rm_rf'"))
            }
        }
    }
}

/// Speaks raw JSON-RPC lines to a server, as a client in any language would.
final class RawPeer: @unchecked Sendable {
    let channel: LineChannel
    init(fd: Int32) { channel = LineChannel(readFD: fd, writeFD: fd) }
    func send(_ line: String) throws { try channel.send(line) }
    /// The response with this id (notifications and other ids are skipped).
    /// The wait blocks a Dispatch thread, not one of the few cooperative
    /// threads the server under test needs to answer.
    func response(id: Int, timeout: Double = 10) async throws -> JSON {
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<JSON, Error>) in
            DispatchQueue.global().async {
                k.resume(with: Result {
                    let deadline = Monotonic.nanos() + UInt64(timeout * 1e9)
                    while true {
                        let j = try self.channel.readJSON(deadline: deadline)
                        if j["id"]?.int == id { return j }
                    }
                })
            }
        }
    }
}

@Suite struct `Wire-level MCP` {
    static let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#

    @Test func `a raw JSON-RPC client can initialize, list and call; malformed calls get JSON-RPC errors`() async throws {
        let vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 20))
        defer { vm.shutdown() }
        let (a, b) = try makeSocketPair()
        let server = try await SandboxToolServer(sandbox: vm).serve(on: DescriptorTransport(readFD: b, writeFD: b, closesDescriptors: true))
        let peer = RawPeer(fd: a)
        try peer.send(Self.initialize)
        let ini = try await peer.response(id: 1)
        #expect(ini["result"]?["protocolVersion"]?.string == "2025-06-18")
        #expect(ini["result"]?["capabilities"]?["tools"] != nil)
        try peer.send(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        try peer.send(#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        #expect(try await peer.response(id: 2)["result"]?["tools"]?.array?.count == 5)
        try peer.send(#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_directory","arguments":{}}}"#)
        let listed = try await peer.response(id: 3)
        #expect(listed["result"]?["content"]?.array?.first?["type"]?.string == "text")
        #expect(listed["result"]?["isError"] == nil || listed["result"]?["isError"] == .bool(false))
        // `arguments` that is not an object: the SDK refuses the request itself.
        try peer.send(#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"read_file","arguments":"notes.txt"}}"#)
        let bad = try await peer.response(id: 4)
        #expect(bad["error"]?["code"]?.int != nil)
        #expect(bad["result"] == nil)
        // No params at all.
        try peer.send(#"{"jsonrpc":"2.0","id":5,"method":"tools/call"}"#)
        #expect(try await peer.response(id: 5)["error"] != nil)
        // An unknown method.
        try peer.send(#"{"jsonrpc":"2.0","id":6,"method":"tools/destroy","params":{}}"#)
        #expect(try await peer.response(id: 6)["error"]?["code"]?.int == -32601)
        // Still serving after all that.
        try peer.send(#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#)
        #expect(try await peer.response(id: 7)["result"] == .object([:]))
        peer.channel.close()
        await server.stop()
    }
}

@Suite(.serialized) struct `A dead or hung sandbox gives an error, never a hang` {
    @Test func `killing the sandbox during a call fails that call within a bounded time`() async throws {
        try await withSandbox { f in
            let vm = f.vm
            let killer = Task.detached {
                try await Task.sleep(for: .milliseconds(300))
                vm.kill()
            }
            let t0 = Monotonic.nanos()
            let r = try await f.call("execute_command", ["command": "sleep 30", "timeout_ms": 60_000])
            let elapsed = seconds(since: t0)
            _ = try await killer.value
            #expect(r.isError)
            #expect(r.text.contains("the sandbox has stopped"), "\(r.text)")
            #expect(elapsed >= 0.25, "the call ended before the kill: \(elapsed) s")
            #expect(elapsed < 10, "its timeout is 65 s; the call took \(elapsed) s after the sandbox was killed")
            // Later calls fail without waiting for any timeout (the call
            // timeout is 30 s; the bound leaves room for a loaded host).
            let t1 = Monotonic.nanos()
            let again = try await f.call("read_file", ["path": "x"])
            #expect(again.isError)
            #expect(again.text.contains("no longer usable"))
            #expect(seconds(since: t1) < 5)
        }
    }

    @Test func `a sandbox killed before the call fails it at once`() async throws {
        try await withSandbox { f in
            f.vm.kill()
            #expect(!f.vm.isRunning)
            let t0 = Monotonic.nanos()
            let r = try await f.call("read_file", ["path": "notes.txt"])
            #expect(r.isError)
            #expect(r.text.contains("stopped") || r.text.contains("closed"), "\(r.text)")
            #expect(seconds(since: t0) < 5, "the call timeout is 30 s; a dead sandbox must not wait for it")
        }
    }

    @Test func `a hung guest fails the call after the call timeout, and recovers when it resumes`() async throws {
        try await withSandbox(options: ToolServerOptions(callTimeout: 1)) { f in
            _ = try await f.call("write_file", ["path": "notes.txt", "content": "still here"])
            // The whole sandbox: a jailed agent is a descendant of the jail.
            let tree = [f.vm.pid] + ProcProbes.descendants(of: f.vm.pid)
            for p in tree { kill(p, SIGSTOP) }
            var resumed = false
            defer { if !resumed { for p in tree { kill(p, SIGCONT) } } }
            let t0 = Monotonic.nanos()
            let r = try await f.call("read_file", ["path": "notes.txt"])
            let elapsed = seconds(since: t0)
            #expect(r.isError)
            #expect(r.text.contains("timed out"), "\(r.text)")
            #expect(r.text.contains("still running"), "\(r.text)")
            #expect(elapsed >= 0.9 && elapsed < 8, "\(elapsed) s (call timeout 1 s)")
            // Resumed, the guest answers the stale request first; the session
            // drops that reply and the next call gets its own.
            for p in tree { kill(p, SIGCONT) }
            resumed = true
            let again = try await f.call("read_file", ["path": "notes.txt"])
            #expect(!again.isError, "\(again.text)")
            #expect(again.text == "still here")
        }
    }

    @Test func `the MCP connection itself survives a dead sandbox`() async throws {
        try await withSandbox { f in
            f.vm.kill()
            _ = try await f.call("read_file", ["path": "a"])
            try await f.client.ping()
            let (tools, _) = try await f.client.listTools()
            #expect(tools.count == 5)
        }
    }
}

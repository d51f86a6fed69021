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

/// `lgperf mcp-server` as a standard MCP client runs it: a child process
/// spoken to over its stdin/stdout.
@Suite struct `lgperf mcp-server over stdio` {
    @Test func `an SDK client lists and calls the tools; closing stdin ends the server and its sandbox`() async throws {
        let exe = try LGPerfBinary.locate()
        let server = try await ChildMCPServer.start(executable: exe, arguments: ["mcp-server", "--backend", "process"])
        let (tools, _) = try await server.client.listTools()
        #expect(Set(tools.map(\.name)) == Set(SandboxTool.allCases.map(\.rawValue)))
        let w = try await server.client.callTool(name: "write_file", arguments: ["path": "hello.txt", "content": "from a client"])
        #expect(w.isError != true)
        let r = try await server.client.callTool(name: "read_file", arguments: ["path": "hello.txt"])
        #expect(r.isError != true)
        #expect(r.content == [.text(text: "from a client", annotations: nil, _meta: nil)])
        let bad = try await server.client.callTool(name: "read_file", arguments: ["path": "/etc/hostname"])
        #expect(bad.isError == true)
        // Something the sandbox starts is seen running on the host, then gone
        // with the sandbox (the jailed agent's pids are its own namespace's).
        let marker = "300.\(Int.random(in: 100_000...999_999))"
        let bg = try await server.client.callTool(name: "execute_command", arguments: ["command": .string("sleep \(marker) </dev/null >/dev/null 2>&1 &")])
        #expect(bg.isError != true)
        #expect(!Self.hostProcesses(containing: marker).isEmpty)
        await server.stop(grace: 10)
        #expect(!server.process.isRunning)
        // The server exited by itself (status 0), not by our SIGKILL fallback.
        #expect(server.process.poll() == 0, "exit status \(String(describing: server.process.poll()))")
        // Its sandbox is gone too.
        #expect(Self.hostProcesses(containing: marker).isEmpty)
    }

    static func hostProcesses(containing marker: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == marker }
        }
    }

    /// Runs `lgperf ARGS` with `environment`; its exit code and standard error.
    static func runLGPerf(_ arguments: [String], environment: [String: String]) throws -> (status: Int32?, stderr: String) {
        let exe = try LGPerfBinary.locate()
        let err = try makeCloexecPipe()
        let child = try ChildProcess(executable: exe, arguments: arguments, environment: environment, fds: [1: err.write, 2: err.write])
        close(err.write)
        defer { close(err.read) }
        var text: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Monotonic.nanos() + 60_000_000_000
        while Monotonic.nanos() < deadline {
            var p = pollfd(fd: err.read, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 200) <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(err.read, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            text += buf[0..<n]
        }
        if !child.wait(timeout: 10) { child.killNow() }
        return (child.poll().map { ($0 >> 8) & 0xff }, String(decoding: text, as: UTF8.self))
    }

    @Test func `with neither QEMU nor bubblewrap on PATH it refuses to serve and says what to install`() throws {
        let env = ["PATH": "/nonexistent", "HOME": NSHomeDirectory()]
        for args in [["mcp-server"], ["mcp-server", "--backend", "process"]] {
            let r = try Self.runLGPerf(args, environment: env)
            #expect(r.status == 1, "\(args): status \(String(describing: r.status)): \(r.stderr)")
            #expect(r.stderr.contains("refusing to serve"), "\(r.stderr)")
            #expect(r.stderr.contains("apt-get install -y bubblewrap"), "\(r.stderr)")
            if args.count == 1 { #expect(r.stderr.contains("apt-get install -y qemu-system-x86"), "\(r.stderr)") }
        }
        // An unconfined process is never served, even when asked for by name.
        let r = try Self.runLGPerf(["mcp-server"], environment: ["PATH": "/usr/bin:/bin", "HOME": NSHomeDirectory(),
                                                                   "LUMINAGUARD_BACKEND": "process-unconfined"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("does not contain"), "\(r.stderr)")
    }

    @Test func `standard output carries nothing but JSON-RPC messages`() throws {
        let exe = try LGPerfBinary.locate()
        let up = try makeCloexecPipe(), down = try makeCloexecPipe()
        let toChild = [up.read, up.write], fromChild = [down.read, down.write]
        let child = try ChildProcess(executable: exe, arguments: ["mcp-server", "--backend", "process", "--verbose"],
                                     fds: [0: toChild[0], 1: fromChild[1]])
        close(toChild[0]); close(fromChild[1])
        // Descriptors closed by hand below (stdin first, to signal the end):
        // the channel must not close them a second time.
        let out = LineChannel(readFD: fromChild[0], writeFD: toChild[1], ownsFDs: false)
        var stdinOpen = true
        defer {
            close(fromChild[0])
            if stdinOpen { close(toChild[1]) }
        }
        let requests = [
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"execute_command","arguments":{"command":"echo to-stdout; echo to-stderr >&2"}}}"#,
            #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#,
        ]
        for r in requests { try out.send(r) }
        var ids = Set<Int>()
        let deadline = Monotonic.nanos() + 20_000_000_000
        while ids.count < 4 {
            let line = try out.readLine(deadline: deadline)
            let j = try JSON.parse(line)  // every stdout line must parse
            #expect(j["jsonrpc"]?.string == "2.0", "\(String(decoding: line, as: UTF8.self))")
            if let id = j["id"]?.int { ids.insert(id) }
            if j["id"]?.int == 3 {
                let text = j["result"]?["content"]?.array?.first?["text"]?.string ?? ""
                #expect(try JSON.parse(text)["stdout"]?.string == "to-stdout\n")
            }
            if j["id"]?.int == 4 { #expect(j["error"]?["code"]?.int == -32602) }
        }
        #expect(ids == [1, 2, 3, 4])
        // End of input: the server exits 0 and writes nothing more.
        close(toChild[1])
        stdinOpen = false
        #expect(child.wait(timeout: 10))
        #expect(child.poll() == 0)
        #expect(throws: ChannelError.self) { _ = try out.readLine(deadline: Monotonic.nanos() + 1_000_000_000) }
    }

    @Test func `requests followed at once by end of input are all answered before the server exits`() throws {
        let exe = try LGPerfBinary.locate()
        let up = try makeCloexecPipe(), down = try makeCloexecPipe()
        let child = try ChildProcess(executable: exe, arguments: ["mcp-server", "--backend", "process"],
                                     fds: [0: up.read, 1: down.write])
        close(up.read); close(down.write)
        let requests = [
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_command","arguments":{"command":"sleep 0.5; echo slow"}}}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_directory","arguments":{}}}"#,
        ]
        let input = LineChannel(readFD: down.read, writeFD: up.write, ownsFDs: false)
        defer { close(down.read) }
        for r in requests { try input.send(r) }
        close(up.write)  // the client is done writing
        var answered: [Int: JSON] = [:]
        let deadline = Monotonic.nanos() + 20_000_000_000
        while answered.count < 3 {
            let j = try input.readJSON(deadline: deadline)
            if let id = j["id"]?.int { answered[id] = j }
        }
        #expect(answered[2]?["result"]?["content"]?.array?.first?["text"]?.string?.contains("slow") == true)
        #expect(answered[3]?["result"] != nil)
        #expect(child.wait(timeout: 10))
        #expect(child.poll() == 0)
    }

    @Test func `an unavailable backend is refused with a message and a non-zero status`() throws {
        let exe = try LGPerfBinary.locate()
        let e = try makeCloexecPipe()
        let errPipe = [e.read, e.write]
        let child = try ChildProcess(executable: exe, arguments: ["mcp-server", "--backend", "firecracker"], fds: [2: errPipe[1]])
        close(errPipe[1])
        #expect(child.wait(timeout: 10))
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(errPipe[0], &buf, buf.count)
        close(errPipe[0])
        let text = String(decoding: buf.prefix(max(0, n)), as: UTF8.self)
        #expect(child.poll() != 0)
        #expect(text.contains("firecracker"), "\(text)")
    }

    /// Admission control on the server's one sandbox: with the memory reserve
    /// set beyond this host's memory it cannot start (LUMINAGUARD_MAX_VMS is at
    /// least 1, which the server's one sandbox never exceeds); the server
    /// must exit non-zero at once, naming the limit, and start no VMM.
    @Test(arguments: ["qemu", "process"])
    func `a sandbox admission refuses ends the server at once with the reason`(backend: String) throws {
        let exe = try LGPerfBinary.locate()
        let e = try makeCloexecPipe()
        let errPipe = [e.read, e.write]
        var env = ProcessInfo.processInfo.environment
        env["LUMINAGUARD_MEMORY_RESERVE_MB"] = "1048576"
        let t0 = Monotonic.nanos()
        let child = try ChildProcess(executable: exe, arguments: ["mcp-server", "--backend", backend], environment: env,
                                     fds: [2: errPipe[1]])
        close(errPipe[1])
        #expect(child.wait(timeout: 20))
        let elapsed = seconds(since: t0)
        var text = ""
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(errPipe[0], &buf, buf.count)
            if n <= 0 { break }
            text += String(decoding: buf.prefix(n), as: UTF8.self)
        }
        close(errPipe[0])
        #expect(child.poll() != 0, "exit status \(String(describing: child.poll()))")
        #expect(text.contains("cannot start the sandbox: refusing to start a sandbox: it needs ~224 MB"), "\(text)")
        #expect(text.contains("with 1048576 MB kept in reserve"), "\(text)")
        #expect(elapsed < 10, "took \(elapsed) s")
        #expect(ProcProbes.descendants(of: getpid()).filter {
            ((try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu-system")
        }.isEmpty)
    }
}

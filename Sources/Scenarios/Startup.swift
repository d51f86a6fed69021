import Foundation
import AgentProtocol
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Start-up as the guide defines it ("orchestrator process start to first
/// agent request processed"): fresh `lgperf startup-probe` processes (MCP
/// client, first sandbox, one tool call through MCP), and fresh
/// `lgperf mcp-server` processes as an MCP client starts them.
public enum Startup {
    /// One `lgperf startup-probe` run.
    public struct ProbeRun: Sendable {
        /// posix_spawn of the probe to its result line (the tool call done).
        public var ms: Double
        /// `template`, `full` or `cold`: where its sandbox came from.
        public var source: String
        /// Why it booted cold though a snapshot was asked for.
        public var fallback: String?
        /// The probe's own view: process start to its MCP client initialised.
        public var mcpInitializeMs: Double?
        public var sandboxReadyMs: Double?
        /// Its QEMU ran jailed (as mcp-server's does).
        public var jailed: Bool = false
    }

    /// Runs `lgperf startup-probe --sandbox template|cold` and times it from
    /// posix_spawn to its result line.
    public static func probe(lgperf: String, backend: BackendKind, fromTemplate: Bool, timeout: Double = 60) throws -> ProbeRun {
        var out: [Int32] = [0, 0]
        guard pipe(&out) == 0 else { throw ConfigError("pipe failed") }
        _ = fcntl(out[0], F_SETFD, FD_CLOEXEC)
        let t0 = Monotonic.nanos()
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: lgperf, arguments: ["startup-probe", "--backend", backend.rawValue,
                                                                     "--sandbox", fromTemplate ? "template" : "cold"],
                                     fds: [1: out[1]])
        } catch {
            close(out[0]); close(out[1]); throw error
        }
        close(out[1])
        let channel = LineChannel(readFD: out[0], writeFD: out[0])
        defer { channel.close(); child.terminate(grace: 5) }
        let line: JSON
        do { line = try channel.readJSON(deadline: t0 + UInt64(timeout * 1e9)) } catch {
            throw ConfigError("lgperf startup-probe gave no result line within \(timeout) s: \(error) (its messages are above)")
        }
        let ms = Double(Monotonic.nanos() - t0) / 1e6
        guard let source = line["sandbox_source"]?.string else { throw ConfigError("startup-probe printed \(line.serialized())") }
        _ = child.wait(timeout: 10)
        return ProbeRun(ms: ms, source: source, fallback: line["fallback"]?.string,
                        mcpInitializeMs: line["mcp_initialize_ms"]?.number, sandboxReadyMs: line["sandbox_ready_ms"]?.number,
                        jailed: line["jailed"]?.bool ?? false)
    }

    /// One fresh `lgperf mcp-server`, as a client starts it.
    public struct ServerRun: Sendable {
        /// posix_spawn to the `initialize` response.
        public var initializeMs: Double
        /// posix_spawn to the response to the first `tools/call`
        /// (list_directory), sent as soon as `initialize` was answered.
        public var firstCallMs: Double
        /// From sending that `tools/call` to its response: what the client
        /// waits for its first call once the server has answered `initialize`.
        public var firstCallLatencyMs: Double
        /// Where the server's sandbox came from (from its log), if it said.
        public var source: String?
    }

    /// Starts `lgperf mcp-server --backend B` with pipes as its stdin and
    /// stdout (stderr to a file, read for the sandbox's source), speaks raw
    /// JSON-RPC lines to it (no client library in the timing), closes its
    /// input and waits for it to end.
    /// `jail`: false passes --no-jail (QEMU unjailed); by default the server
    /// runs as it serves agents: QEMU jailed, restored from the template.
    public static func mcpServer(lgperf: String, backend: BackendKind, jail: Bool = true, timeout: Double = 60) throws -> ServerRun {
        let dir = try TempDirectory(prefix: "lgstartup")
        defer { dir.remove() }
        let errPath = dir.path + "/stderr.log"
        let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard errFD >= 0 else { throw ConfigError("cannot create \(errPath)") }
        let up: (read: Int32, write: Int32), down: (read: Int32, write: Int32)
        do { up = try makeCloexecPipe(); down = try makeCloexecPipe() } catch { close(errFD); throw error }
        let t0 = Monotonic.nanos()
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: lgperf, arguments: ["mcp-server", "--backend", backend.rawValue] + (jail ? [] : ["--no-jail"]),
                                     fds: [0: up.read, 1: down.write, 2: errFD])
        } catch {
            for fd in [up.read, up.write, down.read, down.write, errFD] { close(fd) }
            throw error
        }
        close(up.read); close(down.write); close(errFD)
        let channel = LineChannel(readFD: down.read, writeFD: up.write)
        var closed = false
        defer {
            if !closed { channel.close() }
            if !child.wait(timeout: 15) { child.terminate(grace: 5) }
        }
        let deadline = t0 + UInt64(timeout * 1e9)
        func stderrText() -> String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
        func response(_ id: Int) throws -> JSON {
            while true {
                let j: JSON
                do { j = try channel.readJSON(deadline: deadline) } catch {
                    throw ConfigError("lgperf mcp-server did not answer request \(id): \(error)\nit said: \(stderrText().suffix(1500))")
                }
                if j["id"]?.int == id { return j }
            }
        }
        try channel.send(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"lgperf-startup","version":"1"}}}"#)
        let initialize = try response(1)
        let tInit = Monotonic.nanos()
        guard initialize["result"] != nil else { throw ConfigError("initialize failed: \(initialize.serialized())") }
        try channel.send(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        // list_directory: work the agent does itself. A restored guest's first
        // shell (execute_command) also pays ~80-200 ms under TCG to translate
        // and fork busybox for the first time: the guest's cost, not start-up's.
        let tSent = Monotonic.nanos()
        try channel.send(#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_directory","arguments":{"path":"."}}}"#)
        let call = try response(2)
        let tCall = Monotonic.nanos()
        let text = call["result"]?["content"]?.array?.first?["text"]?.string ?? ""
        guard call["result"]?["isError"]?.bool != true, (try? JSON.parse(text))?["entries"] != nil else {
            throw ConfigError("the first tool call failed: \(call.serialized())\nthe server said: \(stderrText().suffix(1500))")
        }
        // End of input: the server ends its sandbox and exits.
        channel.close(); closed = true
        _ = child.wait(timeout: 15)
        let marker = "first sandbox from: "
        let source = stderrText().split(separator: "\n").first { $0.contains(marker) }
            .flatMap { $0.components(separatedBy: marker).last?.split(separator: " ").first.map(String.init) }
        return ServerRun(initializeMs: Double(tInit - t0) / 1e6, firstCallMs: Double(tCall - t0) / 1e6,
                         firstCallLatencyMs: Double(tCall - tSent) / 1e6, source: source)
    }
}

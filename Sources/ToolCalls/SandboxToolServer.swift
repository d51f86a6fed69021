import Foundation
import AgentProtocol
import VMFixtures
import MCP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct ToolServerOptions: Sendable {
    /// Time allowed for one forwarded call (execute_command gets its own
    /// timeout_ms plus `commandGrace`). A dead guest fails at once (its
    /// channel closes); a hung one fails after this.
    public var callTimeout: Double
    public var commandGrace: Double
    /// Also expose `echo`, a tool answered by the host alone (no sandbox): the
    /// MCP + transport floor for the latency breakdown.
    public var includeEchoTool: Bool
    public var serverName: String
    /// Receives one line per tool call (tool, outcome, duration); nil: silent.
    public var log: (@Sendable (String) -> Void)?

    public init(callTimeout: Double = 30, commandGrace: Double = 5, includeEchoTool: Bool = false,
                serverName: String = "luminaguard-sandbox", log: (@Sendable (String) -> Void)? = nil) {
        self.callTimeout = callTimeout
        self.commandGrace = commandGrace
        self.includeEchoTool = includeEchoTool
        self.serverName = serverName
        self.log = log
    }
}

/// The MCP tools of one sandbox: every `tools/call` is validated on the host
/// and forwarded to the sandbox's guest agent. One instance can serve any
/// number of MCP connections (`makeServer()` per connection); their calls to
/// the sandbox are serialised (the agent channel is request/response).
///
/// Errors, as the MCP specification separates them:
/// - an unknown tool: a JSON-RPC error (-32602 invalid params) naming the
///   tools there are; `arguments` that is not an object never reaches this
///   code: the SDK refuses the request while decoding it (JSON-RPC -32603);
/// - bad argument values (schema, workspace confinement, size limits) and
///   failures inside the sandbox (tool error, dead or hung guest): a result
///   with `isError: true` and a message saying what went wrong. A dead
///   guest fails the call as soon as its channel closes; a hung one after
///   the call timeout.
public final class SandboxToolServer: Sendable {
    public static let echoToolName = "echo"
    /// Where the tools run: a ready sandbox, or one still starting (the
    /// first tool call waits for it); nil: host-only (`echo`).
    private enum Source: Sendable {
        case ready(any SandboxVM)
        case pending(PendingSandbox)
    }
    private let source: Source?
    /// The sandbox, if there is one and it is ready.
    public var sandbox: (any SandboxVM)? {
        switch source {
        case .ready(let vm)?: return vm
        case .pending(let p)?: return p.current?.vm
        case nil: return nil
        }
    }
    private var hasSandbox: Bool { source != nil }
    public let options: ToolServerOptions
    private let gate = AsyncGate()
    private let inFlight = InFlightCalls()
    /// Set once the agent channel failed (closed, I/O error, out of step):
    /// later calls to that sandbox fail at once with this reason; a
    /// replacement (another id) is used afresh. A timeout alone does not
    /// set it: a guest that was only slow can answer the next call.
    private let broken = Mutex<(sandbox: String, reason: String)?>(nil)

    /// - Parameter sandbox: nil serves only `echo` (host-only measurements).
    public init(sandbox: (any SandboxVM)?, options: ToolServerOptions = ToolServerOptions()) {
        self.source = sandbox.map { .ready($0) }
        self.options = options
        // A write to a dead guest's channel or a gone client must be an error,
        // not a process-ending SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Serves at once with a sandbox that is still starting: `initialize`
    /// and `tools/list` are answered without it; tool calls wait for it.
    public init(pending: PendingSandbox, options: ToolServerOptions = ToolServerOptions()) {
        self.source = .pending(pending)
        self.options = options
        // A write to a dead guest's channel or a gone client must be an error,
        // not a process-ending SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
    }

    public var tools: [Tool] {
        var t = hasSandbox ? SandboxTool.allCases.map(\.definition) : []
        if options.includeEchoTool || !hasSandbox {
            t.append(Tool(name: Self.echoToolName, description: "Return 'message' as text, answered by the host without a sandbox.",
                          inputSchema: ["type": "object", "properties": ["message": ["type": "string"]]],
                          annotations: .init(readOnlyHint: true, openWorldHint: false)))
        }
        return t
    }

    /// A new SDK `Server` with this sandbox's tools registered; start it on a
    /// transport with `server.start(transport:)`.
    public func makeServer() async -> Server {
        let server = Server(name: options.serverName, version: "1.0",
                            instructions: "Tools that run inside a LuminaGuard sandbox; paths are relative to its workspace.",
                            capabilities: .init(tools: .init(listChanged: false)))
        let tools = self.tools
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools) }
        await server.withMethodHandler(CallTool.self) { [self] params in try await self.call(params) }
        return server
    }

    /// Creates a server, starts it on `transport` and returns it.
    public func serve(on transport: any Transport) async throws -> Server {
        let server = await makeServer()
        try await server.start(transport: transport)
        return server
    }

    /// Serves one connection until the peer closes it (end of input).
    ///
    /// Calls still running when the input ends are finished and answered
    /// first (a client may write its requests and close its end at once):
    /// up to the longest call timeout, then the server stops regardless.
    public func run(on transport: any Transport) async throws {
        let server = try await serve(on: transport)
        await server.waitUntilCompleted()
        // Requests read just before the end may not have reached a handler
        // yet; the SDK writes each response just after its handler returns.
        try? await Task.sleep(for: .milliseconds(20))
        _ = await inFlight.waitUntilIdle(timeout: options.callTimeout + SandboxTool.maxCommandTimeoutMs.seconds + options.commandGrace)
        try? await Task.sleep(for: .milliseconds(50))
        await server.stop()
    }

    /// Serves MCP on this process's standard input and output (the MCP stdio
    /// transport) until standard input closes.
    public func runOnStandardIO(transport: MCPTransportKind = .fast) async throws {
        switch transport {
        case .fast: try await run(on: DescriptorTransport.standardIO())
        case .sdkStdio: try await run(on: StdioTransport())
        case .sdkInMemory: throw MCPError.internalError("the in-memory transport cannot serve standard input/output")
        }
    }

    /// One `tools/call`, as the server's handler runs it.
    public func call(_ params: CallTool.Parameters) async throws -> CallTool.Result {
        inFlight.begin()
        defer { inFlight.end() }
        guard let log = options.log else { return try await dispatch(params) }
        let t0 = Monotonic.nanos()
        do {
            let r = try await dispatch(params)
            let outcome = r.isError == true ? "error: \(r.content.first.map(Self.text) ?? "")" : "ok"
            log("\(params.name) \(outcome) (\(String(format: "%.3f", Double(Monotonic.nanos() - t0) / 1e6)) ms)")
            return r
        } catch {
            log("\(params.name) refused: \(error)")
            throw error
        }
    }

    static func text(_ c: Tool.Content) -> String {
        if case .text(let t, _, _) = c { return String(t.prefix(300)) }
        return "(non-text content)"
    }

    private func dispatch(_ params: CallTool.Parameters) async throws -> CallTool.Result {
        if params.name == Self.echoToolName, options.includeEchoTool || !hasSandbox {
            return Self.echo(params.arguments)
        }
        guard let tool = SandboxTool(rawValue: params.name), hasSandbox else {
            throw MCPError.invalidParams("Unknown tool: '\(params.name)' (available: \(tools.map(\.name).joined(separator: ", ")))")
        }
        let agentArgs: [String: JSON]
        do { agentArgs = try tool.validate(params.arguments) } catch let e as ToolInputError {
            return Self.errorResult(e.description)
        }
        var timeout = options.callTimeout
        if tool == .executeCommand, let ms = agentArgs["timeout_ms"]?.number {
            timeout = max(timeout, ms / 1000 + options.commandGrace)
        }
        return await forward(tool, agentArgs, timeout: timeout)
    }

    static func errorResult(_ message: String) -> CallTool.Result {
        CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
    }

    private func forward(_ tool: SandboxTool, _ args: [String: JSON], timeout: Double) async -> CallTool.Result {
        let sandbox: any SandboxVM
        switch source {
        case .ready(let vm)?: sandbox = vm
        case .pending(let p)?:
            do { sandbox = try await p.first().vm } catch {
                return Self.errorResult("\(tool.rawValue): the sandbox could not be started: \(error)")
            }
        case nil: return Self.errorResult("no sandbox")
        }
        await gate.acquire()
        defer { gate.release() }
        if let reason = broken.withLock({ $0?.sandbox == sandbox.id ? $0?.reason : nil }) {
            return Self.errorResult("\(tool.rawValue): the sandbox is no longer usable (\(reason))")
        }
        do {
            let result: JSON
            switch tool {
            case .executeCommand, .search:
                // Commands and searches over big trees can run for seconds or
                // minutes: keep them off the concurrency pool's few threads.
                result = try await Self.offload { try sandbox.session.call(tool.agentOp, args, timeout: timeout) }
            case .readFile, .writeFile, .listDirectory:
                // Bounded work (1 MiB, one directory): a direct call is a few
                // tens of µs here and saves two thread hand-offs.
                result = try sandbox.session.call(tool.agentOp, args, timeout: timeout)
            }
            return Self.success(tool, result)
        } catch let AgentError.toolFailed(_, message) {
            return Self.errorResult("\(tool.rawValue) failed in the sandbox: \(message)")
        } catch ChannelError.timedOut(let what) where sandbox.isRunning {
            // A slow or stuck guest: this call fails; the next one may work
            // (the session drops the late reply when it comes).
            return Self.errorResult("\(tool.rawValue): timed out after \(timeout) s \(what); the sandbox is still running, later calls will try again")
        } catch {
            // Closed, failed or out of step: the channel cannot be trusted
            // for another request.
            let state = Self.stillRunning(sandbox) ? "the sandbox is still running but its agent channel is unusable"
                                                   : "the sandbox has stopped"
            let reason = "\(error); \(state)"
            broken.withLock { if $0?.sandbox != sandbox.id { $0 = (sandbox.id, reason) } }
            return Self.errorResult("\(tool.rawValue): \(reason)")
        }
    }

    /// A killed VMM's sockets close a moment before the process can be
    /// reaped, so a closed channel gets that moment (up to 0.5 s) before the
    /// sandbox is called "still running".
    static func stillRunning(_ sandbox: any SandboxVM) -> Bool {
        for _ in 0..<50 {
            if !sandbox.isRunning { return false }
            usleep(10_000)
        }
        return true
    }

    /// The agent's result as MCP content: read_file gives the file's text,
    /// the other tools their result object as compact JSON text.
    ///
    /// No `structuredContent`: the SDK turns every result into its `Value`
    /// type, whose decoder costs ~10 µs per JSON value and ~25 µs more per
    /// string (it rebuilds a regular expression to check whether the string
    /// is a data: URL), three times per call (server, client, typed result).
    /// A directory listing as structured content would cost more than the
    /// tool itself; the same data is in the text.
    static func success(_ tool: SandboxTool, _ result: JSON) -> CallTool.Result {
        switch tool {
        case .readFile:
            return CallTool.Result(content: [.text(text: result["content"]?.string ?? "", annotations: nil, _meta: nil)])
        default:
            return CallTool.Result(content: [.text(text: result.serialized(), annotations: nil, _meta: nil)])
        }
    }

    /// The host-only tool: `message` back as text (empty content without one).
    static func echo(_ arguments: [String: Value]?) -> CallTool.Result {
        guard let m = arguments?["message"] else { return CallTool.Result(content: []) }
        let text: String
        switch m {
        case .string(let s): text = s
        default: text = JSON(m).serialized()
        }
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)])
    }

    /// Runs blocking work on a thread outside Swift's cooperative pool.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            DispatchQueue.global().async { c.resume(with: Result(catching: { try work() })) }
        }
    }
}

extension Int {
    var seconds: Double { Double(self) / 1000 }
}

/// Counts running tool calls; lets shutdown wait until none is left.
final class InFlightCalls: Sendable {
    private struct State {
        var count = 0
        var idleWaiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())

    func begin() { state.withLock { $0.count += 1 } }

    func end() {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.count -= 1
            guard s.count == 0 else { return [] }
            defer { s.idleWaiters.removeAll() }
            return Array(s.idleWaiters.values)
        }
        for w in waiters { w.resume(returning: true) }
    }

    /// True once no call is running; false if `timeout` seconds pass first.
    func waitUntilIdle(timeout: Double) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let token = state.withLock { s -> UInt64? in
                if s.count == 0 { return nil }
                s.nextWaiter += 1
                s.idleWaiters[s.nextWaiter] = c
                return s.nextWaiter
            }
            guard let token else { c.resume(returning: true); return }
            Task {
                try? await Task.sleep(for: .seconds(timeout))
                let expired = self.state.withLock { $0.idleWaiters.removeValue(forKey: token) }
                expired?.resume(returning: false)
            }
        }
    }
}

/// A FIFO async mutex: uncontended acquire is one lock, no suspension;
/// waiters suspend instead of blocking a thread.
final class AsyncGate: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func acquire() async {
        let acquired = state.withLock { s -> Bool in
            if s.busy { return false }
            s.busy = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if !s.busy { s.busy = true; return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty { s.busy = false; return nil }
            return s.waiters.removeFirst()  // stays busy: ownership passes on
        }
        next?.resume()
    }
}

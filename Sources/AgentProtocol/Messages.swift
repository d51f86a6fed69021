/// The host <-> agent wire format: one JSON object per line.
///
/// - The agent speaks first, once: `{"event":"ready", ...}` (``AgentHello``).
/// - Then the host sends requests `{"id":N,"op":"...","args":{...}}` and the
///   agent answers each with `{"id":N,"ok":true,"result":...}` or
///   `{"id":N,"ok":false,"error":"..."}`, in order, each with `agent_us`: the
///   microseconds it spent on the request by its own clock.
public enum AgentOp: String, CaseIterable, Sendable {
    case ping
    case readFile = "read_file"
    case writeFile = "write_file"
    case listDirectory = "list_directory"
    case search
    case executeCommand = "execute_command"
    /// Ends the agent (and, in a VM, powers the guest off).
    case shutdown
}

public enum AgentLimits {
    /// Longest message line either side accepts; bigger payloads are refused.
    public static let maxLineBytes = 4 << 20
    /// Largest file content read_file returns / write_file accepts.
    public static let maxFileBytes = 1 << 20
    /// Output kept from execute_command (each of stdout and stderr).
    public static let maxCommandOutputBytes = 256 << 10
}

public struct AgentHello: Equatable, Sendable {
    /// Milliseconds since the guest kernel started (CLOCK_BOOTTIME, the
    /// guest's uptime) when /init started, before the Swift runtime's own
    /// start: the guest's own view of boot time.
    public var uptimeAtStartMs: Double
    /// Uptime when the agent's own code started (after the runtime's start
    /// and /init's mounts): agentUptimeMs - uptimeAtStartMs is agent start-up.
    public var agentUptimeMs: Double
    /// Uptime just before the agent announced itself (after its own
    /// set-up: channel, workspace, mounts when it is /init); nil from agents
    /// that do not say.
    public var helloUptimeMs: Double?
    public var pid: Int
    /// `vm` when running as a guest's init helper, `process` otherwise.
    public var mode: String
    public var version: String
    /// Namespaces the agent managed to isolate itself in (process mode).
    public var isolation: [String]
    public var workspace: String

    public init(uptimeAtStartMs: Double, agentUptimeMs: Double, helloUptimeMs: Double? = nil, pid: Int, mode: String, version: String,
                isolation: [String], workspace: String) {
        self.uptimeAtStartMs = uptimeAtStartMs; self.agentUptimeMs = agentUptimeMs; self.helloUptimeMs = helloUptimeMs
        self.pid = pid; self.mode = mode
        self.version = version; self.isolation = isolation; self.workspace = workspace
    }

    public var json: JSON {
        var o: [String: JSON] = ["event": .string("ready"), "uptime_ms": .number(uptimeAtStartMs), "agent_uptime_ms": .number(agentUptimeMs),
                                 "pid": .number(Double(pid)), "mode": .string(mode), "version": .string(version),
                                 "isolation": .array(isolation.map { .string($0) }), "workspace": .string(workspace)]
        if let h = helloUptimeMs { o["hello_uptime_ms"] = .number(h) }
        return .object(o)
    }

    public init?(_ j: JSON) {
        guard j["event"]?.string == "ready", let up = j["uptime_ms"]?.number, let pid = j["pid"]?.int,
              let mode = j["mode"]?.string, let version = j["version"]?.string else { return nil }
        self.init(uptimeAtStartMs: up, agentUptimeMs: j["agent_uptime_ms"]?.number ?? up, helloUptimeMs: j["hello_uptime_ms"]?.number,
                  pid: pid, mode: mode, version: version,
                  isolation: j["isolation"]?.array?.compactMap(\.string) ?? [],
                  workspace: j["workspace"]?.string ?? "")
    }
}

public struct AgentRequest: Equatable, Sendable {
    public var id: Int
    public var op: String
    public var args: [String: JSON]

    public init(id: Int, op: AgentOp, args: [String: JSON] = [:]) {
        self.init(id: id, opName: op.rawValue, args: args)
    }
    public init(id: Int, opName: String, args: [String: JSON] = [:]) {
        self.id = id; self.op = opName; self.args = args
    }

    public var json: JSON { .object(["id": .number(Double(id)), "op": .string(op), "args": .object(args)]) }

    public init?(_ j: JSON) {
        guard let id = j["id"]?.int, let op = j["op"]?.string else { return nil }
        self.init(id: id, opName: op, args: j["args"]?.object ?? [:])
    }
}

public struct AgentResponse: Equatable, Sendable {
    public var id: Int
    public var ok: Bool
    public var result: JSON
    public var error: String?
    /// Microseconds the agent spent on the request by its own monotonic
    /// clock, from the whole request line read to the reply built (`agent_us`):
    /// what a round trip spends inside the sandbox, the rest being the channel.
    public var agentMicros: Double?

    public static func success(_ id: Int, _ result: JSON) -> AgentResponse { AgentResponse(id: id, ok: true, result: result, error: nil) }
    public static func failure(_ id: Int, _ message: String) -> AgentResponse { AgentResponse(id: id, ok: false, result: .null, error: message) }

    public var json: JSON {
        var o: [String: JSON] = ["id": .number(Double(id)), "ok": .bool(ok)]
        if ok { o["result"] = result } else { o["error"] = .string(error ?? "unknown error") }
        if let agentMicros { o["agent_us"] = .number(agentMicros) }
        return .object(o)
    }

    public init(id: Int, ok: Bool, result: JSON, error: String?, agentMicros: Double? = nil) {
        self.id = id; self.ok = ok; self.result = result; self.error = error; self.agentMicros = agentMicros
    }

    public init?(_ j: JSON) {
        guard let id = j["id"]?.int, let ok = j["ok"]?.bool else { return nil }
        self.init(id: id, ok: ok, result: j["result"] ?? .null, error: j["error"]?.string, agentMicros: j["agent_us"]?.number)
    }
}

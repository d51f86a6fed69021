import Foundation
import AgentProtocol
import MCP

/// An argument problem found on the host, before anything reaches a sandbox.
public struct ToolInputError: Error, Equatable, CustomStringConvertible {
    public let tool: String
    public let message: String
    public init(tool: String, _ message: String) { self.tool = tool; self.message = message }
    public var description: String { "invalid arguments for \(tool): \(message)" }
}

/// The agent tools the MCP server exposes, their input schemas and the
/// host-side validation of their arguments.
public enum SandboxTool: String, CaseIterable, Sendable {
    case readFile = "read_file"
    case writeFile = "write_file"
    case listDirectory = "list_directory"
    case search
    case executeCommand = "execute_command"

    public var agentOp: AgentOp {
        switch self {
        case .readFile: .readFile
        case .writeFile: .writeFile
        case .listDirectory: .listDirectory
        case .search: .search
        case .executeCommand: .executeCommand
        }
    }

    public static let maxPathBytes = 4096
    public static let maxCommandBytes = 64 << 10
    public static let maxPatternBytes = 4096
    public static let maxSearchResults = 10_000
    public static let maxCommandTimeoutMs = 300_000

    public var definition: Tool {
        let pathProp: Value = ["type": "string", "minLength": 1, "maxLength": .int(Self.maxPathBytes),
                               "description": "Path relative to the sandbox workspace; absolute paths and '..' escapes are refused."]
        switch self {
        case .readFile:
            return Tool(name: rawValue, description: "Read a UTF-8 text file (at most \(AgentLimits.maxFileBytes) bytes) from the sandbox workspace.",
                        inputSchema: Self.schema(["path": pathProp], required: ["path"]),
                        annotations: .init(readOnlyHint: true, openWorldHint: false))
        case .writeFile:
            return Tool(name: rawValue, description: "Create or replace a file in the sandbox workspace (content at most \(AgentLimits.maxFileBytes) bytes of UTF-8).",
                        inputSchema: Self.schema(["path": pathProp,
                                                  "content": ["type": "string", "description": "The new file content."]],
                                                 required: ["path", "content"]),
                        annotations: .init(readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false))
        case .listDirectory:
            return Tool(name: rawValue, description: "List a directory of the sandbox workspace (name, type, size of each entry).",
                        inputSchema: Self.schema(["path": Self.optional(pathProp, default: ".")], required: []),
                        annotations: .init(readOnlyHint: true, openWorldHint: false))
        case .search:
            return Tool(name: rawValue, description: "Find lines containing a substring in the regular files below a workspace directory.",
                        inputSchema: Self.schema([
                            "pattern": ["type": "string", "minLength": 1, "maxLength": .int(Self.maxPatternBytes), "description": "Substring to look for (not a regular expression)."],
                            "path": Self.optional(pathProp, default: "."),
                            "max_results": ["type": "integer", "minimum": 1, "maximum": .int(Self.maxSearchResults), "default": 100,
                                            "description": "Stop after this many matching lines."],
                        ], required: ["pattern"]),
                        annotations: .init(readOnlyHint: true, openWorldHint: false))
        case .executeCommand:
            return Tool(name: rawValue, description: "Run a shell command (/bin/sh -c) in the sandbox, in its workspace; returns exit code, stdout, stderr.",
                        inputSchema: Self.schema([
                            "command": ["type": "string", "minLength": 1, "maxLength": .int(Self.maxCommandBytes)],
                            "timeout_ms": ["type": "integer", "minimum": 1, "maximum": .int(Self.maxCommandTimeoutMs), "default": 10_000,
                                           "description": "The command is killed after this many milliseconds."],
                        ], required: ["command"]),
                        annotations: .init(readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false))
        }
    }

    static func schema(_ properties: [String: Value], required: [String]) -> Value {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
         "additionalProperties": false]
    }

    static func optional(_ prop: Value, default d: Value) -> Value {
        guard case .object(var o) = prop else { return prop }
        o["default"] = d
        o["minLength"] = nil
        return .object(o)
    }

    /// Checks the arguments against the schema and the sandbox's limits and
    /// turns them into the agent's request arguments.
    public func validate(_ arguments: [String: Value]?) throws -> [String: JSON] {
        let args = arguments ?? [:]
        let allowed: Set<String>
        switch self {
        case .readFile, .listDirectory: allowed = ["path"]
        case .writeFile: allowed = ["path", "content"]
        case .search: allowed = ["pattern", "path", "max_results"]
        case .executeCommand: allowed = ["command", "timeout_ms"]
        }
        if let extra = args.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw ToolInputError(tool: rawValue, "unknown argument '\(extra)' (accepted: \(allowed.sorted().joined(separator: ", ")))")
        }
        var out: [String: JSON] = [:]
        switch self {
        case .readFile:
            out["path"] = .string(try workspacePath(args, "path", required: true)!)
        case .writeFile:
            out["path"] = .string(try workspacePath(args, "path", required: true)!)
            let content = try string(args, "content", required: true)!
            let size = content.utf8.count
            guard size <= AgentLimits.maxFileBytes else {
                throw ToolInputError(tool: rawValue, "content is \(size) bytes; the limit is \(AgentLimits.maxFileBytes) bytes")
            }
            out["content"] = .string(content)
            // Control characters are escaped on the wire (up to 6 bytes each):
            // make sure the request still fits the agent's line limit.
            if size > AgentLimits.maxLineBytes / 6 {
                let line = AgentRequest(id: Int(Int32.max), op: agentOp, args: out).json.serialized().utf8.count
                guard line < AgentLimits.maxLineBytes else {
                    throw ToolInputError(tool: rawValue, "content encodes to \(line) bytes on the agent channel; the limit is \(AgentLimits.maxLineBytes) bytes")
                }
            }
        case .listDirectory:
            out["path"] = .string(try workspacePath(args, "path", required: false) ?? ".")
        case .search:
            let pattern = try string(args, "pattern", required: true)!
            guard !pattern.isEmpty else { throw ToolInputError(tool: rawValue, "'pattern' must not be empty") }
            guard pattern.utf8.count <= Self.maxPatternBytes else {
                throw ToolInputError(tool: rawValue, "'pattern' is longer than \(Self.maxPatternBytes) bytes")
            }
            guard !pattern.contains("\n") else { throw ToolInputError(tool: rawValue, "'pattern' must be a single line") }
            out["pattern"] = .string(pattern)
            out["path"] = .string(try workspacePath(args, "path", required: false) ?? ".")
            out["max_results"] = .number(Double(try integer(args, "max_results", in: 1...Self.maxSearchResults) ?? 100))
        case .executeCommand:
            let command = try string(args, "command", required: true)!
            guard !command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ToolInputError(tool: rawValue, "'command' must not be empty")
            }
            guard command.utf8.count <= Self.maxCommandBytes else {
                throw ToolInputError(tool: rawValue, "'command' is longer than \(Self.maxCommandBytes) bytes")
            }
            guard !command.utf8.contains(0) else { throw ToolInputError(tool: rawValue, "'command' contains a NUL byte") }
            out["command"] = .string(command)
            out["timeout_ms"] = .number(Double(try integer(args, "timeout_ms", in: 1...Self.maxCommandTimeoutMs) ?? 10_000))
        }
        return out
    }

    private func string(_ args: [String: Value], _ key: String, required: Bool) throws -> String? {
        guard let v = args[key], !v.isNull else {
            if required { throw ToolInputError(tool: rawValue, "missing required argument '\(key)'") }
            return nil
        }
        switch v {
        case .string(let s): return s
        // The SDK decodes strings that look like data: URLs into .data; give
        // the text back unchanged in meaning.
        case .data(let mime, let d): return d.dataURLEncoded(mimeType: mime)
        default: throw ToolInputError(tool: rawValue, "argument '\(key)' must be a string, got \(Self.typeName(v))")
        }
    }

    private func integer(_ args: [String: Value], _ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = args[key], !v.isNull else { return nil }
        let n: Int
        switch v {
        case .int(let i): n = i
        case .double(let d) where d == d.rounded() && abs(d) < 1e15: n = Int(d)
        default: throw ToolInputError(tool: rawValue, "argument '\(key)' must be an integer, got \(Self.typeName(v))")
        }
        guard range.contains(n) else {
            throw ToolInputError(tool: rawValue, "argument '\(key)' must be between \(range.lowerBound) and \(range.upperBound), got \(n)")
        }
        return n
    }

    /// A workspace-relative path, checked lexically: no absolute paths, no
    /// '..' that climbs above the workspace, no NUL bytes. (The agent checks
    /// again after resolving symlinks.)
    private func workspacePath(_ args: [String: Value], _ key: String, required: Bool) throws -> String? {
        guard let p = try string(args, key, required: required) else { return nil }
        if let problem = Self.workspacePathProblem(p) { throw ToolInputError(tool: rawValue, "argument '\(key)': \(problem)") }
        return p
    }

    /// Why `path` is not an acceptable workspace-relative path, or nil.
    public static func workspacePathProblem(_ path: String) -> String? {
        if path.isEmpty { return "the path is empty" }
        if path.utf8.count > maxPathBytes { return "the path is longer than \(maxPathBytes) bytes" }
        if path.utf8.contains(0) { return "the path contains a NUL byte" }
        if path.hasPrefix("/") { return "'\(path)' is an absolute path; paths are relative to the sandbox workspace" }
        var depth = 0
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == ".." {
                depth -= 1
                if depth < 0 { return "'\(path)' leads outside the sandbox workspace" }
            } else if part != "." {
                depth += 1
            }
        }
        return nil
    }

    static func typeName(_ v: Value) -> String {
        switch v {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string, .data: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

// MARK: - JSON <-> MCP Value

extension Value {
    /// The agent's JSON as an MCP value (integral numbers become .int).
    public init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n):
            if n == n.rounded(), abs(n) < 9e15 { self = .int(Int(n)) } else { self = .double(n) }
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(Value.init))
        case .object(let o): self = .object(o.mapValues(Value.init))
        }
    }
}

extension JSON {
    public init(_ value: Value) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .number(Double(i))
        case .double(let d): self = .number(d)
        case .string(let s): self = .string(s)
        case .data(let mime, let d): self = .string(d.dataURLEncoded(mimeType: mime))
        case .array(let a): self = .array(a.map(JSON.init))
        case .object(let o): self = .object(o.mapValues(JSON.init))
        }
    }
}

import Testing
import AgentProtocol
import MCP
import ToolCalls

@Suite struct `Tool argument validation` {
    @Test(arguments: ["a.txt", "dir/a.txt", "./a.txt", "dir/../a.txt", "a/b/../../c", "dir/", ".", "..a", "a..", "with space/ü.txt"])
    func `workspace-relative paths are accepted`(path: String) {
        #expect(SandboxTool.workspacePathProblem(path) == nil)
    }

    @Test(arguments: ["/etc/passwd", "/", "..", "../x", "a/../../x", "./../x", "dir/../../..", "a/b/../../../c", "", "a\u{0}b"])
    func `escaping, absolute, empty and NUL paths are refused`(path: String) {
        #expect(SandboxTool.workspacePathProblem(path) != nil)
    }

    @Test func `a path longer than the limit is refused`() {
        let long = String(repeating: "a/", count: SandboxTool.maxPathBytes / 2 + 1)
        #expect(SandboxTool.workspacePathProblem(long)?.contains("longer than") == true)
    }

    @Test func `read_file arguments become the agent's arguments`() throws {
        let args = try SandboxTool.readFile.validate(["path": "notes/a.txt"])
        #expect(args == ["path": .string("notes/a.txt")])
    }

    @Test func `optional arguments get their defaults`() throws {
        #expect(try SandboxTool.listDirectory.validate(nil) == ["path": .string(".")])
        let s = try SandboxTool.search.validate(["pattern": "x"])
        #expect(s["max_results"] == .number(100))
        #expect(s["path"] == .string("."))
        let e = try SandboxTool.executeCommand.validate(["command": "ls"])
        #expect(e["timeout_ms"] == .number(10_000))
    }

    @Test func `missing, mistyped and unknown arguments are refused with the argument's name`() {
        func message(_ tool: SandboxTool, _ args: [String: Value]?) -> String? {
            do { _ = try tool.validate(args); return nil } catch let e as ToolInputError { return e.message } catch { return "\(error)" }
        }
        #expect(message(.readFile, nil)?.contains("missing required argument 'path'") == true)
        #expect(message(.readFile, ["path": 3])?.contains("'path' must be a string, got a number") == true)
        #expect(message(.readFile, ["path": "a", "mode": "x"])?.contains("unknown argument 'mode'") == true)
        #expect(message(.writeFile, ["path": "a"])?.contains("missing required argument 'content'") == true)
        #expect(message(.writeFile, ["path": "a", "content": ["x"]])?.contains("'content' must be a string, got an array") == true)
        #expect(message(.search, ["pattern": ""])?.contains("must not be empty") == true)
        #expect(message(.search, ["pattern": "x", "max_results": 0])?.contains("between 1 and") == true)
        #expect(message(.search, ["pattern": "x", "max_results": 1.5])?.contains("must be an integer") == true)
        #expect(message(.executeCommand, ["command": "  "])?.contains("must not be empty") == true)
        #expect(message(.executeCommand, ["command": "ls", "timeout_ms": 300_001])?.contains("between 1 and 300000") == true)
    }

    @Test func `content over the file limit is refused before it is forwarded`() {
        let big = String(repeating: "x", count: AgentLimits.maxFileBytes + 1)
        #expect(throws: ToolInputError.self) { try SandboxTool.writeFile.validate(["path": "big.txt", "content": .string(big)]) }
        let exact = String(repeating: "x", count: AgentLimits.maxFileBytes)
        #expect(throws: Never.self) { try SandboxTool.writeFile.validate(["path": "big.txt", "content": .string(exact)]) }
    }

    @Test func `content that would overflow the agent's line limit once escaped is refused`() {
        // 1 MiB of control characters is escaped to 6 MiB on the agent channel.
        let controls = String(repeating: "\u{01}", count: AgentLimits.maxFileBytes)
        #expect(throws: ToolInputError.self) { try SandboxTool.writeFile.validate(["path": "c.bin", "content": .string(controls)]) }
    }

    @Test func `every tool has an object input schema that lists its required arguments`() throws {
        for tool in SandboxTool.allCases {
            let def = tool.definition
            #expect(def.name == tool.rawValue)
            guard case .object(let schema) = def.inputSchema else { Issue.record("\(tool) schema is not an object"); continue }
            #expect(schema["type"] == "object")
            #expect(schema["additionalProperties"] == false)
            guard case .object(let props)? = schema["properties"], case .array(let required)? = schema["required"] else {
                Issue.record("\(tool) schema lacks properties/required"); continue
            }
            for r in required { #expect(props[r.stringValue ?? ""] != nil, "\(tool): required '\(r)' is not a property") }
        }
        #expect(SandboxTool.readFile.definition.inputSchema.objectValue?["required"] == ["path"])
        #expect(SandboxTool.writeFile.definition.inputSchema.objectValue?["required"] == ["path", "content"])
        #expect(SandboxTool.search.definition.inputSchema.objectValue?["required"] == ["pattern"])
        #expect(SandboxTool.executeCommand.definition.inputSchema.objectValue?["required"] == ["command"])
    }

    @Test func `agent JSON and MCP values convert both ways`() {
        let j: JSON = .object(["a": .number(3), "b": .number(1.5), "c": .array([.string("x"), .null, .bool(true)])])
        let v = Value(j)
        #expect(v == ["a": 3, "b": 1.5, "c": ["x", nil, true]])
        #expect(JSON(v) == j)
    }
}

import Foundation
import Testing
import AgentProtocol
import MCP
import ToolCalls
import VMFixtures

/// A process-backend sandbox with the MCP server in front of it and an SDK
/// client connected over the fast transport, ended by `close()`.
final class SandboxFixture: Sendable {
    let vm: any SandboxVM
    let tools: SandboxToolServer
    let conn: InProcessMCP
    /// The sandbox's workspace as a host path (process backend: it is one).
    let workspace: String
    /// The same directory as the sandbox sees it (/workspace when jailed).
    let guestWorkspace: String

    init(options: ToolServerOptions = ToolServerOptions(), transport: MCPTransportKind = .fast) async throws {
        vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 20))
        guestWorkspace = vm.session.hello.workspace
        workspace = vm.hostWorkspace ?? guestWorkspace
        tools = SandboxToolServer(sandbox: vm, options: options)
        do { conn = try await InProcessMCP.connect(to: tools, transport: transport) } catch {
            vm.shutdown(); throw error
        }
    }

    var client: Client { conn.client }

    func call(_ name: String, _ args: [String: Value]? = nil) async throws -> (text: String, isError: Bool) {
        let r = try await client.callTool(name: name, arguments: args)
        return (r.content.map(Self.text).joined(), r.isError ?? false)
    }

    static func text(_ c: Tool.Content) -> String {
        if case .text(let t, _, _) = c { return t }
        return ""
    }

    func close() async {
        await conn.close()
        vm.shutdown()
    }
}

func withSandbox<T>(options: ToolServerOptions = ToolServerOptions(), _ body: (SandboxFixture) async throws -> T) async throws -> T {
    let f = try await SandboxFixture(options: options)
    do {
        let r = try await body(f)
        await f.close()
        return r
    } catch {
        await f.close()
        throw error
    }
}

func readHostFile(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

func seconds(since t0: UInt64) -> Double { Double(Monotonic.nanos() - t0) / 1e9 }

/// Type-7 percentile (the project's method), for test output.
func pct(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    let h = Double(s.count - 1) * p
    let lo = Int(h.rounded(.down)), hi = min(lo + 1, s.count - 1)
    return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
}

func fmtMs(_ x: Double) -> String { String(format: "%.3f", x) }

extension Tag {
    @Tag static var latency: Self
}

import Foundation
import LGSettings
import AgentProtocol
import VMFixtures
import MCP
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Which transport carries the MCP messages.
public enum MCPTransportKind: String, Sendable, CaseIterable {
    /// ``DescriptorTransport``: blocking reads on a dedicated thread.
    case fast = "fd-blocking"
    /// The SDK's own `StdioTransport` (non-blocking reads, 10 ms sleep when idle).
    case sdkStdio = "sdk-stdio"
    /// The SDK's `InMemoryTransport`: no descriptors, no system calls, in one
    /// process only. The SDK's own floor: what any real transport adds to.
    case sdkInMemory = "sdk-in-memory"
}

/// An MCP client connected to a ``SandboxToolServer`` in the same process,
/// over a Unix socketpair: real JSON-RPC bytes through the kernel, both SDK
/// actors (Client and Server), the chosen transport on both ends.
public final class InProcessMCP: Sendable {
    public let client: Client
    public let server: Server
    public let transport: MCPTransportKind
    /// The initialize result the server gave.
    public let initializeResult: Initialize.Result
    private let teardown: @Sendable () async -> Void

    private init(client: Client, server: Server, transport: MCPTransportKind, initializeResult: Initialize.Result,
                 teardown: @escaping @Sendable () async -> Void) {
        self.client = client; self.server = server; self.transport = transport
        self.initializeResult = initializeResult; self.teardown = teardown
    }

    /// Opens a connection and performs the initialize handshake.
    public static func connect(to tools: SandboxToolServer, transport: MCPTransportKind = .fast,
                               clientName: String = "lgperf") async throws -> InProcessMCP {
        let client = Client(name: clientName, version: "1.0")
        switch transport {
        case .fast:
            let (clientSide, serverSide) = try DescriptorTransport.socketPair()
            return try await pair(client, tools, clientSide, serverSide, transport)
        case .sdkInMemory:
            let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
            return try await pair(client, tools, clientSide, serverSide, transport)
        case .sdkStdio:
            let (a, b) = try makeSocketPair()
            let clientSide = StdioTransport(input: FileDescriptor(rawValue: a), output: FileDescriptor(rawValue: a))
            let serverSide = StdioTransport(input: FileDescriptor(rawValue: b), output: FileDescriptor(rawValue: b))
            let teardown: @Sendable () async -> Void = {
                await client.disconnect()
                // Wake the SDK's read loops with end-of-file, let them finish
                // their current 10 ms sleep, and only then free the numbers.
                shutdown(a, Int32(SHUT_RDWR)); shutdown(b, Int32(SHUT_RDWR))
                try? await Task.sleep(for: .milliseconds(30))
                Glibc.close(a); Glibc.close(b)
            }
            do {
                let server = try await tools.serve(on: serverSide)
                let initialized = try await client.connect(transport: clientSide)
                return InProcessMCP(client: client, server: server, transport: transport, initializeResult: initialized) {
                    await teardown()
                    await server.stop()
                }
            } catch {
                await teardown()
                throw error
            }
        }
    }

    /// Serves `tools` on one end and connects `client` on the other; both are
    /// torn down if the handshake fails.
    private static func pair(_ client: Client, _ tools: SandboxToolServer, _ clientSide: any Transport, _ serverSide: any Transport,
                             _ transport: MCPTransportKind) async throws -> InProcessMCP {
        let server = try await tools.serve(on: serverSide)
        do {
            let initialized = try await client.connect(transport: clientSide)
            return InProcessMCP(client: client, server: server, transport: transport, initializeResult: initialized) {
                await client.disconnect()
                await server.stop()
            }
        } catch {
            await client.disconnect(); await server.stop()
            throw error
        }
    }

    /// Disconnects the client and stops the server; frees the descriptors.
    public func close() async { await teardown() }
}

/// Finds the `lgperf` executable (for running `lgperf mcp-server` as a child).
public enum LGPerfBinary {
    public static func locate() throws -> String {
        try BuiltBinary.locate("lgperf", override: Settings.shared.lgperfBinary, variable: "LUMINAGUARD_LGPERF_BIN")
    }
}

/// An MCP server running as a child process (`lgperf mcp-server ...`),
/// spoken to over its stdin/stdout pipes, as any MCP client would.
public final class ChildMCPServer: Sendable {
    public let process: ChildProcess
    public let client: Client
    public let initializeResult: Initialize.Result
    /// Descriptors the transport does not close itself (SDK stdio transport).
    private let descriptorsToClose: [Int32]

    private init(process: ChildProcess, client: Client, initializeResult: Initialize.Result, descriptorsToClose: [Int32]) {
        self.process = process; self.client = client; self.initializeResult = initializeResult
        self.descriptorsToClose = descriptorsToClose
    }

    /// Starts `executable arguments...` with pipes on fds 0 and 1 (stderr is
    /// inherited) and connects an SDK client over ``DescriptorTransport``.
    public static func start(executable: String, arguments: [String], environment: [String: String]? = nil,
                             transport: MCPTransportKind = .fast) async throws -> ChildMCPServer {
        signal(SIGPIPE, SIG_IGN)
        let up = try makeCloexecPipe()
        let down: (read: Int32, write: Int32)
        do { down = try makeCloexecPipe() } catch { close(up.read); close(up.write); throw error }
        let toChild = [up.read, up.write], fromChild = [down.read, down.write]
        let process: ChildProcess
        do {
            process = try ChildProcess(executable: executable, arguments: arguments, environment: environment,
                                       fds: [0: toChild[0], 1: fromChild[1]])
        } catch {
            for fd in toChild + fromChild { close(fd) }
            throw error as? VMError ?? VMError("cannot start \(executable): \(error)")
        }
        close(toChild[0]); close(fromChild[1])
        let client = Client(name: "lgperf", version: "1.0")
        let t: any Transport
        var toClose: [Int32] = []
        switch transport {
        case .fast:
            t = DescriptorTransport(readFD: fromChild[0], writeFD: toChild[1], closesDescriptors: true)
        case .sdkStdio:
            t = StdioTransport(input: FileDescriptor(rawValue: fromChild[0]), output: FileDescriptor(rawValue: toChild[1]))
            toClose = [toChild[1], fromChild[0]]
        case .sdkInMemory:
            process.killNow()
            for fd in [toChild[1], fromChild[0]] { close(fd) }
            throw VMError("the in-memory transport cannot reach another process")
        }
        do {
            let initialized = try await client.connect(transport: t)
            return ChildMCPServer(process: process, client: client, initializeResult: initialized, descriptorsToClose: toClose)
        } catch {
            await client.disconnect()
            for fd in toClose { close(fd) }
            process.killNow()
            throw error
        }
    }

    /// Closes the connection (the server sees end of input and exits) and
    /// waits for the child; kills it if it does not end in `grace` seconds.
    public func stop(grace: Double = 5) async {
        await client.disconnect()
        // The child's stdin reaches end of file: a well-behaved server exits.
        if let w = descriptorsToClose.first { close(w) }
        if !process.wait(timeout: grace) { process.killNow() }
        // The SDK transport's read loop may still be in its 10 ms sleep.
        if descriptorsToClose.count > 1 {
            try? await Task.sleep(for: .milliseconds(30))
            for fd in descriptorsToClose.dropFirst() { close(fd) }
        }
    }
}

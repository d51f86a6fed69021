import Foundation
import Testing
import AgentProtocol
import MCP
import ToolCalls
import Scenarios
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

@Suite struct `Descriptor transport` {
    /// Collects up to `count` messages from a transport's stream.
    static func collect(_ t: DescriptorTransport, count: Int) async throws -> [String] {
        var out: [String] = []
        for try await d in t.receive() {
            out.append(String(decoding: d, as: UTF8.self))
            if out.count == count { break }
        }
        return out
    }

    static func writeAll(_ fd: Int32, _ s: String) {
        let bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
            precondition(n > 0)
            off += n
        }
    }

    @Test func `splits newline-delimited messages however the bytes arrive`() async throws {
        let (a, b) = try makeSocketPair()
        defer { close(a) }
        let t = DescriptorTransport(readFD: b, writeFD: b, closesDescriptors: true)
        try await t.connect()
        let reader = Task { try await Self.collect(t, count: 5) }
        Self.writeAll(a, "{\"m\":1}\n{\"m\":2}\n{\"m\"")   // two and a half in one write
        try await Task.sleep(for: .milliseconds(20))
        Self.writeAll(a, ":3}\n\n")                        // the rest, plus an empty line (skipped)
        Self.writeAll(a, "{\"m\":4}\r\n")                  // CRLF framing tolerated
        Self.writeAll(a, "{\"m\":5}\n")
        let got = try await reader.value
        #expect(got == ["{\"m\":1}", "{\"m\":2}", "{\"m\":3}", "{\"m\":4}", "{\"m\":5}"])
        await t.disconnect()
    }

    @Test func `carries a multi-megabyte message both ways`() async throws {
        let (x, y) = try DescriptorTransport.socketPair()
        try await x.connect(); try await y.connect()
        let big = "\"" + String(repeating: "abcdefgh", count: 300_000) + "\""  // 2.4 MB
        let reader = Task { try await Self.collect(y, count: 1) }
        try await x.send(Data(big.utf8))
        let got = try await reader.value
        #expect(got.first?.utf8.count == big.utf8.count)
        #expect(got.first == big)
        await x.disconnect(); await y.disconnect()
    }

    @Test func `end of input ends the stream; disconnect stops the reader and closes owned descriptors`() async throws {
        let (a, b) = try makeSocketPair()
        let t = DescriptorTransport(readFD: b, writeFD: b, closesDescriptors: true)
        try await t.connect()
        close(a)
        let got = try await Self.collect(t, count: 1)
        #expect(got.isEmpty)
        await t.disconnect()
        // A second transport, disconnected while its reader is blocked.
        let (c, d) = try makeSocketPair()
        defer { close(c) }
        let t2 = DescriptorTransport(readFD: d, writeFD: d, closesDescriptors: true)
        try await t2.connect()
        let stream = Task { try await Self.collect(t2, count: 1) }
        try await Task.sleep(for: .milliseconds(20))
        await t2.disconnect()
        #expect(try await stream.value.isEmpty)
        // The reader closes `d` once it has left poll(2): the peer sees EOF.
        var byte: UInt8 = 0
        var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
        #expect(poll(&p, 1, 2000) == 1)
        #expect(read(c, &byte, 1) == 0)
        do {
            try await t2.send(Data("{}".utf8))
            Issue.record("send after disconnect succeeded")
        } catch {}
    }

    @Test func `a send to a closed peer is an error, not SIGPIPE`() async throws {
        signal(SIGPIPE, SIG_IGN)
        let (a, b) = try makeSocketPair()
        let t = DescriptorTransport(readFD: b, writeFD: b, closesDescriptors: true)
        try await t.connect()
        close(a)
        await #expect(throws: (any Error).self) {
            for _ in 0..<3 { try await t.send(Data("{\"x\":1}".utf8)) }
        }
        await t.disconnect()
    }

    @Test func `works over two pipes (stdio-style) between a client and a server`() async throws {
        let up = try makeCloexecPipe(), down = try makeCloexecPipe()
        let serverSide = DescriptorTransport(readFD: up.read, writeFD: down.write, closesDescriptors: true)
        let clientSide = DescriptorTransport(readFD: down.read, writeFD: up.write, closesDescriptors: true)
        let server = try await SandboxToolServer(sandbox: nil).serve(on: serverSide)
        let client = Client(name: "t", version: "1")
        try await client.connect(transport: clientSide)
        let r = try await client.callTool(name: "echo", arguments: ["message": "over pipes"])
        #expect(r.content == [.text(text: "over pipes", annotations: nil, _meta: nil)])
        await client.disconnect()
        await server.waitUntilCompleted()  // the server saw end of input
        await server.stop()
    }
}

@Suite(.serialized, .tags(.latency)) struct `Transport speed [tag:latency]` {
    /// The SDK's StdioTransport sleeps 10 ms whenever a read finds nothing,
    /// so an idle round trip waits for those sleeps; the descriptor transport
    /// wakes on the data. Same client, server and socketpair: only the
    /// transport differs. Alternated call by call in one test. The probe is
    /// MCP ping, the exchange with the least JSON work, so that the ratio is
    /// the transports' even in a debug build with other tests running.
    @Test func `the descriptor transport is much faster than the SDK's stdio transport`() async throws {
        let config = LatencyConfig(iterations: 60, warmup: 5, sdkStdioIterations: 20)
        let (sdk, fast) = try await ToolLatency.transportComparison(config: config, probe: .ping)
        #expect(fast.samplesMs.count == 60)
        #expect(sdk.samplesMs.count == 20)
        #expect(sdk.transport == "sdk-stdio" && fast.transport == "fd-blocking")
        let ratio = sdk.median / fast.median
        print("MCP ping median: sdk-stdio \(fmtMs(sdk.median)) ms, fd-blocking \(fmtMs(fast.median)) ms, ratio \(String(format: "%.1f", ratio))")
        // Generous: in release on an idle host the ratio is ~50-80.
        #expect(ratio >= 3, "sdk-stdio \(sdk.median) ms vs fd-blocking \(fast.median) ms")
        // The SDK transport's sleeps show: its median is several milliseconds.
        #expect(sdk.median >= 4)
    }
}

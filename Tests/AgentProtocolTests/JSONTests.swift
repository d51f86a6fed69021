import Foundation
import Testing
@testable import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

@Suite struct JSONTests {
    @Test func parsesAndSerializesRoundTrip() throws {
        let text = #"{"a":[1,2.5,-3e2,true,false,null],"b":"x\"y\\z\n\u00e9\ud83d\ude00","c":{}}"#
        let v = try JSON.parse(text)
        #expect(v["a"]?.array?.count == 6)
        #expect(v["a"]?.array?[2].number == -300)
        #expect(v["b"]?.string == "x\"y\\z\né😀")
        #expect(try JSON.parse(v.serialized()) == v)
        #expect(!v.serialized().contains("\n"), "one message per line")
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "{} x", "\"\\ud800\"", "01x"])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func rejectsDeepNesting() {
        #expect(throws: JSONParseError.self) { try JSON.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) }
    }

    @Test func integersStayIntegers() {
        #expect(JSON.number(42).serialized() == "42")
        #expect(JSON.number(0.5).serialized() == "0.5")
        #expect(JSON.number(.nan).serialized() == "null")
    }

    @Test func messagesRoundTrip() throws {
        let req = AgentRequest(id: 7, op: .readFile, args: ["path": .string("a.txt")])
        #expect(AgentRequest(try JSON.parse(req.json.serialized())) == req)
        let ok = AgentResponse.success(7, .object(["content": .string("hi")]))
        #expect(AgentResponse(try JSON.parse(ok.json.serialized())) == ok)
        var timed = AgentResponse.success(9, .null)
        timed.agentMicros = 41.5
        #expect(timed.json["agent_us"] == .number(41.5))
        #expect(AgentResponse(try JSON.parse(timed.json.serialized())) == timed)
        #expect(ok.json["agent_us"] == nil)
        let bad = AgentResponse.failure(8, "nope")
        #expect(AgentResponse(try JSON.parse(bad.json.serialized()))?.error == "nope")
        let hello = AgentHello(uptimeAtStartMs: 900, agentUptimeMs: 950, pid: 1, mode: "vm", version: "1", isolation: ["net"], workspace: "/w")
        #expect(AgentHello(try JSON.parse(hello.json.serialized())) == hello)
        #expect(AgentHello(.object(["event": .string("other")])) == nil)
    }
}

@Suite struct LineChannelTests {
    func pair() -> (LineChannel, LineChannel) {
        var fds: [Int32] = [0, 0]
        _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
        return (LineChannel(readFD: fds[0], writeFD: fds[0]), LineChannel(readFD: fds[1], writeFD: fds[1]))
    }

    @Test func framesLinesAcrossWrites() throws {
        let (a, b) = pair()
        try a.sendRaw(Array("one\ntw".utf8))
        try a.sendRaw(Array("o\nthree\n".utf8))
        let deadline = Monotonic.nanos() + 1_000_000_000
        #expect(String(decoding: try b.readLine(deadline: deadline), as: UTF8.self) == "one")
        #expect(String(decoding: try b.readLine(deadline: deadline), as: UTF8.self) == "two")
        #expect(String(decoding: try b.readLine(deadline: deadline), as: UTF8.self) == "three")
    }

    @Test func readTimesOutAtItsDeadline() throws {
        let (_a, b) = pair()
        let t0 = Monotonic.nanos()
        #expect(throws: ChannelError.self) { try b.readLine(deadline: t0 + 50_000_000) }
        let waited = Double(Monotonic.nanos() - t0) / 1e6
        #expect(waited >= 49 && waited < 1000, "waited \(waited) ms for a 50 ms deadline")
        _ = _a
    }

    @Test func closedPeerIsReported() throws {
        let (a, b) = pair()
        a.close()
        #expect(throws: ChannelError.closed("before a full message arrived")) { try b.readLine(deadline: Monotonic.nanos() + 1_000_000_000) }
    }

    @Test func oversizedLinesAreRefused() throws {
        var fds: [Int32] = [0, 0]
        _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
        let a = LineChannel(readFD: fds[0], writeFD: fds[0])
        let b = LineChannel(readFD: fds[1], writeFD: fds[1], maxLine: 1000)
        let writer = Thread { try? a.sendRaw([UInt8](repeating: 65, count: 5000)) }
        writer.start()
        #expect(throws: ChannelError.lineTooLong(1000)) { try b.readLine(deadline: Monotonic.nanos() + 2_000_000_000) }
    }

    @Test func readExactlyReturnsTheBody() throws {
        let (a, b) = pair()
        try a.sendRaw(Array("HEADER\n12345rest".utf8))
        let d = Monotonic.nanos() + 1_000_000_000
        _ = try b.readLine(deadline: d)
        #expect(try b.readExactly(5, deadline: d) == Array("12345".utf8))
    }
}

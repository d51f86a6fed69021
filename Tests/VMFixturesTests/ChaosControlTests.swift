import Foundation
import Testing
import AgentProtocol
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The control channel's wire format, its server, and bad input: unknown
/// kinds, malformed requests, no socket, a stale socket, no such process.
@Suite struct `Chaos control socket` {
    typealias Request = ChaosControl.Request
    typealias Reply = ChaosControl.Reply

    @Test func `requests and replies round-trip, and bad requests say what is wrong`() throws {
        for r in [Request(kind: .agentCrash), Request(kind: .vmmFreeze, holdSeconds: 1.5), Request(kind: .workspaceFull, holdSeconds: nil)] {
            #expect(try Request.parse(r.line) == r)
        }
        #expect(try Request.parse(#"{"inject":"vmm_kill"}"#) == Request(kind: .vmmKill, holdSeconds: 0))
        let bad: [(String, String)] = [
            (#"{"inject":"meteor"}"#, "unknown fault kind 'meteor': expected one of vmm_kill, vmm_freeze"),
            ("inject vmm_kill", "not JSON"),
            ("[1]", "not a JSON object"),
            (#"{"kind":"vmm_kill"}"#, "unknown field 'kind'"),
            (#"{}"#, "no \"inject\" kind"),
            (#"{"inject":"vmm_kill","hold_s":-1}"#, "hold_s must be"),
            (#"{"inject":"vmm_kill","hold_s":"soon"}"#, "hold_s must be"),
        ]
        for (line, message) in bad {
            #expect { try Request.parse(line) } throws: { "\($0)".contains(message) }
        }
        var reply = Reply(kind: "agent_crash")
        reply.injected = true; reply.sandbox = "lgvm-1.x"; reply.injectedAt = 1_790_000_000.25
        reply.verdict = "heartbeat channel closed"; reply.fatal = true; reply.detectionMs = 98.5
        reply.recovered = true; reply.recoveryMs = 1800; reply.replacement = "cold"; reply.notes = ["a note"]
        #expect(try Reply.parse(reply.json.serialized()) == reply)
        #expect(reply.text.contains("detected 98.5 ms after the injection"))
        #expect(reply.text.contains("recovered: replacement (cold) answered 1800.0 ms after the injection"))
        var na = Reply(kind: "network_partition")
        na.notApplicable = "the sandbox has no NIC"
        #expect(try Reply.parse(na.json.serialized()) == na)
        #expect(na.text == "network_partition: not applicable: the sandbox has no NIC")
        #expect { try Reply.parse("garbage") } throws: { "\($0)".contains("not a reply") }
    }

    @Test func `a control server answers with its handler, refuses bad lines, and no socket, a stale one or no process are clear errors`() throws {
        let dir = try TempDirectory(prefix: "lgctl")
        defer { dir.remove() }
        let path = ChaosControl.socketPath(runDirectory: dir.path, pid: getpid())
        #expect(path == dir.path + "/lgperf-control-\(getpid()).sock")
        // Nothing there yet.
        #expect { try ChaosControl.send(Request(kind: .vmmKill), to: path, timeout: 5) } throws: { "\($0)".contains("no control socket at \(path)") }
        let server = try ChaosControlServer(path: path) { req in
            var r = Reply(kind: req.kind.rawValue)
            r.notApplicable = "handled \(req.kind.rawValue) hold \(req.holdSeconds.map { "\($0)" } ?? "keep")"
            return r
        }
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try ChaosControl.send(Request(kind: .kernelPanic, holdSeconds: nil), to: path, timeout: 5).notApplicable == "handled kernel_panic hold keep")
        // A malformed request gets an error reply, and the server keeps serving.
        let fd = try UnixSocket.connect(to: path)
        let ch = LineChannel(readFD: fd, writeFD: fd)
        try ch.send(#"{"inject":"meteor"}"#)
        let answer = try Reply.parse(String(decoding: try ch.readLine(deadline: Monotonic.nanos() + 5_000_000_000), as: UTF8.self))
        ch.close()
        #expect(answer.error?.contains("unknown fault kind 'meteor'") == true && !answer.injected)
        #expect(try ChaosControl.send(Request(kind: .vmmKill), to: path, timeout: 5).notApplicable == "handled vmm_kill hold 0.0")
        server.close()
        #expect(access(path, F_OK) != 0, "the socket file is removed on close")
        // A stale socket: bound, then its listener gone without removing it.
        let stale = try UnixSocket.listen(at: path)
        close(stale)
        #expect { try ChaosControl.send(Request(kind: .vmmKill), to: path, timeout: 5) } throws: { "\($0)".contains("stale control socket \(path)") }
        // No such harness: a process that has ended.
        let gone = try ChildProcess(executable: "/bin/true", arguments: [])
        #expect(gone.wait(timeout: 10))
        #expect { try ChaosControl.socket(ofProcess: gone.pid, runDirectory: dir.path) } throws: { "\($0)".contains("no such process \(gone.pid)") }
        #expect(try ChaosControl.socket(ofProcess: getpid(), runDirectory: dir.path) == path)
    }
}

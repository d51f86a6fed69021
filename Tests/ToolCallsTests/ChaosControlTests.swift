import Foundation
import Testing
import AgentProtocol
import HostProbes
import LGSettings
import MCP
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// `lgperf chaos inject` through a running process's control socket: a real
/// `lgperf mcp-server` on QEMU taking every kind in turn, and `lgperf pool
/// serve` (the wire format and bad input: VMFixturesTests).
@Suite(.serialized) struct `chaos inject through the control socket` {
    typealias Request = ChaosControl.Request
    typealias Reply = ChaosControl.Reply

    /// `lgperf chaos inject ARGS` with `environment`: exit status, stdout, stderr.
    static func inject(_ arguments: [String], environment: [String: String]) throws -> (status: Int32?, out: String, err: String) {
        let exe = try LGPerfBinary.locate()
        let out = try makeCloexecPipe(), err = try makeCloexecPipe()
        let child = try ChildProcess(executable: exe, arguments: ["chaos", "inject"] + arguments, environment: environment,
                                     fds: [1: out.write, 2: err.write])
        close(out.write); close(err.write)
        defer { close(out.read); close(err.read) }
        var texts: [Int32: [UInt8]] = [out.read: [], err.read: []]
        var open: Set<Int32> = [out.read, err.read]
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Monotonic.nanos() + 120_000_000_000
        while !open.isEmpty && Monotonic.nanos() < deadline {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), 200) <= 0 { continue }
            for p in fds where p.revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(p.fd, $0.baseAddress!, $0.count) }
                if n <= 0 { open.remove(p.fd) } else { texts[p.fd]! += buf[0..<n] }
            }
        }
        if !child.wait(timeout: 10) { child.killNow() }
        return (child.poll().map { ($0 >> 8) & 0xff }, String(decoding: texts[out.read]!, as: UTF8.self),
                String(decoding: texts[err.read]!, as: UTF8.self))
    }

    final class ResumeOnce: @unchecked Sendable {
        let lock = NSLock(); var done = false
        func first() -> Bool { lock.lock(); defer { lock.unlock() }; if done { return false }; done = true; return true }
    }

    struct Answer: Sendable { var content: [Tool.Content]; var isError: Bool? }

    /// `body`'s result, or an error after `seconds` even if `body` never
    /// returns (an unstructured task: a group would wait for it).
    static func within<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let once = ResumeOnce()
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            Task {
                do { let r = try await body(); if once.first() { c.resume(returning: r) } } catch { if once.first() { c.resume(throwing: error) } }
            }
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                if once.first() { c.resume(throwing: FaultError("no answer within \(seconds) s")) }
            }
        }
    }

    @Test func `a running mcp-server on QEMU takes every kind through its control socket and keeps serving`() async throws {
        let runDir = try TempDirectory(prefix: "lgc")
        defer { runDir.remove() }
        // A jailed QEMU (uid 65534) must reach its VM directory inside it.
        chmod(runDir.path, 0o711)
        var env = ProcessInfo.processInfo.environment
        env["LUMINAGUARD_RUN_DIR"] = runDir.path
        let settings = try Settings.load(environment: env, mode: .quick)
        let miss = Double(settings.healthMissMs), interval = Double(settings.healthIntervalMs)
        // The checker's own worst case (a missed heartbeat plus one interval) and a second of slack.
        let bound = miss + interval + 1000
        let server = try await ChildMCPServer.start(executable: try LGPerfBinary.locate(), arguments: ["mcp-server", "--backend", "qemu"],
                                                    environment: env)
        defer { if server.process.isRunning { server.process.killNow() } }
        let pid = String(server.process.pid)
        // A call that gets no answer fails the test instead of hanging it.
        func call(_ text: String) async throws -> (content: [Tool.Content], isError: Bool?) {
            let client = server.client
            let r = try await Self.within(60) {
                let r = try await client.callTool(name: "execute_command", arguments: ["command": .string("echo \(text)")])
                return Answer(content: r.content, isError: r.isError)
            }
            return (r.content, r.isError)
        }
        func echoed(_ r: (content: [Tool.Content], isError: Bool?)) -> String {
            guard case .text(let t, _, _)? = r.content.first, let o = try? JSON.parse(t) else { return "\(r)" }
            return o["stdout"]?.string ?? ""
        }
        // The sandbox is up once a call is answered.
        #expect(echoed(try await call("first")) == "first\n")

        // Kinds that cannot apply to this server say why, and change nothing.
        for (kind, why) in [("network_partition", "no NIC"), ("network_degraded", "no NIC"), ("snapshot_corrupt", "not corrupted from here")] {
            let r = try Self.inject([kind, "--harness", pid, "--json"], environment: env)
            #expect(r.status == 2, "\(kind): \(r.out) \(r.err)")
            let reply = try Reply.parse(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(!reply.injected && reply.notApplicable?.contains(why) == true, "\(kind): \(r.out)")
        }
        // Every applicable kind: injected, the server's checker judges it within
        // its bound, and a tool call afterwards is served.
        let expected: [(String, String, Bool)] = [
            ("workspace_full", "workspace full", false),
            ("agent_crash", "heartbeat channel closed", true),
            ("kernel_panic", "heartbeat channel closed", true),
            ("vmm_freeze", "no heartbeat within", true),
            ("vmm_kill", "heartbeat channel closed", true),
        ]
        for (kind, verdict, fatal) in expected {
            let r = try Self.inject([kind, "--harness", pid, "--json"], environment: env)
            #expect(r.status == 0, "\(kind): status \(String(describing: r.status)): \(r.out) \(r.err)")
            let reply = try Reply.parse(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(reply.injected && reply.sandbox?.hasPrefix("lgvm-") == true, "\(kind): \(r.out)")
            #expect(reply.verdict?.contains(verdict) == true && reply.fatal == fatal, "\(kind): \(r.out)")
            let detection = try #require(reply.detectionMs, "\(kind): \(r.out)")
            #expect(detection >= 0 && detection <= bound, "\(kind): detected after \(detection) ms, bound \(bound) ms")
            if fatal {
                #expect(reply.recovered == true && (reply.recoveryMs ?? -1) >= detection, "\(kind): \(r.out)")
            } else {
                #expect(reply.undone == true && reply.recovered == nil, "\(kind): \(r.out)")
            }
            // The next call is served (by the replacement after a fatal fault).
            #expect(echoed(try await call("after-\(kind)")) == "after-\(kind)\n", "\(kind)")
            #expect(server.process.isRunning)
        }
        await server.stop(grace: 15)
        #expect(server.process.poll() == 0, "exit status \(String(describing: server.process.poll()))")
        // Its control socket went with it, and no QEMU names its run directory.
        #expect(access(ChaosControl.socketPath(runDirectory: runDir.path, pid: Int32(pid)!), F_OK) != 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter {
            ((try? ProcProbes.read("/proc/\($0)/cmdline")) ?? "").contains(runDir.path + "/")
        }.isEmpty)
    }

    @Test func `lgperf pool serve corrupts its private snapshot and replaces a crashed sandbox from the pool, through its control socket`() throws {
        let runDir = try TempDirectory(prefix: "lgc")
        defer { runDir.remove() }
        var env = ProcessInfo.processInfo.environment
        env["LUMINAGUARD_RUN_DIR"] = runDir.path
        env["LUMINAGUARD_POOL_SIZE"] = "1"
        // A jailed QEMU (uid 65534) must reach its VM directory inside it.
        chmod(runDir.path, 0o711)
        let input = try makeCloexecPipe()
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        let pool = try ChildProcess(executable: try LGPerfBinary.locate(), arguments: ["pool", "serve"], environment: env,
                                    fds: [0: input.read, 1: devNull])
        close(input.read); close(devNull)
        var inputOpen = true
        defer { if inputOpen { close(input.write) }; if !pool.wait(timeout: 15) { pool.killNow() } }
        let path = ChaosControl.socketPath(runDirectory: runDir.path, pid: pool.pid)
        let end = Monotonic.nanos() + 120_000_000_000
        while access(path, F_OK) != 0 && pool.isRunning && Monotonic.nanos() < end { usleep(20_000) }
        #expect(access(path, F_OK) == 0, "no control socket at \(path)")
        let snap = try ChaosControl.send(Request(kind: .snapshotCorrupt), to: path, timeout: 180)
        #expect(snap.injected && snap.sandbox?.hasSuffix("/state.bin") == true && snap.sandbox?.hasPrefix(runDir.path + "/lgpool-snapshots") == true,
                "\(snap.json.serialized())")
        #expect(snap.verdict?.contains("the pool rebuilt its snapshot") == true && snap.detectionMs != nil, "\(snap.json.serialized())")
        #expect(snap.recovered == true, "\(snap.json.serialized())")
        let crash = try ChaosControl.send(Request(kind: .agentCrash), to: path, timeout: 180)
        #expect(crash.injected && crash.fatal == true && crash.detectionMs != nil && crash.recovered == true, "\(crash.json.serialized())")
        let na = try ChaosControl.send(Request(kind: .networkDegraded), to: path, timeout: 60)
        #expect(!na.injected && na.notApplicable?.contains("no NIC") == true, "\(na.json.serialized())")
        // End of input ends the pool, its VMs, its snapshot and its socket.
        close(input.write)
        inputOpen = false
        #expect(pool.wait(timeout: 30))
        #expect(pool.poll() == 0, "exit status \(String(describing: pool.poll()))")
        #expect(access(path, F_OK) != 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: runDir.path)) ?? ["?"]).isEmpty)
    }
}

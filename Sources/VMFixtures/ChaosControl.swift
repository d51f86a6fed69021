import Foundation
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The control channel of a long-running process that holds sandboxes
/// (`lgperf mcp-server`, `lgperf pool serve`): a Unix socket, owner-only,
/// at a name derived from the process's pid, through which
/// `lgperf chaos inject` asks that process to inject a fault into its own
/// sandbox with its own channels (health port, QMP, snapshot) and to report
/// what its own health checker saw. One JSON object per line each way; one
/// request per connection.
public enum ChaosControl {
    /// `<run dir>/lgperf-control-<pid>.sock`: found from the pid alone.
    public static func socketPath(runDirectory: String, pid: Int32) -> String {
        (runDirectory.hasSuffix("/") ? runDirectory : runDirectory + "/") + "lgperf-control-\(pid).sock"
    }

    public struct Request: Sendable, Equatable {
        public var kind: FaultKind
        /// Seconds a reversible fault (vmm_freeze, workspace_full, the network
        /// kinds) stays after the verdict before it is undone; nil keeps it.
        public var holdSeconds: Double?

        public init(kind: FaultKind, holdSeconds: Double? = 0) { self.kind = kind; self.holdSeconds = holdSeconds }

        public var line: String {
            var o: [String: JSON] = ["inject": .string(kind.rawValue)]
            o["hold_s"] = holdSeconds.map { .number($0) } ?? .null
            return JSON.object(o).serialized()
        }

        /// Parses one request line; the error says what is wrong with it.
        public static func parse(_ line: String) throws -> Request {
            let json: JSON
            do { json = try JSON.parse(line) } catch { throw FaultError("the request is not JSON (\(error)): expected {\"inject\": \"KIND\"}") }
            guard let o = json.object else { throw FaultError("the request is not a JSON object: expected {\"inject\": \"KIND\"}") }
            for key in o.keys where key != "inject" && key != "hold_s" { throw FaultError("unknown field '\(key)' in the request (fields: inject, hold_s)") }
            guard let name = o["inject"]?.string else { throw FaultError("the request has no \"inject\" kind") }
            guard let kind = FaultKind(rawValue: name) else {
                throw FaultError("unknown fault kind '\(name)': expected one of \(FaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var hold: Double? = 0
            switch o["hold_s"] {
            case nil: break
            case .null?: hold = nil
            case .number(let s)? where s >= 0 && s <= 3600: hold = s
            default: throw FaultError("hold_s must be a number of seconds from 0 to 3600, or null (keep the fault)")
            }
            return Request(kind: kind, holdSeconds: hold)
        }
    }

    public struct Reply: Sendable, Equatable {
        public var kind: String
        /// The fault was injected.
        public var injected = false
        /// Why this kind cannot apply to this process's sandbox (nothing was done).
        public var notApplicable: String?
        /// Why the injection failed (the request was valid and applicable).
        public var error: String?
        public var sandbox: String?
        /// Wall-clock instant of the injection (Unix seconds).
        public var injectedAt: Double?
        /// The process's own health checker: its first unhealthy verdict.
        public var verdict: String?
        public var fatal: Bool?
        /// Injection -> that verdict (nil: none within its bound).
        public var detectionMs: Double?
        /// A reversible fault was undone afterwards.
        public var undone: Bool?
        /// Whether the process replaced the sandbox, and injection -> the
        /// replacement's agent answering (nil: no replacement attempted).
        public var recovered: Bool?
        public var recoveryMs: Double?
        /// Where the replacement came from (cold, template, full, pool).
        public var replacement: String?
        public var notes: [String] = []

        public init(kind: String) { self.kind = kind }

        /// Records a replacement sandbox: recovered once its agent answers a
        /// ping (injection -> that answer), or why not.
        public mutating func recordReplacement(_ vm: any SandboxVM, injectedAt: Double, label: String) {
            if (try? vm.session.ping(timeout: 10)) != nil {
                recovered = true
                recoveryMs = (Date().timeIntervalSince1970 - injectedAt) * 1000
                replacement = label
            } else {
                recovered = false
                notes.append("the replacement \(vm.id) did not answer a ping")
            }
        }

        public var json: JSON {
            var o: [String: JSON] = ["kind": .string(kind), "injected": .bool(injected)]
            func put(_ k: String, _ v: JSON?) { if let v { o[k] = v } }
            put("not_applicable", notApplicable.map(JSON.string))
            put("error", error.map(JSON.string))
            put("sandbox", sandbox.map(JSON.string))
            put("injected_at", injectedAt.map(JSON.number))
            put("verdict", verdict.map(JSON.string))
            put("fatal", fatal.map(JSON.bool))
            put("detection_ms", detectionMs.map(JSON.number))
            put("undone", undone.map(JSON.bool))
            put("recovered", recovered.map(JSON.bool))
            put("recovery_ms", recoveryMs.map(JSON.number))
            put("replacement", replacement.map(JSON.string))
            if !notes.isEmpty { o["notes"] = .array(notes.map(JSON.string)) }
            return .object(o)
        }

        public static func parse(_ line: String) throws -> Reply {
            guard let o = (try? JSON.parse(line))?.object, let kind = o["kind"]?.string else {
                throw FaultError("the control socket answered something that is not a reply: \(line.prefix(200))")
            }
            var r = Reply(kind: kind)
            r.injected = o["injected"]?.bool ?? false
            r.notApplicable = o["not_applicable"]?.string
            r.error = o["error"]?.string
            r.sandbox = o["sandbox"]?.string
            r.injectedAt = o["injected_at"]?.number
            r.verdict = o["verdict"]?.string
            r.fatal = o["fatal"]?.bool
            r.detectionMs = o["detection_ms"]?.number
            r.undone = o["undone"]?.bool
            r.recovered = o["recovered"]?.bool
            r.recoveryMs = o["recovery_ms"]?.number
            r.replacement = o["replacement"]?.string
            r.notes = o["notes"]?.array?.compactMap(\.string) ?? []
            return r
        }

        /// Human-readable lines for the command line.
        public var text: String {
            if let why = notApplicable { return "\(kind): not applicable: \(why)" }
            if let e = error { return "\(kind): failed: \(e)" }
            var lines = ["\(kind): injected into \(sandbox ?? "?")" + (injectedAt.map { " at \(Self.stamp($0))" } ?? "")]
            if let v = verdict {
                lines.append("verdict: " + (fatal == true ? "fatal" : "unhealthy") + ": \(v)"
                             + (detectionMs.map { String(format: ", detected %.1f ms after the injection", $0) } ?? ""))
            } else {
                lines.append("verdict: none (no unhealthy verdict)")
            }
            if let u = undone { lines.append(u ? "undone" : "left in place") }
            if let rec = recovered {
                lines.append(rec ? "recovered: replacement (\(replacement ?? "?")) answered" + (recoveryMs.map { String(format: " %.1f ms after the injection", $0) } ?? "")
                                 : "not recovered")
            }
            lines += notes
            return lines.joined(separator: "\n")
        }

        static func stamp(_ t: Double) -> String {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
            return f.string(from: Date(timeIntervalSince1970: t))
        }
    }

    // MARK: client

    /// Sends `request` to the control socket at `path` and waits up to
    /// `timeout` seconds for the reply.
    public static func send(_ request: Request, to path: String, timeout: Double) throws -> Reply {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw FaultError("no control socket at \(path) (\(String(cString: strerror(errno)))): the process is not an lgperf mcp-server or lgperf pool serve, or it has not opened it yet")
        }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw FaultError("\(path) is not a socket") }
        let fd: Int32
        do { fd = try UnixSocket.connect(to: path) } catch {
            if errno == ECONNREFUSED {
                throw FaultError("stale control socket \(path): no process listens on it (its process ended without removing it); remove it")
            }
            throw FaultError("cannot connect to the control socket: \(error)")
        }
        let ch = LineChannel(readFD: fd, writeFD: fd, maxLine: 1 << 16)
        defer { ch.close() }
        try ch.send(request.line)
        let line: [UInt8]
        do { line = try ch.readLine(deadline: Monotonic.nanos() + UInt64(timeout * 1e9)) } catch ChannelError.timedOut {
            throw FaultError("no reply on \(path) within \(timeout) s")
        }
        return try Reply.parse(String(decoding: line, as: UTF8.self))
    }

    /// The control socket of process `pid`: its well-known path, checked.
    public static func socket(ofProcess pid: Int32, runDirectory: String) throws -> String {
        let path = socketPath(runDirectory: runDirectory, pid: pid)
        if Glibc.kill(pid, 0) != 0 && errno == ESRCH {
            if access(path, F_OK) == 0 { throw FaultError("no such process \(pid); its stale control socket \(path) is left: remove it") }
            throw FaultError("no such process \(pid)")
        }
        return path
    }
}

/// Listens on a control socket and answers each request with `handler`, one
/// at a time (faults never overlap), on a thread of its own.
public final class ChaosControlServer: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let handler: @Sendable (ChaosControl.Request) -> ChaosControl.Reply
    private let lock = NSLock()
    private var closed = false

    private var cleanup: Int?

    /// Binds `path` (a stale socket there is replaced) with mode 0600; a
    /// peer of another user (checked by its credentials, which also covers
    /// the moment between bind and chmod) is refused, root excepted.
    public init(path: String, handler: @escaping @Sendable (ChaosControl.Request) -> ChaosControl.Reply) throws {
        self.path = path
        self.handler = handler
        // No umask here: it is process-wide, and other threads create VM sockets.
        fd = try UnixSocket.listen(at: path)
        chmod(path, 0o600)
        // Removed also when the process is interrupted or ends its VMs and exits.
        cleanup = ProcessRegistry.shared.addCleanup { unlink(path) }
        let t = Thread { [self] in loop() }
        t.name = "chaos-control"
        t.start()
    }

    private func loop() {
        while true {
            let c = accept(fd, nil, nil)
            lock.lock(); let stop = closed; lock.unlock()
            if stop { if c >= 0 { Glibc.close(c) }; return }
            guard c >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            guard let uid = Self.peerUID(c), uid == getuid() || uid == 0 else {
                Glibc.close(c)
                continue
            }
            serve(c)
        }
    }

    private func serve(_ c: Int32) {
        let ch = LineChannel(readFD: c, writeFD: c, maxLine: 4096)
        defer { ch.close() }
        guard let bytes = try? ch.readLine(deadline: Monotonic.nanos() + 10_000_000_000) else { return }
        let line = String(decoding: bytes, as: UTF8.self)
        let reply: ChaosControl.Reply
        do { reply = handler(try ChaosControl.Request.parse(line)) } catch {
            var r = ChaosControl.Reply(kind: (try? JSON.parse(line))?.object?["inject"]?.string ?? "?")
            r.error = "\(error)"
            reply = r
        }
        try? ch.send(reply.json)
    }

    /// The peer's uid (SO_PEERCRED; struct ucred is pid, uid, gid, which
    /// Glibc's overlay does not expose without _GNU_SOURCE).
    static func peerUID(_ fd: Int32) -> uid_t? {
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout.size(ofValue: cred))
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 else { return nil }
        return cred.1
    }

    /// Stops listening and removes the socket file.
    public func close() {
        lock.lock(); let was = closed; closed = true; lock.unlock()
        guard !was else { return }
        if let cleanup { ProcessRegistry.shared.removeCleanup(cleanup) }
        unlink(path)
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }

    deinit { close() }
}

extension ChaosControl {
    /// Why `kind` cannot apply to `vm` (nil: it can). `snapshotFile` is the
    /// snapshot this process restores from and may corrupt; without one,
    /// `noSnapshot` says why there is none.
    public static func notApplicable(_ kind: FaultKind, to vm: (any SandboxVM)?, snapshotFile: String?, noSnapshot: String) -> String? {
        if let why = kind.notInjectableHere { return why }
        if kind == .snapshotCorrupt { return snapshotFile == nil ? noSnapshot : nil }
        guard let vm else { return "no sandbox is running" }
        guard let q = vm as? QEMUSandbox else {
            return "the \(vm.backend.rawValue) backend's sandbox has no VMM, guest kernel or health port"
        }
        switch kind {
        case .agentCrash, .kernelPanic, .workspaceFull:
            return q.healthFD < 0 ? "the sandbox has no health port" : nil
        case .networkPartition, .networkDegraded:
            return q.echoPort == nil ? "the sandbox has no NIC (it was started without a network)" : nil
        default: return nil
        }
    }

    /// Injects `request.kind` into `vm` (or its snapshot) with the
    /// ``FaultInjector``, watched by a ``HealthChecker`` of this process
    /// started for it (first seen healthy); a fatal verdict abandons the
    /// sandbox's calls in flight. Returns the reply (without replacement),
    /// and the verdict.
    public static func injectWatched(_ request: Request, into vm: any SandboxVM, snapshotFile: String?, noSnapshot: String,
                                     interval: Double, missAfter: Double) -> (Reply, HealthVerdict?) {
        var reply = Reply(kind: request.kind.rawValue)
        reply.sandbox = vm.id
        if let why = notApplicable(request.kind, to: vm, snapshotFile: snapshotFile, noSnapshot: noSnapshot) {
            reply.notApplicable = why
            return (reply, nil)
        }
        if request.kind == .snapshotCorrupt {
            // Detection belongs to whoever restores from it next (a pool).
            do {
                let f = try FaultInjector.inject(.snapshotCorrupt, into: nil, snapshotFile: snapshotFile)
                reply.injected = true
                reply.injectedAt = wallClock(at: f.atNs)
                reply.sandbox = snapshotFile
            } catch { reply.error = "\(error)" }
            return (reply, nil)
        }
        let q = vm as! QEMUSandbox
        let checker: HealthChecker
        do { checker = try HealthChecker(sandbox: q, interval: interval, missAfter: missAfter) } catch {
            reply.error = "\(error)"
            return (reply, nil)
        }
        checker.echoPort = q.echoPort
        checker.start()
        defer { checker.stop() }
        // Judge only a sandbox first seen healthy (and, with a NIC, calibrated).
        let end = Monotonic.nanos() + 15_000_000_000
        while checker.latest?.healthy != true || (q.echoPort != nil && checker.echoBaselineMs == nil) {
            if let f = checker.failure { reply.error = "the sandbox was unhealthy before any fault: \(f.reason)"; return (reply, f) }
            guard Monotonic.nanos() < end else { reply.error = "the sandbox sent no healthy heartbeat within 15 s"; return (reply, nil) }
            usleep(2_000)
        }
        let fault: InjectedFault
        do { fault = try FaultInjector.inject(request.kind, into: q) } catch {
            reply.error = "\(error)"
            return (reply, nil)
        }
        reply.injected = true
        reply.injectedAt = wallClock(at: fault.atNs)
        let verdict = checker.waitForFailure(timeout: missAfter + 10)
        if let v = verdict {
            reply.verdict = v.reason
            reply.fatal = v.fatal
            // workspace_full fills progressively: seen before the command returned counts as 0.
            reply.detectionMs = max(0, Double(Int64(v.atNs) - Int64(fault.atNs)) / 1e6)
        } else {
            reply.notes.append(String(format: "no unhealthy verdict within %.1f s of the injection", missAfter + 10))
        }
        let reversible: Set<FaultKind> = [.vmmFreeze, .workspaceFull, .networkPartition, .networkDegraded]
        if reversible.contains(request.kind) {
            if let hold = request.holdSeconds {
                if hold > 0 { usleep(useconds_t(hold * 1e6)) }
                do { try fault.undo(); reply.undone = true } catch {
                    reply.undone = false
                    reply.notes.append("undoing it failed: \(error)")
                }
            } else { reply.undone = false }
        }
        return (reply, verdict)
    }

    /// The wall-clock time of a ``Monotonic`` instant.
    static func wallClock(at ns: UInt64) -> Double {
        Date().timeIntervalSince1970 - Double(Int64(Monotonic.nanos()) - Int64(ns)) / 1e9
    }
}

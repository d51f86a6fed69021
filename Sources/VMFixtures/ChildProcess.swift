import Foundation
import AgentProtocol
import CSysShims
#if canImport(Glibc)
import Glibc
#endif

public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A child process started with posix_spawn, in its own process group, and
/// registered so that it is ended on exit, Ctrl-C or SIGTERM of the harness.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// `fds` maps child descriptor numbers to parent descriptors (dup2'd in
    /// the child); every other descriptor is closed in the child.
    /// `cgroupProcs`: a cgroup's `cgroup.procs` file the child joins before
    /// it execs the program, so that everything the program ever allocates
    /// is charged to that group.
    public init(executable: String, arguments: [String], environment: [String: String]? = nil,
                fds: [Int32: Int32] = [:], workingDirectory: String? = nil, cgroupProcs: String? = nil) throws {
        let path: String
        if executable.contains("/") { path = executable } else {
            guard let found = ChildProcess.which(executable) else {
                throw SpawnError("'\(executable)' was not found on PATH")
            }
            path = found
        }
        guard access(path, X_OK) == 0 else { throw SpawnError("'\(path)' is not an executable file") }
        self.executable = path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (child, parent) in fds.sorted(by: { $0.key < $1.key }) {
            posix_spawn_file_actions_adddup2(&actions, parent, child)
        }
        if fds[0] == nil { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        // Nothing else crosses: a descriptor another thread opened without
        // O_CLOEXEC at this moment (Foundation's Process pipes, for one)
        // would otherwise live as long as the VM, and a reader waiting for
        // that pipe's end of file would wait as long.
        _ = lg_spawn_addclosefrom(&actions, max(2, fds.keys.max() ?? 2) + 1)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Own process group: a terminal's Ctrl-C reaches the harness, which
        // then ends its children itself, in order, and reports.
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attr, 0)
        // The child dies with the harness even when the harness is killed
        // outright (SIGKILL: no handler runs): setpriv sets the parent-death
        // signal, then execs the program.
        var argv = (ChildProcess.setpriv.map { [$0, "--pdeathsig", "KILL", "--"] } ?? []) + [path] + arguments
        var program = ChildProcess.setpriv ?? path
        if let procs = cgroupProcs {
            // posix_spawn cannot join a cgroup: a shell writes its own pid
            // (kept through both execs) to the group, then execs the rest.
            argv = ["/bin/sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", procs] + argv
            program = "/bin/sh"
        }
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var env = environment ?? ProcessInfo.processInfo.environment
        if let wd = workingDirectory { env["PWD"] = wd }
        var cenv: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cenv { free(p) } }
        var child: pid_t = 0
        let rc: Int32
        if let wd = workingDirectory {
            // posix_spawn has no portable chdir action here; change and restore
            // under the registry lock so no other spawn sees the wrong cwd.
            rc = ProcessRegistry.shared.withSpawnLock {
                let old = FileManager.default.currentDirectoryPath
                guard chdir(wd) == 0 else { return errno }
                defer { _ = chdir(old) }
                return SpawnerThread.shared.run { posix_spawn(&child, program, &actions, &attr, &cargs, &cenv) }
            }
        } else {
            rc = ProcessRegistry.shared.withSpawnLock {
                SpawnerThread.shared.run { posix_spawn(&child, program, &actions, &attr, &cargs, &cenv) }
            }
        }
        guard rc == 0 else { throw SpawnError("cannot start \(path): \(String(cString: strerror(rc)))") }
        pid = child
        ProcessRegistry.shared.add(pid)
    }

    /// util-linux's setpriv, which sets the parent-death signal before it
    /// execs the real program; nil where it is missing (then only the
    /// orphan reaper ends what a killed harness leaves).
    static let setpriv: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first { access($0, X_OK) == 0 }

    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Non-blocking: the exit status if the process has ended (and is reaped).
    public func poll() -> Int32? {
        lock.lock(); defer { lock.unlock() }
        if let s = exitStatus { return s }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            exitStatus = status
            ProcessRegistry.shared.remove(pid)
            return status
        }
        if r < 0 && errno == ECHILD { exitStatus = -1; ProcessRegistry.shared.remove(pid); return -1 }
        return nil
    }

    public var isRunning: Bool { poll() == nil }

    /// "exit status 1" or "killed by signal 9".
    public static func describe(status: Int32) -> String {
        if status < 0 { return "status unknown" }
        return status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(status & 0x7f)"
    }

    /// Waits for the process to end, up to `timeout` seconds; true if it ended.
    @discardableResult
    public func wait(timeout: Double) -> Bool {
        let deadline = Monotonic.nanos() + UInt64(timeout * 1e9)
        // waitpid has no timeout; a child's exit is rare here and short waits
        // keep the bound exact without a helper thread.
        var pause: UInt32 = 200
        while poll() == nil {
            if Monotonic.nanos() >= deadline { return false }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
        return true
    }

    public func signal(_ sig: Int32) {
        if poll() == nil { kill(pid, sig) }
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; always reaps.
    public func terminate(grace: Double = 2) {
        guard poll() == nil else { return }
        kill(pid, SIGTERM)
        if !wait(timeout: grace) {
            kill(pid, SIGKILL)
            wait(timeout: 10)
        }
    }

    /// SIGKILL and reap.
    public func killNow() {
        guard poll() == nil else { return }
        kill(pid, SIGKILL)
        wait(timeout: 10)
    }

    deinit { killNow() }
}

/// Every child the harness started, so that none outlives it: ended on normal
/// exit (atexit), on SIGINT/SIGTERM/SIGHUP, and by fixtures on failure.
public final class ProcessRegistry: @unchecked Sendable {
    public static let shared = ProcessRegistry()
    private let lock = NSLock()
    private let spawnLock = NSLock()
    private var pids = Set<pid_t>()
    private var signalSources: [DispatchSourceSignal] = []
    private var cleanups: [Int: @Sendable () -> Void] = [:]
    private var nextCleanup = 0

    private init() {
        atexit { ProcessRegistry.shared.killAll() }
        // Writing to a VM that just died must be an error, not a fatal signal
        // (children get the default disposition back at spawn).
        Glibc.signal(SIGPIPE, SIG_IGN)
    }

    func withSpawnLock<T>(_ body: () -> T) -> T {
        spawnLock.lock(); defer { spawnLock.unlock() }
        return body()
    }

    func add(_ pid: pid_t) { lock.lock(); pids.insert(pid); lock.unlock() }
    func remove(_ pid: pid_t) { lock.lock(); pids.remove(pid); lock.unlock() }

    public var live: [pid_t] { lock.lock(); defer { lock.unlock() }; return Array(pids) }

    /// Registers work (e.g. removing a socket directory) to run when the
    /// harness is interrupted; returns a token for `removeCleanup`.
    public func addCleanup(_ body: @escaping @Sendable () -> Void) -> Int {
        lock.lock(); defer { lock.unlock() }
        nextCleanup += 1
        cleanups[nextCleanup] = body
        return nextCleanup
    }

    public func removeCleanup(_ token: Int) { lock.lock(); cleanups[token] = nil; lock.unlock() }

    /// SIGKILLs and reaps every registered child, then runs the cleanups.
    public func killAll() {
        lock.lock()
        let victims = pids
        let work = Array(cleanups.values)
        pids.removeAll()
        cleanups.removeAll()
        lock.unlock()
        for p in victims { kill(p, SIGKILL) }
        for p in victims { var s: Int32 = 0; waitpid(p, &s, 0) }
        for w in work { w() }
    }

    private var interruptedBy: Int32?

    func markInterrupted(by sig: Int32) { lock.lock(); interruptedBy = sig; lock.unlock() }

    /// The signal that interrupted the harness, if one did: work failing
    /// because its VMs were just ended should exit with 128 + signal too.
    public var interruptSignal: Int32? { lock.lock(); defer { lock.unlock() }; return interruptedBy }

    /// Ends every child on SIGINT, SIGTERM and SIGHUP, then exits with
    /// 128 + signal. Call once from a command-line entry point.
    public func installSignalHandlers(onSignal: (@Sendable (Int32) -> Void)? = nil) {
        lock.lock(); defer { lock.unlock() }
        guard signalSources.isEmpty else { return }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            Glibc.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                ProcessRegistry.shared.markInterrupted(by: sig)
                onSignal?(sig)
                ProcessRegistry.shared.killAll()
                exit(128 + sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }
}

/// Linux sends the parent-death signal when the *thread* that forked the
/// child exits, not the process (prctl(2), PR_SET_PDEATHSIG). Dispatch and
/// Swift concurrency retire idle worker threads, which would kill children
/// early, so every child is forked from this one thread, which lives as long
/// as the process.
final class SpawnerThread: @unchecked Sendable {
    static let shared = SpawnerThread()
    private let condition = NSCondition()
    private let callers = NSLock()
    private var job: (() -> Void)?
    private var finished = false

    private init() {
        let t = Thread { [self] in loop() }
        t.name = "lg-spawner"
        t.start()
    }

    /// Runs `body` on the spawner thread and returns its result.
    func run<T>(_ body: () -> T) -> T {
        callers.lock(); defer { callers.unlock() }
        return withoutActuallyEscaping(body) { body -> T in
            var result: T?
            condition.lock()
            job = { result = body() }
            finished = false
            condition.broadcast()
            while !finished { condition.wait() }
            job = nil
            condition.unlock()
            return result!
        }
    }

    private func loop() {
        condition.lock()
        while true {
            while job == nil || finished { condition.wait() }
            job?()
            finished = true
            condition.broadcast()
        }
    }
}

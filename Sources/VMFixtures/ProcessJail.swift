import Foundation
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// How a process sandbox is confined.
public enum ProcessConfinement: String, Sendable, Equatable {
    /// bubblewrap: its own user, filesystem view, pid/net/ipc/uts namespaces,
    /// cgroup limits. The default.
    case jailed
    /// A plain host process. Benchmarking only (opt in with
    /// LUMINAGUARD_BACKEND=process-unconfined), and the escape suite's proof
    /// that it catches a sandbox that does not contain.
    case unconfined
}

/// Limits a jailed process sandbox runs under (its memory limit is the
/// spawn's `memoryMB`). Chosen so that a fork bomb, a memory bomb, a CPU
/// burner or a disk fill ends the sandbox's work, never the host's.
public struct JailLimits: Sendable, Equatable {
    /// Processes and threads in the sandbox at once (pids cgroup).
    public var pids: Int
    /// CPU the sandbox may use at once, in cores (cpu cgroup quota).
    public var cpuCores: Double
    /// CPU seconds one command, and each process it starts, may use (RLIMIT_CPU).
    public var commandCPUSeconds: Int
    /// Size of the workspace (a tmpfs of this size; its pages also count
    /// against the memory limit).
    public var workspaceMB: Int

    public init(pids: Int = 64, cpuCores: Double = 1, commandCPUSeconds: Int = 60, workspaceMB: Int = 64) {
        self.pids = pids; self.cpuCores = cpuCores; self.commandCPUSeconds = commandCPUSeconds; self.workspaceMB = workspaceMB
    }
}

/// bubblewrap around the guest agent: what the jail lets the agent see and
/// the command line that builds it.
public enum ProcessJail {
    /// The unprivileged user the sandbox runs as, on the host and inside.
    public static let uid: UInt32 = 65534

    public static var bwrap: String? { ChildProcess.which("bwrap") }

    /// Why a jailed process sandbox cannot start here (nil: it can).
    public static func unavailableReason() -> VMError? {
        guard bwrap != nil else {
            return VMError("bubblewrap (bwrap) is not installed: the process backend cannot confine its sandbox",
                           fix: "apt-get install -y bubblewrap   (or use QEMU: apt-get install -y qemu-system-x86)")
        }
        guard getuid() == 0, SandboxCgroup.available else {
            return VMError("the jailed process backend needs root and writable cgroup v1 controllers (\(SandboxCgroup.controllers.map { "/sys/fs/cgroup/\($0)" }.joined(separator: ", "))) for its limits",
                           fix: "run as root on a host with cgroup v1 memory, pids and cpu controllers, or use QEMU")
        }
        return nil
    }

    /// The program and arguments that start the agent jailed: a shell that
    /// joins the cgroups (so everything after starts limited), drops to the
    /// unprivileged user (keeping the parent-death signal, which a change of
    /// user clears) and runs bwrap.
    static func command(agent: String, hostWorkspace: String, cgroupProcFiles: [String], limits: JailLimits) throws -> [String] {
        guard let bwrap else { throw unavailableReason()! }
        guard let setpriv = ChildProcess.setpriv else {
            throw VMError("setpriv is missing: the jail cannot drop to an unprivileged user", fix: "apt-get install -y util-linux")
        }
        let join = cgroupProcFiles.map { "echo $$ > '\($0)' || exit 97" }.joined(separator: "; ")
        let u = String(uid)
        var jail = [setpriv, "--reuid", u, "--regid", u, "--clear-groups", "--pdeathsig", "KILL", "--", bwrap,
                    "--unshare-all", "--die-with-parent", "--new-session", "--uid", u, "--gid", u,
                    "--hostname", "sandbox", "--clearenv",
                    "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/workspace", "--setenv", "LANG", "C.UTF-8"]
        jail += systemView()
        for dir in libraryDirectories(of: agent) { jail += ["--ro-bind", dir, dir] }
        jail += ["--ro-bind", agent, "/agent/lg-guest-agent",
                 "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                 "--bind", hostWorkspace, "/workspace", "--chdir", "/workspace",
                 "--", "/agent/lg-guest-agent", "--stdio", "--mode", "process", "--workspace", "/workspace",
                 "--command-cpu-seconds", String(limits.commandCPUSeconds)]
        return ["/bin/sh", "-c", join + "; exec \"$@\"", "sh"] + jail
    }

    /// A read-only /usr and the top-level directories that lead into it.
    static func systemView() -> [String] {
        var out = ["--ro-bind", "/usr", "/usr"]
        // Merged /usr (Debian 12): /bin, /lib... are links into /usr.
        for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/" + top) {
                out += ["--symlink", target, "/" + top]
            } else if FileManager.default.fileExists(atPath: "/" + top) {
                out += ["--ro-bind", "/" + top, "/" + top]
            }
        }
        return out
    }

    /// Directories outside /usr holding the shared libraries `binary` needs
    /// (a debug build links the toolchain's Swift runtime); none for the
    /// static agent.
    static func libraryDirectories(of binary: String) -> [String] {
        lock.lock(); defer { lock.unlock() }
        if let known = libraryCache[binary] { return known }
        var dirs: [String] = []
        if let out = commandOutput("/usr/bin/ldd", [binary], timeout: 10) {
            for line in out.split(separator: "\n") {
                guard let arrow = line.range(of: "=> /") else { continue }
                let rest = line[line.index(arrow.upperBound, offsetBy: -1)...]
                let path = String(rest.split(separator: " ").first ?? "")
                let dir = (path as NSString).deletingLastPathComponent
                let underSystem = ["/usr/", "/lib/", "/lib64/", "/lib32/"].contains { dir.hasPrefix($0) || dir + "/" == $0 }
                if !dir.isEmpty && !underSystem && !dirs.contains(dir) { dirs.append(dir) }
            }
        }
        libraryCache[binary] = dirs
        return dirs
    }

    /// Standard output of a short command, nil if it fails or runs past `timeout`.
    static func commandOutput(_ program: String, _ arguments: [String], timeout: Double) -> String? {
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else { return nil }
        for fd in p { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        guard let child = try? ChildProcess(executable: program, arguments: arguments, fds: [1: p[1]]) else {
            close(p[0]); close(p[1]); return nil
        }
        close(p[1])
        defer { close(p[0]) }
        let deadline = Monotonic.nanos() + UInt64(timeout * 1e9)
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while Monotonic.nanos() < deadline {
            var fd = pollfd(fd: p[0], events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 100) >= 0 || errno == EINTR else { break }
            if fd.revents == 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(p[0], $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        guard child.wait(timeout: max(0.1, Double(deadline.subtractingReportingOverflow(Monotonic.nanos()).overflow ? 0 : deadline - Monotonic.nanos()) / 1e9)) else {
            child.killNow(); return nil
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var libraryCache: [String: [String]] = [:]
}

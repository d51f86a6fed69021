import Foundation
import HostProbes
#if canImport(Glibc)
import Glibc
#endif

/// QEMU confined as Firecracker's jailer confines Firecracker: dropped to an
/// unprivileged user before it starts (so its seccomp filter can forbid
/// every change of user), its own seccomp filter (`-sandbox`), a filesystem
/// view of /usr and its run directory only (bubblewrap; the kernel and
/// initramfs come in as open descriptors), its own pid, ipc, uts, mount and
/// (without a guest network) network namespaces, and its own cgroup with
/// memory and pids limits (no CPU quota: a throttled QEMU would slow the
/// guest it emulates, and its one vCPU already bounds it). A restore hands it
/// the state file as a descriptor and a template's RAM as a sealed memfd
/// (``SealedRAM``): it can read both, write neither.
public struct QEMUJail: Sendable, Equatable {
    /// Memory QEMU may use beyond guest RAM (its code, TCG's translation cache).
    public var overheadMB: Int
    /// QEMU's threads and processes at once.
    public var pids: Int

    public init(overheadMB: Int = 256, pids: Int = 64) {
        self.overheadMB = overheadMB; self.pids = pids
    }

    /// Why QEMU cannot be jailed here (nil: it can).
    public static func unavailableReason() -> VMError? {
        if let why = ProcessJail.unavailableReason() { return why }
        return nil
    }

    /// QEMU's own seccomp filter: no obsolete calls, no change of user, no
    /// new processes, no changes to scheduling or affinity.
    static let seccomp = ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]

    /// Descriptor numbers the kernel and initramfs are passed on (the
    /// restore's state file: ``QEMUBackend/incomingStateFD``, 5).
    static let kernelFD: Int32 = 3, initrdFD: Int32 = 4
    /// A template's sealed RAM copy (mapped as `/proc/self/fd/6`).
    static let ramFD: Int32 = 6

    /// The first directory on the way to `path` that the jail's user cannot
    /// pass through (bubblewrap binds the VM's directory as that user), or nil.
    static func blockingAncestor(of path: String) -> String? {
        var prefix = ""
        for part in path.split(separator: "/").dropLast() {
            prefix += "/" + part
            var st = stat()
            guard stat(prefix, &st) == 0 else { return prefix }
            let mode = st.st_mode
            let ok = (st.st_uid == ProcessJail.uid && mode & S_IXUSR != 0) || (st.st_gid == ProcessJail.uid && mode & S_IXGRP != 0)
                || mode & S_IXOTH != 0
            if !ok { return prefix }
        }
        return nil
    }

    /// QEMU's arguments with the kernel and initramfs read from the passed
    /// descriptors and the seccomp filter added.
    static func jailedArguments(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if (a == "-kernel" || a == "-initrd") && i + 1 < arguments.count {
                out += [a, "/proc/self/fd/\(a == "-kernel" ? kernelFD : initrdFD)"]
                i += 2
                continue
            }
            out.append(a)
            i += 1
        }
        return out + seccomp
    }

    /// The program and arguments that start QEMU jailed: a shell that joins
    /// the cgroup, drops to the unprivileged user (keeping the parent-death
    /// signal) and runs bwrap, which runs QEMU.
    static func command(qemu: String, arguments: [String], directory: String, network: Bool, kvm: Bool,
                        cgroup: SandboxCgroup) throws -> [String] {
        guard let bwrap = ProcessJail.bwrap else { throw ProcessJail.unavailableReason()! }
        guard let setpriv = ChildProcess.setpriv else {
            throw VMError("setpriv is missing: QEMU cannot be dropped to an unprivileged user", fix: "apt-get install -y util-linux")
        }
        let join = cgroup.procsFiles.map { "echo $$ > '\($0)' || exit 97" }.joined(separator: "; ")
        let u = String(ProcessJail.uid)
        var jail = [setpriv, "--reuid", u, "--regid", u, "--clear-groups", "--pdeathsig", "KILL", "--", bwrap,
                    "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
        // User networking forwards a host loopback port: it needs the host's network.
        if network { jail.append("--share-net") }
        jail += ProcessJail.systemView()
        jail += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", directory, directory]
        if kvm { jail += ["--dev-bind", "/dev/kvm", "/dev/kvm"] }
        jail += ["--", qemu] + jailedArguments(arguments)
        return ["/bin/sh", "-c", join + "; exec \"$@\"", "sh"] + jail
    }

    /// What the kernel says about a sandbox's QEMU process: the proof that
    /// the jail took (tests and the jail's benchmark check it).
    public struct Status: Sendable, Equatable {
        public var pid: Int32
        /// Real, effective, saved and filesystem user ids.
        public var uids: [Int]
        /// 0 off, 1 strict, 2 filter (`-sandbox on`).
        public var seccomp: Int
        public var noNewPrivs: Bool
        /// The jail's user everywhere, a seccomp filter, no new privileges.
        public var confined: Bool { uids.count == 4 && uids.allSatisfy { $0 == Int(ProcessJail.uid) } && seccomp == 2 && noNewPrivs }
    }

    /// The QEMU process of `vm` (the VMM itself, or, jailed, the QEMU that
    /// bubblewrap started below it); nil once it is gone.
    public static func status(of vm: QEMUSandbox) -> Status? {
        let candidates = [vm.pid] + ProcProbes.descendants(of: vm.pid)
        for pid in candidates {
            guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                  exe.hasSuffix("/qemu-system-x86_64"),
                  let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { continue }
            func field(_ name: String) -> [Int] {
                guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return [] }
                return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { Int($0) }
            }
            return Status(pid: pid, uids: field("Uid"), seccomp: field("Seccomp").first ?? 0, noNewPrivs: field("NoNewPrivs").first == 1)
        }
        return nil
    }
}

extension QEMUBackend {
    /// This backend with its QEMUs jailed where the jail can be built and
    /// `wanted`; otherwise unjailed, with the WARNING that says why. The one
    /// rule for every command that serves or measures sandboxes as agents get
    /// them (mcp-server, pool, startup-probe).
    public func jailedWherePossible(_ wanted: Bool) -> (backend: QEMUBackend, note: String) {
        var b = self
        if !wanted {
            b.jail = nil
            return (b, "WARNING: QEMU runs UNJAILED (--no-jail: as this user, no seccomp filter, the host's filesystem in view); for benchmarking only")
        }
        if let why = QEMUJail.unavailableReason() {
            b.jail = nil
            return (b, "WARNING: QEMU runs UNJAILED (as this user, no seccomp filter): \(why)")
        }
        b.jail = QEMUJail()
        return (b, "QEMU jailed: uid \(ProcessJail.uid), bubblewrap, seccomp (-sandbox), own cgroup")
    }
}

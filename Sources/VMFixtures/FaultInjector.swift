import Foundation
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The faults the chaos and recovery phases inject. Each is real: the
/// process, the guest, the disk, the file or the link really fails.
public enum FaultKind: String, CaseIterable, Sendable {
    /// SIGKILL of the VMM process.
    case vmmKill = "vmm_kill"
    /// SIGSTOP of the VMM (the whole guest stops); undone with SIGCONT.
    case vmmFreeze = "vmm_freeze"
    /// The guest agent aborts inside the guest (it is PID 1: the kernel then panics).
    case agentCrash = "agent_crash"
    /// The guest kernel panics (sysrq 'c'); with panic=-1 and -no-reboot QEMU exits.
    case kernelPanic = "kernel_panic"
    /// The guest's workspace filesystem filled to the last block.
    case workspaceFull = "workspace_full"
    /// The pool's snapshot file overwritten in the middle while the pool restores from it.
    case snapshotCorrupt = "snapshot_corrupt"
    /// The guest's NIC link set down (QMP set_link); undone by setting it up.
    case networkPartition = "network_partition"
    /// Delay, loss and a rate limit on the guest's outgoing traffic: netem,
    /// set by the guest agent over rtnetlink (the host kernel has no netem).
    case networkDegraded = "network_degraded"

    /// Faults that act on a running VMM process alone (injectable by pid).
    public var processLevel: Bool { self == .vmmKill || self == .vmmFreeze }

    /// Why this fault cannot be injected on this host, or nil.
    public var notInjectableHere: String? {
        switch self {
        default: return nil
        }
    }
}

/// A fault in place; `undo` reverses the reversible ones (freeze, partition)
/// and is a no-op for the others.
public struct InjectedFault: Sendable {
    public let kind: FaultKind
    /// ``Monotonic`` instant the fault took effect (the signal sent, the
    /// command acknowledged, the file written).
    public let atNs: UInt64
    public let undo: @Sendable () throws -> Void
}

public struct FaultError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Injects faults into QEMU sandboxes (and, for the process-level kinds,
/// into any VMM by pid).
public enum FaultInjector {
    /// What `network_degraded` does to the guest's outgoing traffic.
    public static let degradation = (delayMs: 100, lossPercent: 2, rateKbit: 1000)

    /// Injects `kind` into `vm`. `snapshot` is the file to corrupt for
    /// `snapshotCorrupt` (the pool's current state file).
    public static func inject(_ kind: FaultKind, into vm: QEMUSandbox?, snapshotFile: String? = nil) throws -> InjectedFault {
        if let why = kind.notInjectableHere { throw FaultError(why) }
        switch kind {
        case .vmmKill, .vmmFreeze:
            guard let vm else { throw FaultError("\(kind.rawValue) needs a sandbox") }
            return try inject(kind, pid: vm.vmmPID)
        case .agentCrash, .kernelPanic:
            guard let vm, vm.healthFD >= 0 else { throw FaultError("\(kind.rawValue) needs a sandbox with a health channel") }
            return try guestRequest(kind == .agentCrash ? "crash" : "panic", fd: vm.healthFD, kind: kind)
        case .workspaceFull:
            guard let vm else { throw FaultError("workspace_full needs a sandbox") }
            return try fillWorkspace(vm)
        case .snapshotCorrupt:
            guard let path = snapshotFile else { throw FaultError("snapshot_corrupt needs the snapshot file") }
            return try corrupt(path)
        case .networkPartition:
            guard let qmp = vm?.qmp, vm?.echoPort != nil else { throw FaultError("network_partition needs a sandbox with a NIC and QMP") }
            try qmp.execute("set_link", ["name": .string("nic0"), "up": .bool(false)])
            let at = Monotonic.nanos()
            return InjectedFault(kind: kind, atNs: at) { try qmp.execute("set_link", ["name": .string("nic0"), "up": .bool(true)]) }
        case .networkDegraded:
            guard let vm, vm.healthFD >= 0, vm.echoPort != nil else { throw FaultError("network_degraded needs a sandbox with a NIC and a health channel") }
            let d = degradation
            let f = try guestRequest("netem \(d.delayMs) \(d.lossPercent) \(d.rateKbit)", fd: vm.healthFD, kind: kind)
            return InjectedFault(kind: kind, atNs: f.atNs) { _ = try guestRequest("netem off", fd: vm.healthFD, kind: kind) }
        }
    }

    /// The process-level faults against a VMM by pid (`lgperf chaos inject`).
    public static func inject(_ kind: FaultKind, pid: Int32) throws -> InjectedFault {
        switch kind {
        case .vmmKill:
            guard Glibc.kill(pid, SIGKILL) == 0 else { throw FaultError("kill -KILL \(pid): \(String(cString: strerror(errno)))") }
            return InjectedFault(kind: kind, atNs: Monotonic.nanos()) {}
        case .vmmFreeze:
            guard Glibc.kill(pid, SIGSTOP) == 0 else { throw FaultError("kill -STOP \(pid): \(String(cString: strerror(errno)))") }
            return InjectedFault(kind: kind, atNs: Monotonic.nanos()) { _ = Glibc.kill(pid, SIGCONT) }
        default:
            throw FaultError("\(kind.rawValue) cannot be injected by pid alone (process-level kinds: vmm_kill, vmm_freeze)")
        }
    }

    /// Sends a fault request on the guest's health port. The guest fails
    /// without answering; an answer means it could not (e.g. no sysrq).
    static func guestRequest(_ request: String, fd: Int32, kind: FaultKind) throws -> InjectedFault {
        let bytes = Array((request + "\n").utf8)
        let at = Monotonic.nanos()
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n == bytes.count else { throw FaultError("cannot send '\(request)' to the guest: \(String(cString: strerror(errno)))") }
        return InjectedFault(kind: kind, atNs: at) {}
    }

    /// Fills the guest's workspace with one file, to ENOSPC, through the agent.
    static func fillWorkspace(_ vm: QEMUSandbox) throws -> InjectedFault {
        // fallocate takes the free blocks at once (a byte-by-byte dd is slow
        // under emulation); dd then takes what rounding left. Both stop at
        // ENOSPC with a non-zero status: that is the point.
        let fill = "a=$(df -k . | awk 'NR==2{print $4}'); fallocate -l $((a*1024)) fill.bin 2>/dev/null; dd if=/dev/zero of=fill2.bin bs=4k 2>/dev/null; true"
        _ = try vm.session.call(.executeCommand, ["command": .string(fill), "timeout_ms": .number(120_000)], timeout: 130)
        return InjectedFault(kind: .workspaceFull, atNs: Monotonic.nanos()) {
            _ = try vm.session.call(.executeCommand, ["command": .string("rm -f fill.bin fill2.bin")], timeout: 30)
        }
    }

    /// Overwrites 4 KiB in the middle of `path` with other bytes (in place:
    /// the restore reads the same inode).
    static func corrupt(_ path: String) throws -> InjectedFault {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FaultError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { throw FaultError("\(path) is empty") }
        let junk = [UInt8](repeating: 0xA5, count: min(4096, Int(st.st_size)))
        let offset = off_t(max(0, Int(st.st_size) / 2 - junk.count / 2))
        guard pwrite(fd, junk, junk.count, offset) == junk.count else { throw FaultError("cannot write \(path): \(String(cString: strerror(errno)))") }
        fsync(fd)
        return InjectedFault(kind: .snapshotCorrupt, atNs: Monotonic.nanos()) {}
    }
}

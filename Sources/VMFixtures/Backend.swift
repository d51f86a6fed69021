import Foundation
import LGSettings
import AgentProtocol

public enum BackendKind: String, CaseIterable, Sendable, Codable {
    case qemu, firecracker, process
}

public enum Accelerator: String, Sendable, Codable {
    case kvm, tcg, none
}

/// Why and how a spawn failed, with what to do about it.
public struct VMError: Error, CustomStringConvertible {
    public let description: String
    public init(_ problem: String, fix: String? = nil) {
        description = fix.map { "\(problem)\nfix: \($0)" } ?? problem
    }
}

/// Timings of one spawn, all from the harness's monotonic clock except the
/// guest's own view (its uptime, CLOCK_BOOTTIME).
public struct SpawnTimings: Sendable, Equatable {
    /// Spawn request to the agent's answer to the first ping: "ready".
    public var requestToReadyNs: UInt64
    /// Spawn request to the VMM (or agent) process existing.
    public var requestToProcessNs: UInt64
    /// Spawn request to the agent's readiness announcement.
    public var requestToHelloNs: UInt64
    /// Guest uptime when /init started (kernel boot as the guest saw it).
    public var guestKernelToInitMs: Double?
    /// Guest uptime when the agent started.
    public var guestKernelToAgentMs: Double?
    /// Guest uptime when the agent announced itself.
    public var guestKernelToHelloMs: Double? = nil
    /// How the VM was obtained: `cold`, `restore`, `pool`.
    public var path: String
}

/// A running sandbox whose agent has answered. End it with `shutdown()`;
/// it is also ended when released and when the harness exits.
public protocol SandboxVM: AnyObject, Sendable {
    var id: String { get }
    var backend: BackendKind { get }
    var accelerator: Accelerator { get }
    /// The VMM process (or the agent process for the process backend).
    var pid: Int32 { get }
    var session: AgentSession { get }
    var timings: SpawnTimings { get }
    var isRunning: Bool { get }
    /// Ends the VM and removes its files; idempotent.
    func shutdown()
    /// Kills the VM abruptly (SIGKILL), as a crash would.
    func kill()
    /// The sandbox's workspace as a host path, where the host can reach it
    /// (process backends); nil for a VM.
    var hostWorkspace: String? { get }
}

extension SandboxVM {
    public var hostWorkspace: String? { nil }
}

public struct SpawnOptions: Sendable {
    /// Time allowed from spawn request to ready.
    public var readyTimeout: Double
    public var memoryMB: Int
    /// Give the guest a virtio-net device (QEMU user networking) with a TCP
    /// echo service forwarded to a loopback port on the host.
    public var network: Bool
    /// The admission control this spawn must pass (nil: `Admission.shared`,
    /// the process's settings). A benchmark may pass its own limits.
    public var admission: Admission?
    /// QEMU: guest RAM in this file (a memory-backend-file) instead of
    /// anonymous memory; used by templated snapshots.
    public var ramFile: RAMFile?
    /// QEMU: the memory cgroup the VMM joins before it starts (nil: the
    /// harness's own). Admission should then read that group's limit
    /// (``Admission/init(policy:memoryCgroup:)``).
    public var memoryCgroup: MemoryCgroup?
    public init(readyTimeout: Double = Settings.shared.readyTimeoutSeconds, memoryMB: Int = 128, network: Bool = false,
                admission: Admission? = nil, ramFile: RAMFile? = nil, memoryCgroup: MemoryCgroup? = nil) {
        self.readyTimeout = readyTimeout
        self.memoryMB = memoryMB
        self.network = network
        self.admission = admission
        self.ramFile = ramFile
        self.memoryCgroup = memoryCgroup
    }

    /// The admission control to pass.
    public var admissionControl: Admission { admission ?? .shared }
}

/// Guest RAM backed by a file: `shared` maps it MAP_SHARED (the template VM
/// writes its RAM into the file), otherwise privately, copy-on-write (each
/// restored VM reads the template's pages and keeps its own changes).
/// `sealed`: a restored VM maps this sealed in-memory copy of the file
/// instead (a jailed QEMU can neither see nor write the file).
public struct RAMFile: Sendable, Equatable {
    public var path: String
    public var shared: Bool
    public var sealed: SealedRAM?
    public init(path: String, shared: Bool, sealed: SealedRAM? = nil) { self.path = path; self.shared = shared; self.sealed = sealed }

    public static func == (a: RAMFile, b: RAMFile) -> Bool { a.path == b.path && a.shared == b.shared && a.sealed === b.sealed }
}

public protocol VMBackend: Sendable {
    var kind: BackendKind { get }
    var accelerator: Accelerator { get }
    /// Starts a sandbox and returns once its agent has answered a ping; first
    /// passes admission control (`options.admissionControl`), which refuses at
    /// once with an ``AdmissionError`` beyond its limits.
    func spawn(_ options: SpawnOptions) throws -> any SandboxVM
    /// Whether what runs in its sandboxes is confined (a VM, or a jailed
    /// process). Serving tools to agents needs it (`lgperf mcp-server`).
    var contains: Bool { get }
}

extension VMBackend {
    public var contains: Bool { true }
}

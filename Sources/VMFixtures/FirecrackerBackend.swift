import Foundation
import LGSettings
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The request bodies Firecracker's API socket takes, as in
/// shared/reference/firecracker-api.yaml (BootSource, MachineConfiguration,
/// Drive, InstanceActionInfo). Kept separate so tests can check them against
/// the spec without a Firecracker binary.
public enum FirecrackerAPI {
    public struct Request: Sendable, Equatable {
        public let method: String
        public let path: String
        /// The OpenAPI definition the body must conform to.
        public let definition: String
        public let body: JSON
    }

    public static func bootRequests(kernel: String, initrd: String, rootfs: String, memoryMB: Int, bootArgs: String) -> [Request] {
        [
            Request(method: "PUT", path: "/boot-source", definition: "BootSource",
                    body: .object(["kernel_image_path": .string(kernel), "initrd_path": .string(initrd),
                                   "boot_args": .string(bootArgs)])),
            Request(method: "PUT", path: "/machine-config", definition: "MachineConfiguration",
                    body: .object(["vcpu_count": .number(1), "mem_size_mib": .number(Double(memoryMB)), "smt": .bool(false)])),
            Request(method: "PUT", path: "/drives/rootfs", definition: "Drive",
                    body: .object(["drive_id": .string("rootfs"), "path_on_host": .string(rootfs),
                                   "is_root_device": .bool(false), "is_read_only": .bool(true)])),
            Request(method: "PUT", path: "/actions", definition: "InstanceActionInfo",
                    body: .object(["action_type": .string("InstanceStart")])),
        ]
    }

    /// The guest speaks the agent protocol on its serial port, which is
    /// Firecracker's stdin/stdout (Firecracker has no virtio-serial).
    public static let bootArguments = "reboot=k panic=1 pci=off quiet tsc=reliable random.trust_cpu=on lg.agent=/dev/ttyS0"
}

/// Firecracker, where its binary, a kernel and rootfs, and hardware KVM exist.
/// It cannot run on a host without VT-x/AMD-V; `lgperf doctor` says why.
public struct FirecrackerBackend: VMBackend {
    public let kind = BackendKind.firecracker
    public let accelerator = Accelerator.kvm
    public let binary: String
    public let kernel: String
    public let rootfs: String
    public let image: GuestImage

    struct Paths { var binary: String?; var kernel: String; var rootfs: String }

    static func paths() -> Paths {
        let s = Settings.shared
        return Paths(binary: s.firecracker ?? ChildProcess.which("firecracker"), kernel: s.firecrackerKernel, rootfs: s.firecrackerRootfs)
    }

    /// What is missing, if anything.
    static func missing(_ p: Paths, kvm: KVMStatus = .detect()) -> [String] {
        var out: [String] = []
        if p.binary == nil { out.append("no firecracker binary on PATH (or LUMINAGUARD_FIRECRACKER); Debian and PyPI do not package it") }
        if !FileManager.default.fileExists(atPath: p.kernel) { out.append("no kernel at \(p.kernel) (LUMINAGUARD_FC_KERNEL)") }
        if !FileManager.default.fileExists(atPath: p.rootfs) { out.append("no rootfs at \(p.rootfs) (LUMINAGUARD_FC_ROOTFS)") }
        if !kvm.usable { out.append("no usable hardware KVM: \(kvm.reason)") }
        return out
    }

    public static func availability() -> BackendAvailability {
        let p = paths()
        let gaps = missing(p)
        if gaps.isEmpty {
            return BackendAvailability(kind: .firecracker, usable: true, detail: "\(p.binary!) with \(p.kernel)", fix: nil)
        }
        return BackendAvailability(kind: .firecracker, usable: false, detail: gaps.joined(separator: "; "),
                                   fix: "install Firecracker and its test assets (/tmp/luminaguard-fc-test/vmlinux.bin, rootfs.ext4) on a host with VT-x/AMD-V")
    }

    public static func fromEnvironment() throws -> FirecrackerBackend {
        let p = paths()
        let gaps = missing(p)
        guard gaps.isEmpty, let bin = p.binary else {
            throw VMError("the Firecracker backend cannot run here: " + gaps.joined(separator: "; "),
                          fix: "use LUMINAGUARD_BACKEND=qemu (or auto)")
        }
        return FirecrackerBackend(binary: bin, kernel: p.kernel, rootfs: p.rootfs, image: try GuestImage.resolve())
    }

    public func spawn(_ options: SpawnOptions) throws -> any SandboxVM {
        try options.admissionControl.spawn(.firecracker, memoryMB: options.memoryMB) { try start(options, ticket: $0) }
    }

    private func start(_ options: SpawnOptions, ticket: AdmissionTicket) throws -> ChildSandbox {
        let t0 = Monotonic.nanos()
        let deadline = t0 + UInt64(options.readyTimeout * 1e9)
        let dir = try TempDirectory(prefix: "lgfc")
        let api = dir.path + "/api.sock"
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            dir.remove()
            throw VMError("socketpair failed")
        }
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: binary, arguments: ["--api-sock", api, "--level", "Error"],
                                     fds: [0: pair[1], 1: pair[1]])
        } catch {
            close(pair[0]); close(pair[1]); dir.remove()
            throw VMError("cannot start Firecracker: \(error)")
        }
        close(pair[1])
        let tProcess = Monotonic.nanos()
        do {
            // The API socket appears once Firecracker has initialised.
            var fd: Int32 = -1
            while fd < 0 {
                if let s = try? UnixSocket.connect(to: api) { fd = s; break }
                guard child.isRunning else { throw VMError("Firecracker exited during start-up") }
                guard Monotonic.nanos() < deadline else { throw VMError("Firecracker's API socket did not appear") }
                usleep(1000)
            }
            let http = LineChannel(readFD: fd, writeFD: fd)
            for r in FirecrackerAPI.bootRequests(kernel: kernel, initrd: image.initramfs, rootfs: rootfs,
                                                 memoryMB: options.memoryMB, bootArgs: FirecrackerAPI.bootArguments) {
                try Self.send(r, over: http, deadline: deadline)
            }
            let channel = LineChannel(readFD: pair[0], writeFD: pair[0])
            let session = try AgentSession(channel: channel, readyDeadline: deadline)
            let tHello = Monotonic.nanos()
            _ = try session.call(.ping, timeout: 10)
            let timings = SpawnTimings(requestToReadyNs: Monotonic.nanos() - t0, requestToProcessNs: tProcess - t0,
                                       requestToHelloNs: tHello - t0, guestKernelToInitMs: session.hello.uptimeAtStartMs,
                                       guestKernelToAgentMs: session.hello.agentUptimeMs, path: "cold")
            return ChildSandbox(backend: .firecracker, accelerator: .kvm, child: child, session: session,
                                directory: dir, timings: timings, grace: 0, ticket: ticket)
        } catch {
            child.killNow()
            dir.remove()
            throw VMError("Firecracker VM did not become ready: \(error)")
        }
    }

    /// One HTTP/1.1 request on the API socket; Firecracker answers 204 on success.
    static func send(_ r: FirecrackerAPI.Request, over http: LineChannel, deadline: UInt64) throws {
        let body = r.body.serialized()
        try http.sendRaw(Array("\(r.method) \(r.path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
        let status = String(decoding: try http.readLine(deadline: deadline), as: UTF8.self)
        var contentLength = 0
        while true {
            let line = String(decoding: try http.readLine(deadline: deadline), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { break }
            if line.lowercased().hasPrefix("content-length:") { contentLength = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0 }
        }
        var fault = ""
        if contentLength > 0 { fault = String(decoding: try http.readExactly(contentLength, deadline: deadline), as: UTF8.self) }
        guard status.contains(" 204") || status.contains(" 200") else {
            throw VMError("Firecracker rejected \(r.method) \(r.path): \(status) \(fault)")
        }
    }
}

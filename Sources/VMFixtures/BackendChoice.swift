import Foundation
import LGSettings

/// Which backends can run here, why the others cannot, and the best one.
public struct BackendAvailability: Sendable {
    public let kind: BackendKind
    public let usable: Bool
    /// What it would run with, or why it cannot run.
    public let detail: String
    /// How to make it usable, when it is not.
    public let fix: String?
}

public enum BackendChoice {
    /// LUMINAGUARD_BACKEND (qemu|firecracker|process|process-unconfined|auto)
    /// or the best usable backend that contains: Firecracker, then QEMU,
    /// then the process backend jailed with bubblewrap. `auto` never picks
    /// an unconfined process: with no VMM and no bubblewrap it fails, saying
    /// what to install. `buildImage` lets the QEMU backend build a missing
    /// guest image.
    public static func resolve(_ name: String? = Settings.shared.backend,
                               buildImage: Bool = true, log: (String) -> Void = { _ in }) throws -> any VMBackend {
        switch name?.lowercased() {
        case "qemu": return try qemu(buildImage: buildImage)
        case "firecracker": return try FirecrackerBackend.fromEnvironment()
        case "process": return try ProcessBackend()
        case "process-unconfined":
            log(unconfinedWarning)
            return try ProcessBackend(confinement: .unconfined)
        case nil, "", "auto":
            if FirecrackerBackend.availability().usable { return try FirecrackerBackend.fromEnvironment() }
            // Fall back only when there is no VMM at all: a broken image or a
            // forced accelerator that cannot work is an error to fix, not a
            // reason to measure something else.
            guard ChildProcess.which("qemu-system-x86_64") != nil else {
                if let why = ProcessJail.unavailableReason() {
                    throw VMError("no backend here can contain a sandbox: qemu-system-x86_64 is not installed, and \(why.description.split(separator: "\n").first ?? "")",
                                  fix: "apt-get install -y qemu-system-x86   (a VM per sandbox; preferred)   or   apt-get install -y bubblewrap   (a jailed process per sandbox)")
                }
                log("WARNING: no VMM is installed (qemu-system-x86_64 not found): using the process backend jailed with bubblewrap, which starts no VM; its numbers are labelled 'process'. Install QEMU with: apt-get install -y qemu-system-x86")
                return try ProcessBackend()
            }
            return try qemu(buildImage: buildImage)
        case let other?:
            throw VMError("unknown backend '\(other)': expected qemu, firecracker, process, process-unconfined or auto")
        }
    }

    /// Said whenever an unconfined process backend is chosen.
    public static let unconfinedWarning = "WARNING: UNCONFINED process backend (LUMINAGUARD_BACKEND=process-unconfined): commands run as this user on this host with its files, processes and network in reach. For benchmarking only; never serve tools to an agent with it."

    public static func qemu(buildImage: Bool = true) throws -> QEMUBackend {
        OrphanReaper.reap(log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        if SandboxCgroup.available { JailReaper.reap() }
        guard ChildProcess.which("qemu-system-x86_64") != nil else {
            throw VMError("qemu-system-x86_64 is not installed", fix: "apt-get install -y qemu-system-x86   (or scripts/install-deps.sh as root)")
        }
        let accel = try AcceleratorChoice.resolve()
        var backend = try QEMUBackend(image: try GuestImage.resolve(build: buildImage), accelerator: accel)
        backend.testSpawnDelayMs = Settings.shared.testSpawnDelayMs
        return backend
    }

    /// For `lgperf doctor`.
    public static func survey() -> [BackendAvailability] {
        var out: [BackendAvailability] = []
        out.append(FirecrackerBackend.availability())
        let kvm = KVMStatus.detect()
        if ChildProcess.which("qemu-system-x86_64") == nil {
            out.append(BackendAvailability(kind: .qemu, usable: false, detail: "qemu-system-x86_64 is not installed",
                                           fix: "apt-get install -y qemu-system-x86"))
        } else {
            let accel: String
            do { accel = try AcceleratorChoice.resolve(kvm: kvm).rawValue } catch { accel = "error: \(error)" }
            let imageText: String
            do {
                imageText = try GuestImage.lookup().map { "guest image \($0.key) (built from the current sources)" }
                    ?? "no guest image built for the current sources (lgperf image build; else built once on first use)"
            } catch { imageText = "guest image: \(error)" }
            out.append(BackendAvailability(kind: .qemu, usable: !accel.hasPrefix("error"),
                                           detail: "accelerator \(accel) (KVM: \(kvm.reason)); \(imageText)",
                                           fix: accel.hasPrefix("error") ? "unset LUMINAGUARD_ACCEL" : nil))
        }
        do {
            let p = try ProcessBackend()
            out.append(BackendAvailability(kind: .process, usable: true,
                                           detail: "agent \(p.agentPath), jailed with bubblewrap (no VM: simulation mode)", fix: nil))
        } catch {
            let jail = ProcessJail.unavailableReason()
            out.append(BackendAvailability(kind: .process, usable: false, detail: "\(error)".split(separator: "\n").first.map(String.init) ?? "",
                                           fix: jail != nil ? "apt-get install -y bubblewrap" : "swift build --product lg-guest-agent"))
        }
        return out
    }
}

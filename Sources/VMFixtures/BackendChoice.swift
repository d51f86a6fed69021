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
    /// LUMINAGUARD_BACKEND (qemu|firecracker|process|auto) or the best usable
    /// backend: Firecracker, then QEMU, then (loudly) the process backend.
    /// `buildImage` lets the QEMU backend build a missing guest image.
    public static func resolve(_ name: String? = Settings.shared.backend,
                               buildImage: Bool = true, log: (String) -> Void = { _ in }) throws -> any VMBackend {
        switch name?.lowercased() {
        case "qemu": return try qemu(buildImage: buildImage)
        case "firecracker": return try FirecrackerBackend.fromEnvironment()
        case "process": return try ProcessBackend()
        case nil, "", "auto":
            if FirecrackerBackend.availability().usable { return try FirecrackerBackend.fromEnvironment() }
            // Fall back only when there is no VMM at all: a broken image or a
            // forced accelerator that cannot work is an error to fix, not a
            // reason to measure something else.
            guard ChildProcess.which("qemu-system-x86_64") != nil else {
                log("WARNING: no VMM is installed (qemu-system-x86_64 not found): falling back to the process backend, which starts no VM; its numbers are labelled 'process'. Install QEMU with: apt-get install -y qemu-system-x86")
                return try ProcessBackend()
            }
            return try qemu(buildImage: buildImage)
        case let other?:
            throw VMError("unknown backend '\(other)': expected qemu, firecracker, process or auto")
        }
    }

    public static func qemu(buildImage: Bool = true) throws -> QEMUBackend {
        OrphanReaper.reap(log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
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
            out.append(BackendAvailability(kind: .process, usable: true, detail: "agent \(p.agentPath) (no VM: simulation mode)", fix: nil))
        } catch {
            out.append(BackendAvailability(kind: .process, usable: false, detail: "\(error)", fix: "swift build --product lg-guest-agent"))
        }
        return out
    }
}

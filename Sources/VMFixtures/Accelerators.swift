import Foundation
import LGSettings
#if canImport(Glibc)
import Glibc
#endif

/// Whether hardware KVM can run a stock guest kernel here, and why not.
///
/// /dev/kvm existing is not enough: on kvm_pvm hosts (software nested
/// virtualisation) a stock kernel aborts or spins forever in early boot, so
/// KVM counts as usable only with VT-x/AMD-V in /proc/cpuinfo and no kvm_pvm.
public struct KVMStatus: Sendable, Equatable {
    public let usable: Bool
    public let reason: String

    public static func detect(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
                              pvmLoaded: Bool = FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm"),
                              devicePath: String = "/dev/kvm") -> KVMStatus {
        guard FileManager.default.fileExists(atPath: devicePath) else {
            return KVMStatus(usable: false, reason: "\(devicePath) does not exist (no KVM module loaded, or a container without the device)")
        }
        let fd = open(devicePath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            return KVMStatus(usable: false, reason: "\(devicePath) cannot be opened read-write: \(String(cString: strerror(errno))) (add the user to the kvm group)")
        }
        close(fd)
        if pvmLoaded {
            return KVMStatus(usable: false, reason: "\(devicePath) is kvm_pvm (software nested virtualisation): it runs only PVM-built guest kernels; a stock kernel hangs in early boot")
        }
        let flags = cpuinfo?.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let words = Set(flags.split(separator: " ").map(String.init))
        guard words.contains("vmx") || words.contains("svm") else {
            return KVMStatus(usable: false, reason: "the CPU shows no VT-x/AMD-V (no vmx or svm flag in /proc/cpuinfo)")
        }
        return KVMStatus(usable: true, reason: "hardware virtualisation available")
    }
}

public enum AcceleratorChoice {
    /// The accelerator for QEMU: LUMINAGUARD_ACCEL (kvm|tcg) if set, else KVM
    /// when usable, else TCG. A forced `kvm` that cannot work is an error.
    public static func resolve(requested: String = Settings.shared.accelerator,
                               kvm: KVMStatus = .detect()) throws -> Accelerator {
        switch requested.lowercased() {
        case "", "auto": return kvm.usable ? .kvm : .tcg
        case "tcg": return .tcg
        case "kvm":
            guard kvm.usable else {
                throw VMError("LUMINAGUARD_ACCEL=kvm, but KVM cannot run a guest here: \(kvm.reason)",
                              fix: "unset LUMINAGUARD_ACCEL (or set it to tcg) to use software emulation, or run on a host with VT-x/AMD-V")
            }
            return .kvm
        case let other:
            throw VMError("LUMINAGUARD_ACCEL=\(other) is not valid: expected kvm, tcg or auto")
        }
    }
}

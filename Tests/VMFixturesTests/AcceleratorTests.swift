import Foundation
import Testing
@testable import VMFixtures

@Suite struct AcceleratorTests {
    @Test func pvmIsNotUsableKVM() {
        let s = KVMStatus.detect(cpuinfo: "flags : fpu vmx sse", pvmLoaded: true, devicePath: "/dev/null")
        #expect(!s.usable && s.reason.contains("kvm_pvm"))
    }

    @Test func noVirtualisationFlagsIsNotUsable() {
        let s = KVMStatus.detect(cpuinfo: "flags : fpu sse", pvmLoaded: false, devicePath: "/dev/null")
        #expect(!s.usable && s.reason.contains("vmx"))
    }

    @Test func missingDeviceIsNotUsable() {
        #expect(!KVMStatus.detect(cpuinfo: "flags : vmx", pvmLoaded: false, devicePath: "/nonexistent/kvm").usable)
    }

    @Test func forcedKVMFailsClearlyWhereItCannotWork() throws {
        let broken = KVMStatus(usable: false, reason: "test reason")
        #expect { try AcceleratorChoice.resolve(requested: "kvm", kvm: broken) } throws: {
            "\($0)".contains("LUMINAGUARD_ACCEL=kvm") && "\($0)".contains("test reason")
        }
        #expect(try AcceleratorChoice.resolve(requested: "auto", kvm: broken) == .tcg)
        #expect(try AcceleratorChoice.resolve(requested: "tcg", kvm: KVMStatus(usable: true, reason: "")) == .tcg)
        #expect(try AcceleratorChoice.resolve(requested: "auto", kvm: KVMStatus(usable: true, reason: "")) == .kvm)
        #expect(throws: VMError.self) { try AcceleratorChoice.resolve(requested: "hvf", kvm: broken) }
    }

    @Test func thisHostsKVMVerdictIsConsistent() throws {
        let here = KVMStatus.detect()
        if here.usable {
            #expect(try AcceleratorChoice.resolve(requested: "kvm") == .kvm)
        } else {
            #expect(throws: VMError.self) { try AcceleratorChoice.resolve(requested: "kvm") }
        }
    }
}

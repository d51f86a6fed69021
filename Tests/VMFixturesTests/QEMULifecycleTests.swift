import Foundation
import Testing
import AgentProtocol
import HostProbes
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Real QEMU guests ended at awkward moments: whatever happens, the spawn or
/// call fails within a bounded time with a clear error, and no process, socket
/// or temporary directory is left behind.
@Suite(.serialized) struct QEMULifecycleTests {
    let backend: QEMUBackend
    /// This test's own run directory, so that VMs of suites running alongside
    /// are not counted as its leftovers.
    let runDir: TempDirectory

    init() throws {
        runDir = try TempDirectory(prefix: "lglife")
        var b = try BackendChoice.qemu()
        b.runDirectory = runDir.path
        backend = b
    }

    /// QEMU processes started by this test (their sockets are in its run directory).
    func qemuChildren() -> [Int32] {
        ProcProbes.descendants(of: getpid()).filter { pid in
            let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return cmd.hasPrefix("/") && cmd.contains("qemu-system") && cmd.contains(runDir.path + "/")
        }
    }

    func expectClean(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(qemuChildren().isEmpty, "QEMU left running", sourceLocation: sourceLocation)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: runDir.path)) ?? []
        #expect(left.isEmpty, "VM directory left behind: \(left)", sourceLocation: sourceLocation)
        runDir.remove()
    }

    /// The project's initramfs with /init replaced by `script`.
    func initramfs(withInit script: String) throws -> (GuestImage, TempDirectory) {
        let tmp = try TempDirectory(prefix: "lgimg")
        let rootfs = tmp.path + "/rootfs"
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        func sh(_ command: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            try p.run(); p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw VMError("'\(command)' failed") }
        }
        try sh("cd '\(rootfs)' && cpio -id --quiet < '\(backend.image.initramfs)'")
        try script.write(toFile: rootfs + "/init", atomically: true, encoding: .utf8)
        try sh("chmod 755 '\(rootfs)/init' && cd '\(rootfs)' && find . | cpio -o -H newc --quiet > '\(tmp.path)/initramfs.cpio'")
        return (GuestImage(kernel: backend.image.kernel, initramfs: tmp.path + "/initramfs.cpio", key: "test"), tmp)
    }

    @Test func aGuestWhoseAgentNeverAnswersFailsWithinItsTimeout() throws {
        let (image, tmp) = try initramfs(withInit: "#!/bin/sh\necho 'no agent today'\nexec /bin/sleep 3600\n")
        defer { tmp.remove() }
        var silent = try QEMUBackend(image: image, accelerator: backend.accelerator)
        silent.runDirectory = runDir.path
        let t0 = Monotonic.nanos()
        #expect { try silent.spawn(SpawnOptions(readyTimeout: 3)) } throws: { error in
            let text = "\(error)"
            return text.contains("did not answer within 3") && text.contains("no agent today") && text.contains("fix:")
        }
        let waited = Double(Monotonic.nanos() - t0) / 1e9
        #expect(waited >= 3 && waited < 6, "gave up after \(waited) s for a 3 s timeout")
        expectClean()
    }

    @Test func killingQEMUDuringBootFailsTheSpawnPromptly() throws {
        let killer = Thread {
            // Kill as soon as QEMU exists, while the guest is still booting.
            let start = Monotonic.nanos()
            while Monotonic.nanos() - start < 5_000_000_000 {
                if let q = self.qemuChildren().first { usleep(200_000); kill(q, SIGKILL); return }
                usleep(5_000)
            }
        }
        killer.start()
        let t0 = Monotonic.nanos()
        #expect { try backend.spawn(SpawnOptions(readyTimeout: 20)) } throws: { "\($0)".contains("QEMU exited") }
        #expect(Double(Monotonic.nanos() - t0) / 1e9 < 3, "the spawn noticed the dead VMM late")
        expectClean()
    }

    @Test func killingTheVMDuringAToolCallFailsTheCallPromptly() throws {
        let vm = try backend.spawn(SpawnOptions())
        let pid = vm.pid
        let killer = Thread { usleep(300_000); kill(pid, SIGKILL) }
        killer.start()
        let t0 = Monotonic.nanos()
        #expect(throws: (any Error).self) {
            try vm.session.call(.executeCommand, ["command": .string("sleep 20")], timeout: 30)
        }
        #expect(Double(Monotonic.nanos() - t0) / 1e9 < 3)
        let deadline = Monotonic.nanos() + 1_000_000_000
        while vm.isRunning && Monotonic.nanos() < deadline { usleep(1000) }
        #expect(!vm.isRunning)
        vm.shutdown()
        vm.shutdown()  // idempotent
        expectClean()
    }

    @Test func aReadyVMAnswersAndShutsDownCleanly() throws {
        let vm = try backend.spawn(SpawnOptions())
        #expect(vm.backend == .qemu && vm.accelerator == backend.accelerator)
        #expect(vm.session.hello.mode == "vm" && vm.session.hello.pid == 1)
        #expect(vm.timings.requestToReadyNs > vm.timings.requestToHelloNs)
        #expect(try vm.session.call(.executeCommand, ["command": .string("uname -r")])["stdout"]?.string?.hasPrefix("6.1") == true)
        // The guest's own clock (CLOCK_BOOTTIME, not /proc/uptime's 10 ms
        // steps): /init's start, taken before the Swift runtime's, precedes
        // the agent's own code, which precedes its hello.
        let h = vm.session.hello
        let hello = try #require(h.helloUptimeMs)
        #expect(h.uptimeAtStartMs > 0 && h.uptimeAtStartMs < h.agentUptimeMs && h.agentUptimeMs <= hello)
        #expect([h.uptimeAtStartMs, h.agentUptimeMs, hello].contains { $0.truncatingRemainder(dividingBy: 10) != 0 },
                "guest times in 10 ms steps: \(h.uptimeAtStartMs), \(h.agentUptimeMs), \(hello)")
        vm.shutdown()
        expectClean()
    }

    @Test func badImagesAreRejectedBeforeBoot() throws {
        let tmp = try TempDirectory(prefix: "lgbad")
        defer { tmp.remove() }
        let garbage = tmp.path + "/garbage.cpio"
        try Data("this is not an archive".utf8).write(to: URL(fileURLWithPath: garbage))
        #expect { try GuestImage(kernel: backend.image.kernel, initramfs: garbage, key: "t").validate() } throws: {
            "\($0)".contains("not a newc cpio archive")
        }
        let whole = try Data(contentsOf: URL(fileURLWithPath: backend.image.initramfs))
        let truncated = tmp.path + "/truncated.cpio"
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        #expect { try GuestImage(kernel: backend.image.kernel, initramfs: truncated, key: "t").validate() } throws: {
            "\($0)".contains("truncated")
        }
        #expect { try GuestImage(kernel: tmp.path + "/missing-vmlinux", initramfs: backend.image.initramfs, key: "t").validate() } throws: {
            "\($0)".contains("missing-vmlinux") && "\($0)".contains("fix:")
        }
        // The platform floor's initramfs is checked like the guest's.
        if backend.image.key != "custom" { #expect(backend.image.floorInitramfs != nil, "the project's image holds floor.cpio") }
        #expect { try GuestImage(kernel: backend.image.kernel, initramfs: backend.image.initramfs, key: "t", floorInitramfs: truncated).validate() } throws: {
            "\($0)".contains("platform floor initramfs") && "\($0)".contains("truncated")
        }
    }

    @Test func aKernelQEMURefusesIsReportedWithQEMUsOwnWords() throws {
        let tmp = try TempDirectory(prefix: "lgbad")
        defer { tmp.remove() }
        // Passes the ELF magic check, but is no kernel.
        let fake = tmp.path + "/vmlinux"
        try Data([0x7F, 0x45, 0x4C, 0x46] + [UInt8](repeating: 0, count: 60)).write(to: URL(fileURLWithPath: fake))
        var bad = try QEMUBackend(image: GuestImage(kernel: fake, initramfs: backend.image.initramfs, key: "t"), accelerator: backend.accelerator)
        bad.runDirectory = runDir.path
        #expect { try bad.spawn(SpawnOptions(readyTimeout: 10)) } throws: { "\($0)".contains("QEMU said:") }
        expectClean()
    }
}

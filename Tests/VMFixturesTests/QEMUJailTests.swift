import Foundation
import Testing
import AgentProtocol
import HostProbes
import CSysShims
@testable import VMFixtures
import LGSettings
#if canImport(Glibc)
import Glibc
#endif

/// Jailed restores: a real QEMU restored from a template (and a full
/// snapshot) as uid 65534 under bubblewrap and its seccomp filter, mapping
/// a sealed copy of the template's RAM that nothing in the jail can write.
@Suite(.serialized) struct QEMUJailRestoreTests {
    let plain: QEMUBackend
    let jailed: QEMUBackend
    let dir: TempDirectory

    init() throws {
        plain = try BackendChoice.qemu()
        var j = plain
        j.jail = QEMUJail()
        jailed = j
        dir = try TempDirectory(prefix: "lgjailsnap")
    }

    /// True (and said) where the jail cannot be built; a failure where a VM is
    /// required (scripts/test.sh on a host with QEMU), never a silent skip.
    func jailUnavailable(sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard let why = QEMUJail.unavailableReason() else { return false }
        if Settings.shared.requireVM { Issue.record("the QEMU jail cannot be built here: \(why)", sourceLocation: sourceLocation) }
        print("skipped: \(why)")
        return true
    }

    /// Runs `command` as the jail's user; its exit status.
    func asJailUser(_ command: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid", String(ProcessJail.uid), "--regid", String(ProcessJail.uid), "--clear-groups", "--", "/bin/sh", "-c", command]
        p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        return p.terminationStatus
    }

    @Test func aJailedTemplateRestoreIsConfinedAndCannotWriteTheTemplate() throws {
        if jailUnavailable() { return }
        defer { dir.remove() }
        // The template is made unjailed (its QEMU writes the RAM file); restores are jailed.
        let store = SnapshotStore(root: dir.path, backend: jailed, template: true)
        try store.create()
        // Loaded by a jailed store: the sealed copy is made while the state file is verified.
        let snap = try store.load()
        let vm = try #require(try store.restore(snap) as? QEMUSandbox)
        var ended = false
        defer { if !ended { vm.shutdown() } }
        #expect(vm.timings.path == "template" && vm.jailed)
        #expect(try vm.session.call(.executeCommand, ["command": .string("echo jailed")])["stdout"]?.string == "jailed\n")
        let status = try #require(QEMUJail.status(of: vm), "no QEMU process under the sandbox")
        #expect(status.confined, "QEMU is not confined: \(status)")
        // It maps the sealed copy, not the file, and the jail has no view of the file.
        let maps = (try? String(contentsOfFile: "/proc/\(status.pid)/maps", encoding: .utf8)) ?? ""
        #expect(maps.contains("memfd:luminaguard-template-ram") && !maps.contains(snap.ramPath), "QEMU's mappings: \(maps.prefix(400))")
        #expect(access("/proc/\(status.pid)/root\(snap.ramPath)", F_OK) != 0, "the template's RAM file is visible inside the jail")
        let sealed = try #require(vm.sealedRAM)
        // The jail's user can write neither the memfd QEMU holds nor the file.
        #expect(try asJailUser("printf x 1<> /proc/\(status.pid)/fd/\(QEMUJail.ramFD)") != 0, "the jail's user wrote the sealed RAM")
        #expect(try asJailUser("printf x 1<> '\(snap.ramPath)'") != 0, "the jail's user wrote the template's RAM file")
        // Not through the descriptor itself either: every write path is sealed.
        var byte: UInt8 = 0x41
        #expect(pwrite(sealed.fd, &byte, 1, 0) == -1 && errno == EPERM)
        #expect(ftruncate(sealed.fd, 4096) == -1)
        #expect(mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sealed.fd, 0) == MAP_FAILED)
        // The guest writes its copy-on-write RAM; the sealed copy stays as it was.
        _ = try vm.session.call(.executeCommand, ["command": .string("dd if=/dev/zero of=/tmp/fill bs=1M count=8 2>/dev/null; echo ok")])
        #expect(sealed.problem == nil)
        #expect(try store.load().ramFingerprint == snap.ramFingerprint)
        let pid = status.pid
        vm.shutdown(); ended = true
        #expect(kill(pid, 0) != 0, "the jailed QEMU outlived its sandbox")
    }

    @Test func aJailedFullSnapshotRestoresThroughADescriptor() throws {
        if jailUnavailable() { return }
        defer { dir.remove() }
        let store = SnapshotStore(root: dir.path, backend: jailed)
        let vm = try #require(try store.restore(try store.create()) as? QEMUSandbox)
        defer { vm.shutdown() }
        #expect(vm.timings.path == "restore" && vm.jailed && vm.sealedRAM == nil)
        #expect(QEMUJail.status(of: vm)?.confined == true)
        #expect(try vm.session.call(.executeCommand, ["command": .string("echo full")])["stdout"]?.string == "full\n")
    }

    @Test func aRunDirectoryTheJailCannotReachIsAClearError() throws {
        if jailUnavailable() { return }
        defer { dir.remove() }
        let closed = try TempDirectory(prefix: "lgjailclosed")
        defer { closed.remove() }
        chmod(closed.path, 0o700)
        var backend = jailed
        backend.runDirectory = closed.path
        #expect { try backend.spawn(SpawnOptions()) } throws: {
            "\($0)".contains("cannot reach its directory") && "\($0)".contains("LUMINAGUARD_RUN_DIR")
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: closed.path))?.isEmpty == true)
    }

    @Test func aJailedQEMUIsNeverHandedTheWritableRAMFile() throws {
        if jailUnavailable() { return }
        defer { dir.remove() }
        #expect { try jailed.spawn(SpawnOptions(ramFile: RAMFile(path: dir.path + "/ram.bin", shared: false))) } throws: {
            "\($0)".contains("sealed copy") && "\($0)".contains("fix:")
        }
    }
}

extension QEMUJailRestoreTests {
    @Test func aJailedPoolRestoresJailedVMsAndSaysSo() throws {
        if jailUnavailable() { return }
        defer { dir.remove() }
        let pool = VMPool(backend: jailed, settings: PoolSettings(size: 1, refreshSeconds: 3600, snapshotPath: dir.path, strategy: .template))
        defer { pool.shutdown() }
        try pool.warmup()
        let out = try pool.checkout()
        defer { pool.release(out.vm) }
        #expect(out.path == "pool" && pool.stats().jailed && pool.stats().strategy == "template")
        let vm = try #require(out.vm as? QEMUSandbox)
        #expect(vm.jailed && QEMUJail.status(of: vm)?.confined == true)
        #expect(try vm.session.call(.executeCommand, ["command": .string("echo pooled")])["stdout"]?.string == "pooled\n")
        // A template whose RAM file changed is rebuilt before the next jailed restore.
        let snap = try pool.currentSnapshot()
        let h = try #require(FileHandle(forUpdatingAtPath: snap.ramPath))
        try h.seek(toOffset: 4096)
        h.write(Data(repeating: 0x5A, count: 16))
        try h.close()
        #expect { try pool.store.restore(snap) } throws: { ($0 as? SnapshotError).map { if case .corrupt = $0 { true } else { false } } ?? false }
    }
}

@Suite struct SealedRAMTests {
    /// The copy holds exactly the file's bytes (data, zero pages, holes and
    /// a partial last page alike), sealed against every change.
    @Test func aSealedCopyEqualsItsFileAndRefusesWrites() throws {
        let dir = try TempDirectory(prefix: "lgsealed")
        defer { dir.remove() }
        let path = dir.path + "/ram.bin"
        let size = 3 << 20
        var bytes = [UInt8](repeating: 0, count: size)
        for i in stride(from: 0, to: size, by: 4096 * 7) { bytes[i + 123] = UInt8(truncatingIfNeeded: i / 4096 + 1) }
        bytes[size - 1] = 0xEE
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        // A hole in the middle: a real template's RAM file has many.
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress!, 1 << 20, 0) }
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + (2 << 20), 1 << 20, off_t(2 << 20)) }
        close(fd)
        for i in (1 << 20)..<(2 << 20) { bytes[i] = 0 }
        let ram = try SealedRAM(copying: path, size: Int64(size), fingerprint: FileFingerprint.of(path))
        #expect(ram.problem == nil && ram.copiedBytes > 0 && ram.copiedBytes < Int64(size))
        var back = [UInt8](repeating: 0xFF, count: size)
        #expect(back.withUnsafeMutableBytes { pread(ram.fd, $0.baseAddress!, size, 0) } == size)
        #expect(back == bytes)
        var byte: UInt8 = 1
        #expect(pwrite(ram.fd, &byte, 1, 0) == -1 && errno == EPERM)
        #expect(ftruncate(ram.fd, 0) == -1)
        // A private writable mapping (what QEMU makes) is allowed; a shared one is not.
        let priv = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, ram.fd, 0)
        #expect(priv != MAP_FAILED)
        if let priv, priv != MAP_FAILED { priv.storeBytes(of: 0x42, as: UInt8.self); munmap(priv, size) }
        #expect(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, ram.fd, 0) == MAP_FAILED)
        #expect(back.withUnsafeMutableBytes { pread(ram.fd, $0.baseAddress!, 1, 0) } == 1 && back[0] == bytes[0])
        // QEMU maps the memfd before the copy ends: a private mapping made
        // before the fill reads what the fill wrote.
        let early = lg_sealable_memfd(Int64(size))
        #expect(early >= 0)
        let before = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, early, 0)
        #expect(before != MAP_FAILED)
        let src = open(path, O_RDONLY)
        var filled: Int64 = 0
        #expect(lg_fill_and_seal(src, early, Int64(size), &filled) == 0 && filled == ram.copiedBytes)
        close(src)
        if let before, before != MAP_FAILED {
            #expect(Array(UnsafeRawBufferPointer(start: before, count: size)) == bytes)
            munmap(before, size)
        }
        close(early)
        // A file that is not the verified one is refused.
        #expect(throws: SnapshotError.self) { try SealedRAM(copying: path, size: Int64(size), fingerprint: FileFingerprint(size: 1, mtime: 0, mtimeNs: 0, inode: 0)) }
    }
}

extension QEMUJailRestoreTests {
    @Test func twentyJailedTemplatedRestoresInARowAllSucceed() throws {
        if jailUnavailable() { return }
        defer { dir.remove() }
        let store = SnapshotStore(root: dir.path, backend: jailed, template: true)
        try store.create()
        let snap = try store.load()
        var failures: [String] = [], ms: [Double] = []
        for _ in 0..<20 {
            do {
                let vm = try store.restore(snap)
                ms.append(Double(vm.timings.requestToReadyNs) / 1e6)
                if (try? vm.session.call(.listDirectory, [:])) == nil { failures.append("restored VM did not answer a tool call") }
                vm.shutdown()
            } catch { failures.append("\(error)") }
        }
        print("jailed templated restores: \(failures.count) failed of 20; ready ms: \(ms.map { String(format: "%.0f", $0) }.joined(separator: " "))")
        #expect(failures.isEmpty, "\(failures.count) of 20 jailed templated restores failed: \(failures.prefix(3))")
    }
}

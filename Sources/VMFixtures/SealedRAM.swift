import Foundation
import AgentProtocol
import CSysShims
#if canImport(Glibc)
import Glibc
#endif

/// A template's guest RAM as a sealed memfd, for jailed restores. QEMU 7.2
/// opens `mem-path` read-write (readonly=on would make guest RAM read-only),
/// and the jail's user must not be able to write the file every restored VM
/// maps. The memfd is write-, shrink-, grow- and seal-sealed: QEMU opens it
/// through `/proc/self/fd/N` and maps it privately (copy-on-write, pages
/// shared between VMs as with the file), while writes through any
/// descriptor, shared writable mappings and truncation are refused.
public final class SealedRAM: @unchecked Sendable {
    /// Close-on-exec; passed to each jailed QEMU explicitly.
    public let fd: Int32
    public let size: Int64
    /// Non-zero bytes copied from the file (the rest stay holes).
    public let copiedBytes: Int64
    /// Time the copy and sealing took, ms.
    public let copyMs: Double

    /// Copies `path` (which must be `size` bytes and match `fingerprint`
    /// before and after the copy) into a sealed memfd.
    init(copying path: String, size: Int64, fingerprint: FileFingerprint?) throws {
        let t0 = Monotonic.nanos()
        let src = open(path, O_RDONLY | O_CLOEXEC)
        guard src >= 0 else { throw SnapshotError.corrupt("cannot open the template's RAM file \(path): \(String(cString: strerror(errno)))") }
        defer { close(src) }
        var st = stat()
        guard fstat(src, &st) == 0, Int64(st.st_size) == size else {
            throw SnapshotError.corrupt("the template's RAM file \(path) is not \(size >> 20) MB")
        }
        if let fingerprint, FileFingerprint.of(fd: src) != fingerprint {
            throw SnapshotError.corrupt("the template's RAM file \(path) changed since it was verified")
        }
        var copied: Int64 = 0
        let r = lg_sealed_copy(src, size, &copied)
        guard r >= 0 else {
            throw VMError("cannot make a sealed copy of the template's RAM for a jailed restore: \(String(cString: strerror(-r)))",
                          fix: "needs memfd_create with sealing (Linux 3.17+); restore unjailed (--no-jail) meanwhile")
        }
        if let fingerprint, FileFingerprint.of(fd: src) != fingerprint {
            close(r)
            throw SnapshotError.corrupt("the template's RAM file \(path) changed while it was copied")
        }
        fd = r; self.size = size; copiedBytes = copied
        copyMs = Double(Monotonic.nanos() - t0) / 1e6
    }

    /// Why this copy can no longer be handed to a VM (nil: it can): every
    /// seal still on, the size unchanged.
    public var problem: String? {
        let seals = lg_get_seals(fd)
        guard seals >= 0 else { return "the template's sealed RAM copy is gone (\(String(cString: strerror(-seals))))" }
        guard seals & lg_sealed_copy_seals() == lg_sealed_copy_seals() else { return "the template's RAM copy is no longer sealed (seals \(seals))" }
        var st = stat()
        guard fstat(fd, &st) == 0, Int64(st.st_size) == size else { return "the template's sealed RAM copy changed size" }
        return nil
    }

    deinit { close(fd) }
}

/// The sealed copy of one snapshot's RAM, made once and shared by every
/// jailed restore from it (the copy costs tens of ms; each VM maps it).
/// `start` begins the copy on a thread of its own, so that it overlaps with
/// verifying the snapshot's state file; `get` waits for it.
final class SealedRAMSlot: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<SealedRAM, Error>?
    private var running = false

    /// Starts making the copy in the background unless it is made or under way.
    func start(_ make: @escaping @Sendable () throws -> SealedRAM) {
        condition.lock(); defer { condition.unlock() }
        guard result == nil, !running else { return }
        running = true
        Thread.detachNewThread { [self] in
            let r = Result { try make() }
            condition.lock()
            result = r; running = false
            condition.broadcast()
            condition.unlock()
        }
    }

    func get(_ make: @escaping @Sendable () throws -> SealedRAM) throws -> SealedRAM {
        condition.lock()
        while running { condition.wait() }
        if let result { condition.unlock(); return try result.get() }
        running = true
        condition.unlock()
        let r = Result { try make() }
        condition.lock()
        result = r; running = false
        condition.broadcast()
        condition.unlock()
        return try r.get()
    }
}

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
    /// Close-on-exec; passed to each jailed QEMU explicitly. It exists (at
    /// its full size, all holes) from the start; its contents and seals come
    /// when ``sealed()`` returns.
    public let fd: Int32
    public let size: Int64
    private let condition = NSCondition()
    private var outcome: Result<(copied: Int64, ms: Double), Error>?

    /// Starts copying `path` (which must be `size` bytes and match
    /// `fingerprint` before and after the copy) into a new memfd on a thread
    /// of its own, and returns at once: a jailed QEMU can be started on the
    /// memfd while it fills (QEMU maps it privately and touches no guest RAM
    /// until the incoming migration, which waits for ``sealed()``). No guest
    /// code runs before the seals are on: what a guest could reach, a QEMU
    /// it took over, only ever sees the sealed file.
    init(copying path: String, size: Int64, fingerprint: FileFingerprint?) throws {
        let t0 = Monotonic.nanos()
        let src = open(path, O_RDONLY | O_CLOEXEC)
        guard src >= 0 else { throw SnapshotError.corrupt("cannot open the template's RAM file \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(src, &st) == 0, Int64(st.st_size) == size else {
            close(src)
            throw SnapshotError.corrupt("the template's RAM file \(path) is not \(size >> 20) MB")
        }
        if let fingerprint, FileFingerprint.of(fd: src) != fingerprint {
            close(src)
            throw SnapshotError.corrupt("the template's RAM file \(path) changed since it was verified")
        }
        let memfd = lg_sealable_memfd(size)
        guard memfd >= 0 else {
            close(src)
            throw Self.unsupported(-memfd)
        }
        fd = memfd; self.size = size
        Thread.detachNewThread { [self] in
            defer { close(src) }
            var copied: Int64 = 0
            let r = lg_fill_and_seal(src, memfd, size, &copied)
            let result: Result<(copied: Int64, ms: Double), Error>
            if r < 0 {
                result = .failure(Self.unsupported(-r))
            } else if let fingerprint, FileFingerprint.of(fd: src) != fingerprint {
                result = .failure(SnapshotError.corrupt("the template's RAM file \(path) changed while it was copied"))
            } else {
                result = .success((copied, Double(Monotonic.nanos() - t0) / 1e6))
            }
            condition.lock(); outcome = result; condition.broadcast(); condition.unlock()
        }
    }

    private static func unsupported(_ err: Int32) -> VMError {
        VMError("cannot make a sealed copy of the template's RAM for a jailed restore: \(String(cString: strerror(err)))",
                fix: "needs memfd_create with sealing (Linux 3.17+); restore unjailed (--no-jail) meanwhile")
    }

    /// Waits until the copy is complete and sealed; throws if it failed.
    /// Returns the non-zero bytes copied (the rest stay holes) and the time
    /// from the start of the copy to its seal, ms.
    @discardableResult
    public func sealed() throws -> (copied: Int64, ms: Double) {
        condition.lock(); defer { condition.unlock() }
        while outcome == nil { condition.wait() }
        return try outcome!.get()
    }

    /// Non-zero bytes copied from the file (waits for the copy; 0 if it failed).
    public var copiedBytes: Int64 { (try? sealed().copied) ?? 0 }
    /// Time the copy and sealing took, ms (waits for the copy).
    public var copyMs: Double { (try? sealed().ms) ?? .nan }

    /// Why this copy can no longer be handed to a VM (nil: it can): the copy
    /// complete, every seal still on, the size unchanged. Waits for the copy.
    public var problem: String? {
        do { try sealed() } catch { return "\(error)" }
        let seals = lg_get_seals(fd)
        guard seals >= 0 else { return "the template's sealed RAM copy is gone (\(String(cString: strerror(-seals))))" }
        guard seals & lg_sealed_copy_seals() == lg_sealed_copy_seals() else { return "the template's RAM copy is no longer sealed (seals \(seals))" }
        var st = stat()
        guard fstat(fd, &st) == 0, Int64(st.st_size) == size else { return "the template's sealed RAM copy changed size" }
        return nil
    }

    deinit {
        // The copying thread holds this object until it is done.
        close(fd)
    }
}

/// The sealed copy of one snapshot's RAM, made once and shared by every
/// jailed restore from it (the copy costs tens of ms; each VM maps it).
/// Making it only starts the copy (``SealedRAM``), which then overlaps with
/// verifying the snapshot's state file and with starting the first QEMU.
final class SealedRAMSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var made: SealedRAM?

    /// The copy, started now unless it was before. A failure to start it is
    /// not remembered: the next call tries again.
    func get(_ make: () throws -> SealedRAM) throws -> SealedRAM {
        lock.lock(); defer { lock.unlock() }
        if let made { return made }
        let ram = try make()
        made = ram
        return ram
    }
}

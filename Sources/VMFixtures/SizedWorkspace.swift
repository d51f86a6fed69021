import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A workspace directory that is its own tmpfs of a fixed size, owned by the
/// sandbox's user: a disk fill inside ends at its size (ENOSPC), and the
/// host's filesystems never see it. The host reads and writes it at `path`.
final class SizedWorkspace: @unchecked Sendable {
    let path: String
    private var cleanupToken: Int?
    private let lock = NSLock()

    init(path: String, sizeMB: Int, owner: UInt32) throws {
        self.path = path
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw VMError("cannot create the workspace \(path): \(String(cString: strerror(errno)))")
        }
        let options = "size=\(sizeMB)m,mode=0755,uid=\(owner),gid=\(owner)"
        // MS_NOSUID | MS_NODEV: nothing in the workspace gains privileges.
        guard mount("tmpfs", path, "tmpfs", 2 | 4, options) == 0 else {
            throw VMError("cannot mount a \(sizeMB) MB tmpfs at \(path): \(String(cString: strerror(errno)))",
                          fix: "run as root (the jailed process backend mounts each workspace)")
        }
        let captured = path
        cleanupToken = ProcessRegistry.shared.addCleanup { _ = umount2(captured, 2) }
    }

    /// Unmounts it (lazily: a process still holding it cannot keep it alive).
    func unmount() {
        lock.lock(); defer { lock.unlock() }
        if let t = cleanupToken { ProcessRegistry.shared.removeCleanup(t); cleanupToken = nil }
        _ = umount2(path, 2)  // MNT_DETACH
    }
}

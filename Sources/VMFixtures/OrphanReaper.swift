import Foundation
import LGSettings
#if canImport(Glibc)
import Glibc
#endif

/// VMs whose harness was killed outright (SIGKILL, a crash) cannot be ended
/// by it. Their directories carry the owner's pid (`lgvm-PID.XXXXXX`), so the
/// next run finds directories whose owner is gone, ends the VMMs still using
/// them, and removes them.
public enum OrphanReaper {
    public struct Reaped: Sendable, Equatable {
        public var directories: [String]
        public var processes: [Int32]
    }

    @discardableResult
    public static func reap(in base: String = Settings.shared.runDirectory,
                            log: (String) -> Void = { _ in }) -> Reaped {
        var out = Reaped(directories: [], processes: [])
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        let stale = entries.filter { name in
            guard name.hasPrefix("lgvm-"), let dot = name.firstIndex(of: "."),
                  let owner = Int32(name[name.index(name.startIndex, offsetBy: 5)..<dot]) else { return false }
            return owner != getpid() && kill(owner, 0) != 0 && errno == ESRCH
        }.map { base + "/" + $0 }
        guard !stale.isEmpty else { return out }
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
        for dir in stale {
            for pid in procs {
                let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
                guard comm.hasPrefix("qemu-system") || comm.hasPrefix("firecracker") else { continue }
                let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                if cmd.contains(dir + "/") {
                    kill(pid, SIGKILL)
                    out.processes.append(pid)
                }
            }
            try? FileManager.default.removeItem(atPath: dir)
            out.directories.append(dir)
        }
        log("[lgperf] cleaned up after an earlier run that was killed: ended \(out.processes.count) VM(s), removed \(out.directories.count) director\(out.directories.count == 1 ? "y" : "ies")")
        return out
    }
}

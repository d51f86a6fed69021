import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A harness killed outright (SIGKILL, a crash) leaves its jails' cgroups
/// and workspace mounts behind (their processes die with it: parent-death
/// signal, pid namespace). Their names carry the owner's pid
/// (`lg-proc-PID.XXXXXX`, `lgvm-PID.XXXXXX`); the next jailed spawn removes
/// those whose owner is gone.
enum JailReaper {
    /// The owner's pid in a sandbox directory's name, if it is one of ours.
    static func owner(of name: String) -> Int32? {
        for prefix in ["lg-proc-", "lgvm-"] where name.hasPrefix(prefix) {
            guard let dot = name.firstIndex(of: ".") else { return nil }
            return Int32(name[name.index(name.startIndex, offsetBy: prefix.count)..<dot])
        }
        return nil
    }

    static func ownerIsGone(_ name: String) -> Bool {
        guard let pid = owner(of: name), pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    static func reap() {
        let groups = SandboxCgroup.controllers.flatMap { c in
            (try? FileManager.default.contentsOfDirectory(atPath: SandboxCgroup.parentDirectories[c]!)) ?? []
        }
        for name in Set(groups) where ownerIsGone(name) { SandboxCgroup.removeGroups(name) }
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 2, fields[0] == "tmpfs" else { continue }
            let point = String(fields[1])
            // .../lg-proc-PID.XXXXXX/workspace
            guard point.hasSuffix("/workspace") else { continue }
            let dir = (point as NSString).deletingLastPathComponent
            if ownerIsGone((dir as NSString).lastPathComponent) {
                _ = umount2(point, 2)
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
    }
}

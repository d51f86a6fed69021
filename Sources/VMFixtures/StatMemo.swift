import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A value worked out from some files (by a script or a process), kept on
/// disk with the `stat` of every file it came from, and good while none of
/// them changed: stating a few paths costs microseconds where the work costs
/// tens of milliseconds before every sandbox of a fresh process.
/// Used for the guest image's lookup (its inputs: the files, the directories
/// they are found in, the stat-only inputs), QEMU's version (its binary) and
/// the host's TSC rate (no files: the boot id is the subject).
struct StatMemo: Codable, Equatable {
    /// One path and its identity: device, inode, size, mtime and ctime in
    /// nanoseconds (ctime changes on any write, even one that restores the
    /// mtime; a directory's on any file added, removed or renamed in it).
    struct Entry: Codable, Equatable {
        var path: String
        var stat: [Int64]
    }

    /// What the value is for (a checkout's root, a binary's path): a memo for
    /// another subject is not used.
    var subject: String
    var value: String
    var entries: [Entry]

    static func identity(of path: String) -> [Int64]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        func ns(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }
        return [Int64(st.st_dev), Int64(st.st_ino), Int64(st.st_size), ns(st.st_mtim), ns(st.st_ctim)]
    }

    /// The entries for `paths` now; nil if one cannot be stat'ed (nothing is
    /// remembered about a missing file).
    static func entries(_ paths: [String]) -> [Entry]? {
        var out: [Entry] = []
        for p in paths {
            guard let s = identity(of: p) else { return nil }
            out.append(Entry(path: p, stat: s))
        }
        return out
    }

    /// True while every file is as it was when the memo was written (a memo
    /// of no files holds while its subject is the same: a boot id).
    var isCurrent: Bool {
        entries.allSatisfy { Self.identity(of: $0.path) == $0.stat }
    }

    /// The memo's file: `<cache>/memo/<kind>-<hash of subject>.json`.
    static func path(cache: String, kind: String, subject: String) -> String {
        // FNV-1a: a short, stable file name.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in subject.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "\(cache)/memo/\(kind)-\(String(h, radix: 16)).json"
    }

    /// The remembered value, if the memo at `path` is for `subject` and current.
    static func value(at path: String, subject: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path),
              let memo = try? JSONDecoder().decode(StatMemo.self, from: data),
              memo.subject == subject, memo.isCurrent else { return nil }
        return memo.value
    }

    /// Written atomically; a memo that cannot be written only costs the next
    /// process the work again.
    func save(_ path: String) {
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard let data = try? JSONEncoder().encode(self) else { return }
        try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

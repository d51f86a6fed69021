import Foundation
import Testing
import AgentProtocol
import HostProbes
import LGSettings
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

@Suite struct PoolSettingsTests {
    @Test func defaultsFromTheGuide() throws {
        let s = PoolSettings(try Settings.load(environment: ["LUMINAGUARD_SNAPSHOT_PATH": NSTemporaryDirectory() + "lg-snap-defaults"]))
        #expect(s.size == 5 && s.refreshSeconds == 3600)
    }

    @Test(arguments: [("LUMINAGUARD_POOL_SIZE", "0"), ("LUMINAGUARD_POOL_SIZE", "21"), ("LUMINAGUARD_POOL_SIZE", "five"),
                      ("LUMINAGUARD_SNAPSHOT_REFRESH_SECS", "59"), ("LUMINAGUARD_SNAPSHOT_REFRESH_SECS", "-1")])
    func outOfRangeValuesNameTheVariableAndRange(name: String, value: String) {
        #expect { PoolSettings(try Settings.load(environment: [name: value])) } throws: { error in
            let text = "\(error)"
            return text.contains("\(name)=\(value)") && (text.contains("from 1 to 20") || text.contains("from 60 to"))
        }
    }

    @Test func anUnwritableSnapshotPathFallsBackWithANotice() throws {
        // A path under a regular file can never be created, even by root.
        let file = NSTemporaryDirectory() + "lg-not-a-dir-\(getpid())"
        FileManager.default.createFile(atPath: file, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: file) }
        let s = PoolSettings(try Settings.load(environment: ["LUMINAGUARD_SNAPSHOT_PATH": file + "/snapshots"]))
        #expect(s.snapshotPath.hasPrefix(ProjectPaths.cacheDirectory))
        #expect(s.notice?.contains("not writable") == true)
    }
}

/// Real snapshots of real guests.
@Suite(.serialized) struct SnapshotPoolTests {
    let backend: QEMUBackend
    let dir: TempDirectory

    init() throws {
        backend = try BackendChoice.qemu()
        dir = try TempDirectory(prefix: "lgsnap")
    }

    func settings(size: Int = 2) -> PoolSettings {
        PoolSettings(size: size, refreshSeconds: 3600, snapshotPath: dir.path, notice: nil)
    }

    @Test func snapshotRestoresToAnAnsweringAgent() throws {
        defer { dir.remove() }
        let store = SnapshotStore(root: dir.path, backend: backend)
        #expect(throws: SnapshotError.self) { try store.load() }
        let snap = try store.create()
        #expect(snap.manifest.identity == store.identity && snap.manifest.stateBytes > 1 << 20)
        let vm = try store.restore(try store.load())
        defer { vm.shutdown() }
        #expect(vm.timings.path == "restore")
        // State from before the snapshot survives: the agent's workspace exists and answers.
        #expect(try vm.session.call(.executeCommand, ["command": .string("echo restored")])["stdout"]?.string == "restored\n")
    }

    @Test func aCorruptedSnapshotIsDetectedAndRebuilt() throws {
        defer { dir.remove() }
        let store = SnapshotStore(root: dir.path, backend: backend)
        let first = try store.create()
        // Flip bytes in the middle of the state file, keeping its size.
        let h = try #require(FileHandle(forUpdatingAtPath: first.statePath))
        try h.seek(toOffset: UInt64(first.manifest.stateBytes / 2))
        h.write(Data(repeating: 0xA5, count: 4096))
        try h.close()
        #expect { try store.load() } throws: { ($0 as? SnapshotError).map { if case .corrupt = $0 { true } else { false } } ?? false }
        // The pool reports it and rebuilds; it never loads the corrupt file.
        let pool = VMPool(backend: backend, settings: settings(size: 1))
        defer { pool.shutdown() }
        try pool.warmup()
        #expect(pool.stats().snapshotRebuilds.first?.contains("SHA-256") == true)
        #expect(try store.load().manifest.created > first.manifest.created)
        let out = try pool.checkout()
        #expect(out.path == "pool")
        pool.release(out.vm)
    }

    @Test func aSnapshotFromAnotherImageIsNotLoaded() throws {
        defer { dir.remove() }
        let store = SnapshotStore(root: dir.path, backend: backend)
        let snap = try store.create()
        // Rewrite the manifest as if made from another guest image.
        let path = store.directory + "/snapshot.json"
        var m = snap.manifest
        m.identity.imageKey = "0123456789abcdef"
        let enc = JSONEncoder(); enc.dateEncodingStrategy = .iso8601
        try enc.encode(m).write(to: URL(fileURLWithPath: path))
        #expect { try store.load() } throws: { "\($0)".contains("guest image 0123456789abcdef") }
        let (fresh, why) = try store.loadOrCreate(maxAge: nil)
        #expect(why?.contains("does not match") == true)
        #expect(fresh.manifest.identity.imageKey == backend.image.key)
    }

    @Test func aTruncatedOrMissingStateFileIsCorrupt() throws {
        defer { dir.remove() }
        let store = SnapshotStore(root: dir.path, backend: backend)
        let snap = try store.create()
        try FileHandle(forWritingAtPath: snap.statePath)!.truncate(atOffset: 1000)
        #expect { try store.load() } throws: { "\($0)".contains("truncated") }
        try FileManager.default.removeItem(atPath: snap.statePath)
        #expect { try store.load() } throws: { "\($0)".contains("missing") }
        try "{not json".write(toFile: store.directory + "/snapshot.json", atomically: true, encoding: .utf8)
        #expect { try store.load() } throws: { "\($0)".contains("unreadable") }
    }

    @Test func shuttingThePoolDownEndsEveryPooledVM() throws {
        defer { dir.remove() }
        let pool = VMPool(backend: backend, settings: settings(size: 3))
        try pool.warmup()
        let pids = pool.readyPIDs
        #expect(pids.count == 3)
        let out = try pool.checkout()
        #expect(out.path == "pool" && out.readyMs < 50)
        pool.release(out.vm)
        pool.shutdown()
        pool.shutdown()
        for p in pids { #expect(kill(p, 0) != 0, "pooled VM \(p) outlived the pool") }
        #expect(throws: VMError.self) { try pool.checkout() }
    }

    @Test func anEmptyPoolFallsBackToRestoreAndSaysSo() throws {
        defer { dir.remove() }
        let pool = VMPool(backend: backend, settings: settings(size: 1))
        defer { pool.shutdown() }
        try pool.warmup()
        let a = try pool.checkout()          // the one pooled VM
        let b = try pool.checkout()          // pool empty (refill under way or not): restore on the spot
        #expect(a.path == "pool")
        #expect(b.path == "restore" || b.path == "pool")
        pool.release(a.vm); pool.release(b.vm)
        pool.waitForRefills()
        let s = pool.stats()
        #expect(s.hits + s.misses == 2 && s.inUse == 0)
    }
}

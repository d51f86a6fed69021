import Foundation
import LGSettings
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// What a snapshot was made from. A snapshot is used only when every field
/// matches the backend that would restore it.
public struct SnapshotIdentity: Codable, Equatable, Sendable {
    public var imageKey: String
    public var qemuVersion: String
    public var accelerator: String
    public var memoryMB: Int
    /// The QEMU command line's device and machine part (paths excluded).
    public var machine: String

    enum CodingKeys: String, CodingKey {
        case imageKey = "image_key", qemuVersion = "qemu_version", accelerator, memoryMB = "memory_mb", machine
    }

    /// `template`: guest RAM in a memory-backend-file (the machine string says so).
    public static func of(_ backend: QEMUBackend, memoryMB: Int, template: Bool = false) -> SnapshotIdentity {
        let args = backend.arguments(directory: "DIR", memoryMB: memoryMB,
                                     ramFile: template ? RAMFile(path: "DIR/ram.bin", shared: false) : nil)
            .filter { !$0.hasPrefix(backend.image.kernel) && !$0.hasPrefix(backend.image.initramfs) }
        return SnapshotIdentity(imageKey: backend.image.key, qemuVersion: QEMUVersion.of(backend.qemuPath),
                                accelerator: backend.accelerator.rawValue, memoryMB: memoryMB, machine: args.joined(separator: " "))
    }

    /// The first field that differs, for the message.
    public func mismatch(with other: SnapshotIdentity) -> String? {
        if imageKey != other.imageKey { return "it was made from guest image \(imageKey), this run uses \(other.imageKey)" }
        if qemuVersion != other.qemuVersion { return "it was made by \(qemuVersion), this run uses \(other.qemuVersion)" }
        if accelerator != other.accelerator { return "it was made under \(accelerator), this run uses \(other.accelerator)" }
        if memoryMB != other.memoryMB { return "it was made with \(memoryMB) MB of guest memory, this run uses \(other.memoryMB) MB" }
        if machine != other.machine { return "it was made with a different QEMU machine or devices" }
        return nil
    }
}

enum QEMUVersion {
    private static let cache = Once<String>()
    /// `qemu --version`'s first line; remembered (``StatMemo``) while the
    /// binary is unchanged: running it costs 15-40 ms per process.
    static func of(_ path: String) -> String {
        (try? cache.get {
            let memoPath = StatMemo.path(cache: ProjectPaths.cacheDirectory, kind: "qemu-version", subject: path)
            if let v = StatMemo.value(at: memoPath, subject: path) { return v }
            let before = StatMemo.entries([path])
            let v = try run(path)
            if let before, v != "unknown", StatMemo.entries([path]) == before {
                StatMemo(subject: path, value: v, entries: before).save(memoPath)
            }
            return v
        }) ?? "unknown"
    }

    private static func run(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--version"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: d, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "unknown"
    }
}

public struct SnapshotManifest: Codable, Equatable, Sendable {
    public static let format = 1
    public var format: Int
    public var identity: SnapshotIdentity
    public var created: Date
    public var stateBytes: Int
    public var stateSHA256: String
    /// The agent's readiness announcement before the snapshot.
    public var helloJSON: String
    public var saveMs: Double
    /// `template` (device state only; guest RAM in `ram.bin`) or nil (full:
    /// the whole RAM in the state file).
    public var strategy: String?
    /// The template's RAM file as it was when the template was saved.
    public var ram: RAMFileRecord?

    enum CodingKeys: String, CodingKey {
        case format, identity, created
        case stateBytes = "state_bytes", stateSHA256 = "state_sha256", helloJSON = "hello", saveMs = "save_ms"
        case strategy, ram
    }
}

/// Size, mtime and inode of a template's RAM file: any change (removed,
/// rewritten, replaced) makes the template unusable.
public struct RAMFileRecord: Codable, Equatable, Sendable {
    public var bytes: Int64
    public var mtimeSec: Int
    public var mtimeNsec: Int
    public var inode: UInt64

    enum CodingKeys: String, CodingKey {
        case bytes, mtimeSec = "mtime_sec", mtimeNsec = "mtime_nsec", inode
    }

    init(_ f: FileFingerprint) { bytes = f.size; mtimeSec = f.mtime; mtimeNsec = f.mtimeNs; inode = f.inode }
    var fingerprint: FileFingerprint { FileFingerprint(size: bytes, mtime: mtimeSec, mtimeNs: mtimeNsec, inode: inode) }
}

/// A snapshot on disk whose contents were checked: restore it with `restore`.
public struct Snapshot: Sendable {
    public let directory: String
    public let manifest: SnapshotManifest
    public var statePath: String { directory + "/state.bin" }
    /// A template's guest RAM (mapped copy-on-write by each restored VM).
    public var ramPath: String { directory + "/ram.bin" }
    public var isTemplate: Bool { manifest.strategy == "template" }
    public var age: TimeInterval { Date().timeIntervalSince(manifest.created) }
    /// (size, mtime, inode) when the contents were last hashed: a cheap check
    /// before each restore that the file is still the verified one.
    let fingerprint: FileFingerprint
    /// The same for a template's RAM file.
    var ramFingerprint: FileFingerprint?
    /// A template's RAM as a sealed memfd, made once for jailed restores.
    var sealedSlot = SealedRAMSlot()

    /// The template's RAM as a sealed in-memory copy (made once, then
    /// shared): what a jailed QEMU maps.
    public func sealedRAM() throws -> SealedRAM {
        guard isTemplate else { throw VMError("a full snapshot has no RAM file") }
        return try sealedSlot.get(Self.sealer(ramPath, manifest.identity.memoryMB, ramFingerprint))
    }

    static func sealer(_ path: String, _ memoryMB: Int, _ fingerprint: FileFingerprint?) -> @Sendable () throws -> SealedRAM {
        { try SealedRAM(copying: path, size: Int64(memoryMB) << 20, fingerprint: fingerprint) }
    }

    public var hello: AgentHello {
        (try? JSON.parse(manifest.helloJSON)).flatMap(AgentHello.init)
            ?? AgentHello(uptimeAtStartMs: 0, agentUptimeMs: 0, pid: 1, mode: "vm", version: "?", isolation: [], workspace: "/workspace")
    }
}

struct FileFingerprint: Equatable, Sendable {
    let size: Int64, mtime: Int, mtimeNs: Int, inode: UInt64
    static func of(_ path: String) -> FileFingerprint? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileFingerprint(st)
    }
    /// Of an open file: what a VM handed the descriptor will read.
    static func of(fd: Int32) -> FileFingerprint? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return FileFingerprint(st)
    }
    init(size: Int64, mtime: Int, mtimeNs: Int, inode: UInt64) { self.size = size; self.mtime = mtime; self.mtimeNs = mtimeNs; self.inode = inode }
    init(_ st: stat) { self.init(size: Int64(st.st_size), mtime: st.st_mtim.tv_sec, mtimeNs: st.st_mtim.tv_nsec, inode: UInt64(st.st_ino)) }
}

public enum SnapshotError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case corrupt(String)
    case mismatched(String)
    case stale(String)

    public var description: String {
        switch self {
        case .missing(let s): return "no snapshot: \(s)"
        case .corrupt(let s): return "snapshot is corrupt: \(s)"
        case .mismatched(let s): return "snapshot does not match this run: \(s)"
        case .stale(let s): return "snapshot is stale: \(s)"
        }
    }
}

/// Snapshots of a booted, agent-ready guest (QEMU: stop + migrate to a file;
/// restore with -incoming + cont), stored under LUMINAGUARD_SNAPSHOT_PATH.
public struct SnapshotStore: Sendable {
    public let root: String
    public let backend: QEMUBackend
    public let memoryMB: Int
    /// A template (device state only, RAM in a shared file restored
    /// copy-on-write) rather than a full snapshot.
    public let template: Bool
    /// The admission control its VMs pass (nil: `Admission.shared`).
    public var admission: Admission?
    /// The memory cgroup its restored VMs' VMMs join (nil: the harness's own).
    public var memoryCgroup: MemoryCgroup?

    public init(root: String, backend: QEMUBackend, memoryMB: Int = 128, template: Bool = false) {
        self.root = root; self.backend = backend; self.memoryMB = memoryMB; self.template = template
    }

    /// `template` or `full`: the label its restores carry in metrics.
    public var strategy: String { template ? "template" : "full" }
    public var identity: SnapshotIdentity { .of(backend, memoryMB: memoryMB, template: template) }
    /// One slot per image, accelerator, memory size and kind.
    public var directory: String {
        "\(root)/\(backend.image.key)-\(backend.accelerator.rawValue)-\(memoryMB)m" + (template ? "-template" : "")
    }

    /// Loads and checks the snapshot: manifest readable, made from this image,
    /// QEMU and machine, state file of the recorded size and SHA-256, and not
    /// older than `maxAge`. Any failure says which.
    public func load(maxAge: TimeInterval? = nil) throws -> Snapshot {
        let manifestPath = directory + "/snapshot.json"
        guard let data = FileManager.default.contents(atPath: manifestPath) else { throw SnapshotError.missing(manifestPath) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let m: SnapshotManifest
        do { m = try decoder.decode(SnapshotManifest.self, from: data) } catch {
            throw SnapshotError.corrupt("\(manifestPath) is unreadable: \(error)")
        }
        guard m.format == SnapshotManifest.format else { throw SnapshotError.mismatched("format \(m.format), expected \(SnapshotManifest.format)") }
        if let why = m.identity.mismatch(with: identity) { throw SnapshotError.mismatched(why) }
        guard (m.strategy == "template") == template else {
            throw SnapshotError.mismatched("it is a \(m.strategy ?? "full") snapshot, this store holds \(strategy) snapshots")
        }
        var ram: FileFingerprint?
        if template {
            let path = directory + "/ram.bin"
            guard let record = m.ram else { throw SnapshotError.corrupt("\(manifestPath) records no RAM file") }
            guard let now = FileFingerprint.of(path) else { throw SnapshotError.corrupt("the template's RAM file \(path) is missing") }
            guard now == record.fingerprint else {
                throw SnapshotError.corrupt("the template's RAM file \(path) changed since the template was made (size, mtime or inode)")
            }
            ram = now
        }
        // A jailed store restores from a sealed copy of the RAM: start it
        // now; it fills while the state file is checked and QEMU starts.
        let slot = SealedRAMSlot()
        if template, backend.jail != nil { _ = try? slot.get(Snapshot.sealer(directory + "/ram.bin", memoryMB, ram)) }
        let state = directory + "/state.bin"
        guard let before = FileFingerprint.of(state) else { throw SnapshotError.corrupt("\(state) is missing") }
        guard before.size == m.stateBytes else {
            throw SnapshotError.corrupt("\(state) has \(before.size) bytes, the manifest says \(m.stateBytes) (truncated?)")
        }
        let hash = try Self.rememberedSHA256(state)
        guard hash == m.stateSHA256 else { throw SnapshotError.corrupt("\(state) does not match its recorded SHA-256") }
        if let maxAge, Date().timeIntervalSince(m.created) > maxAge {
            throw SnapshotError.stale("made \(Int(Date().timeIntervalSince(m.created))) s ago, refresh interval \(Int(maxAge)) s")
        }
        return Snapshot(directory: directory, manifest: m, fingerprint: before, ramFingerprint: ram, sealedSlot: slot)
    }

    /// Boots a guest cold, waits for its agent, saves it, and installs the
    /// snapshot atomically (a new directory renamed over the old one).
    @discardableResult
    public func create(readyTimeout: Double = Settings.shared.readyTimeoutSeconds) throws -> Snapshot {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let staging = "\(directory).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var installed = false
        defer { if !installed { try? FileManager.default.removeItem(atPath: staging) } }
        let ramPath = staging + "/ram.bin"
        // The guest saved boots our own image and runs no sandbox work
        // before it is saved; its QEMU writes the template's RAM file and
        // saves through exec:, so it is never jailed.
        var maker = backend
        maker.jail = nil
        let vm = try maker.spawn(SpawnOptions(readyTimeout: readyTimeout, memoryMB: memoryMB, admission: admission,
                                                ramFile: template ? RAMFile(path: ramPath, shared: true) : nil))
        var ended = false
        defer { if !ended { vm.shutdown() } }
        guard let q = vm as? QEMUSandbox, let qmp = q.qmp else { throw VMError("the VM has no QMP channel to save it through") }
        let state = staging + "/state.bin"
        let t0 = Monotonic.nanos()
        // A template's RAM stays in its file: only device state is migrated.
        if template { try Self.ignoreShared(qmp) }
        try qmp.execute("stop")
        try qmp.execute("migrate", ["uri": .string("exec:cat > '\(state)'")])
        let deadline = Monotonic.nanos() + 120_000_000_000
        while true {
            let status = try qmp.execute("query-migrate")["status"]?.string ?? "none"
            if status == "completed" { break }
            if status == "failed" || status == "cancelled" { throw VMError("saving the snapshot failed (migration \(status))") }
            guard Monotonic.nanos() < deadline else { throw VMError("saving the snapshot did not finish within 120 s") }
            usleep(2000)
        }
        let saveMs = Double(Monotonic.nanos() - t0) / 1e6
        let size = (try FileManager.default.attributesOfItem(atPath: state)[.size] as? Int) ?? 0
        guard size > 0 else { throw VMError("the snapshot state file is empty") }
        let hello = vm.session.hello.json.serialized()
        var ramRecord: RAMFileRecord?
        if template {
            // The template VM must be gone before its RAM file is fingerprinted:
            // nothing writes to the file after this.
            vm.shutdown(); ended = true
            guard let fp = FileFingerprint.of(ramPath), fp.size == Int64(memoryMB) << 20 else {
                throw VMError("the template's RAM file \(ramPath) is missing or not \(memoryMB) MB")
            }
            ramRecord = RAMFileRecord(fp)
        }
        let manifest = SnapshotManifest(format: SnapshotManifest.format, identity: identity, created: Date(), stateBytes: size,
                                        stateSHA256: try Self.sha256(state), helloJSON: hello, saveMs: saveMs,
                                        strategy: template ? "template" : nil, ram: ramRecord)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: staging + "/snapshot.json"), options: .atomic)
        // Swap in: the old slot (if any) moves aside, then goes.
        let old = "\(directory).old-\(getpid())"
        if FileManager.default.fileExists(atPath: directory) { try FileManager.default.moveItem(atPath: directory, toPath: old) }
        try FileManager.default.moveItem(atPath: staging, toPath: directory)
        installed = true
        try? FileManager.default.removeItem(atPath: old)
        guard let fp = FileFingerprint.of(directory + "/state.bin") else { throw VMError("the snapshot vanished after saving") }
        return Snapshot(directory: directory, manifest: manifest, fingerprint: fp, ramFingerprint: ramRecord?.fingerprint)
    }

    /// The usable snapshot: loaded if valid, else (re)built, saying why.
    public func loadOrCreate(maxAge: TimeInterval?, log: (String) -> Void = { _ in }) throws -> (Snapshot, rebuilt: String?) {
        do { return (try load(maxAge: maxAge), nil) } catch let e as SnapshotError {
            log("[pool] \(e); building a new snapshot")
            return (try create(), e.description)
        }
    }

    /// Restores a new VM from `snapshot`: ready when its agent answers a ping.
    /// The state file is opened here and handed to QEMU as a descriptor
    /// (`migrate-incoming fd:N`): QEMU reads exactly the verified file, and
    /// needs neither a path to it nor `exec:` (a jailed QEMU may spawn
    /// nothing). A template's RAM is its file mapped copy-on-write, or, for
    /// a jailed QEMU, the sealed in-memory copy of it (``SealedRAM``).
    /// `-incoming defer`: the capabilities are set before the stream starts
    /// (with `-incoming` and a URI on the command line the stream started
    /// first, and ~4 templated restores in 10 failed).
    public func restore(_ snapshot: Snapshot, readyTimeout: Double = Settings.shared.readyTimeoutSeconds) throws -> any SandboxVM {
        let snapshot = replacement(of: snapshot) ?? snapshot
        let state = open(snapshot.statePath, O_RDONLY | O_CLOEXEC)
        guard state >= 0 else {
            throw SnapshotError.corrupt("cannot open \(snapshot.statePath): \(String(cString: strerror(errno)))")
        }
        defer { close(state) }
        // Cheap check that the file is still the one whose hash was verified.
        guard FileFingerprint.of(fd: state) == snapshot.fingerprint else {
            throw SnapshotError.corrupt("\(snapshot.statePath) changed since it was verified")
        }
        var ramFile: RAMFile?
        if snapshot.isTemplate {
            guard let ram = snapshot.ramFingerprint, FileFingerprint.of(snapshot.ramPath) == ram else {
                throw SnapshotError.corrupt("the template's RAM file \(snapshot.ramPath) was removed or changed since it was verified")
            }
            ramFile = RAMFile(path: snapshot.ramPath, shared: false)
            // Jailed: QEMU starts while the copy may still be filling; the
            // stream starts only once it is complete and sealed.
            if backend.jail != nil { ramFile?.sealed = try snapshot.sealedRAM() }
        }
        let options = SpawnOptions(readyTimeout: readyTimeout, memoryMB: memoryMB, admission: admission, ramFile: ramFile,
                                   memoryCgroup: memoryCgroup)
        let template = snapshot.isTemplate
        return try backend.spawn(options, extraArguments: ["-incoming", "defer"], path: template ? "template" : "restore",
                                 afterStart: { [sealed = ramFile?.sealed] qmp in
                                     if let sealed, let why = sealed.problem { throw SnapshotError.corrupt(why) }
                                     // A template's RAM stays in its file: only device state comes in.
                                     if template { try Self.ignoreShared(qmp) }
                                     try qmp.execute("migrate-incoming", ["uri": .string("fd:\(QEMUBackend.incomingStateFD)")])
                                     let deadline = Monotonic.nanos() + UInt64(readyTimeout * 1e9)
                                     while try qmp.execute("query-status")["status"]?.string == "inmigrate" {
                                         if try qmp.execute("query-migrate")["status"]?.string == "failed" {
                                             throw VMError("loading the snapshot's \(template ? "device state" : "state") failed")
                                         }
                                         guard Monotonic.nanos() < deadline else { throw VMError("loading the snapshot did not finish") }
                                         usleep(500)
                                     }
                                     // The guest was paused when saved: resume it once the state is in.
                                     try qmp.execute("cont")
                                 }, restoredHello: snapshot.hello, incomingState: state)
    }

    /// The snapshot that replaced `snapshot` in this store's directory (a
    /// refresh by the pool, this process's or another's, installs a new one
    /// and removes the old files), verified as any load is; nil while
    /// `snapshot`'s own files are in place, or when what is there now does
    /// not verify (a file changed in place is corruption, reported by the
    /// restore's own checks).
    func replacement(of snapshot: Snapshot) -> Snapshot? {
        let inPlace = FileFingerprint.of(snapshot.statePath) == snapshot.fingerprint
            && (!snapshot.isTemplate || FileFingerprint.of(snapshot.ramPath) == snapshot.ramFingerprint)
        guard !inPlace, let now = try? load(maxAge: nil), now.fingerprint != snapshot.fingerprint else { return nil }
        return now
    }

    static func ignoreShared(_ qmp: QMPClient) throws {
        try qmp.execute("migrate-set-capabilities", ["capabilities": .array([
            .object(["capability": .string("x-ignore-shared"), "state": .bool(true)]),
        ])])
    }

    /// `path`'s SHA-256, remembered against its stat (``StatMemo``: device,
    /// inode, size, mtime, ctime): a fresh process (each `lgperf mcp-server`)
    /// does not hash again a state file nobody has written since it was
    /// hashed, and any write, even one that puts the mtime back, moves the
    /// ctime and makes it hash again. The hash is remembered only if the
    /// file's stat was the same before and after hashing.
    static func rememberedSHA256(_ path: String, cache: String = ProjectPaths.cacheDirectory) throws -> String {
        let memo = StatMemo.path(cache: cache, kind: "sha256", subject: path)
        if let known = StatMemo.value(at: memo, subject: path) { return known }
        let before = StatMemo.entries([path])
        let hash = try sha256(path)
        if let before, StatMemo.entries([path]) == before { StatMemo(subject: path, value: hash, entries: before).save(memo) }
        return hash
    }

    static func sha256(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let hash = String(decoding: d, as: UTF8.self).split(separator: " ").first else {
            throw SnapshotError.corrupt("cannot hash \(path)")
        }
        return String(hash)
    }
}

import Foundation
import LGSettings
#if canImport(Glibc)
import Glibc
#endif

/// The guest image: an uncompressed vmlinux (PVH entry) and a newc initramfs
/// holding busybox and the guest agent, built and cached by
/// scripts/build-guest-image.sh.
public struct GuestImage: Sendable, Equatable {
    public let kernel: String
    public let initramfs: String
    /// Hash of the image's inputs (the cache key), or "custom".
    public let key: String
    /// The platform floor's initramfs (floor.cpio: busybox and an /init that
    /// only announces itself on the agent channel), booted with the same
    /// kernel and QEMU command line to calibrate emulated budgets. nil where
    /// the image has none (LUMINAGUARD_KERNEL/LUMINAGUARD_INITRD images, or an
    /// image built before the floor existed).
    public let floorInitramfs: String?

    public init(kernel: String, initramfs: String, key: String, floorInitramfs: String? = nil) {
        self.kernel = kernel; self.initramfs = initramfs; self.key = key; self.floorInitramfs = floorInitramfs
    }

    /// The image in a cache directory built by scripts/build-guest-image.sh
    /// (its floor initramfs if the directory holds one).
    static func inDirectory(_ dir: String, key: String) -> GuestImage {
        let floor = dir + "/floor.cpio"
        return GuestImage(kernel: dir + "/vmlinux", initramfs: dir + "/initramfs.cpio", key: key,
                          floorInitramfs: FileManager.default.fileExists(atPath: floor) ? floor : nil)
    }

    /// The image named by LUMINAGUARD_KERNEL + LUMINAGUARD_INITRD, else the
    /// cached image built from the current sources, found by the key of its
    /// inputs without compiling anything (``lookup()``). When none is built:
    /// with `build`, built once now (saying so); without, an error saying how.
    public static func resolve(build: Bool = true, progress: Bool = true) throws -> GuestImage {
        let settings = Settings.shared
        if let k = settings.kernel {
            guard let i = settings.initrd else {
                throw VMError("LUMINAGUARD_KERNEL is set but LUMINAGUARD_INITRD is not", fix: "set both, or neither to use the project's image")
            }
            let image = GuestImage(kernel: k, initramfs: i, key: "custom")
            try image.validate()
            return image
        }
        // Once per process is enough.
        return try resolvedOnce.get {
            if let found = try lookup() { return found }
            guard build else {
                throw VMError("no guest image is built for the current sources", fix: "lgperf image build   (or scripts/build-guest-image.sh)")
            }
            if progress {
                FileHandle.standardError.write(Data("[lgperf] no guest image is built for the current sources: building it once now (next time: lgperf image build)\n".utf8))
            }
            return try self.build(progress: progress)
        }
    }

    /// The image built from the current sources, if there is one: the build
    /// script's `--lookup` hashes the inputs (sources, /init, busybox, kernel
    /// recipe) and compiles nothing, so this costs milliseconds, not the
    /// seconds of a `swift build` of the guest agent. While no input
    /// (`--inputs`) changed since the last lookup in this checkout
    /// (``StatMemo``), not even the script runs.
    public static func lookup() throws -> GuestImage? {
        let root = ProjectPaths.root
        let memoPath = StatMemo.path(cache: ProjectPaths.cacheDirectory, kind: "image-lookup", subject: root)
        if let dir = StatMemo.value(at: memoPath, subject: root), let found = try? image(at: dir) {
            return found
        }
        // The inputs are stat'ed before and after the hashing: a file changed
        // meanwhile leaves no memo (its key may predate the change).
        let inputs = try runBuildScript(["--inputs"], showErrors: false)
        let before = inputs.status == 0 ? StatMemo.entries(inputs.lines) : nil
        let run = try runBuildScript(["--lookup"], showErrors: false)
        // 4: not built for these inputs; anything else is a broken set-up.
        if run.status == 4 { return nil }
        guard run.status == 0 else {
            throw VMError("looking up the guest image failed (scripts/build-guest-image.sh --lookup exited \(run.status))",
                          fix: "run scripts/build-guest-image.sh to see why")
        }
        let found = try image(at: run.lastLine)
        if let before, !before.isEmpty, StatMemo.entries(inputs.lines) == before {
            StatMemo(subject: root, value: run.lastLine, entries: before).save(memoPath)
        }
        return found
    }

    /// Runs scripts/build-guest-image.sh: its exit status and the last line it
    /// printed (the image directory, when it succeeds).
    private static func runBuildScript(_ arguments: [String], showErrors: Bool) throws -> (status: Int32, lines: [String], lastLine: String) {
        let script = ProjectPaths.root + "/scripts/build-guest-image.sh"
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw VMError("the image build script \(script) is missing", fix: "run from a checkout of the project, or set LUMINAGUARD_ROOT")
        }
        let out = Pipe()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script)
        p.arguments = arguments
        p.standardOutput = out
        p.standardError = showErrors ? FileHandle.standardError : FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        return (p.terminationStatus, lines, lines.last ?? "")
    }

    /// The image in a directory the build script named, checked.
    private static func image(at dir: String) throws -> GuestImage {
        let image = inDirectory(dir, key: (dir as NSString).lastPathComponent)
        try image.validate()
        return image
    }

    private static let resolvedOnce = Once<GuestImage>()

    /// The most recently built image, if any.
    public static func current() -> GuestImage? {
        let dir = ProjectPaths.cacheDirectory + "/image/current"
        guard let real = try? FileManager.default.destinationOfSymbolicLink(atPath: dir) else { return nil }
        let path = ProjectPaths.cacheDirectory + "/image/" + real
        guard FileManager.default.fileExists(atPath: path + "/manifest.json") else { return nil }
        return inDirectory(path, key: real)
    }

    /// Runs the build script (kernel build takes minutes the first time).
    public static func build(progress: Bool = true) throws -> GuestImage {
        if progress {
            FileHandle.standardError.write(Data("[lgperf] checking the guest image (a first build compiles a kernel: about 3-5 minutes on 2 cores)...\n".utf8))
        }
        let run = try runBuildScript([], showErrors: progress)
        guard run.status == 0 else {
            throw VMError("building the guest image failed (exit \(run.status))",
                          fix: "see the messages above; as root, scripts/install-deps.sh installs the Debian packages it needs")
        }
        return try image(at: run.lastLine)
    }

    /// Checks the files are what they claim to be: an ELF kernel and a newc
    /// cpio archive (and so is the floor initramfs, if the image has one), so
    /// a corrupt image fails here, not as a hung boot.
    public func validate() throws {
        func head(_ path: String, _ n: Int) throws -> [UInt8] {
            guard let h = FileHandle(forReadingAtPath: path) else {
                throw VMError("guest file \(path) does not exist or cannot be read",
                              fix: "lgperf image build   (or point LUMINAGUARD_KERNEL/LUMINAGUARD_INITRD at valid files)")
            }
            defer { try? h.close() }
            return [UInt8](h.readData(ofLength: n))
        }
        let k = try head(kernel, 4)
        guard k == [0x7F, 0x45, 0x4C, 0x46] else {
            throw VMError("guest kernel \(kernel) is not an ELF vmlinux (QEMU's microvm boots the uncompressed vmlinux via PVH)",
                          fix: "lgperf image build")
        }
        try Self.validateArchive(initramfs, what: "guest initramfs")
        if let floor = floorInitramfs { try Self.validateArchive(floor, what: "platform floor initramfs") }
    }

    /// A newc cpio archive that ends with its trailer.
    static func validateArchive(_ path: String, what: String) throws {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw VMError("\(what) \(path) does not exist or cannot be read",
                          fix: "lgperf image build   (or point LUMINAGUARD_KERNEL/LUMINAGUARD_INITRD at valid files)")
        }
        defer { try? h.close() }
        guard [UInt8](h.readData(ofLength: 6)) == Array("070701".utf8) else {
            throw VMError("\(what) \(path) is not a newc cpio archive (corrupt or truncated?)", fix: "lgperf image build")
        }
        // A truncated archive still starts well: it must end with the trailer.
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let tailLength = min(size, 2048)
        try? h.seek(toOffset: UInt64(size - tailLength))
        let tail = String(decoding: h.readData(ofLength: tailLength), as: UTF8.self)
        guard tail.contains("TRAILER!!!") else {
            throw VMError("\(what) \(path) is truncated (no cpio trailer)", fix: "lgperf image build")
        }
    }
}

/// A value computed once per process (errors are not cached).
final class Once<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func get(_ make: () throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        if let v = value { return v }
        let v = try make()
        value = v
        return v
    }
}

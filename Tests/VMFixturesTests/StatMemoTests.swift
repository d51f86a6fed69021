import Foundation
import Testing
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The memos a fresh process reads instead of running a script or a process
/// (image lookup, QEMU's version, the TSC rate): used only while every file
/// they came from is unchanged, and never in place of a working lookup.
@Suite(.serialized) struct StatMemoTests {
    @Test func aMemoHoldsUntilAFileOrADirectoryItCameFromChanges() throws {
        let dir = try TempDirectory(prefix: "lgmemo"), memos = try TempDirectory(prefix: "lgmemo")
        defer { dir.remove(); memos.remove() }
        // (The memo is kept outside the directory it lists: writing it there would change it.)
        let file = dir.path + "/input.txt", memoPath = memos.path + "/memo.json"
        try "abc".write(toFile: file, atomically: false, encoding: .utf8)
        let memo = StatMemo(subject: "s", value: "v", entries: try #require(StatMemo.entries([file, dir.path])))
        memo.save(memoPath)
        #expect(StatMemo.value(at: memoPath, subject: "s") == "v")
        #expect(StatMemo.value(at: memoPath, subject: "another checkout") == nil)

        // Same size, same content, mtime put back: the ctime still moves.
        var times = [timespec](repeating: timespec(), count: 2)
        var st = stat()
        stat(file, &st)
        times[0] = st.st_atim; times[1] = st.st_mtim
        try "abc".write(toFile: file, atomically: false, encoding: .utf8)
        utimensat(AT_FDCWD, file, times, 0)
        #expect(StatMemo.value(at: memoPath, subject: "s") == nil, "a rewritten input must end the memo")

        // A file added to a directory it lists.
        let fresh = StatMemo(subject: "s", value: "v", entries: try #require(StatMemo.entries([file, dir.path])))
        fresh.save(memoPath)
        #expect(StatMemo.value(at: memoPath, subject: "s") == "v")
        try "new".write(toFile: dir.path + "/added.swift", atomically: false, encoding: .utf8)
        #expect(StatMemo.value(at: memoPath, subject: "s") == nil, "a file added to an input directory must end the memo")

        // A missing file cannot be remembered; a corrupt memo is no memo.
        #expect(StatMemo.entries([dir.path + "/missing"]) == nil)
        try "{not json".write(toFile: memoPath, atomically: true, encoding: .utf8)
        #expect(StatMemo.value(at: memoPath, subject: "s") == nil)
    }

    @Test func theImageLookupIsRememberedAndForgottenWhenAnInputChanges() throws {
        guard let scripted = try GuestImage.lookup() else {
            Issue.record("no guest image is built for the current sources (scripts/build-guest-image.sh)")
            return
        }
        let root = ProjectPaths.root
        let memoPath = StatMemo.path(cache: ProjectPaths.cacheDirectory, kind: "image-lookup", subject: root)
        #expect(StatMemo.value(at: memoPath, subject: root) == (scripted.kernel as NSString).deletingLastPathComponent)
        #expect(try GuestImage.lookup() == scripted)

        // The list the memo stats is the script's own: it holds the agent's
        // sources, their directories and the script.
        let listed = try #require(StatMemo.load(memoPath)).entries.map(\.path)
        for p in ["/Sources/GuestAgent/main.swift", "/Sources/GuestAgent", "/Sources/AgentProtocol", "/scripts/build-guest-image.sh"] {
            #expect(listed.contains(root + p), "\(p) is not among the remembered inputs")
        }

        // Touching an input (its key is unchanged) ends the memo; the next
        // lookup runs the script and writes it again.
        let script = root + "/scripts/build-guest-image.sh"
        #expect(utimensat(AT_FDCWD, script, nil, 0) == 0)
        #expect(StatMemo.value(at: memoPath, subject: root) == nil)
        #expect(try GuestImage.lookup() == scripted)
        #expect(StatMemo.value(at: memoPath, subject: root) != nil)

        // A memo naming a directory that holds no image is not trusted: the
        // script finds the real one.
        StatMemo(subject: root, value: "/nonexistent/image", entries: []).save(memoPath)
        #expect(try GuestImage.lookup() == scripted)
    }

    @Test func qemusVersionAndTheTSCRateAreRememberedAsMeasured() throws {
        guard let qemu = ChildProcess.which("qemu-system-x86_64") else { return }
        let version = QEMUVersion.of(qemu)
        #expect(version.hasPrefix("QEMU emulator version"), "\(version)")
        let memoPath = StatMemo.path(cache: ProjectPaths.cacheDirectory, kind: "qemu-version", subject: qemu)
        #expect(StatMemo.value(at: memoPath, subject: qemu) == version)

        let measured = try #require(HostTSC.measure())
        #expect(HostTSC.kHz == HostTSC.remembered())
        // Rounded to whole MHz; a measurement now agrees to within 5 % (one
        // taken at half a core can be descheduled between its clock reads).
        let kHz = try #require(HostTSC.kHz)
        #expect(kHz % 1000 == 0)
        #expect(abs(Double(kHz - measured)) / Double(measured) < 0.05, "remembered \(kHz) kHz, measured now \(measured) kHz")
    }

    @Test func twoTSCMeasurementsEitherSideOfAHalfMHzAgreeOnOneRate() {
        // Rounded one by one these are 2445 and 2446 MHz: kept as one rate,
        // not dropped as a disagreement (fresh processes then flipped between
        // two kernel command lines, and so between two snapshot identities).
        #expect(HostTSC.agreed(2_445_499, 2_445_501) == 2_446_000)
        #expect(HostTSC.agreed(2_445_401, 2_445_450) == 2_445_000)
        // A sample taken while descheduled is off by far more than 0.1 %.
        #expect(HostTSC.agreed(2_445_500, 2_500_000) == nil)
        #expect(HostTSC.agreed(0, 2_445_500) == nil)
    }
}

extension StatMemo {
    static func load(_ path: String) -> StatMemo? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(StatMemo.self, from: $0) }
    }
}

extension StatMemoTests {
    /// A snapshot's state file is hashed once; a rewrite (same size, mtime
    /// put back) is hashed again and its new hash found.
    @Test func aStateFilesHashIsRememberedUntilTheFileIsWritten() throws {
        let dir = try TempDirectory(prefix: "lgmemo"), cache = try TempDirectory(prefix: "lgmemo")
        defer { dir.remove(); cache.remove() }
        let file = dir.path + "/state.bin"
        try "aaaa".write(toFile: file, atomically: false, encoding: .utf8)
        let first = try SnapshotStore.rememberedSHA256(file, cache: cache.path)
        let direct = try SnapshotStore.sha256(file)
        #expect(first == direct)
        let memo = StatMemo.path(cache: cache.path, kind: "sha256", subject: file)
        #expect(StatMemo.value(at: memo, subject: file) == first, "the hash must be remembered")
        let again = try SnapshotStore.rememberedSHA256(file, cache: cache.path)
        #expect(again == first)

        var st = stat()
        stat(file, &st)
        var times = [st.st_atim, st.st_mtim]
        try "bbbb".write(toFile: file, atomically: false, encoding: .utf8)
        utimensat(AT_FDCWD, file, &times, 0)
        let second = try SnapshotStore.rememberedSHA256(file, cache: cache.path), rehashed = try SnapshotStore.sha256(file)
        #expect(second != first && second == rehashed, "a rewritten file must be hashed again")
    }
}

import Foundation
import Testing
@testable import VMFixtures

/// What the guest image holds, read from the archive the kernel unpacks.
@Suite struct GuestImageTests {
    /// The entries of a newc cpio archive: name (without a leading ./), mode and contents.
    static func entries(of path: String) throws -> [(name: String, mode: UInt32, data: Data)] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        var out: [(String, UInt32, Data)] = []
        var at = 0
        func hex(_ field: Int) throws -> Int {
            let start = at + 6 + field * 8
            guard start + 8 <= bytes.count, let v = Int(String(decoding: bytes[start..<start + 8], as: UTF8.self), radix: 16) else {
                throw VMError("bad cpio header at \(at) in \(path)")
            }
            return v
        }
        func pad4(_ n: Int) -> Int { (n + 3) & ~3 }
        while at + 110 <= bytes.count {
            let mode = UInt32(try hex(1)), size = try hex(6), nameSize = try hex(11)
            var name = String(decoding: bytes[(at + 110)..<(at + 110 + nameSize - 1)], as: UTF8.self)
            if name.hasPrefix("./") { name.removeFirst(2) }
            if name == "TRAILER!!!" { break }
            let dataStart = pad4(at + 110 + nameSize)
            out.append((name, mode, bytes.subdata(in: dataStart..<dataStart + size)))
            at = pad4(dataStart + size)
        }
        return out
    }

    /// The ELF program header types of an executable.
    static func programHeaderTypes(_ elf: Data) -> [UInt32] {
        func u(_ off: Int, _ n: Int) -> Int { (0..<n).reduce(0) { $0 | Int(elf[elf.startIndex + off + $1]) << (8 * $1) } }
        let phoff = u(0x20, 8), size = u(0x36, 2), count = u(0x38, 2)
        return (0..<count).map { UInt32(u(phoff + $0 * size, 4)) }
    }

    /// The agent is a static executable (no dynamic loader, no relocation of
    /// shared libraries at every boot) and the image carries no shared
    /// libraries: the smaller archive and the loader's work were most of what
    /// a cold boot spent above the platform floor.
    @Test func theAgentIsStaticAndTheImageHasNoSharedLibraries() throws {
        let image = try GuestImage.resolve()
        try #require(image.key != "custom", "a LUMINAGUARD_KERNEL/LUMINAGUARD_INITRD image is not the project's")
        let entries = try Self.entries(of: image.initramfs)
        let names = entries.map(\.name)
        #expect(names.contains("init"))
        let libraries = names.filter { $0.hasPrefix("lib") || $0.contains(".so") }
        #expect(libraries.isEmpty, "shared libraries in the guest image: \(libraries)")
        let agent = try #require(entries.first { $0.name == "bin/lg-guest-agent" })
        #expect(agent.data.prefix(4) == Data([0x7F, 0x45, 0x4C, 0x46]))
        let types = Self.programHeaderTypes(agent.data)
        #expect(!types.isEmpty)
        #expect(!types.contains(3), "the agent has a PT_INTERP (dynamic loader) program header")
        #expect(!types.contains(2), "the agent has a PT_DYNAMIC program header")
        let initLink = try #require(entries.first { $0.name == "init" })
        #expect(initLink.mode & 0o170000 == 0o120000 && String(decoding: initLink.data, as: UTF8.self) == "bin/lg-guest-agent")
    }
}

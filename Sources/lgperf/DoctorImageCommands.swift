import ArgumentParser
import Foundation
import VMFixtures

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Say which backends can run here, and why the others cannot.")

    func run() throws {
        let survey = BackendChoice.survey()
        for b in survey {
            print("\(b.kind.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(b.usable ? "usable    " : "NOT usable") \(b.detail)")
            if let fix = b.fix, !b.usable { print(String(repeating: " ", count: 24) + "fix: \(fix)") }
        }
        do {
            let chosen = try BackendChoice.resolve(buildImage: false)
            print("default backend here: \(chosen.kind.rawValue) (\(chosen.accelerator.rawValue))")
        } catch {
            let qemuUsable = survey.contains { $0.kind == .qemu && $0.usable }
            print("default backend here: \(qemuUsable ? "qemu, once the guest image is built (lgperf image build)" : "none: \(error)")")
        }
    }
}

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image", abstract: "Build or inspect the guest image.",
                                                    subcommands: [Build.self, Status.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build the guest kernel and initramfs (cached by input hash).")
        func run() throws {
            let image = try GuestImage.build(progress: true)
            print("kernel:    \(image.kernel)\ninitramfs: \(image.initramfs)\nfloor:     \(image.floorInitramfs ?? "none")\nkey:       \(image.key)")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the image for the current sources is built, and where (compiles nothing).")
        func run() throws {
            print("cache: \(ProjectPaths.cacheDirectory)")
            guard let image = try GuestImage.lookup() else {
                print("guest image: not built for the current sources (lgperf image build)")
                if let last = GuestImage.current() { print("most recent build: \(last.key) (from other sources)") }
                throw ExitCode(1)
            }
            do {
                try image.validate()
                print("guest image: \(image.key) (valid)\nkernel:      \(image.kernel)\ninitramfs:   \(image.initramfs)\nfloor:       \(image.floorInitramfs ?? "none (rebuild with lgperf image build)")")
            } catch {
                print("guest image: \(image.key) is INVALID: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

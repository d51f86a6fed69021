import Foundation
import Testing
import AgentProtocol
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The jailed process backend's view of the world, as the issue lists it:
/// an unprivileged user, a read-only /usr, no /root or /etc/passwd, only
/// `lo`, private /tmp and /proc, the workspace at /workspace.
@Suite(.serialized) struct ProcessJailTests {
    func run(_ vm: any SandboxVM, _ command: String) throws -> String {
        let r = try vm.session.call(.executeCommand, ["command": .string(command)])
        return (r["stdout"]?.string ?? "") + (r["stderr"]?.string ?? "")
    }

    @Test func theJailShowsOnlyWhatAGuestWould() throws {
        let vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 20))
        defer { vm.shutdown() }
        #expect(vm.session.hello.workspace == "/workspace")
        #expect(try run(vm, "id -u; id -g") == "65534\n65534\n")
        #expect(try run(vm, "ls /root 2>&1; test -e /etc/passwd || echo no-passwd").contains("no-passwd"))
        #expect(try run(vm, "ls /root 2>&1").contains("No such file"))
        // Only the loopback interface (the two header lines, then lo).
        let dev = try run(vm, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
        #expect(dev == "lo\n", "\(dev)")
        #expect(try run(vm, "touch /usr/x 2>&1 || echo read-only").contains("read-only"))
        // /tmp is private: a file made there is not on the host.
        let name = "lg-jail-\(UInt32.random(in: 0...UInt32.max))"
        _ = try run(vm, "touch /tmp/\(name)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/" + name))
        // Its own pid namespace: a handful of processes, none of the host's.
        let pids = try run(vm, "ls /proc | grep -c '^[0-9]'")
        #expect((Int(pids.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 99) < 10, "\(pids)")
        // The workspace is the host's directory, owned by the jail's user.
        _ = try run(vm, "echo hi > /workspace/from-jail")
        let host = try #require(vm.hostWorkspace)
        #expect(FileManager.default.contents(atPath: host + "/from-jail") == Data("hi\n".utf8))
    }

    @Test func sandboxGroupsNestUnderTheHarnesssOwnGroups() throws {
        // A harness confined to half a core (cpu:/lghalf) or a memory limit
        // keeps its sandboxes inside: their groups are made under its own.
        let own = SandboxCgroup.ownGroups("12:cpu,cpuacct:/lghalf\n4:memory:/a/b\n8:pids:/\n0::/\n")
        #expect(own["cpu"] == "/lghalf" && own["cpuacct"] == "/lghalf" && own["memory"] == "/a/b" && own["pids"] == "/")
        // A child cannot have more CPU than the harness: its quota is capped.
        #expect(SandboxCgroup.cappedCores(1, harness: 0.5) == 0.5)
        #expect(SandboxCgroup.cappedCores(nil, harness: 0.5) == nil)
        #expect(SandboxCgroup.cappedCores(0.25, harness: 0.5) == 0.25)
        #expect(SandboxCgroup.cappedCores(1, harness: nil) == 1)
        #expect(SandboxCgroup.cappedCores(nil, harness: nil) == nil)
        let mine = SandboxCgroup.ownGroups(try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))
        for c in SandboxCgroup.controllers {
            let path = try #require(mine[c])
            #expect(SandboxCgroup.parentDirectories[c] == "/sys/fs/cgroup/\(c)\(path == "/" ? "" : path)/luminaguard")
        }
    }

    @Test func shutdownLeavesNoCgroupMountOrProcess() throws {
        let vm = try ProcessBackend().spawn(SpawnOptions(readyTimeout: 20))
        let host = try #require(vm.hostWorkspace)
        let group = SandboxCgroup.directory("pids", vm.id)
        #expect(FileManager.default.fileExists(atPath: group))
        #expect(try String(contentsOfFile: group + "/pids.max", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "64")
        _ = try run(vm, "sleep 77.\(getpid()) </dev/null >/dev/null 2>&1 &")
        vm.shutdown()
        #expect(!FileManager.default.fileExists(atPath: group))
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        #expect(!mounts.contains(host))
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            Int32(pid) != nil && ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains("77.\(getpid())")
        }
        #expect(left.isEmpty, "left running: \(left)")
    }

    @Test func anUnconfinedProcessIsOnlyEverAskedFor() throws {
        #expect(try ProcessBackend().contains)
        #expect(try !ProcessBackend(confinement: .unconfined).contains)
        #expect(try BackendChoice.resolve("process").contains)
        #expect(try !BackendChoice.resolve("process-unconfined").contains)
    }
}

import Foundation
import Testing
import AgentProtocol
@testable import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ChildProcessTests {
    /// A descriptor the harness holds without O_CLOEXEC (as Foundation's
    /// Process pipes are, for a moment) must not reach a child: a VM that kept
    /// the write end of such a pipe open once hung a reader waiting for EOF.
    @Test func onlyTheMappedDescriptorsReachTheChild() throws {
        var leak: [Int32] = [0, 0]
        try #require(pipe(&leak) == 0)
        let high: Int32 = 200
        try #require(dup2(leak[1], high) == high)  // dup2 clears O_CLOEXEC
        defer { close(high); close(leak[0]); close(leak[1]) }
        var out: [Int32] = [0, 0]
        try #require(pipe(&out) == 0)
        _ = fcntl(out[0], F_SETFD, FD_CLOEXEC)
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "ls /proc/$$/fd"], fds: [1: out[1]])
        close(out[1])
        let channel = LineChannel(readFD: out[0], writeFD: out[0])
        defer { channel.close() }
        var listed: [String] = []
        while let line = try? channel.readLine(deadline: Monotonic.nanos() + 10_000_000_000) {
            listed.append(String(decoding: line, as: UTF8.self))
        }
        _ = child.wait(timeout: 10)
        #expect(listed.contains("1"), "the mapped descriptor is there: \(listed)")
        #expect(!listed.contains(String(high)), "an unmapped descriptor reached the child: \(listed)")
    }
}

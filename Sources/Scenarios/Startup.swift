import Foundation
import AgentProtocol
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// Start-up as the guide defines it: from starting the orchestrator process
/// to the first tool execution completing, measured on `lgperf startup-probe`.
public enum Startup {
    /// One start-up: ms from posix_spawn of the probe to its result line.
    public static func measureOnce(lgperf: String, backend: BackendKind, timeout: Double = 60) throws -> Double {
        var out: [Int32] = [0, 0]
        guard pipe(&out) == 0 else { throw ConfigError("pipe failed") }
        _ = fcntl(out[0], F_SETFD, FD_CLOEXEC)
        let t0 = Monotonic.nanos()
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: lgperf, arguments: ["startup-probe", "--backend", backend.rawValue], fds: [1: out[1]])
        } catch {
            close(out[0]); close(out[1]); throw error
        }
        close(out[1])
        let channel = LineChannel(readFD: out[0], writeFD: out[0])
        defer { channel.close(); child.terminate(grace: 5) }
        let line = try channel.readJSON(deadline: t0 + UInt64(timeout * 1e9))
        let ms = Double(Monotonic.nanos() - t0) / 1e6
        guard line["spawn_ms"]?.number != nil else { throw ConfigError("startup-probe printed \(line.serialized())") }
        _ = child.wait(timeout: 10)
        return ms
    }
}

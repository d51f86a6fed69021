import Foundation
import AgentProtocol
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// What an escape would reach on the host, set out by the test and checked
/// afterwards: a secret file, a directory a write would land in (writable by
/// anyone, so permissions are not what stops it), a decoy process standing
/// in for the harness, and a listener on the host's loopback. Nothing here
/// sends traffic anywhere: the listener only counts who reached it.
final class HostBait: @unchecked Sendable {
    let dir: String
    let secretPath: String
    let token: String
    let targetDir: String
    let decoy: ChildProcess
    /// The decoy's command-line argument, unique to this run.
    let decoyMarker: String
    let listenFD: Int32
    let port: UInt16
    /// This process's name (what a sandbox would read in /proc/PID/comm).
    let harnessComm: String

    init() throws {
        let nonce = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        dir = "/tmp/lgesc-\(getpid())-\(nonce)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        token = "LG-SECRET-\(nonce)"
        secretPath = dir + "/secret-\(nonce).txt"
        _ = FileManager.default.createFile(atPath: secretPath, contents: Data(token.utf8), attributes: [.posixPermissions: 0o644])
        targetDir = dir + "/target"
        try FileManager.default.createDirectory(atPath: targetDir, withIntermediateDirectories: true)
        chmod(targetDir, 0o777)
        decoyMarker = String(86_400 + Int.random(in: 10_000...99_999))
        decoy = try ChildProcess(executable: "/bin/sleep", arguments: [decoyMarker])
        harnessComm = (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        guard let l = LoopbackPort.listener(flags: Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)) else {
            throw VMError("cannot open the loopback listener: \(String(cString: strerror(errno)))")
        }
        listenFD = l.fd
        port = l.port
    }

    /// Connections that reached the listener since the last call.
    func acceptedConnections() -> Int {
        var n = 0
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { return n }
            n += 1
            close(fd)
        }
    }

    /// Files that appeared where a write escape would land.
    var filesInTarget: [String] { (try? FileManager.default.contentsOfDirectory(atPath: targetDir)) ?? [] }

    var decoyAlive: Bool { decoy.isRunning }

    /// Host processes whose command line contains `marker`.
    static func processes(containing marker: String) -> [Int32] {
        let me = getpid()
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.contains { $0.contains(marker) }
        }
    }

    /// Waits up to `timeout` for processes carrying `marker` to be gone;
    /// returns (and kills) those that are not.
    static func leftovers(_ marker: String, timeout: Double = 3) -> [Int32] {
        let deadline = Monotonic.nanos() + UInt64(timeout * 1e9)
        var left = processes(containing: marker)
        while !left.isEmpty && Monotonic.nanos() < deadline {
            usleep(50_000)
            left = processes(containing: marker)
        }
        for p in left { kill(p, SIGKILL) }
        return left
    }

    func remove() {
        decoy.killNow()
        close(listenFD)
        try? FileManager.default.removeItem(atPath: dir)
    }
}

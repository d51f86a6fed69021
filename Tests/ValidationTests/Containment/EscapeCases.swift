import Foundation
import AgentProtocol
import MCP
import ToolCalls
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// What a backend promises to hold a sandbox to; the escape cases judge
/// against it. A VM's limits are the guest's own (its RAM, its 64 MB
/// workspace tmpfs); a jailed process's are its cgroup and rlimits.
struct ContainmentPromise: Sendable {
    let memoryMB: Int
    /// Sandbox processes the host may see at once (a VM's: none).
    let hostVisibleProcesses: Int
    /// CPU seconds a command may burn before it is stopped (nil: only the
    /// command timeout stops it; the VM's vCPU bounds its rate).
    let commandCPUSeconds: Int?
    let workspaceMB: Int

    static func of(_ backend: any VMBackend, memoryMB: Int) -> ContainmentPromise {
        if let p = backend as? ProcessBackend {
            // An unconfined process promises nothing of its own: it is judged
            // by what a process sandbox must hold, and fails.
            return ContainmentPromise(memoryMB: memoryMB, hostVisibleProcesses: p.limits.pids,
                                      commandCPUSeconds: p.limits.commandCPUSeconds, workspaceMB: p.limits.workspaceMB)
        }
        return ContainmentPromise(memoryMB: memoryMB, hostVisibleProcesses: 0, commandCPUSeconds: nil, workspaceMB: 64)
    }
}

/// One sandbox under attack, reached only through MCP (the SDK client).
struct EscapeContext: Sendable {
    let client: Client
    let bait: HostBait
    let promise: ContainmentPromise
    /// Unique to this case: put in the command line of anything the case starts.
    let marker: String

    func call(_ tool: String, _ args: [String: Value]) async throws -> (text: String, isError: Bool) {
        let r = try await client.callTool(name: tool, arguments: args)
        let text = r.content.map { c -> String in if case .text(let t, _, _) = c { return t }; return "" }.joined()
        return (text, r.isError ?? false)
    }

    /// execute_command's parsed result (nil when the call was refused or
    /// the sandbox ended), and its text.
    func run(_ command: String, timeoutMs: Int = 10_000) async throws -> (json: JSON?, text: String) {
        let r = try await call("execute_command", ["command": .string(command), "timeout_ms": .int(timeoutMs)])
        return (r.isError ? nil : try? JSON.parse(r.text), r.text)
    }
}

/// One escape attempt: what it tries, what containment means for it, and the
/// breaches it found (empty: contained). The runner adds the checks every
/// case shares (harness and decoy alive, nothing written to the host, nothing
/// left running, the sandbox healthy or cleanly ended).
struct EscapeCase: Sendable {
    let name: String
    let containedMeans: String
    let attempt: @Sendable (EscapeContext) async throws -> [String]
}

enum EscapeCases {
    static func leaked(_ text: String, _ c: EscapeContext, _ what: String) -> [String] {
        text.contains(c.bait.token) ? ["\(what): the host's secret was read"] : []
    }

    static let all: [EscapeCase] = [
        EscapeCase(name: "read a host file by absolute path",
                   containedMeans: "read_file refuses with an MCP error; a shell finds no such file") { c in
            let r = try await c.call("read_file", ["path": .string(c.bait.secretPath)])
            let x = try await c.run("cat \(c.bait.secretPath)")
            return leaked(r.text, c, "read_file") + leaked(x.text, c, "cat")
        },
        EscapeCase(name: "read a host file through ..",
                   containedMeans: "refused; the workspace's parents hold nothing of the host's") { c in
            let up = String(repeating: "../", count: 12) + c.bait.secretPath.dropFirst()
            let r = try await c.call("read_file", ["path": .string(up)])
            let x = try await c.run("cat \(up); cd ..; cat ../..\(c.bait.secretPath)")
            return leaked(r.text, c, "read_file ..") + leaked(x.text, c, "cat ..")
        },
        EscapeCase(name: "read through a symlink made inside the workspace",
                   containedMeans: "the link leads nowhere the sandbox can read; read_file refuses it") { c in
            let x = try await c.run("ln -s \(c.bait.secretPath) out; cat out")
            let r = try await c.call("read_file", ["path": "out"])
            return leaked(x.text, c, "cat via link") + leaked(r.text, c, "read_file via link")
        },
        EscapeCase(name: "write host paths (absolute, .., symlink)",
                   containedMeans: "nothing appears in the host directory (checked by the runner)") { c in
            let t = c.bait.targetDir
            _ = try await c.call("write_file", ["path": .string(t + "/abs"), "content": "x"])
            _ = try await c.call("write_file", ["path": .string("../../../../../../.." + t + "/rel"), "content": "x"])
            _ = try await c.run("echo x > \(t)/sh-abs; echo x > ../../../../../../..\(t)/sh-rel; ln -s \(t) way; echo x > way/sh-link")
            _ = try await c.call("write_file", ["path": "way/tool-link", "content": "x"])
            return []
        },
        EscapeCase(name: "a symlink swapped between check and use",
                   containedMeans: "while a directory flips to a link out and back, no write lands on the host") { c in
            _ = try await c.run("(end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do rm -rf d; mkdir d; rm -rf d; ln -s \(c.bait.targetDir) d; done; rm -rf d) </dev/null >/dev/null 2>&1 & echo started")
            for i in 0..<150 { _ = try await c.call("write_file", ["path": .string("d/swap-\(i)"), "content": "x"]) }
            try await Task.sleep(for: .seconds(3.2))
            return []
        },
        EscapeCase(name: "list host directories",
                   containedMeans: "listings show the sandbox's own tree, never the host's") { c in
            let name = (c.bait.secretPath as NSString).lastPathComponent
            var seen = ""
            for path in ["/", "..", "../..", c.bait.dir] { seen += try await c.call("list_directory", ["path": .string(path)]).text }
            seen += try await c.run("ls -a / /tmp \(c.bait.dir) ..").text
            return seen.contains(name) ? ["a host directory was listed (\(name) seen)"] : []
        },
        EscapeCase(name: "reach a listener on the host's loopback",
                   containedMeans: "no connection reaches it (the sandbox has its own loopback, or none)") { c in
            let p = c.bait.port
            _ = c.bait.acceptedConnections()
            _ = try await c.run("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", \(p)), 2)' 2>/dev/null; nc -w 2 127.0.0.1 \(p) </dev/null 2>/dev/null; busybox nc -w 2 127.0.0.1 \(p) </dev/null 2>/dev/null; true")
            let n = c.bait.acceptedConnections()
            return n > 0 ? ["\(n) connection(s) reached the host's loopback listener"] : []
        },
        EscapeCase(name: "see host processes",
                   containedMeans: "the sandbox's process list holds only its own processes") { c in
            let x = try await c.run("ps -ef 2>/dev/null; for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done")
            return x.text.contains(c.bait.decoyMarker) ? ["a host process (the decoy) was visible"] : []
        },
        EscapeCase(name: "signal the harness",
                   containedMeans: "the harness and the decoy cannot be reached: both live on (checked by the runner)") { c in
            let harness = getpid(), decoy = c.bait.decoy.pid
            let x = try await c.run("cat /proc/\(harness)/comm 2>/dev/null; kill -TERM \(decoy) 2>/dev/null; kill -KILL \(decoy) 2>/dev/null; true")
            return x.text.contains(c.bait.harnessComm) ? ["the harness's process was visible (its comm read)"] : []
        },
        EscapeCase(name: "exceed memory",
                   containedMeans: "an allocation of 4x the sandbox's memory fails or is killed; the host is untouched") { c in
            let mb = c.promise.memoryMB * 4
            let x = try await c.run("dd if=/dev/zero of=/dev/null bs=\(mb)M count=1 2>/dev/null && echo ALLOCATED-\(c.marker)", timeoutMs: 30_000)
            return x.text.contains("ALLOCATED-\(c.marker)") ? ["\(mb) MB was allocated by a sandbox of \(c.promise.memoryMB) MB"] : []
        },
        EscapeCase(name: "exceed pids (fork bomb)",
                   containedMeans: "at most the sandbox's process limit exists on the host at once (a VM's: none)") { c in
            let secs = "7.\(c.marker)"
            _ = try await c.run("i=0; while [ $i -lt 300 ]; do sleep \(secs) </dev/null >/dev/null 2>&1 & i=$((i+1)); done 2>/dev/null; echo done", timeoutMs: 30_000)
            let n = HostBait.processes(containing: secs).count
            return n > c.promise.hostVisibleProcesses ? ["\(n) sandbox processes on the host (limit \(c.promise.hostVisibleProcesses))"] : []
        },
        EscapeCase(name: "exceed CPU time",
                   containedMeans: "a CPU burner is stopped by the sandbox's CPU limit (or, in a VM, by the command timeout)") { c in
            let limit = c.promise.commandCPUSeconds
            let timeoutMs = limit.map { ($0 + 6) * 1000 } ?? 3000
            let t0 = Monotonic.nanos()
            let x = try await c.run("while :; do :; done", timeoutMs: timeoutMs)
            let wall = Double(Monotonic.nanos() - t0) / 1e9
            var out: [String] = []
            if wall > Double(timeoutMs) / 1000 + 5 { out.append("the burner ran \(String(format: "%.1f", wall)) s, past its timeout") }
            if limit != nil, x.json?["timed_out"]?.bool == true { out.append("the burner ran to its timeout: no CPU-time limit stopped it") }
            return out
        },
        EscapeCase(name: "exceed output size",
                   containedMeans: "5 MB of output comes back cut to the agent's output limit") { c in
            let x = try await c.run("head -c 5000000 /dev/zero | tr '\\0' x", timeoutMs: 30_000)
            let n = x.json?["stdout"]?.string?.utf8.count ?? 0
            return n > AgentLimits.maxCommandOutputBytes ? ["\(n) bytes of output returned"] : []
        },
        EscapeCase(name: "exceed workspace size",
                   containedMeans: "writing 3x the workspace's size stops at its size (ENOSPC)") { c in
            let mb = c.promise.workspaceMB * 3
            let x = try await c.run("dd if=/dev/zero of=fill bs=1M count=\(mb) 2>/dev/null; echo SIZE=$(wc -c < fill)", timeoutMs: 60_000)
            let size = x.text.split(separator: "SIZE=").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
            let allowed = (c.promise.workspaceMB + 1) << 20
            return size > allowed ? ["a \(size >> 20) MB file was written to a \(c.promise.workspaceMB) MB workspace"] : []
        },
        EscapeCase(name: "run past the command timeout",
                   containedMeans: "the call returns at its timeout, timed_out, with nothing of it left running") { c in
            let t0 = Monotonic.nanos()
            let x = try await c.run("sleep 40.\(c.marker)", timeoutMs: 1000)
            let wall = Double(Monotonic.nanos() - t0) / 1e9
            var out: [String] = []
            if x.json?["timed_out"]?.bool != true { out.append("the command was not timed out: \(x.text.prefix(200))") }
            if wall > 6 { out.append("the call took \(String(format: "%.1f", wall)) s for a 1 s timeout") }
            if !HostBait.processes(containing: "40.\(c.marker)").isEmpty { out.append("the timed-out command is still running") }
            return out
        },
        EscapeCase(name: "keep a descriptor or a child alive after the call",
                   containedMeans: "children that left the command's process group, one holding its output pipe, end with the sandbox (checked by the runner)") { c in
            _ = try await c.run("setsid sleep 50.\(c.marker) </dev/null >/dev/null 2>&1 & echo started")
            _ = try await c.run("setsid sleep 51.\(c.marker) & echo started", timeoutMs: 1500)
            return []
        },
    ]
}

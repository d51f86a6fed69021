#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import CSysShims

struct ToolError: Error { let message: String; init(_ m: String) { message = m } }

/// The agent's tools. Every path is confined to the workspace: absolute paths,
/// `..` and symlinks that lead outside it are refused.
struct Tools {
    let root: String
    /// The workspace directory, for opens confined by the kernel.
    let rootFD: Int32
    /// CPU seconds each command (and each process it starts) may use.
    let commandCPUSeconds: Int?

    init(workspace: String, commandCPUSeconds: Int? = nil) {
        self.commandCPUSeconds = commandCPUSeconds
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        root = realpath(workspace, &buf) != nil ? string(fromCString: buf) : workspace
        rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }

    func handle(_ r: AgentRequest) -> AgentResponse {
        do {
            switch AgentOp(rawValue: r.op) {
            case .ping: return .success(r.id, .object(["pong": r.args["payload"] ?? .null]))
            case .readFile: return .success(r.id, try readFile(r.args))
            case .writeFile: return .success(r.id, try writeFile(r.args))
            case .listDirectory: return .success(r.id, try listDirectory(r.args))
            case .search: return .success(r.id, try search(r.args))
            case .executeCommand: return .success(r.id, try execute(r.args))
            case .shutdown, .none: return .failure(r.id, "unknown operation '\(r.op)'")
            }
        } catch let e as ToolError {
            return .failure(r.id, e.message)
        } catch {
            return .failure(r.id, "\(error)")
        }
    }

    func stringArg(_ args: [String: JSON], _ key: String) throws -> String {
        guard let v = args[key] else { throw ToolError("missing argument '\(key)'") }
        guard let s = v.string else { throw ToolError("argument '\(key)' must be a string") }
        return s
    }

    /// Resolves a workspace-relative path; `mustExist` false allows a new file
    /// whose parent directory exists inside the workspace.
    func resolve(_ path: String, mustExist: Bool = true) throws -> String {
        if path.utf8.contains(0) { throw ToolError("path contains a NUL byte") }
        let joined: String
        if path.hasPrefix("/") {
            guard path == root || path.hasPrefix(root + "/") else { throw ToolError("path '\(path)' is outside the workspace") }
            joined = path
        } else {
            joined = path.isEmpty || path == "." ? root : root + "/" + path
        }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        if realpath(joined, &buf) != nil {
            let real = string(fromCString: buf)
            guard real == root || real.hasPrefix(root + "/") else { throw ToolError("path '\(path)' is outside the workspace") }
            return real
        }
        if mustExist { throw ToolError("no such file or directory: '\(path)'") }
        guard let slash = joined.lastIndex(of: "/") else { throw ToolError("invalid path '\(path)'") }
        let parent = String(joined[..<slash]), name = String(joined[joined.index(after: slash)...])
        guard !name.isEmpty, name != ".", name != ".." else { throw ToolError("invalid file name in '\(path)'") }
        guard realpath(parent, &buf) != nil else { throw ToolError("no such directory for '\(path)'") }
        let realParent = string(fromCString: buf)
        guard realParent == root || realParent.hasPrefix(root + "/") else { throw ToolError("path '\(path)' is outside the workspace") }
        return realParent + "/" + name
    }

    func readFile(_ args: [String: JSON]) throws -> JSON {
        let path = try stringArg(args, "path")
        let fd = try openForReading(path)
        let bytes = try readAll(fd: fd, name: path, limit: AgentLimits.maxFileBytes)
        return .object(["content": .string(String(decoding: bytes, as: UTF8.self)), "bytes": .number(Double(bytes.count))])
    }

    /// Opens a workspace file for reading. The kernel keeps the open inside
    /// the workspace (openat2 RESOLVE_BENEATH): one syscall instead of
    /// realpath's one per path component and then the open, and no window
    /// between a check and the open. Kernels before 5.6: realpath, then open.
    func openForReading(_ path: String) throws -> Int32 {
        if path.utf8.contains(0) { throw ToolError("path contains a NUL byte") }
        var relative = path
        if path.hasPrefix("/") {
            guard path == root || path.hasPrefix(root + "/") else { throw ToolError("path '\(path)' is outside the workspace") }
            relative = String(path.dropFirst(root.count).drop { $0 == "/" })
        }
        if relative.isEmpty { relative = "." }
        // O_NONBLOCK: a FIFO must not block even the open (readAll refuses it).
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK
        let fd = rootFD >= 0 ? lg_openat2_beneath(rootFD, relative, flags) : -ENOSYS
        if fd >= 0 { return fd }
        switch -fd {
        case EXDEV: throw ToolError("path '\(path)' is outside the workspace")
        case ENOENT: throw ToolError("no such file or directory: '\(path)'")
        case ENOSYS:
            let resolved = try resolve(path)
            let fd = open(resolved, flags)
            guard fd >= 0 else { throw ToolError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
            return fd
        default: throw ToolError("cannot read '\(path)': \(String(cString: strerror(-fd)))")
        }
    }

    func writeFile(_ args: [String: JSON]) throws -> JSON {
        let path = try resolve(try stringArg(args, "path"), mustExist: false)
        let content = Array(try stringArg(args, "content").utf8)
        guard content.count <= AgentLimits.maxFileBytes else {
            throw ToolError("content of \(content.count) bytes exceeds the \(AgentLimits.maxFileBytes)-byte limit")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw ToolError("cannot write '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var off = 0
        while off < content.count {
            let n = content.withUnsafeBytes { write(fd, $0.baseAddress! + off, content.count - off) }
            if n < 0 { if errno == EINTR { continue }; throw ToolError("write failed: \(String(cString: strerror(errno)))") }
            off += n
        }
        return .object(["bytes": .number(Double(content.count))])
    }

    func listDirectory(_ args: [String: JSON]) throws -> JSON {
        let path = try resolve(args["path"]?.string ?? ".")
        guard let dir = opendir(path) else { throw ToolError("cannot list '\(path)': \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        var entries: [JSON] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            var st = stat()
            let full = path + "/" + name
            let kind: String
            var size = 0.0
            if lstat(full, &st) == 0 {
                let fmt = st.st_mode & S_IFMT
                kind = fmt == S_IFDIR ? "directory" : fmt == S_IFLNK ? "symlink" : fmt == S_IFREG ? "file" : "other"
                size = Double(st.st_size)
            } else { kind = "unknown" }
            entries.append(.object(["name": .string(name), "type": .string(kind), "size": .number(size)]))
        }
        entries.sort { ($0["name"]?.string ?? "") < ($1["name"]?.string ?? "") }
        return .object(["entries": .array(entries)])
    }

    /// Substring search through regular files below a directory.
    func search(_ args: [String: JSON]) throws -> JSON {
        let pattern = try stringArg(args, "pattern")
        guard !pattern.isEmpty else { throw ToolError("argument 'pattern' must not be empty") }
        let start = try resolve(args["path"]?.string ?? ".")
        let limit = args["max_results"]?.int ?? 100
        var matches: [JSON] = []
        var stack = [start]
        var filesScanned = 0
        while let dirPath = stack.popLast(), matches.count < limit {
            guard let dir = opendir(dirPath) else { continue }
            while let e = readdir(dir), matches.count < limit {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name == "." || name == ".." { continue }
                let full = dirPath + "/" + name
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                if st.st_mode & S_IFMT == S_IFDIR { stack.append(full); continue }
                guard st.st_mode & S_IFMT == S_IFREG, let bytes = try? readAll(full, limit: AgentLimits.maxFileBytes) else { continue }
                filesScanned += 1
                let text = String(decoding: bytes, as: UTF8.self)
                for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where Self.contains(line, pattern) && matches.count < limit {
                    let rel = full.hasPrefix(root + "/") ? String(full.dropFirst(root.count + 1)) : full
                    matches.append(.object(["file": .string(rel), "line": .number(Double(i + 1)), "text": .string(String(line.prefix(500)))]))
                }
            }
            closedir(dir)
        }
        return .object(["matches": .array(matches), "files_scanned": .number(Double(filesScanned))])
    }

    /// Whether `text` contains `pattern`, compared Character by Character as
    /// String.contains does; written here because that one lives in
    /// _StringProcessing, which the guest build leaves out (smaller image).
    static func contains(_ text: Substring, _ pattern: String) -> Bool {
        if pattern.isEmpty { return true }
        var i = text.startIndex
        while i < text.endIndex {
            if text[i...].starts(with: pattern) { return true }
            text.formIndex(after: &i)
        }
        return false
    }

    /// A regular file's bytes, refused past `limit`.
    func readAll(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw ToolError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
        return try readAll(fd: fd, name: path, limit: limit)
    }

    /// A regular file's bytes from `fd` (closed here), refused past `limit`.
    /// It is read into a buffer of its size (fstat) and a short read is its
    /// end: fstat, read and close, rather than a zero-filled 64 KiB chunk per
    /// read and a copy of it (each syscall and page counts in an emulated
    /// guest). Anything but a regular file is refused: a FIFO or device could
    /// block the agent or never end (opened O_NONBLOCK, not even the open
    /// waits).
    func readAll(fd: Int32, name path: String, limit: Int) throws -> [UInt8] {
        defer { close(fd) }
        func failed(_ e: Int32 = errno) -> ToolError { ToolError("cannot read '\(path)': \(String(cString: strerror(e)))") }
        func tooLarge() -> ToolError { ToolError("file '\(path)' is larger than the \(limit)-byte limit") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw failed() }
        guard st.st_mode & S_IFMT == S_IFREG else { throw ToolError("'\(path)' is not a regular file") }
        if Int(st.st_size) > limit { throw tooLarge() }
        // One byte more than the size, so that a file that grew is noticed.
        var capacity = Int(st.st_size) + 1
        var out = [UInt8]()
        while true {
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: capacity))
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + start, capacity) }
            if n < 0 {
                let e = errno
                out.removeLast(capacity)
                if e == EINTR { continue }
                throw failed(e)
            }
            out.removeLast(capacity - n)
            if out.count > limit { throw tooLarge() }
            if n < capacity { return out }
            capacity = 64 << 10
        }
    }

    /// Runs `/bin/sh -c COMMAND` in the workspace with a timeout; returns the
    /// exit status and (bounded) output.
    func execute(_ args: [String: JSON]) throws -> JSON {
        let command = try stringArg(args, "command")
        let timeoutMs = args["timeout_ms"]?.int ?? 10_000
        guard timeoutMs > 0 && timeoutMs <= 300_000 else { throw ToolError("timeout_ms must be between 1 and 300000") }
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw ToolError("pipe failed") }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        let shell = access("/bin/sh", X_OK) == 0 ? "/bin/sh" : "/bin/busybox"
        let argv: [String] = shell == "/bin/sh" ? ["sh", "-c", command] : ["sh", "sh", "-c", command]
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, shell, &actions, &attr, &cargs, environ)
        close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw ToolError("cannot start the command: \(String(cString: strerror(rc)))")
        }
        // posix_spawn cannot set a limit in the child; set it at once, before
        // the shell has run more than its start-up.
        if let cpu = commandCPUSeconds { _ = lg_limit_cpu_seconds(pid, cpu) }
        let start = Monotonic.nanos()
        let deadline = start + UInt64(timeoutMs) * 1_000_000
        var out: [UInt8] = [], err: [UInt8] = []
        var open = [outPipe[0], errPipe[0]]
        var timedOut = false
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while !open.isEmpty {
            let now = Monotonic.nanos()
            if now >= deadline { timedOut = true; kill(-pid, SIGKILL); break }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let r = poll(&fds, nfds_t(fds.count), Int32((deadline - now) / 1_000_000 + 1))
            if r < 0 { if errno == EINTR { continue }; break }
            for p in fds where p.revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(p.fd, $0.baseAddress!, $0.count) }
                if n <= 0 { close(p.fd); open.removeAll { $0 == p.fd }; continue }
                if p.fd == outPipe[0] { if out.count < AgentLimits.maxCommandOutputBytes { out.append(contentsOf: chunk[0..<n]) } }
                else if err.count < AgentLimits.maxCommandOutputBytes { err.append(contentsOf: chunk[0..<n]) }
            }
        }
        for fd in open { close(fd) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return .object([
            "exit_code": exited ? .number(Double((status >> 8) & 0xff)) : .null,
            "signal": exited ? .null : .number(Double(status & 0x7f)),
            "stdout": .string(String(decoding: out.prefix(AgentLimits.maxCommandOutputBytes), as: UTF8.self)),
            "stderr": .string(String(decoding: err.prefix(AgentLimits.maxCommandOutputBytes), as: UTF8.self)),
            "timed_out": .bool(timedOut),
            "duration_ms": .number(Double(Monotonic.nanos() - start) / 1e6),
        ])
    }
}

/// As PID 1 in a guest, the agent inherits orphans; reap them.
func reapChildren() {
    var status: Int32 = 0
    while waitpid(-1, &status, WNOHANG) > 0 {}
}

/// A C string buffer as a Swift String.
func string(fromCString buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Writes a diagnostic to standard error (the guest's console in a VM).
func logError(_ message: String) {
    let bytes = Array(("lg-guest-agent: " + message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
}

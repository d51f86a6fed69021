// The guest agent: the process that makes a sandbox "ready". Inside a VM it is
// the guest's /init (VMInit) on the virtio-serial port; in the process backend it runs
// as a local child on its stdin/stdout. Either way it announces readiness
// once, then answers requests one line at a time (see AgentProtocol).
#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import CSysShims

let version = "1"

struct Options {
    var device: String?
    var workspace = "/workspace"
    var mode = "process"
    var isolate = false
    var initUptimeMs: Double?
    /// RLIMIT_CPU given to each command (a jailed process sandbox's limit).
    var commandCPUSeconds: Int?
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--device": o.device = args.next()
        case "--stdio": o.device = nil
        case "--workspace": if let w = args.next() { o.workspace = w }
        case "--mode": if let m = args.next() { o.mode = m }
        case "--isolate": o.isolate = true
        case "--command-cpu-seconds": o.commandCPUSeconds = args.next().flatMap(Int.init)
        case "--init-uptime": o.initUptimeMs = args.next().flatMap(Double.init).map { $0 * 1000 }
        case "--help":
            print("usage: lg-guest-agent [--device PATH | --stdio] [--workspace DIR] [--mode vm|process] [--isolate] [--command-cpu-seconds N]")
            exit(0)
        default:
            logError("unknown option \(a)")
            exit(2)
        }
    }
    return o
}

/// The guest's uptime (CLOCK_BOOTTIME, what /proc/uptime shows, without its
/// 10 ms steps and without opening a file).
func uptimeMs() -> Double {
    var ts = timespec()
    guard clock_gettime(CLOCK_BOOTTIME, &ts) == 0 else { return -1 }
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
}

func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
    return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
}

/// Moves the agent into fresh namespaces where the kernel and privileges
/// allow; reports which ones took.
func isolateSelf() -> [String] {
    let mask = lg_unshare_namespaces(1 | 2 | 4)
    return [(1, "net"), (2, "ipc"), (4, "uts")].filter { mask & $0.0 != 0 }.map(\.1)
}

let options = VMInit.isInit ? VMInit.setUp() : parseOptions()
let agentUptime = uptimeMs()
let startUptime = options.initUptimeMs ?? agentUptime
signal(SIGPIPE, SIG_IGN)

let readFD: Int32
let writeFD: Int32
if let device = options.device {
    let fd = open(device, O_RDWR | O_CLOEXEC)
    if fd < 0 {
        logError("cannot open \(device): \(String(cString: strerror(errno)))")
        exit(1)
    }
    // virtio ports are not ttys; if one is, make it raw so lines pass unchanged.
    var t = termios()
    if tcgetattr(fd, &t) == 0 { cfmakeraw(&t); tcsetattr(fd, TCSANOW, &t) }
    readFD = fd
    writeFD = fd
} else {
    readFD = 0
    writeFD = 1
}

let isolation = options.isolate ? isolateSelf() : []
mkdir(options.workspace, 0o755)
// Commands run by execute_command start in the workspace.
_ = chdir(options.workspace)
let tools = Tools(workspace: options.workspace, commandCPUSeconds: options.commandCPUSeconds)
let channel = LineChannel(readFD: readFD, writeFD: writeFD, ownsFDs: false)
if options.mode == "vm" { startHealthResponder(workspace: tools.root) }

do {
    try channel.send(AgentHello(uptimeAtStartMs: startUptime, agentUptimeMs: agentUptime, helloUptimeMs: uptimeMs(),
                                pid: Int(getpid()), mode: options.mode,
                                version: version, isolation: isolation, workspace: tools.root).json)
} catch {
    logError("cannot announce readiness: \(error)")
    exit(1)
}

while true {
    let line: [UInt8]
    do { line = try channel.readLine(deadline: nil) } catch ChannelError.closed {
        exit(0)
    } catch ChannelError.lineTooLong(let n) {
        // Cannot know the request id of a message we refused to read whole.
        try? channel.send(AgentResponse.failure(-1, "message larger than \(n) bytes refused").json)
        exit(3)
    } catch {
        logError("\(error)")
        exit(1)
    }
    let received = Monotonic.nanos()
    var response: AgentResponse
    do {
        let json = try JSON.parse(line)
        guard let request = AgentRequest(json) else {
            try? channel.send(AgentResponse.failure(json["id"]?.int ?? -1, "malformed request: needs integer 'id' and string 'op'").json)
            continue
        }
        if request.op == AgentOp.shutdown.rawValue {
            try? channel.send(AgentResponse.success(request.id, .object(["bye": .bool(true)])).json)
            exit(0)
        }
        response = tools.handle(request)
    } catch {
        response = .failure(-1, "unparseable request: \(error)")
    }
    // agent_us covers the reply's serialization too: it is stamped into the
    // serialized object as the last step before the write.
    var text = response.json.serialized()
    text.removeLast()  // the object's closing brace
    text += ",\"agent_us\":" + JSON.number(Double(Monotonic.nanos() - received) / 1e3).serialized() + "}"
    do { try channel.send(text) } catch { exit(1) }
    reapChildren()
}

// The heartbeat port: a second virtio-serial port ("health", /dev/vport0p2)
// answered from its own thread, so the host's health checker hears from the
// guest even while a long tool call holds the agent's main loop.
//
// One line in, one line out:
//   "ping"  -> "ok free_kb=<workspace free KiB> carrier=<eth0 carrier: 1, 0, or -1 without a NIC>"
//   "crash" -> the agent aborts (it is PID 1, so the guest kernel then panics and QEMU exits)
//   "panic" -> the guest kernel panics (/proc/sysrq-trigger), or "error ..." where it cannot
//   "netem DELAY_MS LOSS_PERCENT RATE_KBIT" / "netem off" -> "ok netem" or "error ..." (NetemControl.swift)
// The port carries only host-to-guest control; nothing in the guest can write to it.
#if canImport(Glibc)
import Glibc
#endif

/// Read by the thread (a C entry point cannot capture context).
nonisolated(unsafe) var healthDevice = "/dev/vport0p2"
nonisolated(unsafe) var healthWorkspace = "/workspace"

func workspaceFreeKB(_ path: String) -> Int {
    var s = statvfs()
    guard statvfs(path, &s) == 0 else { return -1 }
    return Int(s.f_bavail) * Int(s.f_frsize) / 1024
}

func linkCarrier() -> Int {
    guard let text = readSmallFile("/sys/class/net/eth0/carrier") else { return -1 }
    return text.hasPrefix("1") ? 1 : 0
}

func healthReply(_ request: String) -> String {
    switch request {
    case "ping": return "ok free_kb=\(workspaceFreeKB(healthWorkspace)) carrier=\(linkCarrier())"
    case "crash": abort()
    case "panic":
        let fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return "error no /proc/sysrq-trigger in this guest kernel (CONFIG_MAGIC_SYSRQ)" }
        _ = write(fd, "c", 1)
        close(fd)
        return "error the kernel did not panic"
    case "netem off": return Netem.clear().map { "error \($0)" } ?? "ok netem"
    default:
        let words = request.split(separator: " ")
        if words.count == 4, words[0] == "netem", let d = Double(words[1]), let l = Double(words[2]), let r = Double(words[3]) {
            return Netem.set(delayMs: d, lossPercent: l, rateKbit: r).map { "error \($0)" } ?? "ok netem"
        }
        return "error unknown health request '\(request.prefix(40))'"
    }
}

func healthLoop() {
    let fd = open(healthDevice, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return }
    var t = termios()
    if tcgetattr(fd, &t) == 0 { cfmakeraw(&t); tcsetattr(fd, TCSANOW, &t) }
    var pending: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 512)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n <= 0 {
            // No host connected (e.g. between snapshot and restore): wait, retry.
            if n < 0 && errno == EINTR { continue }
            usleep(20_000)
            continue
        }
        pending += buf[0..<n]
        while let nl = pending.firstIndex(of: 0x0A) {
            let request = String(decoding: pending[..<nl], as: UTF8.self)
            pending.removeFirst(nl + 1)
            let reply = Array((healthReply(request) + "\n").utf8)
            _ = reply.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        }
        if pending.count > 4096 { pending.removeAll() }
    }
}

/// Starts the responder when the VM has the port (QEMU with a health channel).
func startHealthResponder(workspace: String) {
    guard access(healthDevice, F_OK) == 0 else { return }
    healthWorkspace = workspace
    var thread = pthread_t()
    _ = pthread_create(&thread, nil, { _ in healthLoop(); return nil }, nil)
}

#if canImport(Glibc)
import Glibc
#endif
import CSysShims
import GuestEarlyInit

/// The agent as the guest's /init (PID 1, started by the kernel with no
/// arguments): it does the set-up a shell /init used to do, as system calls.
/// Under TCG every fork and exec of a busybox command cost tens of ms (QEMU
/// translating its code afresh), and the shell /init ran seven of them.
enum VMInit {
    /// Started by the kernel as /init rather than by a command line. (Before
    /// /proc is mounted the Swift runtime may see no arguments at all: it
    /// reads them from /proc/self/cmdline.)
    static var isInit: Bool { getpid() == 1 && CommandLine.arguments.count <= 1 }

    /// Mounts what the tools need, brings the network up only when the VM has
    /// a network device, and returns the options a shell /init used to pass.
    static func setUp() -> Options {
        // /proc is normally mounted already, before the static Swift runtime
        // started (GuestEarlyInit), which needs it.
        if lg_early_proc_status() != 1 && access("/proc/self", F_OK) != 0 { mountOrLog("proc", "/proc", "proc") }
        // When /init started: before the Swift runtime's own start.
        let early = lg_early_boottime_ms()
        let initUptime = early >= 0 ? early : uptimeMs()
        mountOrLog("devtmpfs", "/dev", "devtmpfs")
        mountOrLog("sysfs", "/sys", "sysfs")
        mountOrLog("tmpfs", "/workspace", "tmpfs", "size=64m")
        mountOrLog("tmpfs", "/tmp", "tmpfs")
        if access("/sys/class/net/eth0", F_OK) == 0 { runAndWait("/etc/net-up") }
        var o = Options()
        o.mode = "vm"
        o.initUptimeMs = initUptime
        // The channel: the first virtio-serial port (QEMU), or the device
        // named by lg.agent= on the kernel command line (Firecracker: /dev/ttyS0).
        o.device = "/dev/vport0p1"
        for arg in (readSmallFile("/proc/cmdline") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" })
        where arg.hasPrefix("lg.agent=") {
            o.device = String(arg.dropFirst("lg.agent=".count))
        }
        return o
    }

    static func mountOrLog(_ source: String, _ target: String, _ type: String, _ data: String? = nil) {
        let r = data.map { lg_mount(source, target, type, $0) } ?? lg_mount(source, target, type, nil)
        if r != 0 { logError("mount \(type) on \(target) failed: \(String(cString: strerror(-r)))") }
    }

    /// Runs a set-up script with /bin/sh and waits for it (its own children,
    /// such as a background echo service, keep running).
    static func runAndWait(_ script: String) {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", script]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else {
            logError("cannot run \(script)")
            return
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

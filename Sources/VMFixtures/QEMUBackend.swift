import Foundation
import HostProbes
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// QEMU's `microvm` machine: the guest image booted straight into its PVH
/// entry, the agent on virtio-serial, QMP for control. Hardware KVM where it
/// can run a guest, TCG (software emulation) otherwise.
public struct QEMUBackend: VMBackend {
    public let kind = BackendKind.qemu
    public let accelerator: Accelerator
    public let image: GuestImage
    public let qemuPath: String
    /// Where each VM's sockets and console go (default: LUMINAGUARD_RUN_DIR or /tmp).
    public var runDirectory: String?
    /// Test-only slowdown: milliseconds slept in every spawn through this
    /// backend (cold boots and snapshot restores) once the guest agent has
    /// announced itself and before it is asked for readiness. It counts in
    /// spawn_time_ms (and restore times), not in `agent_hello_ms` nor in the
    /// platform floor, so it simulates a slower guest on an unchanged host:
    /// floor-relative budgets must then fail. 0 (the default) adds nothing.
    public var testSpawnDelayMs: Int = 0
    /// Confine each QEMU it cold-boots or restores (``QEMUJail``); nil: QEMU
    /// runs as the harness's user with the host's filesystem in view.
    public var jail: QEMUJail?

    public init(image: GuestImage, accelerator: Accelerator, qemuPath: String? = nil) throws {
        guard let q = qemuPath ?? ChildProcess.which("qemu-system-x86_64") else {
            throw VMError("qemu-system-x86_64 is not installed", fix: "apt-get install -y qemu-system-x86   (or scripts/install-deps.sh as root)")
        }
        self.qemuPath = q
        self.image = image
        self.accelerator = accelerator
    }

    /// Kernel arguments that matter under TCG (see README, "Guest boot"):
    /// the PIT and a given TSC rate avoid a calibration hang (the host's
    /// rate, or the guest's clock runs at the wrong speed: ``HostTSC``),
    /// trusting the CPU's RNG avoids a ~1.3 s wait for entropy in the Swift
    /// runtime. `no_timer_check`: the kernel's timed check that the PIT
    /// reaches the IO-APIC fails when an emulated guest is starved of host
    /// CPU, and the boot panics ("IO-APIC + timer doesn't work"; seen on a
    /// loaded 2-core host). The floor boots with the same arguments.
    /// `reboot=t`: see below.
    public static let kernelArguments = [
        "console=ttyS0", "quiet", "panic=-1", "tsc_early_khz=\(HostTSC.kHz ?? 2_000_000)", "tsc=reliable",
        "initcall_blacklist=pty_init", "random.trust_cpu=on", "no_timer_check",
        // A panicking guest reboots by triple fault at once (-no-reboot then
        // ends QEMU): the default tries ACPI and the keyboard controller
        // first, which microvm lacks, and took ~4 s under TCG.
        "reboot=t",
    ]

    /// The full QEMU command line (without the executable) for one VM whose
    /// sockets live in `directory`. `extra` is appended (e.g. -incoming).
    /// `initramfs` replaces the image's own (the platform floor boots the
    /// same command line with its minimal initramfs).
    /// `ramFile` puts guest RAM in a memory-backend-file (templated snapshots).
    public func arguments(directory: String, memoryMB: Int, extra: [String] = [], initramfs: String? = nil,
                          ramFile: RAMFile? = nil) -> [String] {
        var machine = "microvm,x-option-roms=off,isa-serial=on,rtc=on,pit=on,acpi=off"
        var memory: [String] = []
        if let ramFile {
            machine += ",memory-backend=mem"
            // A sealed copy is reached through the descriptor QEMU inherits.
            let path = ramFile.sealed != nil ? "/proc/self/fd/\(QEMUJail.ramFD)" : ramFile.path
            memory = ["-object", "memory-backend-file,id=mem,size=\(memoryMB)M,mem-path=\(path),share=\(ramFile.shared ? "on" : "off")"]
        }
        var args = [
            "-M", machine,
            "-accel", accelerator == .kvm ? "kvm" : "tcg",
            "-cpu", accelerator == .kvm ? "host" : "max",
            "-m", String(memoryMB), "-smp", "1",
        ] + memory + [
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", image.kernel, "-initrd", initramfs ?? image.initramfs,
            "-append", Self.kernelArguments.joined(separator: " "),
            "-serial", "file:\(directory)/console.log",
            // QEMU connects to sockets the harness already listens on: nothing
            // is lost between QEMU start and the harness connecting.
            "-chardev", "socket,id=agent,path=\(directory)/agent.sock",
            "-device", "virtio-serial-device",
            "-device", "virtserialport,chardev=agent,name=agent",
            // Heartbeats, answered by their own thread in the guest (HealthChecker).
            "-chardev", "socket,id=health,path=\(directory)/health.sock",
            "-device", "virtserialport,chardev=health,name=health",
            "-chardev", "socket,id=qmp,path=\(directory)/qmp.sock",
            "-mon", "chardev=qmp,mode=control",
        ]
        args += extra
        return args
    }

    public func spawn(_ options: SpawnOptions) throws -> any SandboxVM {
        try spawn(options, extraArguments: [], path: "cold", afterStart: nil)
    }

    /// The guest's echo service (port 7000) forwarded to 127.0.0.1:`port`.
    /// Traffic stays on this machine: slirp only, loopback on the host side.
    static func networkArguments(port: Int) -> [String] {
        ["-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:\(port)-:7000",
         "-device", "virtio-net-device,netdev=net0,id=nic0"]
    }

    /// The descriptor number a restore's state file is handed to QEMU on
    /// (`migrate-incoming fd:5`).
    public static let incomingStateFD: Int32 = 5

    /// Starts QEMU and waits for the agent. `afterStart` runs once QMP is up
    /// (used by snapshot restore to `cont` an incoming VM). Cold boots and
    /// restores both pass admission control here. `incomingState`: an open
    /// snapshot state file, passed on ``incomingStateFD``.
    public func spawn(_ options: SpawnOptions, extraArguments: [String], path: String,
                      afterStart: ((QMPClient) throws -> Void)?, restoredHello: AgentHello? = nil,
                      incomingState: Int32? = nil) throws -> any SandboxVM {
        try options.admissionControl.spawn(.qemu, memoryMB: options.memoryMB) { ticket in
            try start(options, extraArguments: extraArguments, path: path, afterStart: afterStart,
                      restoredHello: restoredHello, incomingState: incomingState, ticket: ticket)
        }
    }

    private func start(_ options: SpawnOptions, extraArguments: [String], path: String,
                       afterStart: ((QMPClient) throws -> Void)?, restoredHello: AgentHello?, incomingState: Int32?,
                       ticket: AdmissionTicket) throws -> QEMUSandbox {
        let t0 = Monotonic.nanos()
        let deadline = t0 + UInt64(options.readyTimeout * 1e9)
        let dir = try TempDirectory(prefix: "lgvm", base: runDirectory)
        var fdsToClose: [Int32] = []
        var child: ChildProcess?
        var cgroupToRemove: SandboxCgroup?
        func fail(_ problem: String, stderr: [UInt8] = [], fix: String? = nil) -> VMError {
            var problem = problem
            // A VMM that just died may close its sockets a moment before it
            // can be reaped: give it that moment, so the error names the cause.
            if let c = child, c.wait(timeout: 0.2), let status = c.poll(), !problem.hasPrefix("QEMU exited") {
                problem = "QEMU exited (\(ChildProcess.describe(status: status))): " + problem
            }
            child?.killNow()
            cgroupToRemove?.remove()
            for fd in fdsToClose { close(fd) }
            let console = (try? String(contentsOfFile: dir.path + "/console.log", encoding: .utf8)) ?? ""
            dir.remove()
            var text = problem
            let err = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !err.isEmpty { text += "\nQEMU said: \(err.suffix(1500))" }
            let tail = console.split(separator: "\n").suffix(15).joined(separator: "\n")
            if !tail.isEmpty { text += "\nguest console (last lines):\n\(tail)" }
            return VMError(text, fix: fix)
        }
        let agentListen = try UnixSocket.listen(at: dir.path + "/agent.sock")
        fdsToClose.append(agentListen)
        let qmpListen = try UnixSocket.listen(at: dir.path + "/qmp.sock")
        fdsToClose.append(qmpListen)
        let healthListen = try UnixSocket.listen(at: dir.path + "/health.sock")
        fdsToClose.append(healthListen)
        var errPipe: [Int32] = [0, 0]
        // Under the spawn lock so that no concurrent spawn inherits the write end.
        let piped = ProcessRegistry.shared.withSpawnLock { () -> Bool in
            guard pipe(&errPipe) == 0 else { return false }
            for fd in errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return true
        }
        guard piped else { throw fail("pipe failed") }
        fdsToClose.append(errPipe[0])
        var echoPort: Int?
        var extra = extraArguments
        var cgroup: SandboxCgroup?
        if let jail {
            if let ram = options.ramFile, ram.shared || ram.sealed == nil {
                throw fail("a jailed QEMU maps guest RAM only from a sealed copy (it must not write a file other VMs map, nor see its path)",
                           fix: "restore through SnapshotStore.restore, which hands it the template's sealed copy; make templates unjailed")
            }
            if extraArguments.contains(where: { $0.hasPrefix("exec:") }) {
                throw fail("a jailed QEMU cannot run exec: migration (its seccomp filter forbids spawning)",
                           fix: "pass the state as a descriptor (SnapshotStore.restore does)")
            }
            if let why = QEMUJail.unavailableReason() { throw fail(why.description) }
            do {
                cgroup = try SandboxCgroup(name: (dir.path as NSString).lastPathComponent, memoryMB: options.memoryMB + jail.overheadMB,
                                           pids: jail.pids, cpuCores: nil)
            } catch { throw fail("\(error)") }
            cgroupToRemove = cgroup
            // QEMU runs as the jail's user: its directory and sockets are its.
            for path in [dir.path, dir.path + "/agent.sock", dir.path + "/qmp.sock", dir.path + "/health.sock"] { chown(path, ProcessJail.uid, ProcessJail.uid) }
            if let blocked = QEMUJail.blockingAncestor(of: dir.path) {
                throw fail("the jailed QEMU (uid \(ProcessJail.uid)) cannot reach its directory \(dir.path): \(blocked) does not let other users pass",
                           fix: "set LUMINAGUARD_RUN_DIR to a directory every user may pass through (e.g. /tmp, or chmod o+x \(blocked)), or run unjailed (--no-jail)")
            }
        }
        if options.network {
            guard let port = LoopbackPort.free() else { throw fail("no free loopback port for the guest's network") }
            echoPort = port
            extra += Self.networkArguments(port: port)
        }
        do {
            let qemuArguments = arguments(directory: dir.path, memoryMB: options.memoryMB, extra: extra, ramFile: options.ramFile)
            if jail != nil, let cgroup {
                let argv = try QEMUJail.command(qemu: qemuPath, arguments: qemuArguments, directory: dir.path, network: options.network,
                                                kvm: accelerator == .kvm, cgroup: cgroup)
                // The jail cannot see the image's directory: the files come in open.
                let kernel = open(image.kernel, O_RDONLY | O_CLOEXEC), initrd = open(image.initramfs, O_RDONLY | O_CLOEXEC)
                defer { if kernel >= 0 { close(kernel) }; if initrd >= 0 { close(initrd) } }
                guard kernel >= 0, initrd >= 0 else { throw VMError("cannot open the guest image: \(String(cString: strerror(errno)))") }
                var fds: [Int32: Int32] = [1: errPipe[1], 2: errPipe[1], QEMUJail.kernelFD: kernel, QEMUJail.initrdFD: initrd]
                if let incomingState { fds[Self.incomingStateFD] = incomingState }
                if let sealed = options.ramFile?.sealed { fds[QEMUJail.ramFD] = sealed.fd }
                child = try ChildProcess(executable: argv[0], arguments: Array(argv.dropFirst()), fds: fds)
            } else {
                var fds: [Int32: Int32] = [1: errPipe[1], 2: errPipe[1]]
                if let incomingState { fds[Self.incomingStateFD] = incomingState }
                if let sealed = options.ramFile?.sealed { fds[QEMUJail.ramFD] = sealed.fd }
                child = try ChildProcess(executable: qemuPath, arguments: qemuArguments, fds: fds,
                                         cgroupProcs: options.memoryCgroup?.procsFile)
            }
        } catch {
            close(errPipe[1])
            cgroup?.remove()
            throw fail("cannot start QEMU: \(error)")
        }
        close(errPipe[1])
        let tProcess = Monotonic.nanos()
        var stderrText: [UInt8] = []

        // 1. QEMU connects to the agent socket during its own start-up.
        switch UnixSocket.waitReadable(agentListen, watch: errPipe[0], watchOutput: &stderrText, deadline: deadline) {
        case .ready: break
        case .watchedClosed: throw fail("QEMU exited during start-up", stderr: stderrText)
        case .timedOut: throw fail("QEMU did not connect its agent channel within \(options.readyTimeout) s", stderr: stderrText)
        }
        let agentFD = UnixSocket.acceptCloexec(agentListen)
        guard agentFD >= 0 else { throw fail("accept failed: \(String(cString: strerror(errno)))") }
        fdsToClose.append(agentFD)

        // 2. For a restore, QMP is needed before the guest runs.
        var qmp: QMPClient?
        func connectQMP() throws -> QMPClient {
            if let q = qmp { return q }
            switch UnixSocket.waitReadable(qmpListen, watch: nil, watchOutput: &stderrText, deadline: deadline) {
            case .ready: break
            default: throw fail("QEMU did not connect its QMP channel", stderr: stderrText)
            }
            let fd = UnixSocket.acceptCloexec(qmpListen)
            guard fd >= 0 else { throw fail("accept (QMP) failed: \(String(cString: strerror(errno)))") }
            let q = try QMPClient(fd: fd, timeout: max(1, Double(deadline - min(deadline, Monotonic.nanos())) / 1e9))
            qmp = q
            return q
        }
        if let afterStart {
            do { try afterStart(try connectQMP()) } catch let e as VMError { throw fail(e.description, stderr: stderrText) } catch {
                // Any other error keeps its type (a corrupt snapshot), after the same clean-up.
                _ = fail("\(error)")
                throw error
            }
        }

        // 3. The agent announces itself once /init has started it. A restored
        // guest announced itself before its snapshot: it is asked directly.
        switch restoredHello != nil ? .ready : UnixSocket.waitReadable(agentFD, watch: errPipe[0], watchOutput: &stderrText, deadline: deadline) {
        case .ready: break
        case .watchedClosed: throw fail("QEMU exited before the guest agent answered", stderr: stderrText)
        case .timedOut:
            throw fail("the guest agent did not answer within \(options.readyTimeout) s (\(accelerator.rawValue)); the guest may be hung in boot",
                       stderr: stderrText,
                       fix: accelerator == .kvm ? "try LUMINAGUARD_ACCEL=tcg" : "raise LUMINAGUARD_READY_TIMEOUT_SECS, or check the image with lgperf image status")
        }
        let channel = LineChannel(readFD: agentFD, writeFD: agentFD)
        fdsToClose.removeAll { $0 == agentFD }
        let session: AgentSession
        let tHello: UInt64
        do {
            if let hello = restoredHello {
                session = AgentSession(channel: channel, restoredHello: hello)
            } else {
                session = try AgentSession(channel: channel, readyDeadline: deadline)
            }
            tHello = Monotonic.nanos()
            if testSpawnDelayMs > 0 { usleep(useconds_t(testSpawnDelayMs) * 1000) }
            _ = try session.call(.ping, timeout: max(0.001, Double(deadline - min(deadline, tHello)) / 1e9))
        } catch {
            channel.close()
            throw fail("the guest agent did not complete its handshake: \(error)", stderr: stderrText)
        }
        let tReady = Monotonic.nanos()
        // QMP stays reachable for control: accept it now (QEMU connected long ago).
        let control = try? connectQMP()
        // QEMU connected the health channel at start-up, like the agent's.
        var healthFD: Int32 = -1
        if case .ready = UnixSocket.waitReadable(healthListen, watch: nil, watchOutput: &stderrText, deadline: Monotonic.nanos() + 1_000_000_000) {
            healthFD = UnixSocket.acceptCloexec(healthListen)
        }
        close(agentListen); close(qmpListen); close(healthListen)
        let timings = SpawnTimings(requestToReadyNs: tReady - t0, requestToProcessNs: tProcess - t0,
                                   requestToHelloNs: tHello - t0,
                                   guestKernelToInitMs: restoredHello == nil ? session.hello.uptimeAtStartMs : nil,
                                   guestKernelToAgentMs: restoredHello == nil ? session.hello.agentUptimeMs : nil,
                                   guestKernelToHelloMs: restoredHello == nil ? session.hello.helloUptimeMs : nil, path: path)
        let vm = QEMUSandbox(child: child!, session: session, qmp: control, directory: dir, stderrFD: errPipe[0],
                             accelerator: accelerator, timings: timings, ticket: ticket, cgroup: cgroup, sealedRAM: options.ramFile?.sealed)
        vm.echoPort = echoPort
        vm.healthFD = healthFD
        return vm
    }
}

public final class QEMUSandbox: SandboxVM, @unchecked Sendable {
    public let id: String
    public let backend = BackendKind.qemu
    public let accelerator: Accelerator
    public let child: ChildProcess
    public let session: AgentSession
    public let qmp: QMPClient?
    public let directory: TempDirectory
    public let timings: SpawnTimings
    /// Host loopback port of the guest's TCP echo service (with `network`).
    public internal(set) var echoPort: Int?
    /// The host end of the guest's heartbeat port (-1 when it has none).
    public internal(set) var healthFD: Int32 = -1
    private let stderrFD: Int32
    /// Its place among the sandboxes admission counts.
    private let ticket: AdmissionTicket
    private let lock = NSLock()
    private var ended = false
    /// A jailed QEMU's cgroup.
    private let cgroup: SandboxCgroup?
    /// Whether its QEMU runs jailed (``QEMUJail``).
    public var jailed: Bool { cgroup != nil }
    /// The sealed template RAM it maps (jailed template restores).
    public let sealedRAM: SealedRAM?

    init(child: ChildProcess, session: AgentSession, qmp: QMPClient?, directory: TempDirectory, stderrFD: Int32,
         accelerator: Accelerator, timings: SpawnTimings, ticket: AdmissionTicket, cgroup: SandboxCgroup? = nil,
         sealedRAM: SealedRAM? = nil) {
        self.child = child; self.session = session; self.qmp = qmp; self.directory = directory
        self.stderrFD = stderrFD; self.accelerator = accelerator; self.timings = timings; self.ticket = ticket
        self.cgroup = cgroup; self.sealedRAM = sealedRAM
        id = (directory.path as NSString).lastPathComponent
    }

    public var pid: Int32 { child.pid }
    public var isRunning: Bool { child.isRunning }

    /// The QEMU process itself: the child, or in a jail, the QEMU that
    /// bubblewrap started (a signal to bubblewrap would not stop the guest).
    public var vmmPID: Int32 {
        guard cgroup != nil else { return pid }
        return ProcProbes.descendants(of: pid).first {
            ((try? ProcProbes.read("/proc/\($0)/comm")) ?? "").hasPrefix("qemu-system")
        } ?? pid
    }

    public func shutdown() {
        lock.lock(); defer { lock.unlock() }
        guard !ended else { return }
        ended = true
        // The guest holds nothing worth saving: end QEMU at once.
        child.killNow()
        session.channel.close()
        qmp?.close()
        if healthFD >= 0 { close(healthFD) }
        close(stderrFD)
        cgroup?.remove()
        directory.remove()
        ticket.release()
    }

    /// The VMM is gone: its place is given back at once.
    public func kill() { child.killNow(); cgroup?.remove(); ticket.release() }

    deinit { shutdown() }
}

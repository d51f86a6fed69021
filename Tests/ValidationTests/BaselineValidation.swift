import Foundation
import Testing
import AgentProtocol
import HostProbes
import PerfMetrics
import PerfStats
import Scenarios
import VMFixtures

extension Validation {
@Suite(.tags(.network, .baseline))
struct `Network latency [tag:network] [tag:baseline]` {
    @Test func `TCP round trip host to guest over virtio-net`() throws {
        let backend = try Fixture.qemu()
        let config = try Fixture.config()
        let load = ProcProbes.loadAverage1()
        let vm = try backend.spawn(SpawnOptions(network: true))
        defer { vm.shutdown(); Fixture.expectNoVMLeft() }
        let port = try #require((vm as? QEMUSandbox)?.echoPort)
        let rtt = try SandboxProbes.networkRoundTripsMs(port: port, count: config.iterations * 10, warmup: config.warmup * 10)
        var file = RunContext.newFile(scope: "network", phase: .baseline, backend: backend, iterations: rtt.samples.count,
                                      warmup: rtt.warmup.count, loadBefore: load,
                                      notes: ["network_latency_ms: 16-byte TCP round trip from the host (127.0.0.1, QEMU user networking) to an echo service in the guest, over virtio-net."])
        file.add("network_latency_ms", try MetricSeries(metric: .network, unit: "ms", description: "TCP echo round trip host <-> guest",
                                                        series: MeasuredSeries(warmup: rtt.warmup, samples: rtt.samples), judged: true))
        let checked = try Fixture.writeAndCheck(file)
        let s = try #require(checked["network_latency_ms"])
        #expect(s.count == config.iterations * 10 && s.min > 0)
        #expect(s.meetsTarget == (s.median < 50))
    }
}

@Suite(.tags(.cpu, .baseline))
struct `CPU utilisation [tag:cpu] [tag:baseline]` {
    @Test func `VMM CPU while idle and while serving tool calls`() throws {
        let backend = try Fixture.backend()
        let config = try Fixture.config()
        let load = ProcProbes.loadAverage1()
        let vm = try backend.spawn(SpawnOptions())
        defer { vm.shutdown(); Fixture.expectNoVMLeft() }
        let windows = max(3, config.iterations / 2)
        var idle: [Double] = [], busy: [Double] = []
        _ = try vm.session.call(.writeFile, ["path": .string("cpu.txt"), "content": .string("x")])
        _ = try SandboxProbes.cpuPercent(pid: vm.pid, seconds: 0.5)  // warm-up: let boot activity settle
        for _ in 0..<windows {
            idle.append(try SandboxProbes.cpuPercent(pid: vm.pid, seconds: 0.5))
            busy.append(try SandboxProbes.cpuPercent(pid: vm.pid, seconds: 0.5) {
                _ = try vm.session.call(.readFile, ["path": .string("cpu.txt")], timeout: 10)
            })
        }
        var file = RunContext.newFile(scope: "cpu", phase: .baseline, backend: backend, iterations: windows, warmup: 1, loadBefore: load,
                                      notes: ["cpu_percent: CPU time of the sandbox's VMM process per wall time over 0.5 s windows while idle after boot (100 % = one core).",
                                              "cpu_busy_percent: the same while the harness sends back-to-back tool calls."])
        file.add("cpu_percent", try MetricSeries(metric: .cpu, unit: "%", description: "idle sandbox VMM CPU", series: MeasuredSeries(samples: idle), judged: true))
        file.add("cpu_busy_percent", try MetricSeries(metric: .cpu, unit: "%", description: "VMM CPU under back-to-back tool calls", series: MeasuredSeries(samples: busy), judged: false))
        let checked = try Fixture.writeAndCheck(file)
        let i = try #require(checked["cpu_percent"]), b = try #require(checked["cpu_busy_percent"])
        #expect(i.min >= 0 && b.max <= 100 * Double(ProcessInfo.processInfo.activeProcessorCount) + 10)
        #expect(b.median > i.median, "serving calls must cost more CPU than idling (idle \(i.median) %, busy \(b.median) %)")
    }
}

@Suite(.tags(.throughput, .baseline))
struct `Throughput [tag:throughput] [tag:baseline]` {
    @Test func `tool calls per minute through one sandbox`() throws {
        let backend = try Fixture.backend()
        let config = try Fixture.config()
        let load = ProcProbes.loadAverage1()
        let vm = try backend.spawn(SpawnOptions())
        defer { vm.shutdown(); Fixture.expectNoVMLeft() }
        _ = try SandboxProbes.throughputOpsPerMinute(session: vm.session, windows: 1, seconds: 0.2)  // warm-up
        let windows = max(3, config.iterations / 2)
        let rates = try SandboxProbes.throughputOpsPerMinute(session: vm.session, windows: windows, seconds: 0.5)
        var file = RunContext.newFile(scope: "throughput", phase: .baseline, backend: backend, iterations: windows, warmup: 1, loadBefore: load,
                                      notes: ["throughput_ops_per_min: read_file calls (256 bytes) completed back to back through the guest agent in 0.5 s windows, scaled to a minute."])
        file.add("throughput_ops_per_min", try MetricSeries(metric: .throughput, unit: "ops/min", description: "sequential tool calls per minute",
                                                            series: MeasuredSeries(samples: rates), judged: true))
        let checked = try Fixture.writeAndCheck(file)
        let s = try #require(checked["throughput_ops_per_min"])
        #expect(s.count == windows && s.min > 0)
        #expect(s.meetsTarget == (s.median >= 1000))
    }
}

@Suite(.tags(.startup, .baseline))
struct `Start-up [tag:startup] [tag:baseline]` {
    @Test func `orchestrator process start to first tool result`() throws {
        let backend = try Fixture.backend()
        let config = try Fixture.config()
        let lgperf = try Startup.lgperfPath()
        let load = ProcProbes.loadAverage1()
        let runs = max(3, config.iterations / 2)
        var warm: [Double] = [], samples: [Double] = []
        for i in 0..<(1 + runs) {
            let ms = try Startup.measureOnce(lgperf: lgperf, backend: backend.kind)
            Fixture.log(String(format: "  start-up %d/%d: %.1f ms", i, runs, ms))
            if i == 0 { warm.append(ms) } else { samples.append(ms) }
        }
        Fixture.expectNoVMLeft()
        var file = RunContext.newFile(scope: "startup", phase: .baseline, backend: backend, iterations: runs, warmup: 1, loadBefore: load,
                                      notes: ["startup_time_ms: from starting a fresh orchestrator process (lgperf startup-probe, \((lgperf as NSString).lastPathComponent) at \(lgperf)) to its first tool execution (execute_command in the sandbox) completing."])
        file.add("startup_time_ms", try MetricSeries(metric: .startup, unit: "ms", description: "process start to first tool result",
                                                     series: MeasuredSeries(warmup: warm, samples: samples), judged: true))
        let checked = try Fixture.writeAndCheck(file)
        let s = try #require(checked["startup_time_ms"])
        #expect(s.count == runs && s.min > 0)
        #expect(s.meetsTarget == (s.median < 500))
    }
}
}

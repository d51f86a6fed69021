import Foundation
import AgentProtocol
import VMFixtures
#if canImport(Glibc)
import Glibc
#endif

/// The network faults: each on one sandbox with a NIC (booted cold: pooled
/// sandboxes have none), injected and healed in turn.
extension FaultRounds {
    /// Partitions one networked sandbox `rounds` times: the checker must see
    /// the link down, the agent channel (not part of the network) must keep
    /// answering, and the link must come back healthy once restored.
    func partitionRounds(backend: QEMUBackend, rounds: Int) throws -> [FaultOutcome] {
        let vm0 = try backend.spawn(SpawnOptions(network: true))
        defer { vm0.shutdown() }
        guard let vm = vm0 as? QEMUSandbox else { throw ConfigError("not a QEMU sandbox") }
        let c = try checker(for: vm)
        defer { c.stop() }
        var outs: [FaultOutcome] = []
        for _ in 0..<rounds {
            var out = FaultOutcome(kind: .networkPartition)
            let fault = try FaultInjector.inject(.networkPartition, into: vm)
            if let v = c.waitForFailure(timeout: missAfter + 10) {
                out.detectionMs = Double(Int64(v.atNs) - Int64(fault.atNs)) / 1e6
                out.verdict = v.reason
            } else { out.problems.append("network_partition: no unhealthy verdict") }
            if (try? vm.session.ping(timeout: 5)) == nil { out.problems.append("network_partition: the agent channel failed during the partition") }
            try fault.undo()
            let end = Monotonic.nanos() + 10_000_000_000
            while Monotonic.nanos() < end {
                if let l = c.latest, l.healthy, l.atNs > fault.atNs { break }
                usleep(2_000)
            }
            if c.latest?.healthy != true { out.problems.append("network_partition: still unhealthy 10 s after the link came back") }
            c.reset()
            outs.append(out)
        }
        return outs
    }

    /// Degrades one networked sandbox's network `rounds` times: the checker's
    /// echo probe must see it, the agent channel must keep answering, and the
    /// echo must come back to normal once netem is removed.
    func degradedRounds(backend: QEMUBackend, rounds: Int) throws -> (outcomes: [FaultOutcome], baselineMs: [Double], degradedMs: [Double]) {
        let vm0 = try backend.spawn(SpawnOptions(network: true))
        defer { vm0.shutdown() }
        guard let vm = vm0 as? QEMUSandbox, let port = vm.echoPort, vm.healthFD >= 0 else { throw ConfigError("not a networked QEMU sandbox") }
        let c = HealthChecker(fd: vm.healthFD, interval: interval, missAfter: missAfter)
        c.echoPort = port
        c.start()
        defer { c.stop() }
        let t0 = Monotonic.nanos()
        let calibrated = t0 + 20_000_000_000
        while c.echoBaselineMs == nil && Monotonic.nanos() < calibrated { usleep(10_000) }
        guard c.echoBaselineMs != nil, c.failure == nil else { throw ConfigError("the echo probe could not calibrate (\(c.failure?.reason ?? "no echo"))") }
        var outs: [FaultOutcome] = [], before: [Double] = [], during: [Double] = []
        for _ in 0..<rounds {
            var out = FaultOutcome(kind: .networkDegraded)
            let tBefore = Monotonic.nanos()
            usleep(300_000)
            before += c.echoSamples(since: tBefore)
            let fault = try FaultInjector.inject(.networkDegraded, into: vm)
            if let v = c.waitForFailure(timeout: missAfter + 10) {
                out.detectionMs = Double(Int64(v.atNs) - Int64(fault.atNs)) / 1e6
                out.verdict = v.reason
                if !v.reason.hasPrefix("network degraded") { out.problems.append("network_degraded judged as '\(v.reason)'") }
            } else { out.problems.append("network_degraded: no unhealthy verdict") }
            usleep(300_000)
            during += c.echoSamples(since: fault.atNs)
            if (try? vm.session.ping(timeout: 5)) == nil { out.problems.append("network_degraded: the agent channel failed") }
            try fault.undo()
            let healed = Monotonic.nanos() + 15_000_000_000
            c.reset()
            usleep(UInt32(interval * 3e6))
            while Monotonic.nanos() < healed {
                if let l = c.latest, l.healthy, c.failure == nil { break }
                c.reset()
                usleep(50_000)
            }
            if c.latest?.healthy != true { out.problems.append("network_degraded: still degraded 15 s after netem was removed") }
            c.reset()
            outs.append(out)
        }
        return (outs, before, during)
    }
}

import Foundation
import Testing
import AgentProtocol
import VMFixtures

/// The guest's clock must run at the host's rate: boot times, the agent's
/// own times and command timeouts all come from it.
@Suite struct GuestClockTests {
    @Test func theHostCounterRateIsMeasuredAndGivenToTheGuest() throws {
        #if arch(x86_64)
        let khz = try #require(HostTSC.kHz, "no TSC rate measured on an x86-64 host")
        #expect(khz % 1000 == 0 && khz > 100_000 && khz < 10_000_000)
        #expect(QEMUBackend.kernelArguments.contains("tsc_early_khz=\(khz)"))
        #endif
    }

    @Test func aSecondInTheGuestIsASecondOnTheHost() throws {
        let vm = try BackendChoice.qemu().spawn(SpawnOptions(readyTimeout: 30))
        defer { vm.shutdown() }
        let t0 = Monotonic.nanos()
        let (result, agentMs) = try vm.session.measuredCall(.executeCommand, ["command": .string("sleep 0.5")])
        let hostMs = Double(Monotonic.nanos() - t0) / 1e6
        let guestMs = try #require(agentMs)
        // The agent's time is part of the host's round trip, so never longer;
        // and the guest really slept 500 ms, so a clock at the right rate
        // cannot read less. With a wrong TSC rate (2 GHz assumed on a 2.6 GHz
        // host) the guest said 650 ms for the host's 500. (Not bounded by the
        // host's round trip from below: on a slow or CPU-throttled host the
        // round trip also holds time the guest spent waiting to run.)
        #expect(guestMs <= hostMs * 1.01, "guest \(guestMs) ms within a host round trip of \(hostMs) ms")
        #expect(guestMs >= 500 * 0.97, "guest \(guestMs) ms for a 500 ms sleep (host round trip \(hostMs) ms)")
        #expect(try #require(result["duration_ms"]?.number) >= 500)
    }
}

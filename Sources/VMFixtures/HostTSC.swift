import Foundation
import CSysShims
import LGSettings
#if canImport(Glibc)
import Glibc
#endif

/// The host's time-stamp counter rate, which a guest must be told.
///
/// Under TCG, QEMU answers the guest's rdtsc with the host's counter, so a
/// guest booted with a made-up `tsc_early_khz` (needed: calibration hangs
/// under TCG) runs its clock fast or slow by the ratio of the two rates.
/// With 2 GHz assumed on a 2.6 GHz host, `sleep 1` in the guest took 0.78 s
/// and every time the guest reported (its boot, the agent's own time) was
/// 30 % high. Measured against CLOCK_MONOTONIC_RAW once per boot of the
/// host (the rate is fixed while it runs) and remembered (``StatMemo``, by
/// boot id): measuring takes 45 ms, before a fresh process's first sandbox,
/// and one measurement per boot keeps the kernel command line, part of a
/// snapshot's identity, the same in every process.
public enum HostTSC {
    /// kHz, rounded to whole MHz; nil where there is no usable counter (not
    /// x86-64).
    public static let kHz: Int? = remembered()

    static func remembered() -> Int? {
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !boot.isEmpty else { return measure() }
        let path = StatMemo.path(cache: ProjectPaths.cacheDirectory, kind: "tsc-khz", subject: boot)
        if let v = StatMemo.value(at: path, subject: boot), let k = Int(v), k > 100_000 { return k }
        // Kept for the boot only when two measurements in a row agree: one
        // taken while the process was descheduled between its two clock
        // reads is off, and must not outlive this process. They are compared
        // unrounded: on a host whose rate lies near a half MHz (2445.5 MHz
        // seen here) rounded values disagreed in about half the processes,
        // nothing was kept, and fresh processes' kernel command lines (part
        // of a snapshot's identity) flipped between two rates.
        var previous = measureKHz()
        for _ in 0..<4 {
            guard let a = previous, let b = measureKHz() else { break }
            if let k = agreed(a, b) {
                StatMemo(subject: boot, value: String(k), entries: []).save(path)
                return k
            }
            previous = b
        }
        return previous.map(rounded)
    }

    /// Two measurements (kHz) that agree within 0.1 %, as one rate rounded to
    /// whole MHz; nil when they do not.
    static func agreed(_ a: Double, _ b: Double) -> Int? {
        guard a > 0, b > 0, abs(a - b) <= 0.001 * max(a, b) else { return nil }
        return rounded((a + b) / 2)
    }

    static func rounded(_ kHz: Double) -> Int { Int((kHz / 1000).rounded()) * 1000 }

    static func measure() -> Int? { measureKHz().map(rounded) }

    /// Ticks per ms of CLOCK_MONOTONIC_RAW: the median of three 15 ms samples.
    static func measureKHz() -> Double? {
        func rawNanos() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC_RAW, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
        var rates: [Double] = []
        for _ in 0..<3 {
            let (n0, c0) = (rawNanos(), lg_rdtsc())
            var pause = timespec(tv_sec: 0, tv_nsec: 15_000_000), left = timespec()
            while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
            let (n1, c1) = (rawNanos(), lg_rdtsc())
            guard c0 != 0, c1 > c0, n1 > n0 else { return nil }
            rates.append(Double(c1 - c0) / (Double(n1 - n0) / 1e6))  // ticks per ms = kHz
        }
        let median = rates.sorted()[1]
        guard median > 100_000 else { return nil }  // below 100 MHz: not a real TSC
        return median
    }
}

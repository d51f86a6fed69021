import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct ProbeError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// Memory of one process, from /proc/PID/status and /proc/PID/smaps_rollup.
public struct ProcessMemory: Sendable, Equatable {
    public var pid: Int32
    /// Resident set size now (VmRSS), bytes.
    public var rssBytes: UInt64
    /// Peak resident set size (VmHWM), bytes.
    public var peakRSSBytes: UInt64
    /// Proportional set size (shared pages divided among their users), bytes.
    public var pssBytes: UInt64
    /// Anonymous resident memory (RssAnon), bytes: for a VMM, mostly guest RAM.
    public var anonymousBytes: UInt64

    public var rssMB: Double { Double(rssBytes) / 1_048_576 }
    public var peakRSSMB: Double { Double(peakRSSBytes) / 1_048_576 }
    public var pssMB: Double { Double(pssBytes) / 1_048_576 }
}

public enum ProcProbes {
    /// Reads "Key:   123 kB" style fields (values in bytes) from a /proc file.
    static func kbFields(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let rest = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let n = rest.first.flatMap({ UInt64($0) }) else { continue }
            out[key] = rest.count > 1 && rest[1] == "kB" ? n * 1024 : n
        }
        return out
    }

    /// The whole text of a /proc file (they report size 0, so read to the end).
    public static func read(_ path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw ProbeError("cannot open \(path) (process gone?)") }
        defer { try? h.close() }
        return try readAll(h, path: path)
    }

    /// The throwing read matters: a process can exit between open and read
    /// (ESRCH), and the non-throwing readDataToEndOfFile traps on that.
    static func readAll(_ h: FileHandle, path: String) throws -> String {
        do {
            return String(decoding: try h.readToEnd() ?? Data(), as: UTF8.self)
        } catch {
            throw ProbeError("cannot read \(path) (process gone?)")
        }
    }

    public static func memory(of pid: Int32) throws -> ProcessMemory {
        let status = kbFields(try read("/proc/\(pid)/status"))
        guard let rss = status["VmRSS"] else { throw ProbeError("/proc/\(pid)/status has no VmRSS (a kernel thread or a zombie?)") }
        let rollup = kbFields((try? read("/proc/\(pid)/smaps_rollup")) ?? "")
        return ProcessMemory(pid: pid, rssBytes: rss, peakRSSBytes: status["VmHWM"] ?? rss,
                             pssBytes: rollup["Pss"] ?? rss, anonymousBytes: status["RssAnon"] ?? 0)
    }

    public static func selfMemory() throws -> ProcessMemory { try memory(of: getpid()) }

    /// Children, grandchildren, ... of `pid`, from each process's PPid.
    public static func descendants(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var parent: [Int32: Int32] = [:]
        for e in entries {
            guard let p = Int32(e), let stat = try? read("/proc/\(p)/stat"),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let pp = Int32(fields[1]) { parent[p] = pp }
        }
        var out: [Int32] = []
        var frontier = [pid]
        while let p = frontier.popLast() {
            let kids = parent.filter { $0.value == p }.map(\.key)
            out += kids
            frontier += kids
        }
        return out.sorted()
    }

    /// Summed memory of a process and all its descendants.
    public static func treeMemory(of pid: Int32) throws -> ProcessMemory {
        var total = try memory(of: pid)
        for d in descendants(of: pid) {
            guard let m = try? memory(of: d) else { continue }
            total.rssBytes += m.rssBytes; total.peakRSSBytes += m.peakRSSBytes
            total.pssBytes += m.pssBytes; total.anonymousBytes += m.anonymousBytes
        }
        return total
    }

    /// User + system CPU time of a process, in seconds (from /proc/PID/stat).
    public static func cpuSeconds(of pid: Int32) throws -> Double {
        let stat = try read("/proc/\(pid)/stat")
        guard let close = stat.lastIndex(of: ")") else { throw ProbeError("malformed /proc/\(pid)/stat") }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state(0) ppid(1) ... utime(11) stime(12).
        guard f.count > 12, let u = Double(f[11]), let s = Double(f[12]) else { throw ProbeError("malformed /proc/\(pid)/stat") }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    public static func memAvailableMB() -> Double? {
        guard let t = try? read("/proc/meminfo"), let v = kbFields(t)["MemAvailable"] else { return nil }
        return Double(v) / 1_048_576
    }

    public static func loadAverage1() -> Double? {
        guard let t = try? read("/proc/loadavg") else { return nil }
        return t.split(separator: " ").first.flatMap { Double($0) }
    }
}

/// Measures a process's CPU use over an interval: CPU seconds / wall seconds,
/// as a percentage of one core (100 % = one core busy).
public struct CPUMeter {
    let pid: Int32
    let startCPU: Double
    let startWall: UInt64

    public init(pid: Int32) throws {
        self.pid = pid
        startCPU = try ProcProbes.cpuSeconds(of: pid)
        var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts)
        startWall = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public func percent() throws -> Double {
        let cpu = try ProcProbes.cpuSeconds(of: pid) - startCPU
        var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts)
        let wall = Double(UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec) - startWall) / 1e9
        return wall > 0 ? 100 * cpu / wall : 0
    }
}

/// The whole host's CPU use over an interval, from the first line of
/// /proc/stat (all cores): busy jiffies / all jiffies, as a percentage of
/// every core together (100 % = all cores busy). Busy is everything but idle
/// and iowait.
public struct HostCPUMeter {
    let start: (busy: UInt64, total: UInt64)

    public init(proc: String = "/proc") throws {
        self.proc = proc
        start = try Self.times(proc)
    }
    let proc: String

    /// (busy, total) jiffies summed over all cores since boot.
    public static func times(_ proc: String = "/proc") throws -> (busy: UInt64, total: UInt64) {
        try parse(ProcProbes.read(proc + "/stat"))
    }

    static func parse(_ text: String) throws -> (busy: UInt64, total: UInt64) {
        guard let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else {
            throw ProbeError("/proc/stat does not start with the all-cores cpu line")
        }
        // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
        let f = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard f.count >= 4 else { throw ProbeError("malformed /proc/stat cpu line: \(line)") }
        let fields = Array(f.prefix(8))
        let total = fields.reduce(0, +)
        let idle = fields[3] + (fields.count > 4 ? fields[4] : 0)
        return (total - idle, total)
    }

    public func percent() throws -> Double {
        let now = try Self.times(proc)
        let total = now.total &- start.total
        return total > 0 ? 100 * Double(now.busy &- start.busy) / Double(total) : 0
    }
}

/// Facts about the host, for the metrics files' `host` block.
public struct HostFacts: Sendable {
    public let hostname: String
    public let cpuModel: String
    public let cores: Int
    public let kernel: String
    public let memoryTotalMB: Double

    public static func collect() -> HostFacts {
        let cpuinfo = (try? ProcProbes.read("/proc/cpuinfo")) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let node = withUnsafeBytes(of: u.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let mem = (try? ProcProbes.read("/proc/meminfo")).flatMap { ProcProbes.kbFields($0)["MemTotal"] } ?? 0
        return HostFacts(hostname: node, cpuModel: model, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                         kernel: release, memoryTotalMB: Double(mem) / 1_048_576)
    }
}

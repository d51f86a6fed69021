import Foundation
import PerfMetrics
import PerfStats
import VMFixtures

/// One budget judgement: a measured value against its limit, with a text that
/// says both (and, for floor-relative budgets, the floor), e.g.
/// `spawn median 1053 ms = 1.28 x floor 821 ms (budget <= 1.6 x)`.
public struct BudgetCheck: Sendable, Equatable, CustomStringConvertible {
    /// What is judged, e.g. "spawn median".
    public let name: String
    /// The judged value: a ratio to the floor median, or an absolute value in
    /// the series' unit. NaN when it could not be computed (no floor).
    public let value: Double
    public let limit: Double
    public let ok: Bool
    public let text: String

    public init(name: String, value: Double, limit: Double, ok: Bool, text: String) {
        self.name = name; self.value = value; self.limit = limit; self.ok = ok; self.text = text
    }

    public var description: String { (ok ? "ok: " : "FAILED: ") + text }
}

/// Budgets from Fixtures/budgets/emulation-budgets.json: what the suites assert
/// where the guide's KVM targets cannot apply (see that file), and the one
/// place where a metrics file is judged against them (``checks(for:)``).
///
/// For VMs (the `tcg` and `kvm` sections) time budgets are ratios to the
/// platform floor measured in the same run (``PlatformFloor``, series
/// `platform_floor_ms`): machines of one kind differ ~2x in emulation speed,
/// and a ratio carries between them where milliseconds do not. Memory stays
/// absolute (it does not scale with CPU speed). The process backend has no VM
/// and so no floor: its time budgets are absolute milliseconds.
public struct Budget: Sendable, Equatable {
    /// The section of the budgets file: "tcg", "kvm" or "process".
    public let key: String
    /// Time budgets relative to the floor median (VM backends).
    public let spawnMedianFloorRatio: Double?
    public let spawnP95FloorRatio: Double?
    public let restoreMedianFloorRatio: Double?
    public let checkoutP95FloorRatio: Double?
    /// Absolute time budgets (process backend).
    public let spawnMedianMs: Double?
    public let spawnP95Ms: Double?
    public let memoryPSSMedianMB: Double
    public let harnessOverheadRatio: Double?
    /// Start-up (scope `startup`): from the template / cold, same run.
    public let startupTemplateColdRatio: Double?
    /// A fresh `lgperf mcp-server` answering `initialize`: host-side work
    /// only (no VM is involved), so absolute ms.
    public let mcpInitializeMs: Double?
    /// A fresh `lgperf mcp-server`'s first tool call answered / the same
    /// run's templated restore median.
    public let mcpFirstCallStartupRatio: Double?

    public init(key: String, spawnMedianFloorRatio: Double? = nil, spawnP95FloorRatio: Double? = nil,
                restoreMedianFloorRatio: Double? = nil, checkoutP95FloorRatio: Double? = nil,
                spawnMedianMs: Double? = nil, spawnP95Ms: Double? = nil, memoryPSSMedianMB: Double,
                harnessOverheadRatio: Double? = nil, startupTemplateColdRatio: Double? = nil,
                mcpInitializeMs: Double? = nil, mcpFirstCallStartupRatio: Double? = nil) {
        self.startupTemplateColdRatio = startupTemplateColdRatio; self.mcpInitializeMs = mcpInitializeMs
        self.mcpFirstCallStartupRatio = mcpFirstCallStartupRatio
        self.key = key
        self.spawnMedianFloorRatio = spawnMedianFloorRatio; self.spawnP95FloorRatio = spawnP95FloorRatio
        self.restoreMedianFloorRatio = restoreMedianFloorRatio; self.checkoutP95FloorRatio = checkoutP95FloorRatio
        self.spawnMedianMs = spawnMedianMs; self.spawnP95Ms = spawnP95Ms
        self.memoryPSSMedianMB = memoryPSSMedianMB; self.harnessOverheadRatio = harnessOverheadRatio
    }

    /// Whether time budgets are ratios to the platform floor (every VM backend).
    public var relativeToFloor: Bool { key != "process" }

    public static var defaultPath: String { ProjectPaths.root + "/Fixtures/budgets/emulation-budgets.json" }

    public static func forBackend(_ backend: any VMBackend) throws -> Budget {
        try load(kind: backend.kind, accelerator: backend.accelerator)
    }

    /// The budget for a backend kind and accelerator from the budgets file.
    /// A section missing a budget its kind needs is an error, never a pass.
    public static func load(kind: BackendKind, accelerator: Accelerator, path: String = Budget.defaultPath) throws -> Budget {
        let key = kind == .process ? "process" : accelerator.rawValue
        guard let data = FileManager.default.contents(atPath: path),
              let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError("cannot read the budgets file \(path)")
        }
        guard let b = root[key] as? [String: Any] else { throw ConfigError("\(path) has no '\(key)' budget") }
        func need(_ name: String) throws -> Double {
            guard let v = b[name] as? Double, v > 0 else {
                throw ConfigError("\(path): the '\(key)' budget has no positive '\(name)'")
            }
            return v
        }
        if key == "process" {
            return Budget(key: key, spawnMedianMs: try need("spawn_median_ms"), spawnP95Ms: try need("spawn_p95_ms"),
                          memoryPSSMedianMB: try need("memory_pss_median_mb"),
                          harnessOverheadRatio: b["harness_overhead_ratio"] as? Double,
                          mcpInitializeMs: try need("mcp_initialize_ms"))
        }
        return Budget(key: key, spawnMedianFloorRatio: try need("spawn_median_floor_ratio"),
                      spawnP95FloorRatio: try need("spawn_p95_floor_ratio"),
                      restoreMedianFloorRatio: try need("restore_median_floor_ratio"),
                      checkoutP95FloorRatio: try need("checkout_p95_floor_ratio"),
                      memoryPSSMedianMB: try need("memory_pss_median_mb"),
                      harnessOverheadRatio: b["harness_overhead_ratio"] as? Double,
                      startupTemplateColdRatio: try need("startup_template_cold_ratio"),
                      mcpInitializeMs: try need("mcp_initialize_ms"),
                      mcpFirstCallStartupRatio: try need("mcp_first_call_startup_ratio"))
    }

    /// Every budget check that applies to `file`, judged with `backend`'s budget.
    public static func checks(for file: MetricsFile, backend: any VMBackend) throws -> [BudgetCheck] {
        guard file.labels.backend == backend.kind.rawValue, file.labels.accelerator == backend.accelerator.rawValue else {
            throw ConfigError("the metrics file is labelled \(file.labels.backend)/\(file.labels.accelerator), not \(backend.kind.rawValue)/\(backend.accelerator.rawValue): judge it with its own backend's budget")
        }
        return try forBackend(backend).checks(for: file)
    }

    /// Every budget check that applies to `file`:
    /// - a pool file (scope `pool`): pool checkout p95 (`spawn_time_ms`) and
    ///   snapshot restore median (`restore_to_ready_ms`);
    /// - any other file: cold spawn median and p95 (`spawn_time_ms`);
    /// - a start-up file (scope `startup`): ``startupChecks(for:)``;
    /// - any file: per-VM memory median (`memory_mb`).
    /// Time budgets of a VM backend are ratios to the median of the file's
    /// `platform_floor_ms`; without it each such check fails ("no floor
    /// measured"). A file with none of these series throws: nothing judged is
    /// not a pass.
    public func checks(for file: MetricsFile) throws -> [BudgetCheck] {
        var out: [BudgetCheck] = []
        let floor = file[PlatformFloor.seriesName]
        func time(_ name: String, _ value: Double, relative ratio: Double?, absolute ms: Double?) {
            if relativeToFloor {
                guard let k = ratio else { return }
                guard let f = floor, f.median > 0 else {
                    out.append(BudgetCheck(name: name, value: .nan, limit: k, ok: false,
                                           text: "\(name) \(Self.number(value)) ms: no floor measured (no \(PlatformFloor.seriesName) series in the file), so it cannot be judged against its budget <= \(Self.limit(k)) x floor"))
                    return
                }
                let r = value / f.median
                out.append(BudgetCheck(name: name, value: r, limit: k, ok: r <= k,
                                       text: "\(name) \(Self.number(value)) ms = \(Self.number(r)) x floor \(Self.number(f.median)) ms (budget <= \(Self.limit(k)) x)"))
            } else if let limit = ms {
                out.append(BudgetCheck(name: name, value: value, limit: limit, ok: value <= limit,
                                       text: "\(name) \(Self.number(value)) ms (budget <= \(Self.limit(limit)) ms)"))
            }
        }
        if file.scope == "pool" {
            if let checkout = file["spawn_time_ms"] {
                time("pool checkout p95", checkout.p95, relative: checkoutP95FloorRatio, absolute: nil)
            }
            if let restore = file["restore_to_ready_ms"] {
                time("restore median", restore.median, relative: restoreMedianFloorRatio, absolute: nil)
            }
        } else if file.scope == "startup" {
            out += startupChecks(for: file)
        } else if let spawn = file["spawn_time_ms"] {
            time("spawn median", spawn.median, relative: spawnMedianFloorRatio, absolute: spawnMedianMs)
            time("spawn p95", spawn.p95, relative: spawnP95FloorRatio, absolute: spawnP95Ms)
        }
        if let memory = file["memory_mb"] {
            out.append(BudgetCheck(name: "memory PSS median", value: memory.median, limit: memoryPSSMedianMB, ok: memory.median <= memoryPSSMedianMB,
                                   text: "memory PSS median \(Self.number(memory.median)) MB (budget <= \(Self.limit(memoryPSSMedianMB)) MB)"))
        }
        guard !out.isEmpty else {
            throw ConfigError("no '\(key)' budget applies to the \(file.scope) metrics file (series: \(file.series.map(\.name).joined(separator: ", "))): nothing judged is not a pass")
        }
        return out
    }

    /// A start-up file's checks, each against figures of the same run:
    /// - start-up from the template (`startup_time_ms`) median / cold
    ///   (`startup_cold_ms`) median, and no template start-up booted cold
    ///   (`startup_cold_fallbacks`): VM backends;
    /// - a fresh mcp-server's `initialize` median, absolute (host-side work);
    /// - its first tool call median / the templated restore median
    ///   (`template_restore_to_ready_ms`): VM backends.
    /// A series a check needs that is missing fails that check.
    func startupChecks(for file: MetricsFile) -> [BudgetCheck] {
        var out: [BudgetCheck] = []
        func ratio(_ name: String, _ numerator: String, _ denominator: String, _ limit: Double?, _ what: String) {
            guard let k = limit else { return }
            guard let n = file[numerator], let d = file[denominator], d.median > 0 else {
                out.append(BudgetCheck(name: name, value: .nan, limit: k, ok: false,
                                       text: "\(name): \(file[numerator] == nil ? numerator : denominator) was not measured, so it cannot be judged against its budget <= \(Self.limit(k)) x \(what)"))
                return
            }
            let r = n.median / d.median
            out.append(BudgetCheck(name: name, value: r, limit: k, ok: r <= k,
                                   text: "\(name) median \(Self.number(n.median)) ms = \(Self.number(r)) x \(what) \(Self.number(d.median)) ms (budget <= \(Self.limit(k)) x)"))
        }
        if relativeToFloor {
            ratio("start-up from the template", "startup_time_ms", "startup_cold_ms", startupTemplateColdRatio, "cold start-up")
            if let k = startupTemplateColdRatio {
                let n = file["startup_cold_fallbacks"]?.samples.first
                out.append(BudgetCheck(name: "template start-ups booted cold", value: n ?? .nan, limit: 0, ok: n == 0,
                                       text: n.map { "template start-ups that booted cold: \(Int($0)) (budget 0; the ratio <= \(Self.limit(k)) holds only for start-ups from the template)" }
                                           ?? "template start-ups that booted cold: not counted (no startup_cold_fallbacks series)"))
            }
            // Like for like: both are a fresh process that finds the image,
            // restores the template and answers a first call (a ratio to the
            // restore alone moved 2.9x -> 4.1x at half a core, where the
            // host-side share grows).
            ratio("mcp-server first call", "mcp_server_first_call_ms", "startup_time_ms", mcpFirstCallStartupRatio, "start-up from the template")
        }
        if let limit = mcpInitializeMs {
            if let s = file["mcp_server_initialize_ms"] {
                out.append(BudgetCheck(name: "mcp-server initialize", value: s.median, limit: limit, ok: s.median <= limit,
                                       text: "mcp-server initialize median \(Self.number(s.median)) ms, p95 \(Self.number(s.p95)) ms, host-side (budget <= \(Self.limit(limit)) ms)"))
            } else {
                out.append(BudgetCheck(name: "mcp-server initialize", value: .nan, limit: limit, ok: false,
                                       text: "mcp-server initialize was not measured (no mcp_server_initialize_ms series)"))
            }
        }
        return out
    }

    /// The harness overhead ratio (suite spawn / hand-started QEMU) against
    /// its budget; 1.05, the goal, where the budgets file sets none.
    public func harnessOverheadCheck(ratio: Double) -> BudgetCheck {
        let k = harnessOverheadRatio ?? 1.05
        return BudgetCheck(name: "harness overhead", value: ratio, limit: k, ok: ratio <= k,
                           text: "harness overhead \(Self.number(ratio)) x a hand-started QEMU (budget <= \(Self.limit(k)) x)")
    }

    /// 1053, 82.1, 1.28, 0.00207: enough digits to read, no more.
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        let a = abs(x)
        if a >= 100 { return String(format: "%.0f", x) }
        if a >= 10 { return String(format: "%.1f", x) }
        if a >= 1 { return String(format: "%.2f", x) }
        return String(format: "%.3g", x)
    }

    /// A limit as written in the budgets file: 1.6, 200, 0.005.
    static func limit(_ x: Double) -> String { String(format: "%g", x) }
}

import PerfStats

/// The seven metrics of the performance guide. Raw values double as the
/// Swift Testing tag names.
public enum MetricKind: String, CaseIterable, Codable, Sendable {
    case startup, spawn, memory, latency, cpu, network, throughput
}

/// The six phases of the guide's 12-week plan.
public enum Phase: String, CaseIterable, Codable, Sendable {
    case baseline, scale, exhaustion, chaos, recovery, production

    /// "1-2" for baseline, "3-4" for scale, ...
    public var weeks: String {
        let first = 2 * (Phase.allCases.firstIndex(of: self)!) + 1
        return "\(first)-\(first + 1)"
    }

    public var focus: String {
        switch self {
        case .baseline: return "Single-agent baseline"
        case .scale: return "5-10 concurrent agents"
        case .exhaustion: return "100+ concurrent agents"
        case .chaos: return "VM kills, network partitions"
        case .recovery: return "Error handling and recovery"
        case .production: return "Pre-deployment validation"
        }
    }
}

/// A target from the guide. `meets` compares the *median* with the threshold
/// (the guide's tables are stated for typical performance; p95 enters the grade).
public struct Target: Sendable, Equatable, Codable {
    public enum Direction: String, Sendable, Codable { case below, atLeast }
    public let threshold: Double
    public let direction: Direction
    public let unit: String

    public func meets(median: Double) -> Bool {
        switch direction {
        case .below: return median < threshold
        case .atLeast: return median >= threshold
        }
    }

    public var text: String {
        let n = threshold == threshold.rounded() ? String(Int(threshold)) : String(threshold)
        return direction == .below ? "< \(n) \(unit)" : ">= \(n) \(unit)"
    }
}

public enum Grade: String, Sendable, Codable, Comparable {
    case excellent = "Excellent", good = "Good", acceptable = "Acceptable", belowTarget = "Below target"

    private var rank: Int {
        switch self { case .excellent: 0; case .good: 1; case .acceptable: 2; case .belowTarget: 3 }
    }
    public static func < (a: Grade, b: Grade) -> Bool { a.rank < b.rank }
}

/// The guide's interpretation tables: upper bounds of Excellent, Good and
/// Acceptable for the median and for p95. The grade is the worse of the two.
public struct GradeBands: Sendable, Equatable {
    public let median: (Double, Double, Double)
    public let p95: (Double, Double, Double)

    public static func == (a: GradeBands, b: GradeBands) -> Bool {
        a.median == b.median && a.p95 == b.p95
    }

    public func grade(median m: Double, p95 p: Double) -> Grade {
        func band(_ v: Double, _ b: (Double, Double, Double)) -> Grade {
            if v < b.0 { return .excellent }
            if v < b.1 { return .good }
            if v <= b.2 { return .acceptable }
            return .belowTarget
        }
        return max(band(m, median), band(p, p95))
    }
}

public enum Catalogue {
    public static func target(for kind: MetricKind) -> Target {
        switch kind {
        case .startup: return Target(threshold: 500, direction: .below, unit: "ms")
        case .spawn: return Target(threshold: 200, direction: .below, unit: "ms")
        case .memory: return Target(threshold: 200, direction: .below, unit: "MB")
        case .latency: return Target(threshold: 100, direction: .below, unit: "ms")
        case .cpu: return Target(threshold: 50, direction: .below, unit: "%")
        case .network: return Target(threshold: 50, direction: .below, unit: "ms")
        case .throughput: return Target(threshold: 1000, direction: .atLeast, unit: "ops/min")
        }
    }

    /// Grade bands exist for the three metrics the guide tabulates.
    public static func bands(for kind: MetricKind) -> GradeBands? {
        switch kind {
        case .spawn: return GradeBands(median: (100, 150, 200), p95: (110, 180, 220))
        case .memory: return GradeBands(median: (150, 200, 250), p95: (170, 220, 280))
        case .latency: return GradeBands(median: (50, 100, 150), p95: (70, 120, 180))
        default: return nil
        }
    }

    /// The guide's field name for a metric's headline series.
    public static func fieldName(for kind: MetricKind) -> String {
        switch kind {
        case .startup: return "startup_time_ms"
        case .spawn: return "spawn_time_ms"
        case .memory: return "memory_mb"
        case .latency: return "tool_latency_ms"
        case .cpu: return "cpu_percent"
        case .network: return "network_latency_ms"
        case .throughput: return "throughput_ops_per_min"
        }
    }
}

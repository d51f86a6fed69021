import Foundation
import VMFixtures

/// Per-accelerator budgets from Fixtures/budgets/emulation-budgets.json: what
/// tests assert where the guide's KVM targets cannot apply (see that file).
public struct Budget: Sendable {
    public let spawnMedianMs: Double
    public let spawnP95Ms: Double
    public let memoryPSSMedianMB: Double
    public let harnessOverheadRatio: Double?
    public let poolCheckoutP95Ms: Double?
    public let restoreMedianMs: Double?

    public static func forBackend(_ backend: any VMBackend) throws -> Budget {
        let key = backend.kind == .process ? "process" : backend.accelerator.rawValue
        let path = ProjectPaths.root + "/Fixtures/budgets/emulation-budgets.json"
        guard let data = FileManager.default.contents(atPath: path),
              let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError("cannot read the budgets file \(path)")
        }
        guard let b = root[key] as? [String: Any], let sm = b["spawn_median_ms"] as? Double,
              let sp = b["spawn_p95_ms"] as? Double, let mm = b["memory_pss_median_mb"] as? Double else {
            throw ConfigError("\(path) has no complete '\(key)' budget")
        }
        return Budget(spawnMedianMs: sm, spawnP95Ms: sp, memoryPSSMedianMB: mm,
                      harnessOverheadRatio: b["harness_overhead_ratio"] as? Double,
                      poolCheckoutP95Ms: b["pool_checkout_p95_ms"] as? Double, restoreMedianMs: b["restore_median_ms"] as? Double)
    }
}

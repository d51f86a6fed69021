import PerfMetrics
import VMFixtures
// TEMPORARY until the relative budgets land.
public struct BudgetCheck: Sendable { public var name: String; public var ok: Bool; public var text: String }
extension Budget {
    public static func checks(for file: MetricsFile, backend: any VMBackend) throws -> [BudgetCheck] { [] }
}

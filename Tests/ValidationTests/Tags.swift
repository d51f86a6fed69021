import Testing

// Metric tags and phase tags. Every validation suite or test carries its tags
// twice: as `.tags(...)` and as `[tag:NAME]` tokens in its name, so that
// `swift test --filter tag:NAME` selects it on Swift 6.3.1 (whose --filter
// matches test IDs, not tags). TagConsistencyTests checks the two agree.
extension Tag {
    // Metrics
    @Tag static var startup: Self
    @Tag static var spawn: Self
    @Tag static var memory: Self
    @Tag static var latency: Self
    @Tag static var cpu: Self
    @Tag static var network: Self
    @Tag static var throughput: Self
    // Phases (weeks 1-2 ... 11-12)
    @Tag static var baseline: Self
    @Tag static var scale: Self
    @Tag static var exhaustion: Self
    @Tag static var chaos: Self
    @Tag static var recovery: Self
    @Tag static var production: Self
    // Security: the escape suite
    @Tag static var containment: Self
}

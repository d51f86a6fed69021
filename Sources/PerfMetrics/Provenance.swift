import Foundation

/// What produced a metrics file (placeholder until merged with the full version).
public struct Provenance: Codable, Sendable, Equatable {
    public var build: String
    public var benchmark: String
    public var mode: String
    public var command: String
    public var origin: String
    public init(build: String, benchmark: String, mode: String, command: String, origin: String) {
        self.build = build; self.benchmark = benchmark; self.mode = mode; self.command = command; self.origin = origin
    }
    public static var currentBuild: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }
}

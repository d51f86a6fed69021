// swift-tools-version: 6.2
import PackageDescription

// Module layout and allowed imports: see README.md ("Architecture").

// The guest agent's code leaves out the modules Swift imports implicitly
// (_StringProcessing with its regex parser, _Concurrency): 1.3 MB less in the
// static guest binary, which the guest kernel unpacks at every cold boot.
let guestSwiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import",
                  "-Xfrontend", "-disable-implicit-concurrency-module-import"]),
]
let package = Package(
    name: "LuminaGuardPerf",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lgperf", targets: ["lgperf"]),
        .executable(name: "lg-guest-agent", targets: ["GuestAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        // Used by ToolCalls directly (the MCP SDK's own dependencies): Logging for
        // its Transport protocol, SystemPackage for running its StdioTransport on
        // a socketpair.
        .package(url: "https://github.com/apple/swift-log.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.0.0"),
    ],
    targets: [
        // Pure statistics: summaries, percentiles, outliers, A/B significance.
        .target(name: "PerfStats"),
        // Every environment variable, parsed and validated once.
        .target(name: "LGSettings"),
        // Metric catalogue, targets, grade bands, metrics-file format, run metadata.
        .target(name: "PerfMetrics", dependencies: ["PerfStats"]),
        // /proc readers: memory, CPU, process trees, host facts.
        .target(name: "HostProbes"),
        // Wire format shared by the host and the guest agent (stdlib only, so the
        // static guest binary stays small).
        .target(name: "AgentProtocol", swiftSettings: guestSwiftSettings),
        // The guest's agent: runs as the VM's /init or as a local process.
        .executableTarget(name: "GuestAgent", dependencies: ["AgentProtocol", "CSysShims", "GuestEarlyInit"],
                          swiftSettings: guestSwiftSettings),
        // Mounts /proc before the static Swift runtime starts in the guest.
        .target(name: "GuestEarlyInit"),
        // Linux calls the Glibc overlay does not expose (unshare).
        .target(name: "CSysShims"),
        // VM backends (QEMU micro-VM, Firecracker, process), guest image, QMP.
        .target(name: "VMFixtures", dependencies: ["LGSettings", "HostProbes", "AgentProtocol", "CSysShims"]),
        // MCP server/client whose tools run inside a VM.
        .target(name: "ToolCalls", dependencies: [
            "VMFixtures", "AgentProtocol", "LGSettings",
            .product(name: "MCP", package: "swift-sdk"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // One function per benchmark; tests and the CLI call the same ones.
        .target(name: "Scenarios", dependencies: ["LGSettings", "VMFixtures", "ToolCalls", "HostProbes", "PerfMetrics", "PerfStats",
                                                 .product(name: "MCP", package: "swift-sdk")]),
        // libxml2 for XSD validation of JUnit reports (Debian: libxml2-dev).
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // JUnit XML, weekly summaries, regression comparison, trends.
        .target(name: "PerfReports", dependencies: ["LGSettings", "PerfMetrics", "PerfStats", "CLibXML2"]),
        .executableTarget(name: "lgperf", dependencies: [
            "LGSettings", "Scenarios", "PerfReports", "PerfMetrics", "VMFixtures", "ToolCalls",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "PerfStatsTests", dependencies: ["PerfStats"]),
        .testTarget(name: "PerfMetricsTests", dependencies: ["PerfMetrics"]),
        .testTarget(name: "HostProbesTests", dependencies: ["HostProbes"]),
        .testTarget(name: "AgentProtocolTests", dependencies: ["AgentProtocol"]),
        .testTarget(name: "GuestAgentTests", dependencies: ["AgentProtocol", "VMFixtures"]),
        .testTarget(name: "VMFixturesTests", dependencies: ["VMFixtures", "HostProbes", "LGSettings"]),
        .testTarget(name: "ToolCallsTests", dependencies: ["ToolCalls", "VMFixtures", "Scenarios"]),
        .testTarget(name: "ScenariosTests", dependencies: ["Scenarios", "LGSettings", "ToolCalls"]),
        .testTarget(name: "LGSettingsTests", dependencies: ["LGSettings"]),
        .testTarget(name: "PerfReportsTests", dependencies: ["PerfReports", "PerfMetrics", "PerfStats", "LGSettings"],
                    resources: [.copy("Fixtures")]),
        // The tagged validation suites ([tag:spawn], [tag:baseline], ...).
        .testTarget(name: "ValidationTests", dependencies: ["Scenarios", "PerfMetrics", "PerfReports", "VMFixtures", "LGSettings", "ToolCalls", "AgentProtocol",
                                                        .product(name: "MCP", package: "swift-sdk")]),
    ]
)

// ToolCalls: the sandbox's tools over MCP, and the guide's "Tool Call
// Latency" measured through them.
//
// Layers (one per file):
// - DescriptorTransport: an MCP `Transport` over file descriptors (stdio,
//   pipes, a socketpair). A reader thread blocks in poll(2) without a
//   timeout and feeds the SDK's AsyncStream; a send is one writev(2). The
//   SDK's own StdioTransport sleeps 10 ms whenever a read finds nothing, so
//   each of its round trips waits 10-20 ms.
// - ToolInput: the five agent tools' input schemas and the host-side checks
//   of their arguments (workspace-relative paths only, size limits, types,
//   unknown arguments) before anything reaches a sandbox.
// - SandboxToolServer: the SDK `Server` whose tools forward to a sandbox's
//   guest agent (any `VMBackend`), serialising calls on the agent channel and
//   turning a dead or hung guest into a prompt error result.
// - MCPConnection: client + server in one process (socketpair; the SDK's
//   stdio or in-memory transport for comparison) and `lgperf mcp-server` as a
//   child process.
// - (The latency measurements built on these live in Scenarios/ToolLatency.)
//
// Where the time goes (swift-sdk 0.12.1, release, this project's 2-core
// hosts, which vary run to run by up to 2x): a socketpair round trip is
// ~25 µs, MCP `ping` ~110 µs, a `tools/call` of `echo` with one short string
// ~370 µs, and the same call over the SDK's in-memory transport (no I/O at
// all) ~300 µs: the SDK, not the transport, sets the floor. It decodes every
// message into its `Value` type by trying Bool, Int, Double, String, array
// and object in turn (each failed try builds a DecodingError, ~8 µs),
// converts requests and results between typed and `Value` forms by encoding
// and decoding them again, and checks every string it decodes against a
// data: URL regular expression that it rebuilds and recompiles each time
// (~25 µs per string). Two small changes in the SDK (test for a "data:"
// prefix before the regex; try String, object, array before the scalars)
// bring that echo call to ~150 µs and MCP ping to ~90 µs on the same host.
// `ToolLatency.hostOnly` measures these floors in one run.

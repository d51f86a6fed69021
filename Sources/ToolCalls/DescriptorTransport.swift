import Foundation
import Logging
import MCP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An MCP transport over a pair of file descriptors (stdin/stdout, two pipes,
/// or one end of a socketpair) that never sleeps and never polls on a timer.
///
/// The SDK's `StdioTransport` puts its descriptors in non-blocking mode and,
/// whenever a read finds no data, sleeps 10 ms before trying again: every
/// message that arrives while it sleeps waits for the rest of the sleep. Here a
/// dedicated reader thread blocks in poll(2) with no timeout on the descriptor
/// and on a wake-up pipe (so that `disconnect()` can end it), reads what
/// arrived, splits it into newline-delimited messages and yields them into the
/// `AsyncThrowingStream` the Client/Server consume. Sends write directly (one
/// writev(2) of the message and its newline).
///
/// Framing follows the MCP stdio transport: one JSON-RPC message per line, no
/// embedded newlines (JSONEncoder output has none).
public actor DescriptorTransport: Transport {
    public nonisolated let logger: Logger
    public nonisolated let readFD: Int32
    public nonisolated let writeFD: Int32
    private let closesDescriptors: Bool
    /// Messages longer than this are refused (the stream ends with an error).
    public nonisolated let maxMessageBytes: Int

    private let stream: AsyncThrowingStream<Data, Swift.Error>
    private let continuation: AsyncThrowingStream<Data, Swift.Error>.Continuation
    private var reader: DescriptorReader?
    private var connected = false
    private var everConnected = false

    /// - Parameters:
    ///   - closesDescriptors: close both descriptors when the transport is
    ///     disconnected (after the reader thread has stopped using them).
    public init(readFD: Int32, writeFD: Int32, closesDescriptors: Bool = false,
                maxMessageBytes: Int = 64 << 20, logger: Logger? = nil) {
        self.readFD = readFD
        self.writeFD = writeFD
        self.closesDescriptors = closesDescriptors
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger ?? Logger(label: "luminaguard.mcp.transport.fd", factory: { _ in SwiftLogNoOpLogHandler() })
        (stream, continuation) = AsyncThrowingStream<Data, Swift.Error>.makeStream()
    }

    deinit {
        // Owned descriptors of a transport that never connected.
        let connectedOnce = everConnected
        if closesDescriptors && !connectedOnce {
            Glibc.close(readFD)
            if writeFD != readFD { Glibc.close(writeFD) }
        }
    }

    /// The process's standard input and output (the MCP stdio transport).
    public static func standardIO(logger: Logger? = nil) -> DescriptorTransport {
        DescriptorTransport(readFD: STDIN_FILENO, writeFD: STDOUT_FILENO, closesDescriptors: false, logger: logger)
    }

    /// Both ends of a new Unix socketpair, each owning its descriptor: one for
    /// a client, one for a server, in one process or (pass one descriptor to a
    /// child) across processes.
    public static func socketPair() throws -> (DescriptorTransport, DescriptorTransport) {
        let (a, b) = try makeSocketPair()
        return (DescriptorTransport(readFD: a, writeFD: a, closesDescriptors: true),
                DescriptorTransport(readFD: b, writeFD: b, closesDescriptors: true))
    }

    public func connect() async throws {
        guard !connected else { return }
        guard !everConnected else { throw MCPError.internalError("this transport was disconnected and cannot be reused") }
        let reader = try DescriptorReader(fd: readFD, maxMessageBytes: maxMessageBytes, continuation: continuation,
                                          closeOnExit: closesDescriptors ? Set([readFD, writeFD]) : [], logger: logger)
        self.reader = reader
        connected = true
        everConnected = true
        try reader.start()
    }

    public func disconnect() async {
        guard connected else { return }
        connected = false
        // The descriptors (if owned) are closed once the reader has left
        // poll(2)/read(2), so a descriptor number is never reused under it.
        reader?.stop()
        reader = nil
        continuation.finish()
    }

    public func send(_ data: Data) async throws {
        guard connected else { throw MCPError.transportError(posixError(ENOTCONN)) }
        try DescriptorTransport.writeMessage(data, to: writeFD)
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, Swift.Error> { stream }

    /// Writes `data` and a newline, retrying partial writes; on a non-blocking
    /// descriptor it waits for writability in poll(2) (no timeout, no sleep).
    static func writeMessage(_ data: Data, to fd: Int32) throws {
        var newline: UInt8 = 0x0A
        try data.withUnsafeBytes { (body: UnsafeRawBufferPointer) in
            try withUnsafeMutablePointer(to: &newline) { nl in
                var bodyOff = 0, nlDone = false
                while !nlDone {
                    var iov = [iovec](), pendingBody = body.count - bodyOff
                    if pendingBody > 0 {
                        iov.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress! + bodyOff), iov_len: pendingBody))
                    }
                    iov.append(iovec(iov_base: UnsafeMutableRawPointer(nl), iov_len: 1))
                    let n = writev(fd, iov, Int32(iov.count))
                    if n < 0 {
                        let e = errno
                        if e == EINTR { continue }
                        if e == EAGAIN || e == EWOULDBLOCK {
                            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                            _ = poll(&p, 1, -1)
                            continue
                        }
                        if e == EPIPE || e == ECONNRESET { throw MCPError.connectionClosed }
                        throw MCPError.transportError(posixError(e))
                    }
                    if n >= pendingBody { bodyOff = body.count; nlDone = n > pendingBody } else { bodyOff += n }
                    pendingBody = body.count - bodyOff
                }
            }
        }
    }
}

/// A connected AF_UNIX stream socketpair, close-on-exec.
public func makeSocketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
        throw MCPError.transportError(posixError(errno))
    }
    return (fds[0], fds[1])
}

/// A pipe whose ends are close-on-exec from the start (pipe2(2) with
/// O_CLOEXEC): no child spawned meanwhile by another thread inherits an end,
/// which would keep the other side from ever seeing end of input.
public func makeCloexecPipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    guard lg_pipe2(&fds, O_CLOEXEC) == 0 else { throw MCPError.transportError(posixError(errno)) }
    return (fds[0], fds[1])
}

// Glibc's module map does not export pipe2 (it is a _GNU_SOURCE function).
@_silgen_name("pipe2")
private func lg_pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// Builds a POSIX error value for MCPError.transportError.
func posixError(_ code: Int32) -> Swift.Error {
    POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
}

/// The reader thread of a ``DescriptorTransport``.
final class DescriptorReader: @unchecked Sendable {
    private struct Lifecycle {
        var exited = false
        var stopRequested = false
    }
    private let lifecycle = Mutex(Lifecycle())
    private let fd: Int32
    /// A pipe: writing a byte to wakeWriteFD ends the reader's poll(2).
    private let wakeFD: Int32
    private let wakeWriteFD: Int32
    private let maxMessageBytes: Int
    private let continuation: AsyncThrowingStream<Data, Swift.Error>.Continuation
    private let closeOnExit: Set<Int32>
    private let logger: Logger

    init(fd: Int32, maxMessageBytes: Int, continuation: AsyncThrowingStream<Data, Swift.Error>.Continuation,
         closeOnExit: Set<Int32>, logger: Logger) throws {
        let w = try makeCloexecPipe()
        self.fd = fd
        self.wakeFD = w.read
        self.wakeWriteFD = w.write
        self.maxMessageBytes = maxMessageBytes
        self.continuation = continuation
        self.closeOnExit = closeOnExit
        self.logger = logger
    }

    func start() throws {
        let thread = Thread { [self] in run() }
        thread.name = "mcp-fd-reader-\(fd)"
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// Stops the reader and releases the descriptors: at once if it has
    /// already ended (end of input, error), else it is woken and does it.
    func stop() {
        let exited = lifecycle.withLock { l -> Bool in
            l.stopRequested = true
            return l.exited
        }
        if exited {
            release()
        } else {
            var one: UInt8 = 1
            _ = Glibc.write(wakeWriteFD, &one, 1)
        }
    }

    /// Closes the owned descriptors and the wake-up pipe (exactly once: either
    /// from stop() after the reader ended, or from the reader after stop()).
    private func release() {
        for d in closeOnExit { Glibc.close(d) }
        Glibc.close(wakeFD)
        Glibc.close(wakeWriteFD)
    }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var pending = [UInt8]()
        var failure: Swift.Error?
        defer {
            if let failure { continuation.finish(throwing: failure) } else { continuation.finish() }
            // Until disconnect() the descriptors stay open (the transport may
            // still write, and fail cleanly, to a peer that has gone).
            let stopped = lifecycle.withLock { l -> Bool in
                l.exited = true
                return l.stopRequested
            }
            if stopped { release() }
        }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0; fds[1].revents = 0
            let r = poll(&fds, 2, -1)
            if r < 0 {
                if errno == EINTR { continue }
                failure = MCPError.transportError(posixError(errno)); return
            }
            if fds[1].revents != 0 { return }  // disconnect()
            if fds[0].revents == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                failure = MCPError.transportError(posixError(errno)); return
            }
            if n == 0 {
                logger.debug("end of input")
                return
            }
            // Split on newlines; the common case (one whole message per read,
            // nothing pending) copies each message once.
            var start = 0
            if pending.isEmpty {
                while let nl = buffer[start..<n].firstIndex(of: 0x0A) {
                    yieldLine(buffer[start..<nl])
                    start = nl + 1
                }
                if start < n { pending.append(contentsOf: buffer[start..<n]) }
            } else {
                if let nl = buffer[0..<n].firstIndex(of: 0x0A) {
                    pending.append(contentsOf: buffer[0..<nl])
                    yieldLine(pending[...])
                    pending.removeAll(keepingCapacity: true)
                    start = nl + 1
                    while let nl2 = buffer[start..<n].firstIndex(of: 0x0A) {
                        yieldLine(buffer[start..<nl2])
                        start = nl2 + 1
                    }
                }
                if start < n { pending.append(contentsOf: buffer[start..<n]) }
            }
            if pending.count > maxMessageBytes {
                failure = MCPError.parseError("a message longer than \(maxMessageBytes) bytes was refused")
                return
            }
        }
    }

    private func yieldLine(_ line: ArraySlice<UInt8>) {
        var line = line
        if line.last == 0x0D { line = line.dropLast() }  // tolerate CRLF framing
        guard !line.isEmpty else { return }
        continuation.yield(Data(line))
    }
}

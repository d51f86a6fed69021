#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC), the one clock every
/// duration in the project is measured with.
public enum Monotonic {
    @inline(__always)
    public static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

public enum ChannelError: Error, Equatable, CustomStringConvertible {
    case timedOut(String)
    case closed(String)
    case io(String, Int32)
    case lineTooLong(Int)
    case protocolError(String)

    public var description: String {
        switch self {
        case .timedOut(let what): return "timed out \(what)"
        case .closed(let what): return "the channel closed \(what)"
        case .io(let what, let e): return "\(what) failed: \(String(cString: strerror(e)))"
        case .lineTooLong(let n): return "a message longer than \(n) bytes was refused"
        case .protocolError(let what): return "protocol error: \(what)"
        }
    }
}

/// Newline-framed messages over a pair of file descriptors (a socket or two
/// pipes). Reads block in poll(2) with a deadline; nothing here sleeps or polls
/// on a timer.
public final class LineChannel: @unchecked Sendable {
    public let readFD: Int32
    public let writeFD: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private let maxLine: Int
    private let ownsFDs: Bool
    /// What each read(2) lands in, allocated once: a fresh zero-filled 64 KiB
    /// per read cost more than the read itself in an emulated guest.
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)
    /// Set once send(2) said the write side is not a socket (a pipe or a
    /// virtio port): from then on write(2) straight away, not two calls.
    private var writeIsNotSocket = false

    public init(readFD: Int32, writeFD: Int32, maxLine: Int = AgentLimits.maxLineBytes, ownsFDs: Bool = true) {
        self.readFD = readFD
        self.writeFD = writeFD
        self.maxLine = maxLine
        self.ownsFDs = ownsFDs
        buffer.reserveCapacity(64 << 10)
    }

    deinit { if ownsFDs { close() } }

    private var closed = false
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(readFD)
        if writeFD != readFD { Glibc.close(writeFD) }
    }

    /// Writes one line (a newline is appended).
    public func send(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        try sendRaw(bytes)
    }

    /// Writes bytes as they are (for protocols with their own framing).
    public func sendRaw(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            // send(MSG_NOSIGNAL): a dead peer is an error here, not a SIGPIPE
            // that kills the harness. Pipes (not sockets) fall back to write.
            var n = -1
            if !writeIsNotSocket {
                n = bytes.withUnsafeBytes { p in Glibc.send(writeFD, p.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == ENOTSOCK { writeIsNotSocket = true }
            }
            if writeIsNotSocket {
                n = bytes.withUnsafeBytes { p in Glibc.write(writeFD, p.baseAddress! + off, bytes.count - off) }
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { try waitFor(POLLOUT, deadline: nil, what: "writing"); continue }
                throw errno == EPIPE ? ChannelError.closed("while writing") : ChannelError.io("write", errno)
            }
            off += n
        }
    }

    public func send(_ json: JSON) throws { try send(json.serialized()) }

    /// Reads one line (without its newline). `deadline` is a ``Monotonic``
    /// instant in nanoseconds; nil waits for ever (the agent's side).
    public func readLine(deadline: UInt64?) throws -> [UInt8] {
        var scanFrom = start
        while true {
            if let nl = buffer[scanFrom...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<nl])
                start = nl + 1
                if start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
                return line
            }
            scanFrom = buffer.count
            if buffer.count - start > maxLine { throw ChannelError.lineTooLong(maxLine) }
            if start > 0 && start > buffer.count / 2 {
                buffer.removeFirst(start); scanFrom -= start; start = 0
            }
            // With no deadline a blocking read(2) is the wait: no poll(2) first.
            if deadline != nil { try waitFor(POLLIN, deadline: deadline, what: "waiting for the agent's reply") }
            let n = try readChunk()
            if n == 0 { throw ChannelError.closed("before a full message arrived") }
            // A non-blocking descriptor with no deadline: wait in poll(2), never spin.
            if n < 0 && deadline == nil { try waitFor(POLLIN, deadline: nil, what: "waiting for the agent's reply") }
        }
    }

    /// One read(2) into the scratch buffer, appended to `buffer`; returns the
    /// byte count (0 at end of input). EINTR/EAGAIN give -1, "try again".
    private func readChunk() throws -> Int {
        let n = scratch.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return -1 }
            throw ChannelError.io("read", errno)
        }
        buffer.append(contentsOf: scratch[0..<n])
        return n
    }

    /// Reads exactly `count` bytes (e.g. an HTTP body of known length).
    public func readExactly(_ count: Int, deadline: UInt64?) throws -> [UInt8] {
        while buffer.count - start < count {
            if deadline != nil { try waitFor(POLLIN, deadline: deadline, what: "waiting for \(count) bytes") }
            let n = try readChunk()
            if n == 0 { throw ChannelError.closed("before \(count) bytes arrived") }
            if n < 0 && deadline == nil { try waitFor(POLLIN, deadline: nil, what: "waiting for \(count) bytes") }
        }
        let out = Array(buffer[start..<start + count])
        start += count
        if start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        return out
    }

    public func readJSON(deadline: UInt64?) throws -> JSON {
        let line = try readLine(deadline: deadline)
        do { return try JSON.parse(line) } catch {
            throw ChannelError.protocolError("unparseable message (\(error)): \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
    }

    private func waitFor(_ event: Int32, deadline: UInt64?, what: String) throws {
        while true {
            var timeoutMs: Int32 = -1
            if let d = deadline {
                let now = Monotonic.nanos()
                if now >= d { throw ChannelError.timedOut(what) }
                timeoutMs = Int32(min(UInt64(Int32.max), (d - now + 999_999) / 1_000_000))
            }
            var p = pollfd(fd: event == POLLIN ? readFD : writeFD, events: Int16(event), revents: 0)
            let r = poll(&p, 1, timeoutMs)
            if r < 0 { if errno == EINTR { continue }; throw ChannelError.io("poll", errno) }
            if r == 0 { continue }  // the deadline check above decides
            return  // readable, writable, or hung up: read()/write() tells which
        }
    }
}

import Foundation
import AgentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Minimal AF_UNIX stream sockets: listen, accept with a deadline, connect.
public enum UnixSocket {
    static func address(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else {
            throw VMError("socket path \(path) is longer than \(capacity - 1) bytes", fix: "set LUMINAGUARD_RUN_DIR to a shorter directory")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in bytes.enumerated() { buf[i] = b }
            buf[bytes.count] = 0
        }
        return addr
    }

    /// A listening socket bound at `path` (close-on-exec).
    public static func listen(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw VMError("socket() failed: \(String(cString: strerror(errno)))") }
        var addr = try address(path)
        unlink(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0, Glibc.listen(fd, 4) == 0 else {
            let e = errno
            close(fd)
            throw VMError("cannot listen on \(path): \(String(cString: strerror(e)))")
        }
        return fd
    }

    public static func connect(to path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw VMError("socket() failed: \(String(cString: strerror(errno)))") }
        var addr = try address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw VMError("cannot connect to \(path): \(String(cString: strerror(e)))")
        }
        return fd
    }

    public enum WaitResult: Equatable { case ready, watchedClosed, timedOut }

    /// Waits until `fd` is readable, `watch` (e.g. a child's stderr pipe) hits
    /// end-of-file, or the deadline passes. Data arriving on `watch` is
    /// appended to `watchOutput`.
    public static func waitReadable(_ fd: Int32, watch: Int32?, watchOutput: inout [UInt8], deadline: UInt64) -> WaitResult {
        var chunk = [UInt8](repeating: 0, count: 4096)
        var watching = watch
        while true {
            let now = Monotonic.nanos()
            if now >= deadline { return .timedOut }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            if let w = watching { fds.append(pollfd(fd: w, events: Int16(POLLIN), revents: 0)) }
            let ms = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            let r = poll(&fds, nfds_t(fds.count), ms)
            if r < 0 { if errno == EINTR { continue }; return .timedOut }
            if fds[0].revents != 0 { return .ready }
            if fds.count > 1, fds[1].revents != 0, let w = watching {
                let n = chunk.withUnsafeMutableBytes { read(w, $0.baseAddress!, $0.count) }
                if n > 0 { watchOutput.append(contentsOf: chunk[0..<n]) } else if n == 0 { watching = nil; return .watchedClosed }
            }
        }
    }
}

extension UnixSocket {
    /// accept(2) with close-on-exec set on the new descriptor.
    public static func acceptCloexec(_ listenFD: Int32) -> Int32 {
        let fd = accept(listenFD, nil, nil)
        if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return fd
    }
}

/// A currently free TCP port on 127.0.0.1 (bound, read back, released).
public enum LoopbackPort {
    public static func free() -> Int? {
        guard let l = listener(flags: 0) else { return nil }
        close(l.fd)
        return Int(l.port)
    }

    /// A TCP socket listening on 127.0.0.1 at a port the kernel chose;
    /// `flags` are added to the socket type (e.g. SOCK_CLOEXEC).
    public static func listener(flags: Int32 = 0, backlog: Int32 = 16) -> (fd: Int32, port: UInt16)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | flags, 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, backlog) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { close(fd); return nil }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    /// A TCP connection to 127.0.0.1:`port`, or nil.
    public static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); return nil }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }
}

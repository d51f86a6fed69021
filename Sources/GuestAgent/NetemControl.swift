// Degrades the guest's own network from inside (the host kernel has no
// netem): a netem qdisc on eth0 set over rtnetlink, so no `tc` binary has to
// ship in the image. Used only by the harness's fault injection, through the
// health port ("netem DELAY_MS LOSS_PERCENT RATE_KBIT", "netem off").
#if canImport(Glibc)
import Glibc
#endif

enum Netem {
    private static let newQdisc: UInt16 = 36, delQdisc: UInt16 = 37, nlmsgError: UInt16 = 2
    private static let request: UInt16 = 0x1, ack: UInt16 = 0x4, replace: UInt16 = 0x100, create: UInt16 = 0x400
    private static let rootParent: UInt32 = 0xFFFF_FFFF

    /// Replaces eth0's root qdisc with netem; nil on success, else why not.
    static func set(delayMs: Double, lossPercent: Double, rateKbit: Double) -> String? {
        // tc_netem_qopt: latency and jitter in scheduler ticks (64 ns), loss scaled to 2^32-1.
        var qopt: [UInt8] = []
        qopt.le32(UInt32(min(Double(UInt32.max), delayMs * 1e6 / 64)))  // latency
        qopt.le32(1000)                                                  // limit (packets)
        qopt.le32(UInt32(min(Double(UInt32.max), lossPercent / 100 * Double(UInt32.max))))  // loss
        qopt.le32(0); qopt.le32(0); qopt.le32(0)                         // gap, duplicate, jitter
        if rateKbit > 0 {
            var rate: [UInt8] = []
            rate.le32(UInt32(min(Double(UInt32.max), rateKbit * 1000 / 8))); rate.le32(0); rate.le32(0); rate.le32(0)
            qopt.attr(6, rate)  // TCA_NETEM_RATE
        }
        var attrs: [UInt8] = []
        attrs.attr(1, Array("netem".utf8) + [0])  // TCA_KIND
        attrs.attr(2, qopt)                       // TCA_OPTIONS
        return send(type: newQdisc, flags: request | ack | replace | create, attributes: attrs)
    }

    /// Removes the netem qdisc (back to the default).
    static func clear() -> String? { send(type: delQdisc, flags: request | ack, attributes: []) }

    private static func send(type: UInt16, flags: UInt16, attributes: [UInt8]) -> String? {
        let ifindex = if_nametoindex("eth0")
        guard ifindex > 0 else { return "no eth0 in this guest" }
        var tcmsg: [UInt8] = [0, 0, 0, 0]       // family, pad
        tcmsg.le32(ifindex); tcmsg.le32(0); tcmsg.le32(rootParent); tcmsg.le32(0)  // ifindex, handle, parent, info
        let body = tcmsg + attributes
        var msg: [UInt8] = []
        msg.le32(UInt32(16 + body.count)); msg.le16(type); msg.le16(flags); msg.le32(1); msg.le32(0)
        msg += body
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard fd >= 0 else { return "netlink socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        guard msg.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress!, $0.count, 0) }) == msg.count else {
            return "netlink send: \(String(cString: strerror(errno)))"
        }
        var reply = [UInt8](repeating: 0, count: 4096)
        let n = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        guard n >= 20 else { return "netlink: no acknowledgement" }
        let kind = UInt16(reply[4]) | UInt16(reply[5]) << 8
        guard kind == nlmsgError else { return "netlink: unexpected reply type \(kind)" }
        let code = Int32(bitPattern: UInt32(reply[16]) | UInt32(reply[17]) << 8 | UInt32(reply[18]) << 16 | UInt32(reply[19]) << 24)
        return code == 0 ? nil : "netlink: \(String(cString: strerror(-code)))"
    }
}

extension Array where Element == UInt8 {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for i in 0..<4 { append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    /// A netlink attribute (length, type, payload), padded to 4 bytes.
    mutating func attr(_ type: UInt16, _ payload: [UInt8]) {
        le16(UInt16(4 + payload.count)); le16(type)
        self += payload
        while count % 4 != 0 { append(0) }
    }
}

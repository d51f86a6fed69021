import Foundation
import VMFixtures
import Synchronization

/// A sandbox being started on a thread of its own while the MCP server
/// already answers: `initialize` and `tools/list` need no sandbox, so a
/// client is served at once and its first tool call waits for the sandbox.
public final class PendingSandbox: Sendable {
    private enum State {
        case starting([CheckedContinuation<FirstSandbox, Error>])
        case ready(FirstSandbox)
        case failed(String)
        case closed
    }
    private let state = Mutex(State.starting([]))
    /// Starts (first or replacements) not yet finished, whatever their outcome.
    private let startsInProgress = Mutex(0)

    /// Starts `start` now. `onFailure` runs (on the starting thread) if it
    /// throws, before anyone waiting is told.
    public init(start: @escaping @Sendable () throws -> FirstSandbox,
                onFailure: @escaping @Sendable (Error) -> Void = { _ in }) {
        startsInProgress.withLock { $0 += 1 }
        Thread.detachNewThread { [self] in
            let result = Result { try start() }
            if case .failure(let e) = result { onFailure(e) }
            self.finish(result)
        }
    }

    private func finish(_ result: Result<FirstSandbox, Error>) {
        defer { startsInProgress.withLock { $0 -= 1 } }
        let (waiters, orphan) = state.withLock { s -> ([CheckedContinuation<FirstSandbox, Error>], FirstSandbox?) in
            guard case .starting(let w) = s else {
                // Shut down while starting: the new sandbox has no one to serve.
                if case .success(let first) = result { return ([], first) }
                return ([], nil)
            }
            switch result {
            case .success(let first): s = .ready(first)
            case .failure(let e): s = .failed("\(e)")
            }
            return (w, nil)
        }
        orphan?.vm.shutdown()
        for w in waiters { w.resume(with: result) }
    }

    /// The sandbox, once started (at once if it already is).
    public func first() async throws -> FirstSandbox {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<FirstSandbox, Error>) in
            let now: Result<FirstSandbox, Error>? = state.withLock { s in
                switch s {
                case .starting(var w): w.append(c); s = .starting(w); return nil
                case .ready(let first): return .success(first)
                case .failed(let why): return .failure(VMError(why))
                case .closed: return .failure(VMError("the sandbox was shut down"))
                }
            }
            if let now { c.resume(with: now) }
        }
    }

    /// The sandbox if it is ready now.
    public var current: FirstSandbox? {
        state.withLock { s in if case .ready(let f) = s { return f } else { return nil } }
    }

    /// Why the start failed, once it has.
    public var failure: String? {
        state.withLock { s in if case .failed(let why) = s { return why } else { return nil } }
    }

    /// Replaces a ready sandbox (e.g. one a fault ended) with one `start`
    /// makes, on a thread of its own; tool calls wait for it meanwhile. The
    /// old one is shut down. Returns false when there is no ready sandbox to
    /// replace (still starting, failed or shut down). A replacement that
    /// cannot start leaves the state failed: later calls fail with its reason.
    @discardableResult
    public func replace(start: @escaping @Sendable () throws -> FirstSandbox) -> Bool {
        let old = state.withLock { s -> FirstSandbox? in
            guard case .ready(let f) = s else { return nil }
            s = .starting([])
            return f
        }
        guard let old else { return false }
        startsInProgress.withLock { $0 += 1 }
        old.vm.shutdown()
        Thread.detachNewThread { [self] in self.finish(Result { try start() }) }
        return true
    }

    /// Ends the sandbox; if it is still starting, waits up to `wait` seconds
    /// for the start to finish (then ends what it started), so that no VM
    /// outlives its server. Idempotent.
    public func shutdown(wait: Double = 60) {
        let (ready, waiters, starting) = state.withLock { s -> (FirstSandbox?, [CheckedContinuation<FirstSandbox, Error>], Bool) in
            defer { if case .starting = s { s = .closed } else if case .ready = s { s = .closed } }
            switch s {
            case .ready(let f): return (f, [], false)
            case .starting(let w): return (nil, w, true)
            default: return (nil, [], false)
            }
        }
        for w in waiters { w.resume(throwing: VMError("the sandbox was shut down")) }
        ready?.vm.shutdown()
        if starting {
            let end = Date().addingTimeInterval(wait)
            while self.startsInProgress.withLock({ $0 }) > 0 && Date() < end { usleep(5_000) }
        }
    }
}

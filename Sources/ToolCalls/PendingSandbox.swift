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
    /// Signalled once the start has finished, whatever its outcome.
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `start` now. `onFailure` runs (on the starting thread) if it
    /// throws, before anyone waiting is told.
    public init(start: @escaping @Sendable () throws -> FirstSandbox,
                onFailure: @escaping @Sendable (Error) -> Void = { _ in }) {
        Thread.detachNewThread { [self] in
            let result = Result { try start() }
            if case .failure(let e) = result { onFailure(e) }
            self.finish(result)
        }
    }

    private func finish(_ result: Result<FirstSandbox, Error>) {
        defer { finished.signal() }
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
            _ = finished.wait(timeout: .now() + wait)
            finished.signal()
        }
    }
}

import Foundation
import AgentProtocol
import HostProbes
import LGSettings
import PerfMetrics
import PerfStats
import VMFixtures

/// `exhaustion.vms`: real VMs, restored from a small template, ramped inside
/// a memory cgroup the harness makes (a small host, reached in seconds)
/// until admission control refuses; then more spawns are asked for and each
/// must be refused at once, while the VMs already running keep answering.
/// The group's own counters say whether the kernel's OOM killer ever acted.
enum VMExhaustion {
    /// Guest RAM of each VM: small, so that many fit. Not 64: the guest's
    /// kernel and unpacked initramfs leave a 64 MB guest about 35 MB, and it
    /// ran out ("System is deadlocked on memory") once the guest gained its
    /// health port and traffic shaping. A restored VM's footprint is the
    /// pages it touched (~15 MB here), not this figure.
    static let guestMB = 96
    /// Restores in flight at once while nothing has been refused.
    static let parallel = 4

    /// Spawns asked for once admission has refused (quick / full).
    static func extraAsks(_ s: Settings) -> Int { s.mode == .quick ? 5 : 10 }

    static var parameters: @Sendable (Settings) -> String {
        { s in "LUMINAGUARD_EXHAUSTION_CGROUP_MB=\(s.exhaustionCgroupMB), LUMINAGUARD_EXHAUSTION_VMS=\(s.exhaustionVMs) (count limit), LUMINAGUARD_MEMORY_RESERVE_MB=\(s.memoryReserveMB), guest -m \(guestMB), \(extraAsks(s)) spawns asked for after the first refusal" }
    }

    /// The running VMs' pings after one step of the ramp.
    struct Step {
        /// `ramp`, `asked: refused` / `asked: admitted`, `final`.
        var label: String
        var running: Int
        var pingMs: [Double]
        var failures: [String]
        var cgroupUsageMB: Double?
    }

    static func run(_ ctx: BenchmarkContext) throws -> [MetricsFile] {
        let q = try ctx.qemu(for: "exhaustion.vms (real VMs restored from a template)")
        let s = ctx.settings
        let load = ProcProbes.loadAverage1()
        var store = SnapshotStore(root: PoolSettings(s).snapshotPath, backend: q, memoryMB: guestMB, template: true)
        // The template (its own VM) is made before the group exists: not part of the ramp.
        let template = try store.loadOrCreate(maxAge: Double(s.snapshotRefreshSeconds), log: ctx.progress).0
        var cgroup: MemoryCgroup?
        var noCgroup: String?
        do { cgroup = try MemoryCgroup.create(name: "lgperf-exh-\(getpid())", limitMB: s.exhaustionCgroupMB) } catch {
            noCgroup = "\(error)"
            ctx.progress("  NO MEMORY CGROUP: \(error)")
        }
        let policy = AdmissionPolicy(maxVMs: s.exhaustionVMs, reserveMB: s.memoryReserveMB, maxVMsSource: "LUMINAGUARD_EXHAUSTION_VMS")
        store.admission = cgroup.map { Admission(policy: policy, memoryCgroup: $0) } ?? Admission(policy: policy)
        store.memoryCgroup = cgroup
        let restore: @Sendable () throws -> any SandboxVM = { [store] in try store.restore(template) }

        var vms: [any SandboxVM] = []
        var ended = false
        func endAll() {
            guard !ended else { return }
            ended = true
            for vm in vms { vm.shutdown() }
        }
        // Every exit path: VMs first, then the (then empty) group.
        defer { endAll(); cgroup?.remove() }

        func step(_ label: String) -> Step {
            let calls = Concurrency.callAll(vms, .ping, [:])
            let st = Step(label: label, running: vms.count, pingMs: calls.ms, failures: calls.failures, cgroupUsageMB: cgroup?.read().usageMB)
            ctx.progress("  \(st.running) VMs running: ping median \(fmt(median(st.pingMs))) ms, max \(fmt(st.pingMs.max() ?? 0)) ms, \(st.failures.count) failed"
                         + (st.cgroupUsageMB.map { "; cgroup usage \(Int($0)) of \(s.exhaustionCgroupMB) MB" } ?? ""))
            return st
        }

        // 1. Ramp: 4 restores at a time; after a refusal (memory promised to
        // the batch's other spawns may exceed what they use) one at a time,
        // until one is refused with nothing else starting.
        var spawnMs: [Double] = [], failures: [String] = [], refusals: [String] = [], refusalMs: [Double] = []
        var steps: [Step] = []
        var batch = parallel
        var attempts = 0, failedBatches = 0
        let tRamp = Monotonic.nanos()
        while vms.count < s.exhaustionVMs, attempts < 2 * s.exhaustionVMs + 8, failedBatches < 3 {
            let n = min(batch, s.exhaustionVMs - vms.count)
            attempts += n
            let r = Concurrency.spawn(count: n, parallel: n, restore)
            vms += r.vms; spawnMs += r.spawnMs; failures += r.failures.filter { !r.refusals.contains($0) }; refusals += r.refusals
            failedBatches = r.vms.isEmpty && r.refusals.isEmpty ? failedBatches + 1 : 0
            steps.append(step("ramp"))
            if !r.refusals.isEmpty {
                if batch == 1 { break }
                batch = 1
            }
        }
        let rampMs = Measure.ms(since: tRamp)
        let rampRefusals = refusals.count
        let atCapacity = vms.count

        // 2. Keep asking (also when the count limit, not memory, ended the
        // ramp): each spawn must be refused at once, clearly; the running
        // VMs are pinged after each.
        var admittedAfter = 0
        do {
            for _ in 0..<extraAsks(s) {
                let t0 = Monotonic.nanos()
                var outcome = "admitted"
                do {
                    let vm = try restore()
                    vms.append(vm); spawnMs.append(Double(vm.timings.requestToReadyNs) / 1e6); admittedAfter += 1
                } catch let e as AdmissionError {
                    refusals.append(e.description); refusalMs.append(Measure.ms(since: t0)); outcome = "refused"
                } catch {
                    failures.append("\(error)"); outcome = "failed"
                }
                steps.append(step("asked: \(outcome)"))
                usleep(100_000)
            }
        }

        // 3. At capacity: every VM pinged once more; PSS; who died.
        let final = step("final")
        steps.append(final)
        let pss = vms.compactMap { try? ProcProbes.memory(of: $0.pid).pssMB }
        let lost = vms.filter { !$0.isRunning }.count
        let callFailures = steps.flatMap(\.failures)
        let atLimit = cgroup?.read()
        let headroom = cgroup?.headroom() ?? MemoryHeadroom.read()
        let n = vms.count
        endAll()
        // Read after the VMs ended: an OOM kill at any moment is counted.
        let afterEnd = cgroup?.read()
        let left = cgroup?.pids ?? []
        let removeProblem = cgroup?.remove()

        // Notes: what was hit, the numbers, the curve.
        let memoryRefusals = refusals.filter { $0.contains("needs ~") }.count
        let clear = !refusals.isEmpty && refusals.allSatisfy { $0.hasPrefix("refusing to start a sandbox:") }
        var notes: [String] = []
        if let cg = cgroup, let r = atLimit {
            notes.append("Memory cgroup (v1) \(cg.path): limit \(cg.limitMB) MB; VMMs joined it before QEMU started; the template's \(guestMB) MB RAM file, shared by every VM, was made before the group and is charged once, outside it. At capacity: usage \(Int(r.usageMB)) MB, peak \(Int(afterEnd?.maxUsageMB ?? r.maxUsageMB)) MB, failcnt \(afterEnd?.failcnt ?? r.failcnt), oom_kill \(afterEnd?.oomKills.map(String.init) ?? "not reported").")
        } else {
            notes.append("NO MEMORY CGROUP: \(noCgroup ?? "unknown"). The ramp ran against the host's MemAvailable and the count limit only; OOM kills were not measured (no oom_kills series): the phase cannot pass on this run.")
        }
        notes.append("\(atCapacity) VMs (guest -m \(guestMB), templated restore, \(parallel) at a time, then one at a time) admitted in \(Int(rampMs)) ms before the first refusal with nothing else starting; \(admittedAfter) more admitted later of \(extraAsks(s)) asked; \(refusals.count) refused (\(rampRefusals) during the ramp), \(memoryRefusals) by the memory limit; \(lost) VMs died; \(failures.count) spawns failed otherwise.")
        if let last = refusals.last { notes.append("Last refusal: \(last)") }
        notes.append("Running VMs' ping as the count rose (each step: every running VM pinged):\n\n| step | VMs | median ms | p95 ms | max ms | failed |" + (cgroup != nil ? " cgroup usage MB |" : "")
                     + "\n|---|---|---|---|---|---|" + (cgroup != nil ? "---|" : "")
                     + steps.map { st in "\n| \(st.label) | \(st.running) | \(fmt(median(st.pingMs))) | \(fmt(percentile(st.pingMs, 0.95))) | \(fmt(st.pingMs.max() ?? 0)) | \(st.failures.count) |" + (st.cgroupUsageMB.map { " \(Int($0)) |" } ?? "") }.joined())
        notes.append("Memory available at capacity: \(Int(headroom.availableMB ?? 0)) MB (MemAvailable \(Int(headroom.memAvailableMB ?? 0)) MB\(headroom.cgroupLimitMB.map { ", cgroup limit \(Int($0)) MB" } ?? "")).")
        if !left.isEmpty { notes.append("Processes still in the cgroup after the VMs ended (moved out): \(left).") }
        if let p = removeProblem { notes.append("Cleanup: \(p)") }
        if let f = failures.first { notes.append("First spawn failure: \(f)") }
        if let f = callFailures.first { notes.append("First failed ping: \(f)") }

        var file = ctx.newFile(scope: "vms", phase: .exhaustion, iterations: n, warmup: 0, loadBefore: load, notes: notes)
        file.add("spawn_time_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "templated restore to ready, \(spawnMs.count) VMs (-m \(guestMB))", series: .init(samples: spawnMs), judged: true))
        file.add("memory_mb", try MetricSeries(metric: .memory, unit: "MB", description: "PSS per VM with \(n) running (shared template pages counted once)", series: .init(samples: pss), judged: true))
        file.add("tool_latency_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping of every running VM at capacity (\(n) VMs), after admission refused", series: .init(samples: final.pingMs), judged: true))
        if let first = steps.first, !first.pingMs.isEmpty {
            file.add("first_step_ping_ms", try MetricSeries(metric: .latency, unit: "ms", description: "ping of the first \(first.running) VMs (the same run's calibration for the latency at capacity)", series: .init(samples: first.pingMs), judged: false))
        }
        let medians = steps.filter { !$0.pingMs.isEmpty }
        if !medians.isEmpty {
            file.add("ramp_vms_running", try MetricSeries(metric: .spawn, unit: "count", description: "VMs running at each step of the ramp (pairs with ramp_ping_median_ms)", series: .init(samples: medians.map { Double($0.running) }), judged: false))
            file.add("ramp_ping_median_ms", try MetricSeries(metric: .latency, unit: "ms", description: "median ping of the running VMs at each step of the ramp", series: .init(samples: medians.map { median($0.pingMs) }), judged: false))
        }
        if !refusalMs.isEmpty {
            file.add("refusal_ms", try MetricSeries(metric: .spawn, unit: "ms", description: "spawn request to refusal, for each spawn asked for beyond capacity", series: .init(samples: refusalMs), judged: false))
        }
        file.add("admitted", try Measure.count(n, .spawn, "VMs admitted and running at capacity"))
        file.add("refusals", try Measure.count(refusals.count, .spawn, "spawns refused by admission control (ramp and asked beyond capacity)"))
        file.add("refused_by_memory", try Measure.count(memoryRefusals, .spawn, "of them, refused by the memory limit (the cgroup's, when there is one)"))
        file.add("lost_vms", try Measure.count(lost, .spawn, "admitted VMs whose VMM died before the end"))
        file.add("spawn_errors", try Measure.count(failures.count, .spawn, "spawns that failed other than by a refusal"))
        file.add("call_errors", try Measure.count(callFailures.count, .latency, "pings of running VMs that failed, at any step"))
        file.add("refused_beyond_capacity", try Measure.count(clear ? 1 : 0, .spawn, "1 when spawns beyond capacity were refused, each at once with an error naming the limit and the numbers"))
        if let cg = cgroup, let r = atLimit, let end = afterEnd {
            file.add("cgroup_limit_mb", try MetricSeries(metric: .memory, unit: "MB", description: "the memory cgroup's memory.limit_in_bytes", series: .init(samples: [Double(cg.limitMB)]), judged: false))
            file.add("cgroup_peak_mb", try MetricSeries(metric: .memory, unit: "MB", description: "the memory cgroup's memory.max_usage_in_bytes over the run", series: .init(samples: [end.maxUsageMB]), judged: false))
            if n > 0 {
                file.add("cgroup_usage_per_vm_mb", try MetricSeries(metric: .memory, unit: "MB", description: "the cgroup's usage at capacity / VMs running", series: .init(samples: [r.usageMB / Double(n)]), judged: false))
            }
            if let k = end.oomKills {
                file.add("oom_kills", try Measure.count(k, .memory, "memory.oom_control oom_kill: processes the kernel's OOM killer ended in the group"))
            }
        }
        return [file]
    }

    static func median(_ xs: [Double]) -> Double { percentile(xs, 0.5) }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
    }

    static func fmt(_ v: Double) -> String { String(format: v < 10 ? "%.2f" : "%.0f", v) }
}

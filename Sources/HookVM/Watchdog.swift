import CLua
import Foundation
import Synchronization

/// The memory behind `bmlua_Limits`, shared by the VM and its watchdog
/// thread: whichever lets go last frees it.
final class LimitsStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<bmlua_Limits>
    init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: bmlua_Limits())
    }
    deinit { pointer.deallocate() }
}

/// Enforces the time limit of hook calls at no cost to calls that finish in
/// time: a call only bumps a counter (see `bmlua_Limits.clock`); this thread
/// polls it and arms Lua's count hook once one call has run past the limit.
/// A call is stopped no earlier than the limit and at most two polls later.
final class Watchdog: @unchecked Sendable {
    static let poll: UInt64 = 50_000_000
    /// How long past a trip a call may take to stop. Code that Lua runs with
    /// its hooks off (a finalizer, a message handler) or a blocking system
    /// call (opening a FIFO) never sees the trip: then the process ends.
    static let grace: UInt64 = 2_000_000_000

    private let storage: LimitsStorage
    private let limit: Atomic<UInt64>
    private let stopped = Atomic<Bool>(false)

    init(_ storage: LimitsStorage, seconds: Double) {
        self.storage = storage
        limit = Atomic(Self.nanoseconds(seconds))
        let thread = Thread { [self] in run() }
        thread.name = "bmlua-watchdog"
        thread.start()
    }

    func setLimit(seconds: Double) { limit.store(Self.nanoseconds(seconds), ordering: .relaxed) }
    func stop() { stopped.store(true, ordering: .relaxed) }

    private static func nanoseconds(_ s: Double) -> UInt64 { UInt64(max(0, min(s, 1e9)) * 1e9) }

    private func run() {
        let limits = storage.pointer
        var watched: UInt = 0
        var since: UInt64 = 0
        while !stopped.load(ordering: .relaxed) {
            let clock = bmlua_clock(limits)
            if clock & 1 == 0 {
                watched = clock
            } else if clock != watched {
                watched = clock
                since = now()
            } else if now() - since >= limit.load(ordering: .relaxed) {
                if bmlua_timetrip(limits, clock) != 0 { bmlua_killchildren(limits, clock) }
                if now() - since >= limit.load(ordering: .relaxed) &+ Self.grace && bmlua_clock(limits) == clock {
                    Self.endProcess(seconds: Double(now() - since) / 1e9)
                }
            }
            var ts = timespec(tv_sec: 0, tv_nsec: Int(Self.poll))
            nanosleep(&ts, nil)
        }
    }
}

extension Watchdog {
    /// The time limit always holds (DESIGN §4): a call that does not stop
    /// ends bmlua, as a crash would. SQLite rolls back the open transaction at
    /// the next open, the writer lock goes with the process, and the objects
    /// the operation wrote are left for `gc`.
    static func endProcess(seconds: Double) -> Never {
        let message = "bmlua: error 32: Hook ran past its time limit: the hook did not stop "
            + String(format: "%.1f s after it started", seconds)
            + " (code Lua runs with its hooks off, a looping finalizer or message handler, or a blocking call such as opening a FIFO);"
            + " bmlua ends here, and an operation still open is rolled back\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        _exit(1)
    }
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

import CLua
import Foundation
import Synchronization

/// Enforces the time limit of hook calls at no cost to calls that finish in
/// time: a call only writes its deadline under an uncontended lock; this
/// thread arms Lua's count hook once a deadline has passed.
final class Watchdog: @unchecked Sendable {
    private struct Clock {
        var active = false
        var deadline: UInt64 = 0
        var stopped = false
    }

    /// How often an idle watchdog looks for a new call: bounds how late a stop can be.
    static let idlePoll: UInt64 = 100_000_000

    private let clock = Mutex(Clock())
    private let limits: UnsafeMutablePointer<bmlua_Limits>

    init(_ limits: UnsafeMutablePointer<bmlua_Limits>) {
        self.limits = limits
        let thread = Thread { [self] in run() }
        thread.name = "bmlua-watchdog"
        thread.start()
    }

    func begin(seconds: Double) {
        let deadline = now() + UInt64(max(0, seconds) * 1e9)
        clock.withLock {
            $0.active = true
            $0.deadline = deadline
        }
    }

    func end() { clock.withLock { $0.active = false } }

    /// The thread exits at its next wake-up; it touches `limits` only while a call is active.
    func stop() { clock.withLock { $0.stopped = true; $0.active = false } }

    private func run() {
        while true {
            let pause: UInt64? = clock.withLock { c in
                if c.stopped { return nil }
                guard c.active else { return Self.idlePoll }
                let t = now()
                if t >= c.deadline {
                    // Under the lock: the call cannot end (and another begin) meanwhile.
                    bmlua_trip(limits, Int32(BMLUA_TRIP_TIME))
                    c.active = false
                    return Self.idlePoll
                }
                return min(c.deadline - t, Self.idlePoll)
            }
            guard let pause else { return }
            var ts = timespec(tv_sec: Int(pause / 1_000_000_000), tv_nsec: Int(pause % 1_000_000_000))
            nanosleep(&ts, nil)
        }
    }
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

import Dispatch
import Glibc

/// What the file workers of a snapshot (Stager) and a restore (FileWriters)
/// share between threads without Swift's help: each use says why it is safe.

/// A value workers read but never change while they run (a store whose
/// worker-side calls touch nothing shared but descriptors and an atomic
/// counter; the session, for its stateless file calls).
final class Unshared<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Threads for work that waits on the disk: a snapshot's readers, the browse
/// view's linkers, a restore's writers.
///
/// Not Dispatch's pool: a concurrent queue and `concurrentPerform` run there,
/// and on Linux it is as wide as the CPUs. On two cores, four "workers" were
/// two threads, shared by the readers and the view's linkers, each blocked on
/// one cold file at a time; the session's thread waited three seconds in
/// twenty for the linkers at 200,000 files. A serial queue gets a thread of
/// its own whenever it has work, so `count` queues are `count` threads.
final class Workers: Sendable {
    private let queues: [DispatchQueue]

    init(_ label: String, count: Int) {
        queues = (0..<max(1, count)).map { DispatchQueue(label: "\(label).\($0)") }
    }

    /// Starts `body` on worker `worker` (any number: taken modulo `count`),
    /// after what that worker was given before, as part of `group`.
    func async(_ worker: Int, group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
        queues[worker % queues.count].async(group: group, execute: body)
    }
}

extension DispatchSemaphore {
    /// A semaphore of `count` permits that may be freed with any of them out.
    /// libdispatch stops the process when a semaphore is freed below the
    /// value it was made with, as a wait left unanswered by an early exit (a
    /// failed read, a cancel) leaves it: made at 0 and signalled up, it is
    /// never below that.
    static func permits(_ count: Int) -> DispatchSemaphore {
        let semaphore = DispatchSemaphore(value: 0)
        for _ in 0..<count { semaphore.signal() }
        return semaphore
    }
}

/// One slot per item, each written by exactly one worker and read only after
/// the workers have all finished.
final class Slots<T>: @unchecked Sendable {
    private let buffer: UnsafeMutableBufferPointer<T?>
    init(count: Int) { buffer = .allocate(capacity: count); buffer.initialize(repeating: nil) }
    deinit { buffer.deinitialize(); buffer.deallocate() }
    subscript(i: Int) -> T? {
        get { buffer[i] }
        set { buffer[i] = newValue }
    }
    func collect() -> [T?] { Array(buffer) }
}

/// The descriptors a process may hold. A snapshot's workers hold up to five
/// groups of files open at once (each source, and its object until it is
/// named): over 1,000, the usual soft limit, so it is raised to the hard one
/// (as Go's runtime does), at most 65,536.
public enum OpenFileLimit {
    public static func raise() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 65_536)
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = wanted
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

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

/// The descriptors a process may hold. A snapshot's workers hold two groups
/// of files open at once (each source and its object with no name yet): up
/// to about 1,000, which is the usual soft limit, so it is raised to the
/// hard one (as Go's runtime does), at most 65,536.
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

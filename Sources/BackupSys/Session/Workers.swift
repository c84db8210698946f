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

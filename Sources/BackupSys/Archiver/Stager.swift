import Dispatch
import Foundation

/// The snapshot's file workers (restic's archiver has them too): the batch's
/// new and changed files opened, read, hashed and written to temp files on
/// several threads at once. The Lua state, the hooks and the catalog stay on
/// the caller's thread, which then commits each staged object in walk order.
struct Stager {
    let objects: ObjectStore
    /// Threads reading at once: the disk serves several readers faster than one.
    let workers: Int

    /// A file opened and its bytes staged: what the serial step commits.
    struct Read {
        let source: SourceFile
        let staged: ObjectStore.Staged
    }

    /// One result per file, in order: nil where opening or reading failed (the
    /// serial step then tries again, and reports the error as it always has).
    func stage(_ files: [Walker.File]) throws -> [Read?] {
        guard !files.isEmpty else { return [] }
        try objects.prepareToStage()
        let known = objects.known
        let results = Slots<Read>(count: files.count)
        let shared = Unshared((files, objects)), workers = min(workers, files.count)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let (files, objects) = shared.value
            for i in stride(from: worker, to: files.count, by: workers) {
                guard let source = try? files[i].open() else { continue }
                guard let staged = try? objects.stage(source, known: known) else { continue }
                results[i] = Read(source: source, staged: staged)
            }
        }
        return results.collect()
    }
}

/// Values the workers read but never change while they run (the batch's
/// files and the store, whose `stage` touches only what it may share).
private final class Unshared<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One slot per file, each written by exactly one worker and read only after
/// `concurrentPerform` has joined them all.
private final class Slots<T>: @unchecked Sendable {
    private let buffer: UnsafeMutableBufferPointer<T?>
    init(count: Int) { buffer = .allocate(capacity: count); buffer.initialize(repeating: nil) }
    deinit { buffer.deinitialize(); buffer.deallocate() }
    subscript(i: Int) -> T? {
        get { buffer[i] }
        set { buffer[i] = newValue }
    }
    func collect() -> [T?] { Array(buffer) }
}

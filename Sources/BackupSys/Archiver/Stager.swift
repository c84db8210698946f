import Dispatch
import Foundation

/// The snapshot's file workers (restic's archiver has them too): a group of
/// new and changed files opened, read, hashed and written to temp files on
/// several threads, while the caller's thread goes on with the group before
/// (hooks, catalog rows and the commits of what was staged, in walk order).
struct Stager {
    let objects: ObjectStore
    /// Threads reading at once: the disk serves several readers faster than one.
    let workers: Int

    /// A file opened and its bytes staged: what the serial step commits.
    struct Read {
        let source: SourceFile
        let staged: ObjectStore.Staged
    }

    /// A group being staged. `wait()` gives one result per file, in order:
    /// nil where opening or reading failed (the serial step then tries again,
    /// and reports the error as it always has).
    final class Group: @unchecked Sendable {
        fileprivate let done = DispatchGroup()
        fileprivate let results: Slots<Read>
        fileprivate let files: [Walker.File]

        fileprivate init(_ files: [Walker.File]) {
            self.files = files
            results = Slots(count: files.count)
        }

        /// Called once a group: by the step that stores it, or by `discard`.
        func wait() -> [Read?] {
            done.wait()
            return results.collect()
        }

        /// Waits for the workers and removes what they staged: nothing will commit it.
        func discard(in objects: ObjectStore) {
            for read in wait() { if let read { objects.discard(read.staged) } }
        }
    }

    private static let threads = Workers("bmlua.stager", count: 16)

    /// Starts staging `files` and returns at once.
    func start(_ files: [Walker.File]) throws -> Group {
        let group = Group(files)
        guard !files.isEmpty else { return group }
        try objects.prepareToStage()
        let known = objects.known
        let shared = Unshared(objects), workers = min(workers, files.count)
        for worker in 0..<workers {
            Self.threads.async(worker, group: group.done) {
                let objects = shared.value
                for i in stride(from: worker, to: group.files.count, by: workers) {
                    guard let source = try? group.files[i].open() else { continue }
                    guard let staged = try? objects.stage(source, known: known) else { continue }
                    group.results[i] = Read(source: source, staged: staged)
                }
            }
        }
        return group
    }
}

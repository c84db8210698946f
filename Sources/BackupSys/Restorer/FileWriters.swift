import Dispatch
import Glibc

/// A restore's file writers: files copied back from their objects by several
/// threads at once, each verified against its hash as it is read, written to
/// a temp file beside its target, given its metadata on the descriptor and
/// renamed into place, exactly as restbu writes one. Only for files no hook
/// 4 changes: that hook runs on the session's thread, and the file it names
/// lives only until the next hook call.
struct FileWriters {
    let session: BackupDatabase
    let workers: Int
    private static let threads = Workers("bmlua.restore", count: 16)

    /// A file to write: `name` in `folder` gets `data`.
    struct Job {
        let folder: Folder
        let name: Path
        let data: StoredData
    }

    /// Files being written: `wait()` gives one result per job, in order.
    struct Pending {
        fileprivate let done: DispatchGroup
        fileprivate let failures: Slots<Error>?

        /// Nil for a file written, else its error.
        func wait() -> [Error?] {
            done.wait()
            return failures?.collect() ?? []
        }
    }

    /// Starts writing `jobs` and returns while the workers write them, so
    /// that the caller can ready the next group meanwhile. Nothing is synced:
    /// the caller syncs the file systems once at the end (a file that
    /// replaces another is synced before its rename, as restbu does).
    func start(_ jobs: [Job], overwrite: Bool) throws -> Pending {
        let done = DispatchGroup()
        guard !jobs.isEmpty else { return Pending(done: done, failures: nil) }
        try session.objects.prepareToStage()   // objects/ opened here, not raced for by the workers
        let failures = Slots<Error>(count: jobs.count)
        // The workers call only the session's file functions (replaceable,
        // writeAtomically, the store's copy), which change nothing in it; each
        // writes its own slots of `failures`, read after `done`.
        let shared = Unshared((session, jobs, failures)), workers = min(workers, jobs.count)
        for worker in 0..<workers {
            Self.threads.async(worker, group: done) {
                let (session, jobs, failures) = shared.value
                for i in stride(from: worker, to: jobs.count, by: workers) {
                    let job = jobs[i]
                    do {
                        // What a new folder holds, this restore put there.
                        let existing = job.folder.isNew ? nil : try session.replaceable(job.name, in: job.folder, overwrite: overwrite)
                        try session.writeAtomically(job.data, into: job.folder, name: job.name, replacing: overwrite,
                                                    syncFile: existing != nil, syncFolder: false) { fd in
                            try session.objects.copy(job.data.object, size: job.data.size, to: fd, destination: job.folder.path.appending(job.name))
                        }
                    } catch {
                        failures[i] = error
                    }
                }
            }
        }
        return Pending(done: done, failures: failures)
    }
}

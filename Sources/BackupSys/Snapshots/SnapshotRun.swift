import Foundation
import GRDB
import Glibc

/// `bmlua snapshot` (design.md, "Snapshots and the user-callback"): back up a profile's tree as backups and
/// versions, record a snapshot, and call the user-callback at each step.
public struct SnapshotRun {
    public var profileID: Int64 = 1
    public var config: ProfileConfig
    /// The default repository (`--repo`, `$BMLUA_REPO`, …), for profiles without their own.
    public var defaultRepository: String
    public var options = SessionOptions()
    public var callbackPath: String?
    public var callbackTimeLimit: Double = 600
    /// Called now and then with the running totals (files, bytes stored).
    public var progress: ((Summary) -> Void)?
    /// Files the workers read ahead at a time.
    public var batchSize = 256
    /// A transaction commits, its objects made durable with one sync, every
    /// `commitBytes` stored or `commitSeconds`, whichever comes first: a crash
    /// loses at most that much work (a stop commits what is whole).
    public var commitBytes: Int64 = 64 << 20
    public var commitSeconds = 2.0
    /// Threads that read new and changed files while hooks and the catalog keep to this one.
    public var workers = 4
    /// Groups of `batchSize` files the workers may have before the oldest is stored.
    public var groupsAhead = 4
    /// Where the per-profile "already running" locks live (default: ProfileLock.directory()).
    public var lockDirectory: String?
    /// The clock that names snapshots.
    public var now: () -> Date = Date.init

    public init(config: ProfileConfig, defaultRepository: String) {
        self.config = config
        self.defaultRepository = defaultRepository
    }

    public struct Summary: Sendable {
        public var sid: String?
        public var newFiles = 0
        public var changedFiles = 0
        public var unchangedFiles = 0
        public var failedFiles = 0
        /// Symbolic links kept as links.
        public var links = 0
        public var bytesStored: Int64 = 0
        /// Source files opened to be stored (unchanged files are never opened).
        public var filesRead = 0
        /// Files a worker read ahead for nothing: a hook named another file
        /// to store, or the file failed.
        public var readsDropped = 0
        public var seconds = 0.0
        public var errors: [String] = []
    }

    /// Runs the whole protocol. Throws 1, 2, 3, 4, 5 or 7 as §8's table says,
    /// or `Interrupted` (called back as reason 4 with 5, then 2 and 8); a
    /// snapshot taken with errors returns normally with `failedFiles > 0`.
    public func run() throws -> Summary {
        let log = options.diagnostics
        let verbose = options.verbose
        let info: (String) -> Void = { if verbose { log("bmlua: \($0)") } }
        let repo = repository
        guard callbackTimeLimit > 0 && callbackTimeLimit.isFinite else {
            throw BMError(22, "the user-callback's time limit must be a finite number of seconds above 0")
        }
        let callback = UserCallback(path: callbackPath, repository: repo, timeLimit: callbackTimeLimit,
                                    log: info, errorLog: { log("bmlua: \($0)") })

        let profile: Profile
        do { profile = try configuredProfile() } catch {
            callback.call(config.profile(profileID) ?? Profile(id: profileID, name: ""), .error, ["1"])
            throw error
        }
        let lock: ProfileLock
        do {
            lock = try ProfileLock(profile: profile.id, directory: lockDirectory)
        } catch {
            callback.call(profile, .error, ["2"])
            throw error
        }
        defer { lock.release() }

        guard callback.call(profile, .mount) else {
            callback.call(profile, .unmount)
            throw BMError(7, "reason 7 (mount) exited non-zero")
        }
        guard callback.call(profile, .begins) else {
            callback.call(profile, .unmount)
            throw BMError(7, "reason 1 (begins) exited non-zero")
        }
        var failure: Error?
        var summary = Summary()
        do {
            try requireRepository(repo)
            // Nothing to read at all is a failed run, as restic says "all source
            // files do not exist": an empty snapshot "with errors" is only noise.
            let includes = profile.include.map { Path($0).absolute }
            if includes.allSatisfy({ FS.stat($0) == nil && errno == ENOENT }) {   // followed, as walk follows an include
                throw BMError(5, "none of profile \(profile.id)'s include paths exists (\(includes.map { FS.shown($0) }.joined(separator: ", "))); is the drive mounted?")
            }
            let bd = try BackupDatabase(at: repo, options: options)
            defer { bd.close() }
            summary = try bd.holdingWriterLock {
                try Archiver(session: bd, profile: profile, batchSize: batchSize, commitBytes: commitBytes, commitSeconds: commitSeconds,
                             now: now, progress: progress, workers: workers, groupsAhead: groupsAhead).take()
            }
            // Failures are reason 4 with 6 whether or not a snapshot was taken (the
            // same failures as the last one record none); reason 3 only for a new one.
            if summary.failedFiles > 0 { callback.call(profile, .error, ["6", isoTime(Date())]) }
            if let sid = summary.sid {
                callback.call(profile, .newSnapshot, [sid, repo + "/snapshots/" + sid])
            }
        } catch let stop as Interrupted {
            callback.call(profile, .error, ["5", stop.description])
            failure = stop
        } catch let e as BMError where e.number == 36 {
            callback.call(profile, .error, ["5", e.description])
            failure = e
        } catch let e as BMError where e.number == 3 || e.number == 4 {
            callback.call(profile, .error, e.number == 3 ? ["3"] : ["4", String(decoding: e.path.bytes, as: UTF8.self)])
            failure = e
        } catch {
            let e = BMError.wrap(error)
            callback.call(profile, .error, ["5", e.description])
            failure = e.number == 5 ? e : BMError(5, e.description)
        }
        callback.call(profile, .ends)
        callback.call(profile, .unmount)
        if let failure { throw failure }
        return summary
    }

    /// What a run would store, found as `run()` finds it (`snapshot --dry-run`).
    public struct Plan: Sendable {
        public var new: [Path] = []
        public var changed: [Path] = []
        public var unchanged = 0
        public var links = 0
        /// Bytes of the new and changed files, as they are on disk (before any hook).
        public var bytes: Int64 = 0
        /// What could not be walked, each with its error.
        public var unreadable: [(path: Path, error: BMError)] = []
    }

    /// The repository the profile snapshots into: its own, else the default.
    var repository: String { config.profile(profileID)?.repo ?? defaultRepository }

    /// The profile, if it exists and includes something; error 1 if not.
    func configuredProfile() throws -> Profile {
        guard let profile = config.profile(profileID) else {
            throw BMError(1, "no profile \(profileID) in \(config.path) (see: bmlua profile list)")
        }
        guard !profile.include.isEmpty else {
            throw BMError(1, "profile \(profileID) includes nothing (add paths with: bmlua profile include PATH --profile \(profileID))")
        }
        return profile
    }

    /// Error 3 if the profile's repository is not there (a drive not mounted).
    func requireRepository(_ repo: String) throws {
        guard !Repository.exists(at: repo) else { return }
        throw BMError(3, "no repository at \(FS.shown(repo)) (is the drive mounted? create one with: bmlua init --repo \(FS.shown(repo)))", path: repo)
    }

    /// `run()` without its effects: no lock, no hook, no user-callback,
    /// nothing stored. Throws 1 or 3 as `run()` would.
    public func plan() throws -> Plan {
        let profile = try configuredProfile(), repo = repository
        try requireRepository(repo)
        let bd = try BackupDatabase(at: repo, options: options)
        defer { bd.close() }
        var plan = Plan(), known = KnownFiles(asOf: bd.hookWrites)
        let tree = try bd.read { db in
            try Walker(profile, in: bd.repository).walk { item in
                guard case .file(let file) = item else {
                    if case .link = item { plan.links += 1 }
                    return
                }
                guard let st = file.lookUp() else { return plan.unreadable.append((file.path, FS.failure("cannot read", file.path))) }
                let b = try known.find(file.path, db)
                if let b, KnownFiles.unchangedVersion(of: b, st) != nil {
                    plan.unchanged += 1
                    return
                }
                if b == nil { plan.new.append(file.path) } else { plan.changed.append(file.path) }
                plan.bytes += Int64(st.st_size)
            }
        }
        plan.unreadable += tree.failures
        return plan
    }
}

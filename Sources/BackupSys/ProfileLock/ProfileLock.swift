import Foundation
import Glibc

/// "Already running" (error 2): a per-profile lock outside the repository, so
/// it works before the user-callback has mounted the repository's drive.
final class ProfileLock {
    private let fd: Int32

    static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        (XDG.runtime(environment) ?? XDG.state(environment)) + "/bmlua"
    }

    init(profile: Int64, directory: String? = nil) throws {
        let dir = directory ?? Self.directory()
        try? FS.makeDirectories(dir)   // a failure shows as the lock's own, just below
        let path = "\(dir)/profile-\(profile).lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FS.failure("cannot open the lock", path) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw BMError(2, "a snapshot of profile \(profile) is running (lock \(path))", path: path)
        }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

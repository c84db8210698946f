import Foundation
import HookVM
import Glibc

/// Back In Time's user-callback protocol (design.md, "Snapshots and the user-callback"): an external program
/// called at the steps of a snapshot run with `profile-id profile-name reason [extra…]`.
public struct UserCallback {
    public enum Reason: Int, Sendable {
        case begins = 1, ends = 2, newSnapshot = 3, error = 4, appStart = 5, appClose = 6, mount = 7, unmount = 8
    }

    /// The program; nil when none exists (then nothing is called).
    public var path: String?
    /// Seconds per call; past it the process group is killed and the call counts as failed.
    public var timeLimit: Double = 600
    public var repository: String
    /// Where "user-callback returned '…'" and the callback's stderr lines go.
    public var log: (String) -> Void
    public var errorLog: (String) -> Void

    /// `--user-callback PATH`, else `$BMLUA_USER_CALLBACK`, else
    /// `$XDG_CONFIG_HOME/bmlua/user-callback`; only if it exists.
    public static func locate(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit, !explicit.isEmpty { return FS.exists(explicit) ? FS.absolute(explicit) : nil }
        if let env = environment["BMLUA_USER_CALLBACK"], !env.isEmpty { return FS.exists(env) ? FS.absolute(env) : nil }
        let path = XDG.config(environment) + "/bmlua/user-callback"
        return FS.exists(path) ? path : nil
    }

    public init(path: String?, repository: String, timeLimit: Double = 600,
                log: @escaping (String) -> Void, errorLog: @escaping (String) -> Void) {
        self.path = path
        self.repository = repository
        self.timeLimit = timeLimit
        self.log = log
        self.errorLog = errorLog
    }

    /// Calls the program; true if it exited 0 (or there is none).
    @discardableResult
    public func call(_ profile: Profile, _ reason: Reason, _ extra: [String] = []) -> Bool {
        guard let path else { return true }
        log("user-callback: \(path) \(profile.id) \(profile.name.debugDescription) \(reason.rawValue) \(extra.map(\.debugDescription).joined(separator: " "))")
        var env = ProcessInfo.processInfo.environment
        env["BMLUA_REPO"] = repository
        env["BMLUA_PROFILE_ID"] = String(profile.id)
        env["BMLUA_PROFILE_NAME"] = profile.name
        env["BMLUA_REASON"] = String(reason.rawValue)
        let result = ChildProcess.run(path, arguments: [String(profile.id), profile.name, String(reason.rawValue)] + extra,
                                      environment: env, timeLimit: timeLimit)
        let out = result.stdout.trimmingCharacters(in: .newlines)
        if result.droppedOut > 0 { log("user-callback wrote \(result.droppedOut) bytes more than the last \(ChildProcess.kept) kept") }
        if !out.isEmpty { log("user-callback returned '\(out)'") }
        if result.droppedErr > 0 { errorLog("user-callback error: \(result.droppedErr) bytes of its stderr dropped (the last \(ChildProcess.kept) kept)") }
        for line in result.stderr.split(separator: "\n") { errorLog("user-callback error: \(line)") }
        switch result.outcome {
        case .exited(0): return true
        case .exited(let code): errorLog("user-callback \(path) exited with \(code) (reason \(reason.rawValue))")
        case .signalled(let s): errorLog("user-callback \(path) was killed by signal \(s) (reason \(reason.rawValue))")
        case .timedOut: errorLog("user-callback \(path) ran past \(formatSeconds(timeLimit)) s and was killed (reason \(reason.rawValue))")
        case .failedToStart(let e):
            // As Back In Time: a callback that can't be run is an error in the log, not a veto.
            errorLog("user-callback \(path) cannot be run: \(String(cString: strerror(e))) (reason \(reason.rawValue); the run goes on)")
            return true
        }
        return false
    }
}


/// A program run directly (no shell) in a process group of its own, so that a
/// time limit can kill it and everything it started.
enum ChildProcess {
    enum Outcome: Equatable {
        case exited(Int32), signalled(Int32), timedOut, failedToStart(Int32)
    }

    struct Result {
        var outcome: Outcome
        var stdout: String
        var stderr: String
        /// Bytes written beyond the tail kept.
        var droppedOut = 0, droppedErr = 0
    }

    /// Of each of stdout and stderr, the last this many bytes are kept: a
    /// callback that prints without end costs no more memory than this.
    static let kept = 64 << 10
    /// Once the callback has exited, how long output from what it left
    /// running (a daemon holding its stdout) is still read.
    static let drain = 0.5

    static func run(_ path: String, arguments: [String], environment: [String: String], timeLimit: Double) -> Result {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            return Result(outcome: .failedToStart(errno), stdout: "", stderr: "")
        }
        // Only the child's dup2'd copies may survive exec.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)

        let argv = [path] + arguments
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        var rc: Int32 = 0
        // ETXTBSY: the program is still open for writing somewhere — being saved, or
        // inherited by a child that another thread forked and has not exec'd yet. Both pass.
        for pause in [0, 5, 10, 20, 40, 80, 160, 320, 640] as [useconds_t] {
            if pause > 0 { usleep(pause * 1000) }
            rc = withCStrings(argv) { a in withCStrings(envp) { e in posix_spawn(&pid, path, &actions, &attr, a, e) } }
            if rc != ETXTBSY { break }
        }
        close(outPipe[1])
        close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        guard rc == 0 else { return Result(outcome: .failedToStart(rc), stdout: "", stderr: "") }

        var out = [UInt8](), err = [UInt8](), droppedOut = 0, droppedErr = 0
        var open: [Int32] = [outPipe[0], errPipe[0]]
        let deadline = Date().addingTimeInterval(timeLimit)
        var drainUntil: Date?
        var status: Int32 = 0
        var exited = false
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty || !exited {
            if !exited && waitpid(pid, &status, WNOHANG) == pid { exited = true }
            if exited {
                // The call ends with its process: what it left holding the pipe is not waited for.
                if drainUntil == nil { drainUntil = Date().addingTimeInterval(drain) }
                if Date() >= drainUntil! { break }
            }
            if Date() >= deadline {
                kill(-pid, SIGKILL)
                timedOut = true
                if !exited { waitpid(pid, &status, 0); exited = true }
                break
            }
            if open.isEmpty { usleep(10_000); continue }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 50)
            if ready <= 0 {
                // A grandchild may hold the pipes open after the callback exited: stop waiting then.
                if exited && ready == 0 { break }
                continue
            }
            for f in fds where f.revents != 0 {
                let n = read(f.fd, &buffer, buffer.count)
                if n > 0 {
                    if f.fd == outPipe[0] { keepTail(&out, buffer[0..<n], &droppedOut) } else { keepTail(&err, buffer[0..<n], &droppedErr) }
                } else {
                    open.removeAll { $0 == f.fd }
                }
            }
        }
        let text = { (b: [UInt8]) in String(decoding: b, as: UTF8.self) }
        let outcome: Outcome = timedOut ? .timedOut : status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
        return Result(outcome: outcome, stdout: text(out), stderr: text(err), droppedOut: droppedOut, droppedErr: droppedErr)
    }

    private static func keepTail(_ kept: inout [UInt8], _ new: ArraySlice<UInt8>, _ dropped: inout Int) {
        kept += new
        if kept.count > Self.kept {
            dropped += kept.count - Self.kept
            kept.removeFirst(kept.count - Self.kept)
        }
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }
}

import Foundation
import GRDB
@testable import BackupSys

/// The bmlua program as users run it: exit status, stdout and stderr.
public enum Program {
    /// The bmlua this test run built: beside the test bundle, in the build's products folder.
    public static let binary: String = {
        var dir = Bundle.main.bundleURL
        while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("bmlua").path) && dir.path != "/" {
            dir.deleteLastPathComponent()
        }
        return dir.appendingPathComponent("bmlua").path
    }()

    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public init(status: Int32, stdout: String, stderr: String) { (self.status, self.stdout, self.stderr) = (status, stdout, stderr) }
    }

    @discardableResult
    public static func bmlua(_ args: [String], repo: String, input: String? = nil, environment: [String: String] = [:],
                      asUser: String? = nil, whileRunning: (Process) throws -> Void = { _ in }) throws -> Result {
        let p = Process()
        if let asUser {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=\(asUser)", "--regid=\(asUser)", "--clear-groups", binary] + args + ["--repo", repo]
        } else {
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args + ["--repo", repo]
        }
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdin = Pipe()
        p.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try p.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            stdin.fileHandleForWriting.closeFile()
        }
        try whileRunning(p)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

}

extension BackupDatabase {
    public var dbQueueForTests: DatabaseQueue { repository.dbQueue }
}

extension Repository {
    /// The object files of a repository, listed without opening its catalog.
    public static func objectsForTests(_ root: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: root + "/objects").filter { $0.count > 3 }.map { String($0.dropFirst(3)) }.sorted()
    }
}

import Foundation
import GRDB
import Testing
@testable import BackupSys
@testable import HookVM

/// A throw-away repository and work folder.
public final class Fixture {
    public let base: String
    public let root: String
    public let work: String
    public let bd: BackupDatabase
    public var diagnostics: [String] = []

    public init(options: SessionOptions = SessionOptions()) throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("bmlua-\(UUID().uuidString)").path
        root = base + "/repo"
        work = base + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Repository.create(at: root)
        var o = options
        let sink = Sink()
        o.diagnostics = { sink.lines.append($0) }
        bd = try BackupDatabase(at: root, options: o)
        self.sink = sink
    }

    private let sink: Sink
    /// A catalog of an older schema (migrated up to `migration`) in a folder
    /// of its own: its queue, and its path, to put it in the repository's place.
    public func olderCatalog(upTo migration: String) throws -> (queue: DatabaseQueue, path: String) {
        let folder = base + "/" + migration.prefix(while: { $0 != ":" })
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: folder + "/catalog.sqlite")
        try Schema.migrator.migrate(queue, upTo: migration)
        return (queue, folder + "/catalog.sqlite")
    }

    public var messages: [String] { sink.lines }
    public final class Sink {
        public var lines: [String] = []
        public init() {}
    }

    deinit {
        bd.close()
        try? FileManager.default.removeItem(atPath: base)
    }

    @discardableResult
    public func file(_ name: String, _ content: String, mode: mode_t = 0o644) throws -> String {
        let path = work + "/" + name
        try FileManager.default.createDirectory(atPath: FS.directory(path), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode)
        return path
    }

    /// An executable script, written through a close-on-exec descriptor: Foundation's
    /// `Data.write` opens without O_CLOEXEC, so a callback that a parallel test spawns
    /// meanwhile would keep the script open for writing and make its exec fail (ETXTBSY).
    public static func script(_ text: String, at path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw FS.failure("cannot write", path) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw FS.failure("cannot write", path) }
    }

    public func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    public func hook(_ n: Int, _ code: String) throws { try bd.setHook(n, code: code, force: true) }

    /// The catalog and the object files: equal before and after a failed operation.
    public func state() throws -> String {
        try bd.dumpCatalog() + bd.objects.allObjects().sorted().joined(separator: "\n")
    }

    public func global(_ name: String) throws -> LuaValue { try bd.luaVM()[global: name] }

    public func objectBytes(_ id: String) throws -> String { try read(bd.objects.path(of: id)) }
}

/// The folder holding Package.swift (for the built binary and hooks/examples).
public let packageRoot: String = {
    var dir = URL(fileURLWithPath: #filePath)
    while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
        dir.deleteLastPathComponent()
    }
    return dir.path
}()

/// Expects error `number` from `body`, and returns it for a look at its message.
@discardableResult
public func expectError(_ number: Int, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> BMError? {
    do {
        try body()
        Issue.record("expected error \(number), got success", sourceLocation: sourceLocation)
    } catch let e as BMError {
        #expect(e.number == number, "\(e)", sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("expected error \(number), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

// Tests name their files as text; the library takes paths as bytes.
extension BackupDatabase {
    @discardableResult
    public func restbu(_ index: Int64, version: Int64 = 0, overwrite: Bool = false, to: String) throws -> String {
        try restbu(index, version: version, overwrite: overwrite, to: Path(to)).text
    }
}

extension Path {
    /// The path as text (the tests' own names are UTF-8).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}


extension BackupDatabase {
    /// `Restorer.restore` with text paths in and out.
    public func restore(_ sid: String, path: String? = nil, to: String? = nil, overwrite: Bool = false,
                 progress: ((Int, Int) -> Void)? = nil) throws -> (restored: [String], failed: [BMError], links: Int, unchanged: [String]) {
        let r = try Restorer(self).restore(sid, path: path.map { Path($0) }, to: to.map { Path($0) }, overwrite: overwrite, progress: progress)
        return (r.restored.map(\.text), r.failed, r.links, r.unchanged.map(\.text))
    }
}

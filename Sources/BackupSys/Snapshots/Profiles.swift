import Foundation
import TOMLKit

/// A profile (design.md, "Snapshots and the user-callback"), as Back In Time has them: what to snapshot, and into
/// which repository. Profile 1, "Main profile", always exists.
public struct Profile: Equatable, Sendable {
    public var id: Int64
    public var name: String
    /// nil: the default repository.
    public var repo: String?
    public var include: [String]
    public var exclude: [String]

    public init(id: Int64, name: String, repo: String? = nil, include: [String] = [], exclude: [String] = []) {
        self.id = id
        self.name = name
        self.repo = repo
        self.include = include
        self.exclude = exclude
    }

    public static let main = Profile(id: 1, name: "Main profile")
}

/// The user's profiles: `$XDG_CONFIG_HOME/bmlua/config.toml`, or `--config FILE`.
///
/// The file is TOML: `[[profile]]` tables with `id`, `name`, `repo`,
/// `include` and `exclude`. A rewrite (`profile add`, `include`, `exclude`)
/// keeps the file as it was beside it as `config.toml~`: TOML libraries
/// do not keep comments, and a user's are theirs.
public struct ProfileConfig {
    public var path: String
    public private(set) var profiles: [Profile]

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        XDG.config(environment) + "/bmlua/config.toml"
    }

    /// Reads the file; a missing file is just the main profile.
    public static func load(_ path: String? = nil) throws -> ProfileConfig {
        let path = path ?? defaultPath()
        var profiles: [Profile] = []
        if FS.exists(path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw BMError(11, "cannot read the configuration \(FS.shown(path))", path: path)
            }
            profiles = try parse(text, path: path)
        }
        if !profiles.contains(where: { $0.id == 1 }) { profiles.insert(.main, at: 0) }
        return ProfileConfig(path: path, profiles: profiles.sorted { $0.id < $1.id })
    }

    public func profile(_ id: Int64) -> Profile? { profiles.first { $0.id == id } }

    mutating func replaceProfile(at i: Int, with p: Profile) { profiles[i] = p }
    mutating func appendProfile(_ p: Profile) {
        profiles.append(p)
        profiles.sort { $0.id < $1.id }
    }

    public mutating func add(name: String, repo: String?) throws -> Profile {
        guard !name.isEmpty else { throw BMError(22, "a profile needs a name") }
        let p = Profile(id: (profiles.map(\.id).max() ?? 0) + 1, name: name, repo: repo.map { FS.absolute($0) })
        profiles.append(p)
        try save()
        return p
    }

    public mutating func update(_ id: Int64, _ change: (inout Profile) -> Void) throws {
        guard let i = profiles.firstIndex(where: { $0.id == id }) else {
            throw BMError(1, "no profile \(id) (see: bmlua profile list)")
        }
        change(&profiles[i])
        try save()
    }

    /// Writes the file atomically (temp file, then rename).
    public func save() throws {
        var text = "# bmlua profiles (see the README, \"Profiles and snapshots\"). Profile 1 is the main profile.\n"
        for p in profiles {
            text += "\n[[profile]]\nid = \(p.id)\nname = \(quote(p.name))\n"
            if let repo = p.repo { text += "repo = \(quote(repo))\n" }
            text += "include = [\(p.include.map(quote).joined(separator: ", "))]\n"
            text += "exclude = [\(p.exclude.map(quote).joined(separator: ", "))]\n"
        }
        let dir = FS.directory(path)
        // The file as the user last left it (comments and all), once before each rewrite.
        if FS.exists(path) {
            unlink(path + "~")
            link(path, path + "~")
        }
        do {
            try FS.makeDirectories(dir)
            let temp = dir + "/.config.toml.\(getpid())"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temp))
            guard rename(temp, path) == 0 else { throw FS.failure("cannot write", path) }
        } catch let e as BMError {
            throw e
        } catch {
            throw BMError(20, "cannot write the configuration \(FS.shown(path)): \(error.localizedDescription)", path: path)
        }
    }

    // MARK: TOML

    /// One `[[profile]]` table, as the file holds it.
    private struct Entry: Decodable {
        var id: Int64
        var name: String?
        var repo: String?
        var include: [String]?
        var exclude: [String]?
    }

    private struct File: Decodable { var profile: [Entry]? }

    static let profileKeys: Set = ["id", "name", "repo", "include", "exclude"]

    /// Any valid TOML (comments, inline tables, arrays over several lines,
    /// literal strings). A syntax error names its line and column; a key bmlua
    /// does not know is refused by name, so that a rewrite never drops it.
    static func parse(_ text: String, path: String) throws -> [Profile] {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw BMError(22, "\(path):\(e.source.begin.line):\(e.source.begin.column): \(e.description)", path: Path(path))
        }
        for key in table.keys where key != "profile" {
            throw BMError(22, "\(path): unknown key \(key.debugDescription) (bmlua's configuration holds [[profile]] tables only)", path: Path(path))
        }
        if let list = table["profile"]?.array {
            for (i, item) in list.enumerated() {
                guard let t = item.table else { throw BMError(22, "\(path): profile \(i + 1) is not a table", path: Path(path)) }
                for key in t.keys where !profileKeys.contains(key) {
                    throw BMError(22, "\(path): profile \(i + 1) has the unknown key \(key.debugDescription) (keys: id, name, repo, include, exclude)", path: Path(path))
                }
            }
        } else if table["profile"] != nil {
            throw BMError(22, "\(path): profile must be an array of tables: [[profile]]", path: Path(path))
        }
        let file: File
        do { file = try TOMLDecoder().decode(File.self, from: table) } catch {
            throw BMError(22, "\(path): \(Self.describe(error))", path: Path(path))
        }
        var profiles: [Profile] = []
        for e in file.profile ?? [] {
            guard e.id > 0 else { throw BMError(22, "\(path): a profile's id must be a positive integer, not \(e.id)", path: Path(path)) }
            guard !profiles.contains(where: { $0.id == e.id }) else { throw BMError(22, "\(path): two profiles have id \(e.id)", path: Path(path)) }
            profiles.append(Profile(id: e.id, name: e.name ?? "", repo: e.repo, include: e.include ?? [], exclude: e.exclude ?? []))
        }
        return profiles
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.typeMismatch(let type, let c), DecodingError.valueNotFound(let type, let c):
            return "\(c.codingPath.map(\.stringValue).joined(separator: ".")) must be a \(type)"
        case DecodingError.keyNotFound(let key, let c):
            return "\((c.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")) is missing"
        default:
            return "\(error)"
        }
    }
}

private func quote(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t") + "\""
}

import Foundation

/// A profile (DESIGN §8), as Back In Time has them: what to snapshot, and into
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
/// The file is a small subset of TOML that bmlua writes and reads back:
/// `[[profile]]` tables with `id`, `name`, `repo`, `include` and `exclude`.
public struct ProfileConfig {
    public var path: String
    public private(set) var profiles: [Profile]

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        return config + "/bmlua/config.toml"
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

    // MARK: The TOML subset

    static func parse(_ text: String, path: String) throws -> [Profile] {
        var profiles: [Profile] = []
        var current: Profile?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let bad = { (why: String) in BMError(22, "\(path):\(n + 1): \(why)", path: path) }
            if line == "[[profile]]" {
                if let c = current { profiles.append(c) }
                current = Profile(id: 0, name: "")
                continue
            }
            guard current != nil else { throw bad("expected [[profile]]") }
            guard let eq = line.firstIndex(of: "=") else { throw bad("expected key = value") }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "id":
                guard let id = Int64(value), id > 0 else { throw bad("id must be a positive integer") }
                current!.id = id
            case "name": current!.name = try unquote(value, bad)
            case "repo": current!.repo = try unquote(value, bad)
            case "include": current!.include = try list(value, bad)
            case "exclude": current!.exclude = try list(value, bad)
            default: throw bad("unknown key \(key)")
            }
        }
        if let c = current { profiles.append(c) }
        for p in profiles where p.id == 0 { throw BMError(22, "\(path): profile \(p.name.debugDescription) has no id", path: path) }
        return profiles
    }

    private static func list(_ value: String, _ bad: (String) -> BMError) throws -> [String] {
        guard value.hasPrefix("["), value.hasSuffix("]") else { throw bad("expected a list [\"…\", …]") }
        var items: [String] = []
        var rest = Substring(value.dropFirst().dropLast())
        while true {
            rest = rest.drop(while: { $0 == " " || $0 == "," })
            if rest.isEmpty { return items }
            guard rest.first == "\"" else { throw bad("list items must be strings") }
            var item = "", escaped = false, end: Substring.Index?
            for i in rest.indices.dropFirst() {
                let c = rest[i]
                if escaped { item.append(c == "n" ? "\n" : c == "t" ? "\t" : c); escaped = false }
                else if c == "\\" { escaped = true }
                else if c == "\"" { end = i; break }
                else { item.append(c) }
            }
            guard let end else { throw bad("unterminated string") }
            items.append(item)
            rest = rest[rest.index(after: end)...]
        }
    }

    private static func unquote(_ value: String, _ bad: (String) -> BMError) throws -> String {
        guard let item = try list("[\(value)]", bad).first else { throw bad("expected a string") }
        return item
    }
}

private func quote(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t") + "\""
}

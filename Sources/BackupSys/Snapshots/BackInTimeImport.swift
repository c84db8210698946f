import Foundation

/// Back In Time's profiles (`~/.config/backintime/config`, `key=value` lines
/// such as `profile2.snapshots.include.1.value=/home/me`) as bmlua profiles:
/// their names, include paths, exclude globs and local snapshot folder. What
/// bmlua can't carry over is said, not dropped silently.
public struct BackInTimeImport: Sendable {
    public struct Imported: Sendable, Equatable {
        public var profile: Profile
        /// Back In Time's schedule as the `bmlua schedule set` command that matches it, if any.
        public var schedule: String?
    }

    public var profiles: [Imported] = []
    /// What was not carried over, a line each.
    public var notes: [String] = []

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        XDG.config(environment) + "/backintime/config"
    }

    /// Back In Time's schedule modes (`profileN.schedule.mode`) bmlua's schedule can say.
    static let calendars: [Int: String] = [10: "hourly", 20: "daily", 25: "daily", 30: "weekly", 40: "monthly", 80: "yearly"]

    public init(text: String) {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let eq = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            values[String(line[..<eq]).trimmingCharacters(in: .whitespaces)] = String(line[line.index(after: eq)...])
        }
        let ids = (values["profiles"] ?? "1").split(separator: ":").compactMap { Int64($0) }
        for id in ids.isEmpty ? [1] : ids {
            let key = { (k: String) in values["profile\(id).\(k)"] }
            func list(_ name: String) -> [String] {
                let count = Int(key("snapshots.\(name).size") ?? "") ?? 0
                return (1...max(count, 1)).compactMap { key("snapshots.\(name).\($0).value") }.filter { !$0.isEmpty }
            }
            let name = key("name") ?? (id == 1 ? "Main profile" : "Profile \(id)")
            var repo: String?
            let mode = key("snapshots.mode") ?? "local"
            if mode == "local", let folder = key("snapshots.path"), !folder.isEmpty {
                repo = folder + "/bmlua"
            } else if mode != "local" {
                notes.append("profile \(id) (\(name)): Back In Time's mode \(mode) (ssh, encfs) is not carried over; the profile uses the default repository")
            }
            var schedule: String?
            if let m = Int(key("schedule.mode") ?? "0"), m != 0 {
                if let calendar = Self.calendars[m] {
                    schedule = "bmlua schedule set --profile \(id) \(calendar)"
                } else {
                    notes.append("profile \(id) (\(name)): Back In Time's schedule mode \(m) has no bmlua match; set one with bmlua schedule set --profile \(id) CALENDAR")
                }
            }
            profiles.append(Imported(profile: Profile(id: id, name: name, repo: repo, include: list("include"), exclude: list("exclude")),
                                     schedule: schedule))
        }
    }
}

extension ProfileConfig {
    /// Adds `p` under its own id, or replaces the profile with that id; saves.
    public mutating func put(_ p: Profile) throws {
        guard p.id >= 1 else { throw BMError(22, "a profile id is 1 or more") }
        if let i = profiles.firstIndex(where: { $0.id == p.id }) { replaceProfile(at: i, with: p) } else { appendProfile(p) }
        try save()
    }
}

import Foundation

/// Scheduled snapshots as systemd user units, as Back In Time schedules
/// with cron: a timer `bmlua-snapshot@ID.timer` (OnCalendar=, Persistent=true:
/// a run missed while the machine was off happens at the next boot) and the
/// service it starts, which runs `bmlua snapshot --profile ID`.
public struct Schedule: Sendable, Equatable {
    public var profile: Int64
    /// systemd's OnCalendar= (daily, hourly, weekly, monthly, or e.g. `*-*-* 02:30`).
    public var calendar: String

    public init(profile: Int64, calendar: String) throws {
        guard profile >= 1 else { throw BMError(22, "a profile id is 1 or more") }
        let c = calendar.trimmingCharacters(in: .whitespaces)
        guard !c.isEmpty, !c.contains(where: { $0.isNewline || $0 == "\\" }) else {
            throw BMError(22, "a schedule is daily, hourly, weekly, monthly or a systemd calendar like '*-*-* 02:30', not \(calendar.debugDescription)")
        }
        self.profile = profile
        self.calendar = c
    }

    public var unitName: String { "bmlua-snapshot@\(profile)" }

    /// `$XDG_CONFIG_HOME/systemd/user`, where a user's own units live.
    public static func unitDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        XDG.config(environment) + "/systemd/user"
    }

    /// The service: `command` (bmlua's path and the options that name the
    /// repository and configuration) with `snapshot --profile ID`.
    public func service(command: [String], profileName: String) -> String {
        """
        # Written by bmlua schedule set; remove with: bmlua schedule remove --profile \(profile)
        [Unit]
        Description=bmlua snapshot of profile \(profile) (\(profileName.replacingOccurrences(of: "\n", with: " ")))

        [Service]
        Type=oneshot
        ExecStart=\((command + ["snapshot", "--profile", String(profile)]).map(Self.quoted).joined(separator: " "))
        Nice=10
        IOSchedulingClass=idle

        """
    }

    public var timer: String {
        """
        # Written by bmlua schedule set; remove with: bmlua schedule remove --profile \(profile)
        [Unit]
        Description=bmlua snapshots of profile \(profile), \(calendar)

        [Timer]
        OnCalendar=\(calendar)
        Persistent=true
        Unit=\(unitName).service

        [Install]
        WantedBy=timers.target

        """
    }

    /// A word of ExecStart=: quoted when it holds a space or a quote (systemd's rules: "…" with \\ escapes), `%` doubled.
    static func quoted(_ word: String) -> String {
        let w = word.replacingOccurrences(of: "%", with: "%%")
        guard w.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\\" || $0 == "$" }) else { return w }
        return "\"" + w.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "$", with: "$$") + "\""
    }

    /// Writes the two units into `directory` (made if missing).
    public func write(into directory: String, command: [String], profileName: String) throws -> [String] {
        try FS.makeDirectories(directory)
        let files = [(directory + "/\(unitName).service", service(command: command, profileName: profileName)),
                     (directory + "/\(unitName).timer", timer)]
        for (path, text) in files {
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw BMError.wrap(error, path: Path(path))
            }
        }
        return files.map(\.0)
    }

    /// The schedules whose timers are in `directory`.
    public static func installed(in directory: String) -> [Schedule] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap { name -> Schedule? in
            guard name.hasPrefix("bmlua-snapshot@"), name.hasSuffix(".timer"),
                  let id = Int64(name.dropFirst("bmlua-snapshot@".count).dropLast(".timer".count)),
                  let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8),
                  let line = text.split(separator: "\n").first(where: { $0.hasPrefix("OnCalendar=") }) else { return nil }
            return try? Schedule(profile: id, calendar: String(line.dropFirst("OnCalendar=".count)))
        }
    }

    /// Removes the units of profile `id`; whether there were any.
    public static func remove(profile id: Int64, from directory: String) -> Bool {
        var removed = false
        for ext in ["service", "timer"] where unlink(directory + "/bmlua-snapshot@\(id).\(ext)") == 0 { removed = true }
        return removed
    }
}

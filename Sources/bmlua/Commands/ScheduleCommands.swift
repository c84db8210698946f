import ArgumentParser
import BackupSys
import Foundation
import HookVM

struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Take snapshots on a schedule (systemd user timers).",
        discussion: "Writes bmlua-snapshot@ID.timer and .service into $XDG_CONFIG_HOME/systemd/user and enables the timer; its runs are in the user's journal (journalctl --user -u bmlua-snapshot@ID).",
        subcommands: [SetSchedule.self, ListSchedules.self, RemoveSchedule.self], defaultSubcommand: ListSchedules.self)

    struct SetSchedule: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Schedule a profile's snapshots.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption
        @Option(help: "The profile's id.") var profile = Index<FromOne>(1)
        @Argument(help: "daily, hourly, weekly, monthly, or a systemd calendar like '*-*-* 02:30'.") var when: String
        @Flag(name: .customLong("no-enable"), help: "Write the units but do not enable the timer.") var noEnable = false

        func run() throws {
            let schedule: Schedule
            do { schedule = try Schedule(profile: profile.value, calendar: when) } catch let e as BMError { throw CommandFailure(e) }
            let cfg = try config.load()
            guard let p = cfg.profile(profile.value) else { throw CommandFailure(BMError(1, "no profile \(profile.value) (see: bmlua profile list)")) }
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), !Self.succeeds(["/usr/bin/systemd-analyze", "calendar", schedule.calendar]) {
                throw CommandFailure(BMError(22, "systemd does not read \(schedule.calendar.debugDescription) as a calendar (try: systemd-analyze calendar '\(schedule.calendar)')"))
            }
            var command = [CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]]
            command += ["--repo", global.root, "--config", cfg.path]
            let files: [String]
            do { files = try schedule.write(into: Schedule.unitDirectory(), command: command, profileName: p.name) } catch let e as BMError { throw CommandFailure(e) }
            var enabled = false
            if !noEnable {
                enabled = Self.succeeds(["systemctl", "--user", "daemon-reload"])
                    && Self.succeeds(["systemctl", "--user", "enable", "--now", schedule.unitName + ".timer"])
            }
            try global.report("profile \(profile.value): snapshots \(schedule.calendar) (\(files.joined(separator: ", ")))"
                + (noEnable || enabled ? "" : "; enable it with: systemctl --user daemon-reload && systemctl --user enable --now \(schedule.unitName).timer"),
                json: ScheduleSetView(profile: profile.value, calendar: schedule.calendar, units: files, enabled: enabled))
        }

        static func succeeds(_ argv: [String]) -> Bool {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = argv
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return false }
            p.waitUntilExit()
            return p.terminationStatus == 0
        }
    }

    struct ListSchedules: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the scheduled profiles.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let all = Schedule.installed(in: Schedule.unitDirectory())
            if global.json { return try printJSON(all.map { ScheduleView(profile: $0.profile, calendar: $0.calendar) }) }
            if all.isEmpty { global.say("no snapshots are scheduled (set one with: bmlua schedule set --profile 1 daily)") }
            for s in all { print("profile \(s.profile)\t\(s.calendar)") }
        }
    }

    struct RemoveSchedule: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Stop a profile's scheduled snapshots.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The profile's id.") var profile = Index<FromOne>(1)

        func run() throws {
            let unit = "bmlua-snapshot@\(profile.value)"
            _ = SetSchedule.succeeds(["systemctl", "--user", "disable", "--now", unit + ".timer"])
            guard Schedule.remove(profile: profile.value, from: Schedule.unitDirectory()) else {
                throw CommandFailure(BMError(22, "profile \(profile.value) has no schedule (see: bmlua schedule list)"))
            }
            _ = SetSchedule.succeeds(["systemctl", "--user", "daemon-reload"])
            try global.report("profile \(profile.value): no longer scheduled", json: ["profile": profile.value])
        }
    }
}

struct ScheduleView: Encodable { let profile: Int64, calendar: String }
struct ScheduleSetView: Encodable { let profile: Int64, calendar: String, units: [String], enabled: Bool }

import Foundation

/// restic's policy: keep the newest `last` snapshots; the newest snapshot
/// of each of the newest `hourly` hours, `daily` days, `weekly` (ISO)
/// weeks, `monthly` months and `yearly` years that have one; and every
/// snapshot taken `within` (years, months, days, hours) of the newest.
public struct PrunePolicy: Sendable {
    public var last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0
    public var within: DateComponents?

    public init(last: Int = 0, hourly: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, yearly: Int = 0,
                within: DateComponents? = nil) {
        (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly) = (last, hourly, daily, weekly, monthly, yearly)
        self.within = within
    }

    public var isEmpty: Bool { [last, hourly, daily, weekly, monthly, yearly].allSatisfy { $0 == 0 } && within == nil }

    /// The sids of `snapshots` this policy keeps.
    public func kept(_ snapshots: [Snapshot], calendar: Calendar = Calendar(identifier: .iso8601)) -> Set<String> {
        let newestFirst = snapshots.sorted { ($0.time, $0.sid) > ($1.time, $1.sid) }
        var keep = Set(newestFirst.prefix(last).map(\.sid))
        func bucket(_ count: Int, _ units: Set<Calendar.Component>) {
            var seen: Set<DateComponents> = []
            for s in newestFirst where seen.count < count {
                if seen.insert(calendar.dateComponents(units, from: s.time)).inserted { keep.insert(s.sid) }
            }
        }
        bucket(hourly, [.year, .month, .day, .hour])
        bucket(daily, [.year, .month, .day])
        bucket(weekly, [.yearForWeekOfYear, .weekOfYear])
        bucket(monthly, [.year, .month])
        bucket(yearly, [.year])
        if let within, let newest = newestFirst.first {
            var back = DateComponents()
            (back.year, back.month, back.day, back.hour) = (within.year.map(-), within.month.map(-), within.day.map(-), within.hour.map(-))
            if let cutoff = calendar.date(byAdding: back, to: newest.time) {
                for s in newestFirst where s.time > cutoff { keep.insert(s.sid) }
            }
        }
        return keep
    }

    /// restic's `--keep-within` durations: a number and a unit, y (years),
    /// m (months), d (days) or h (hours), repeated: `1y6m`, `14d`, `36h`.
    public static func duration(_ text: String) -> DateComponents? {
        var d = DateComponents(), number = ""
        for c in text {
            if c.isASCII && c.isNumber { number.append(c); continue }
            guard let n = Int(number) else { return nil }
            switch c {
            case "y": d.year = (d.year ?? 0) + n
            case "m": d.month = (d.month ?? 0) + n
            case "d": d.day = (d.day ?? 0) + n
            case "h": d.hour = (d.hour ?? 0) + n
            default: return nil
            }
            number = ""
        }
        return number.isEmpty && d != DateComponents() ? d : nil
    }
}

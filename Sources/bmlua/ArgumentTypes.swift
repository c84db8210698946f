import ArgumentParser

/// Option values that are checked as they are parsed: a value out of range is
/// a usage error (exit 2) that says what to write, and nothing is done.
/// Destructive commands (prune, limits) must not read `-1` as "everything".

/// A count: 0 or more (0: the rule is not used).
struct Count: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let value: Int
    init?(argument: String) {
        guard let n = Int(argument), n >= 0 else { return nil }
        value = n
    }
    init(_ value: Int) { self.value = value }
    var description: String { String(value) }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// An id or index: 1 or more (`minimum` 0 where 0 means something, as a version's current copy).
struct Index<Minimum: MinimumValue>: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let value: Int64
    init?(argument: String) {
        guard let n = Int64(argument), n >= Minimum.value else { return nil }
        value = n
    }
    init(_ value: Int64) { self.value = value }
    var description: String { String(value) }
}

protocol MinimumValue: Sendable { static var value: Int64 { get } }
enum FromZero: MinimumValue { static let value: Int64 = 0 }
enum FromOne: MinimumValue { static let value: Int64 = 1 }

/// Seconds: a finite number above 0 (or from 0, for a wait).
struct Seconds: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let value: Double
    init?(argument: String) { self.init(argument, allowingZero: false) }
    init?(_ argument: String, allowingZero: Bool) {
        guard let d = Double(argument), d.isFinite, d > 0 || allowingZero && d == 0, d <= 1e9 else { return nil }
        value = d
    }
    init(_ value: Double) { self.value = value }
    var description: String { value == value.rounded() ? String(Int(value)) : String(value) }
}

/// Seconds to wait: 0 (not at all) or more.
struct WaitSeconds: ExpressibleByArgument, Sendable {
    let value: Double
    init?(argument: String) {
        guard let s = Seconds(argument, allowingZero: true) else { return nil }
        value = s.value
    }
}

/// MiB of memory: 1 to 1,048,576 (1 TiB).
struct MiB: ExpressibleByArgument, Sendable {
    let value: Int
    init?(argument: String) {
        guard let n = Int(argument), (1...(1 << 20)).contains(n) else { return nil }
        value = n
    }
}

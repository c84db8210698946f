import Foundation

/// The XDG base directories (freedesktop.org's rules): the variable if it is
/// set and not empty, else its default under `$HOME`.
public enum XDG {
    public static func config(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        base("XDG_CONFIG_HOME", "/.config", environment)
    }

    public static func data(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        base("XDG_DATA_HOME", "/.local/share", environment)
    }

    public static func state(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        base("XDG_STATE_HOME", "/.local/state", environment)
    }

    /// `$XDG_RUNTIME_DIR`, which has no default: nil when it is not set.
    public static func runtime(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 }
    }

    private static func base(_ variable: String, _ underHome: String, _ environment: [String: String]) -> String {
        if let value = environment[variable], !value.isEmpty { return value }
        return (environment["HOME"] ?? NSHomeDirectory()) + underHome
    }
}

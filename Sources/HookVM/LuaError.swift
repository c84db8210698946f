/// A failure of Lua code run by the host. `code` is the error number of the
/// hook errors in DESIGN §6 (30–34); BackupSys owns the rest of the table.
public struct LuaError: Error, CustomStringConvertible, @unchecked Sendable {
    public enum Kind: Int, Sendable {
        case runtime = 30       // the code raised an error
        case wrongType = 31     // bhout/bhout2 of the wrong type
        case timeLimit = 32
        case memoryLimit = 33
        case syntax = 34        // the code does not compile
    }

    public var kind: Kind
    /// The message, with its place (`hook3: hdtstamp:7: attempt to index a nil value`).
    public var message: String
    /// The value the Lua code raised, so that it can travel back to Lua unchanged.
    public var value: LuaValue
    /// Stopped by `LuaVM.interrupt()` (Ctrl-C), not by the code's own error.
    public var interrupted = false

    public init(_ kind: Kind, _ message: String, value: LuaValue? = nil) {
        self.kind = kind
        self.message = message
        self.value = value ?? .string(message)
    }

    public var code: Int { kind.rawValue }
    public var description: String { message }
}

/// A Swift error that knows how it reads in Lua: what `pcall` returns for it.
public protocol LuaRaisable: Error {
    var luaMessage: String { get }
    /// The same error, told where the Lua code that called the failing
    /// function was (`hook3:2`), when it comes back out of Lua.
    func raised(at place: String) -> Error
}

extension LuaRaisable {
    public func raised(at place: String) -> Error { self }
}

/// A failure of Lua code run by the host. `kind` says what failed; the host
/// gives each kind its own error number.
public struct LuaError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case runtime        // the code raised an error
        case wrongType      // bhout/bhout2 of the wrong type
        case timeLimit
        case memoryLimit
        case syntax         // the code does not compile
    }

    /// What the Lua code raised, so that it can travel back to Lua unchanged:
    /// a string's bytes, or a value (a table, say) that the VM which caught
    /// it holds (`LuaVM.raisedValue`); an error crosses threads, a Lua value may not.
    public enum Raised: Sendable, Equatable {
        case string([UInt8])
        case held(UInt64)
    }

    public var kind: Kind
    /// The message, with its place (`hook3: hdtstamp:7: attempt to index a nil value`).
    public var message: String
    public var raised: Raised
    /// Stopped by `LuaVM.interrupt()` (Ctrl-C), not by the code's own error.
    public var interrupted = false

    public init(_ kind: Kind, _ message: String, raised: Raised? = nil) {
        self.kind = kind
        self.message = message
        self.raised = raised ?? .string(Array(message.utf8))
    }

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

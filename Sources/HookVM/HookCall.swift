import CLua
import LuaHost

/// What a hook may return: the types of `bhout` and `bhout2` (nil: not used).
/// The table of which hook returns what is the caller's (BackupSys's).
public struct HookSignature: Sendable {
    public var bhout: LuaType?
    public var bhout2: LuaType?
    public init(bhout: LuaType? = nil, bhout2: LuaType? = nil) {
        self.bhout = bhout
        self.bhout2 = bhout2
    }
}

public struct HookOutputs {
    public var bhout: LuaValue
    public var bhout2: LuaValue
}

extension LuaVM {
    /// One hook call, design.md, "The hook call": clear `bhtemp`, set `bhin`, clear `bhout` and
    /// `bhout2`, run the (cached) code as chunk `=hookN` under the limits, read
    /// the outputs back and check their types. Errors name the hook:
    /// `hook3: hdtstamp:7: attempt to index a nil value`.
    public func callHook(_ number: Int, code: String, bhin: [LuaValue], returns signature: HookSignature) throws -> HookOutputs {
        let L = current
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        if bmlua_hookbegin(L, lim, Int32(clamping: bhin.count)) == LUA_TSTRING {
            deleteIfHostTemp(value(at: base + 2, on: L))
        }
        for i in bhin.indices {   // by index: each value is read in place, not copied out
            if i > 0 && bhin[i].isString(equalTo: bhin[i - 1]) {
                // orig path and act path are most often the same: the Lua
                // string made for one serves the other, unhashed again.
                lua_rawgeti(L, -1, lua_Integer(i))
            } else {
                push(bhin[i], on: L)
            }
            lua_rawseti(L, -2, lua_Integer(i + 1))
        }
        do {
            bmlua_hookload(L, lim, base, try hookChunk(number, code: code))
            try execute(on: L, nargs: 0, nresults: 0, timed: true)
        } catch var error as LuaError {
            let name = "hook\(number)"
            if !error.message.hasPrefix(name + ":") {
                error.message = "\(name): \(error.message)"
                if case .string = error.raised { error.raised = .string(Array(error.message.utf8)) }
            }
            throw error
        }
        bmlua_hookresults(L, lim, base)
        let outputs = HookOutputs(bhout: value(at: -2, on: L), bhout2: value(at: -1, on: L))
        if signature.bhout != nil || signature.bhout2 != nil {
            try check(outputs.bhout, against: signature.bhout, named: "bhout", in: number)
            try check(outputs.bhout2, against: signature.bhout2, named: "bhout2", in: number)
        }
        return outputs
    }

    private func check(_ v: LuaValue, against expected: LuaType?, named output: String, in hook: Int) throws {
        guard let expected, !v.isNil, v.type != expected else { return }
        throw LuaError(.wrongType, "hook\(hook): \(output) must be a \(expected.rawValue) or nil, not a \(v.type.rawValue)")
    }
}

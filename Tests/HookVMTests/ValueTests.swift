import Testing
@testable import HookVM

@Suite struct ValueTests {
    let vm = LuaVM()

    func roundTrip(_ v: LuaValue) -> LuaValue {
        vm[global: "x"] = v
        return vm[global: "x"]
    }

    @Test func scalarsRoundTrip() {
        for v: LuaValue in [.nil, true, false, 0, 42, -7, .integer(.max), .integer(.min), 1.5, -0.25, .number(1e300)] {
            #expect(roundTrip(v) == v)
        }
    }

    @Test func integersStayIntegersAndFloatsStayFloats() throws {
        #expect(roundTrip(.number(3.0)) == .number(3.0))
        #expect(roundTrip(.integer(3)) == .integer(3))
        let r = try vm.run("return math.type(...), math.type(select(2, ...))", chunkName: "=t", args: [.number(3.0), .integer(3)])
        #expect(r == ["float", "integer"])
        #expect(try vm.run("return 7 // 2, 7 / 2", chunkName: "=t") == [.integer(3), .number(3.5)])
    }

    @Test func stringsKeepNULAndNonUTF8Bytes() throws {
        let bytes: [UInt8] = [0x61, 0x00, 0x62, 0xff, 0xfe, 0x00]
        #expect(roundTrip(.string(bytes)) == .string(bytes))
        #expect(try vm.run("return #x, x:byte(2), x:byte(4)", chunkName: "=t") == [6, 0, 255])
        #expect(try vm.run("return 'a\\0b'", chunkName: "=t") == [.string([0x61, 0, 0x62])])
        #expect(roundTrip(.string([])) == .string([]))
    }

    @Test func nestedTablesRoundTrip() throws {
        let v: LuaValue = .map([
            "list": [1, 2.5, "three", [true, .map(["deep": "yes"])]],
            .integer(10): "ten",
            "empty": [],
        ])
        #expect(roundTrip(v) == v)
        #expect(try vm.run("return x.list[4][2].deep, x[10], #x.list", chunkName: "=t") == ["yes", "ten", 4])
    }

    @Test func sparseAndMixedTablesAreMaps() throws {
        let r = try vm.run("return {1, 2, nil, 4}, {1, 2, n = 3}", chunkName: "=t")
        #expect(r[0] == .map([.integer(1): 1, .integer(2): 2, .integer(4): 4]))
        #expect(r[1] == .map([.integer(1): 1, .integer(2): 2, "n": 3]))
    }

    @Test func tablesWithAMetatableStayInLuaByReference() throws {
        let proxy = try vm.run("return setmetatable({}, {__index = function(_, k) return k * 2 end})", chunkName: "=t")[0]
        #expect(proxy.type == .table)
        vm[global: "p"] = proxy
        #expect(try vm.run("return p[21]", chunkName: "=t") == [42])
    }

    @Test func functionsStayInLuaByReference() throws {
        let f = try vm.run("return function(a, b) return a * b end", chunkName: "=t")[0]
        #expect(f.type == .function)
        #expect(try vm.call(f, [6, 7]) == [42])
    }
}

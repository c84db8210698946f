import ArgumentParser
import BackupSys
import Foundation
import HookVM

/// The options every command takes .
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The repository.", discussion: "Default: $BMLUA_REPO, else $XDG_DATA_HOME/bmlua.", valueName: "dir"))
    var repo: String?

    @Flag(name: .long, help: "Machine-readable output on stdout.")
    var json = false

    @Flag(name: .customLong("no-hooks"), help: "Run operations without their hooks.")
    var noHooks = false

    @Flag(name: .customLong("trace-hooks"), help: "Show each hook call, its bhin, bhout, bhout2 and time on stderr.")
    var traceHooks = false

    @Flag(name: .long, help: "Run the hooks of a repository that is not owned by you or is writable by others.")
    var trust = false

    @Option(name: .customLong("lock-wait"), help: ArgumentHelp("Wait up to this many seconds for another bmlua writing to the repository (default: fail at once with error 2).", valueName: "seconds"))
    var lockWait: WaitSeconds?

    @Flag(name: .shortAndLong, help: "Show more: bm.log lines from hooks and scripts.")
    var verbose = false

    @Flag(name: .shortAndLong, help: "Show less: only errors.")
    var quiet = false

    /// The names above, and whether each takes a value: they may also come before the
    /// command (see BMLua.optionsAfterCommand). Keep the two lists together.
    static let names: [String: Bool] = [
        "--repo": true, "--lock-wait": true, "--json": false, "--no-hooks": false, "--trace-hooks": false, "--trust": false,
        "-v": false, "--verbose": false, "-q": false, "--quiet": false,
    ]

    var root: String { Repository.location(repo) }

    var sessionOptions: SessionOptions {
        var o = SessionOptions()
        o.hooks = !noHooks
        o.traceHooks = traceHooks
        o.trust = trust
        o.lockWait = lockWait?.value ?? 0
        o.verbose = verbose
        return o
    }

    /// Opens the database, runs `body`, and turns any failure into
    /// `bmlua: error N: message` (through the error handler and its hooks) and exit 1.
    /// With `orNone`, a missing repository is no error until the work uses
    /// it (Lua code: `eval`, `run`, `shell`).
    func withDatabase<T>(orNone: Bool = false, _ body: (BackupDatabase) throws -> T) throws -> T {
        let bd: BackupDatabase
        do {
            bd = orNone ? try BackupDatabase(orNoneAt: root, options: sessionOptions) : try BackupDatabase(at: root, options: sessionOptions)
        } catch {
            throw CommandFailure(BMError.wrap(error))
        }
        defer { bd.close() }
        do {
            return try body(bd)
        } catch let code as ExitCode {
            throw code
        } catch let stop as Interrupted {
            throw CommandInterrupted(stop)
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(bd.handle(BMError.wrap(error)))
        }
    }

    func say(_ line: String) {
        if !quiet && !json { print(line) }
    }

    /// What a command changed: `line` for people, `value` with --json (scripts
    /// parse stdout, so a command that changes something never prints nothing).
    func report(_ line: String, json value: some Encodable) throws {
        if json { try printJSON(value) } else { say(line) }
    }
}

/// A command's failure, thrown to `main`, which prints `bmlua: error N: …`
/// and exits 1 (130 for an interruption): never an exit inside a closure,
/// whose `defer`s (closing the Lua state, reason 6 of the shell) would not run.
struct CommandFailure: Error {
    let error: BMError
    init(_ error: BMError) { self.error = error }
}

struct CommandInterrupted: Error {
    let stop: Interrupted
    init(_ stop: Interrupted) { self.stop = stop }
}

/// A text file the user named (a script, a routine), or error 10.
func readTextFile(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch { throw CommandFailure(BMError(10, "cannot read \(path)", path: path)) }
}


/// "1 file", "2 files": counts in text output read as English.
func counted(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

/// A name or path for a line of text output, escaped as `Path.escaped` says
/// (`\xff` for a byte that is not UTF-8, `\n`, `\t`, `\\`), so that a file
/// named with a newline or a tab keeps to one line and its columns. --json
/// gives the names exactly.
func printable(_ p: Path) -> String { p.description }

/// Stored code as `cat -v` and git show it: a control character as `^X`
/// (`^[` for ESC, `^?` for DEL), newlines and tabs kept. Reviewing a hook
/// before --trust must show what it holds: `ESC[2K` would erase the line it is on.
func reviewable(_ code: String) -> String {
    var out = String.UnicodeScalarView()
    for u in code.unicodeScalars {
        if u == "\n" || u == "\t" { out.append(u); continue }
        if u.value < 0x20 || u.value == 0x7F {
            out.append("^")
            out.append(Unicode.Scalar(u.value == 0x7F ? 0x3F : u.value + 0x40)!)
            continue
        }
        if (0x80..<0xA0).contains(u.value) { out.append(contentsOf: "M-^".unicodeScalars); out.append(Unicode.Scalar(u.value - 0x80 + 0x40)!); continue }
        out.append(u)
    }
    return String(out)
}
func printable(_ s: String) -> String { Path(s).description }
func printable(_ v: LuaValue) -> String { v.bytesValue.map { Path.escaped($0) } ?? v.description }

/// JSON arguments (`hooks test --bhin`), read back as --json writes names.
enum JSON {
    /// JSON text to a Lua value (objects become maps, arrays lists). Strings
    /// come back as the bytes --json wrote: a lone surrogate `\udc80`…`\udcff`
    /// is that byte, and so is a byte of the argument that was not UTF-8.
    static func decode(_ text: String) throws -> LuaValue {
        try JSONDecoder().decode(Decoded.self, from: Data(byteEscapes(text).utf8)).value
    }

    /// Each `\udcXX` not after a high surrogate as the private-use scalar
    /// `ArgumentBytes` carries a byte in (JSONDecoder refuses a lone surrogate).
    private static func byteEscapes(_ text: String) -> String {
        guard text.contains("\\u") else { return text }
        var out = "", rest = Substring(text)
        while let range = rest.range(of: "\\u") {
            out += rest[..<range.lowerBound]
            let hex = rest[range.upperBound...].prefix(4)
            let afterHigh = out.range(of: #"\\u[dD][89abAB][0-9a-fA-F]{2}$"#, options: .regularExpression) != nil
            if hex.count == 4, let v = UInt32(hex, radix: 16), (0xDC80...0xDCFF).contains(v), !afterHigh {
                out.unicodeScalars.append(Unicode.Scalar(0x10FF00 + (v - 0xDC00))!)
            } else {
                out += rest[range.lowerBound..<range.upperBound] + hex
            }
            rest = rest[range.upperBound...].dropFirst(hex.count)
        }
        return out + rest
    }

    private struct Decoded: Decodable {
        let value: LuaValue
        init(from decoder: Decoder) throws {
            if var array = try? decoder.unkeyedContainer() {
                var items: [LuaValue] = []
                while !array.isAtEnd { items.append(try array.decode(Decoded.self).value) }
                value = .list(items)
                return
            }
            if let object = try? decoder.container(keyedBy: NameKey.self) {
                var m: [LuaValue: LuaValue] = [:]
                for k in object.allKeys { m[.string(ArgumentBytes.bytes(k.stringValue))] = try object.decode(Decoded.self, forKey: k).value }
                value = .map(m)
                return
            }
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { value = .nil }
            else if let b = try? c.decode(Bool.self) { value = .boolean(b) }
            else if let i = try? c.decode(Int64.self) { value = .integer(i) }
            else if let d = try? c.decode(Double.self) { value = .number(d) }
            else { value = .string(ArgumentBytes.bytes(try c.decode(String.self))) }
        }
    }
}

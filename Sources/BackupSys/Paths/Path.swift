import Foundation
import GRDB
import HookVM

/// A file name or path exactly as the kernel gives it: bytes, any but NUL
/// (and `/` inside one name). Compared, sorted and hashed bytewise, never
/// normalised and never refused for not being UTF-8 (design.md, "Names are bytes").
///
/// Not a `String`: Swift's `==` on strings is canonical equivalence, which
/// merges `café` written with U+00E9 and with `e` + U+0301 (two files on
/// Linux), and a `String` can't hold a byte that is not UTF-8 at all.
public struct Path: Hashable, Comparable, Sendable {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init<S: Sequence>(bytes: S) where S.Element == UInt8 { self.bytes = Array(bytes) }
    /// The UTF-8 bytes of `text`, as written (no normalisation).
    public init(_ text: String) { bytes = Array(text.utf8) }

    public static func < (a: Path, b: Path) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public var isEmpty: Bool { bytes.isEmpty }
    public var isAbsolute: Bool { bytes.first == Self.slash }
    static let slash = UInt8(ascii: "/")
    static let root = Path([slash])

    /// The text, if the bytes are UTF-8.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// Runs `body` with the bytes as a C string (paths never hold NUL: the kernel
    /// gives none, and `Path(checking:)` refuses one from a user).
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try (bytes + [0]).withUnsafeBufferPointer { try $0.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) } }
    }

    // MARK: Parts

    /// The names of the path, without empty ones (`/a//b/` is `a`, `b`).
    public var components: [Path] {
        bytes.split(separator: Self.slash, omittingEmptySubsequences: true).map { Path(bytes: $0) }
    }

    /// The last name (`/` for the root). Found from the end, not by
    /// splitting the whole path: a snapshot asks it of every new file.
    public var baseName: Path {
        guard let end = bytes.lastIndex(where: { $0 != Self.slash }) else { return self }
        let start = bytes[...end].lastIndex(of: Self.slash).map { $0 + 1 } ?? bytes.startIndex
        return Path(bytes: bytes[start...end])
    }

    /// The folder holding it: `.` for a bare name, `/` for a name in the root.
    public var directory: Path {
        guard let slash = bytes.lastIndex(of: Self.slash) else { return Path(".") }
        return slash == 0 ? Self.root : Path(bytes: bytes[..<slash])
    }

    /// `name` inside this folder.
    public func appending(_ name: Path) -> Path {
        if bytes.isEmpty { return name }
        return Path(bytes.last == Self.slash ? bytes + name.bytes : bytes + [Self.slash] + name.bytes)
    }

    /// `self` followed by an absolute `path`: `/target` + `/home/a` = `/target/home/a`.
    public func under(_ path: Path) -> Path {
        bytes == [Self.slash] ? path : Path((bytes.last == Self.slash ? bytes.dropLast() : bytes[...]) + path.bytes)
    }

    public func hasPrefix(_ p: Path) -> Bool { bytes.starts(with: p.bytes) }
    public var hasTrailingSlash: Bool { bytes.count > 1 && bytes.last == Self.slash }

    /// This path is `folder` or lies under it (both absolute and normalised).
    public func isAtOrUnder(_ folder: Path) -> Bool {
        self == folder || folder == Self.root && isAbsolute
            || bytes.count > folder.bytes.count && hasPrefix(folder) && bytes[folder.bytes.count] == Self.slash
    }

    /// Absolute and normalised (no `.`, `..` or doubled slashes), against the
    /// current folder; symbolic links are kept.
    public var absolute: Path {
        let full = isAbsolute ? self : Path(FileManager.default.currentDirectoryPath).appending(self)
        var parts: [Path] = []
        for part in full.components {
            if part.bytes == [0x2E] { continue }
            if part.bytes == [0x2E, 0x2E] { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return Path([Self.slash] + parts.map(\.bytes).joined(separator: [Self.slash]))
    }

    /// `.` or `..`, which name no entry of their own.
    var isDotOrDotDot: Bool { bytes == [0x2E] || bytes == [0x2E, 0x2E] }
}

extension Path: ExpressibleByStringLiteral, CustomStringConvertible {
    public init(stringLiteral text: String) { self.init(text) }

    /// The path for a line of text: see `Path.escaped`.
    public var description: String { Self.escaped(bytes) }

    /// Text output's convention (restic's and Go's `%q`): printable UTF-8 as it
    /// is; a byte that is not UTF-8 and a control character as `\xNN` (newline,
    /// tab and carriage return as `\n`, `\t`, `\r`); a backslash doubled, so
    /// that what is shown names one file only. `--json` has the exact bytes.
    public static func escaped(_ bytes: [UInt8]) -> String {
        func plain(_ b: UInt8) -> Bool { b >= 0x20 && b < 0x7F && b != 0x5C }
        if bytes.allSatisfy(plain) { return String(decoding: bytes, as: UTF8.self) }
        var out = "", offset = 0
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        func hex(_ b: UInt8) -> String { "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16) }
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                switch scalar {
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                case "\\": out += "\\\\"
                case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += hex(UInt8(scalar.value))
                default: out.unicodeScalars.append(scalar)
                }
                offset += encoded.count
            case .error(let length):
                for b in bytes[offset..<offset + length] { out += hex(b) }
                offset += length
            case .emptyInput:
                return out
            }
        }
    }
}

// MARK: The command line

/// Command-line arguments are bytes too, but argument-parser takes `String`s
/// (and `CommandLine.arguments` replaces what is not UTF-8 with U+FFFD,
/// naming another file). So `Main` gives it each C argument with every byte
/// that is not part of a UTF-8 character as a private-use scalar
/// U+10FF80…U+10FFFF (U+10FF00 + the byte), and `Path(argument:)` takes those
/// back. A genuine scalar of that range is passed as its four bytes, so
/// the mapping is one to one.
public enum ArgumentBytes {
    static let escapeBase: UInt32 = 0x10FF00

    /// A C argument as the text argument-parser sees.
    public static func text(_ raw: UnsafePointer<CChar>) -> String {
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: strlen(raw))
        var out = String.UnicodeScalarView(), offset = 0
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                if scalar.value >= escapeBase + 0x80 {
                    for b in encoded { out.append(Unicode.Scalar(escapeBase + UInt32(b))!) }
                } else {
                    out.append(scalar)
                }
                offset += encoded.count
            case .error(let length):
                for b in bytes[offset..<offset + length] { out.append(Unicode.Scalar(escapeBase + UInt32(b))!) }
                offset += length
            case .emptyInput:
                return String(out)
            }
        }
    }

    /// The bytes the user typed for an argument `text(_:)` made.
    public static func bytes(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.value >= escapeBase + 0x80 { out.append(UInt8(scalar.value - escapeBase)) } else { out.append(contentsOf: String(scalar).utf8) }
        }
        return out
    }
}

extension Path {
    /// A path the user typed (see `ArgumentBytes`).
    public init(argument text: String) { self.init(ArgumentBytes.bytes(text)) }
}

// MARK: The catalog and Lua

/// Stored as a BLOB: SQLite compares BLOBs with memcmp, and TEXT would make
/// GRDB decode (and repair) the bytes.
extension Path: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { Data(bytes).databaseValue }

    public static func fromDatabaseValue(_ value: DatabaseValue) -> Path? {
        switch value.storage {
        case .blob(let d): return Path([UInt8](d))
        case .string(let s): return Path(s)
        default: return nil
        }
    }
}

extension LuaValue {
    public static func path(_ p: Path) -> LuaValue { .string(p.bytes) }
    /// A string argument or output as a path, bytes as they are.
    var pathValue: Path? { bytesValue.map(Path.init) }
}

import CSystem
import Foundation
import Glibc

/// A file's extended attributes (`user.*`, `security.*`, the ACLs in
/// `system.posix_acl_*`), as restic and borg keep them: read from the original
/// when its data is stored, set again on the file a restore writes.
struct ExtendedAttributes: Equatable, Sendable {
    var entries: [(name: [UInt8], value: [UInt8])] = []

    static func == (a: Self, b: Self) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// Those of the open file `fd`; nil if it has none, or its file system keeps none.
    static func read(fd: Int32) -> ExtendedAttributes? {
        guard let names = bytes({ flistxattr(fd, $0, $1) }), !names.isEmpty else { return nil }
        var attributes = ExtendedAttributes()
        for name in names.split(separator: 0, omittingEmptySubsequences: true).map(Array.init) {
            // One that vanished or can't be read in between is left out, as it would be a moment later.
            guard let value = bytes({ buffer, size in
                (name + [0]).withUnsafeBufferPointer { n in
                    n.withMemoryRebound(to: CChar.self) { fgetxattr(fd, $0.baseAddress!, buffer, size) }
                }
            }) else { continue }
            attributes.entries.append((name, value))
        }
        return attributes.entries.isEmpty ? nil : attributes
    }

    /// Sets each on the open file `fd`. One this user or file system may not set
    /// (`trusted.*` for a user, any on a file system without them) is skipped:
    /// the data matters more than its labels.
    func apply(to fd: Int32) {
        for e in entries {
            _ = (e.name + [0]).withUnsafeBufferPointer { n in
                n.withMemoryRebound(to: CChar.self) { fsetxattr(fd, $0.baseAddress!, e.value, e.value.count, 0) }
            }
        }
    }

    /// As the catalog stores them: each name, a NUL, its value's length (4
    /// bytes, little-endian), its value.
    var encoded: Data {
        var out = Data()
        for e in entries {
            out.append(contentsOf: e.name)
            out.append(0)
            withUnsafeBytes(of: UInt32(e.value.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: e.value)
        }
        return out
    }

    init() {}

    init?(encoded data: Data?) {
        guard let data else { return nil }
        let bytes = [UInt8](data)
        var i = 0
        while i < bytes.count {
            guard let nul = bytes[i...].firstIndex(of: 0), nul + 5 <= bytes.count else { return nil }
            let count = bytes[(nul + 1)..<(nul + 5)].reversed().reduce(0) { $0 << 8 | Int($1) }
            guard nul + 5 + count <= bytes.count else { return nil }
            entries.append((Array(bytes[i..<nul]), Array(bytes[(nul + 5)..<(nul + 5 + count)])))
            i = nul + 5 + count
        }
    }

    /// The two-call pattern of the xattr API: ask the size, then fetch;
    /// again if it grew in between.
    private static func bytes(_ call: (UnsafeMutableRawPointer?, Int) -> Int) -> [UInt8]? {
        for _ in 0..<4 {
            let size = call(nil, 0)
            guard size >= 0 else { return nil }
            if size == 0 { return [] }
            var buffer = [UInt8](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBytes { call($0.baseAddress, size) }
            if got >= 0 { return Array(buffer[..<got]) }
            if errno != ERANGE { return nil }
        }
        return nil
    }
}

import Glibc

/// Writes a file from its start, leaving a hole (an `lseek` over it) for each
/// whole block of zeros, as `cp --sparse=always`, `rsync -S`, restic and borg
/// do: a disk image or a VM's sparse file costs on disk what it holds, in the
/// repository and where it is restored. The bytes read back are the same.
struct SparseOutput {
    let fd: Int32
    let name: Path
    private(set) var size = 0
    private var endsInHole = false
    static let block = 4096

    init(fd: Int32, name: Path) {
        self.fd = fd
        self.name = name
    }

    /// Writes `data` next: runs of data in one write each, whole zero blocks as holes.
    mutating func write(_ data: UnsafeRawBufferPointer) throws {
        var start = 0, pending = 0   // data[pending..<start] is data not written yet
        while start < data.count {
            // Up to the next block boundary of the file, so holes are aligned.
            let end = min(data.count, start + Self.block - (size + start) % Self.block)
            let piece = UnsafeRawBufferPointer(rebasing: data[start..<end])
            if piece.count == Self.block && Self.isZero(piece) {
                if pending < start { try writeAll(fd, UnsafeRawBufferPointer(rebasing: data[pending..<start]), to: name) }
                guard lseek(fd, off_t(piece.count), SEEK_CUR) >= 0 else { throw FS.failure("cannot write", name) }
                pending = end
                endsInHole = true
            } else {
                endsInHole = false
            }
            start = end
        }
        if pending < data.count { try writeAll(fd, UnsafeRawBufferPointer(rebasing: data[pending...]), to: name) }
        size += data.count
    }

    /// A file that ends in a hole gets its length: a seek alone does not make it.
    func finish() throws {
        if endsInHole, ftruncate(fd, off_t(size)) != 0 { throw FS.failure("cannot write", name) }
    }

    static func isZero(_ b: UnsafeRawBufferPointer) -> Bool {
        // Most blocks of data are not zero at their first word: that is all a data block costs.
        var i = 0
        while i + 8 <= b.count {
            if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < b.count { if b[i] != 0 { return false }; i += 1 }
        return true
    }
}

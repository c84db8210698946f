import Glibc

/// A file's identity on its file system: files of one snapshot with the same one are hard links of each other.
struct Inode: Hashable {
    var device: UInt64
    var inode: UInt64
    init(_ st: stat) { (device, inode) = (UInt64(st.st_dev), UInt64(st.st_ino)) }
}

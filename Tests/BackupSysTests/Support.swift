import Foundation
@testable import BackupSys
import TestSupport

extension ExtendedAttributes {
    static func read(_ path: String) -> ExtendedAttributes? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return read(fd: fd)
    }
}

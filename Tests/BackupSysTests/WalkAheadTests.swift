import Foundation
import Glibc
import Testing
@testable import BackupSys
import TestSupport

/// The walk on a thread of its own hands on exactly what the walk meets, in
/// its order, and stops when the snapshot that takes it stops.
@Suite struct WalkAheadTests {
    /// More items than the walk may be ahead by: 40 folders of 80 files, a
    /// link and a FIFO in each (the FIFO is passed over, and said so).
    func makeTree(_ f: Fixture) throws -> Path {
        let tree = f.work + "/tree"
        for d in 0..<40 {
            let folder = tree + String(format: "/d%02d/inner", d)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for i in 0..<80 { #expect(FileManager.default.createFile(atPath: folder + "/f\(i)", contents: Data([UInt8(i)]))) }
            try FileManager.default.createSymbolicLink(atPath: folder + "/link", withDestinationPath: "f1")
            #expect(mkfifo(folder + "/fifo", 0o644) == 0)
        }
        return Path(tree)
    }

    func path(_ item: Walker.Item) -> Path {
        switch item {
        case .file(let f): f.path
        case .link(let l): l.path
        case .folder(let f): f.path
        }
    }

    @Test func itHandsOnWhatTheWalkMeetsInWalkOrder() throws {
        let f = try Fixture()
        let walker = Walker(includes: [try makeTree(f)], excludes: ["*/d07"])
        var walked: [Path] = []
        let tree = try walker.walk { walked.append(path($0)) }
        #expect(walked.count > WalkAhead.chunkSize * WalkAhead.chunksAhead)

        let ahead = WalkAhead(walker)
        defer { ahead.cancel() }
        var handed: [Path] = []
        while let items = ahead.next() { handed += items.map(path) }
        #expect(handed == walked)
        #expect(ahead.tree.skipped.map(\.path) == tree.skipped.map(\.path))
        #expect(ahead.tree.skipped.count == 39)
        #expect(ahead.next() == nil)
    }

    /// A snapshot that fails or is stopped part-way cancels the walk: its
    /// thread, waiting for room, ends, and the walk is over for the caller.
    /// (A walk that took the cancel for a folder's failure walked on, and waited for ever.)
    @Test(.timeLimit(.minutes(1))) func aCancelledWalkEnds() throws {
        let f = try Fixture()
        let ahead = WalkAhead(Walker(includes: [try makeTree(f)], excludes: []))
        let first = try #require(ahead.next())
        #expect(first.count == WalkAhead.chunkSize)
        ahead.cancel()   // returns only once the walk's thread has ended
        #expect(ahead.next() == nil)
        ahead.cancel()
    }

    /// Cancelled with chunks handed on and never taken, the walk is freed
    /// whole: its semaphore of room was freed below its first value, which
    /// libdispatch ends the process for (a snapshot stopped or failing
    /// part-way crashed so, when its walk was ahead).
    @Test(.timeLimit(.minutes(1))) func aWalkCancelledWithChunksWaitingIsFreed() throws {
        let f = try Fixture()
        var ahead: WalkAhead? = WalkAhead(Walker(includes: [try makeTree(f)], excludes: []))
        _ = try #require(ahead?.next())
        while ahead!.chunksWaiting < 2 { usleep(1_000) }   // the walk runs ahead
        ahead?.cancel()
        ahead = nil
        #expect(ahead == nil)
    }
}

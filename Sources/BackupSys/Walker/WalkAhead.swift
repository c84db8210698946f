import Dispatch
import Synchronization

/// The walk on a thread of its own, a bounded number of items ahead of the
/// thread that stores them. A cold folder's listing, status and extended
/// attributes are reads from the disk: on the storing thread, which every
/// file of a snapshot waits for, they stalled it once a folder.
///
/// Items come in walk order, a chunk at a time (`next()`); `tree` once they
/// are all taken. A caller must end it with `cancel()` (a no-op after the
/// last item), which returns once the walk has stopped: a walk waiting for
/// room would wait for ever, and hold the folders it opened.
final class WalkAhead: @unchecked Sendable {
    // `state` is shared, under its lock; the walk's own state lives on its
    // thread until `done` is signalled; `ended` is the caller's.
    // A chunk's items (and their folders) belong to the walk's thread until
    // handed over, and to the caller's after: never to both.
    private let state = Mutex<(chunks: [Unshared<[Walker.Item]>], tree: Unshared<Walker.Tree>?, cancelled: Bool)>(([], nil, false))
    private let filled = DispatchSemaphore(value: 0)
    private let room: DispatchSemaphore
    private let done = DispatchSemaphore(value: 0)
    private var ended = false

    /// Items in a chunk, and chunks the walk may be ahead by.
    static let chunkSize = 128
    static let chunksAhead = 16

    private struct Cancelled: Error {}

    init(_ walker: Walker) {
        room = .permits(Self.chunksAhead)   // a cancel leaves the room of the chunks it drops out
        let walker = Unshared(walker)
        DispatchQueue(label: "bmlua.walk").async { [self] in
            var chunk: [Walker.Item] = []
            chunk.reserveCapacity(Self.chunkSize)
            func hand(_ items: [Walker.Item]) throws {
                room.wait()
                let cancelled = state.withLock { s in
                    if !s.cancelled { s.chunks.append(Unshared(items)) }
                    return s.cancelled
                }
                if cancelled { throw Cancelled() }
                filled.signal()
            }
            // The walk throws only what `visit` throws: here, a cancel.
            let tree = try? walker.value.walk { item in
                chunk.append(item)
                if chunk.count >= Self.chunkSize {
                    try hand(chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            if let tree, (try? hand(chunk)) != nil {
                state.withLock { $0.tree = Unshared(tree) }
                filled.signal()   // the end: no chunk, a tree
            }
            done.signal()
        }
    }

    /// The next chunk of items, in walk order; nil when the walk is over.
    func next() -> [Walker.Item]? {
        guard !ended else { return nil }
        filled.wait()
        let chunk = state.withLock { s in s.chunks.isEmpty ? nil : s.chunks.removeFirst() }?.value
        guard let chunk else {
            ended = true
            done.wait()
            return nil
        }
        room.signal()
        return chunk
    }

    /// What the walk could not hand on; once `next()` has returned nil.
    var tree: Walker.Tree { state.withLock { $0.tree }?.value ?? Walker.Tree() }

    /// Stops the walk and waits for its thread: nothing it opened is in use after.
    func cancel() {
        guard !ended else { return }
        ended = true
        state.withLock { s in
            s.cancelled = true
            s.chunks.removeAll()
        }
        room.signal()   // a walk waiting for room wakes to the cancel
        done.wait()
    }

    /// Chunks handed on and not yet taken (tests wait on it).
    var chunksWaiting: Int { state.withLock { $0.chunks.count } }
}

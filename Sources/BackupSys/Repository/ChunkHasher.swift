import Crypto
import Dispatch
import Glibc

/// The chunks of a file after its first, hashed as they are read. For a large
/// file on a thread of its own, while the caller reads the next chunk and
/// writes this one: storing it then costs the slower of the two (the hash,
/// at about 2 GB/s with SHA extensions) and not their sum, as `cp`, which
/// hashes nothing, costs the read and the write alone.
///
/// Use: `buffer()`, fill it, `hashed(n)` (the first `n` bytes, to write
/// while they are hashed), and so on; `finalize()` at the end. `drain()`
/// before the caller's buffers go, thrown out of the loop or not.
final class ChunkHasher: @unchecked Sendable {
    // `hasher` is touched by one block at a time on `queue` (or, unthreaded,
    // on the caller's thread alone) and read by `finalize` once the queue has drained.
    private var hasher: SHA256
    private let queue: DispatchQueue?
    private let slots: [UnsafeMutableRawBufferPointer]
    /// Signalled when a slot's chunk has been hashed: it may be filled again.
    private let free: [DispatchSemaphore]
    private var next = 0

    /// Files from this size are hashed off the caller's thread.
    static let threadedFrom = 8 << 20
    static let slotCount = 4

    /// `first`: the buffer that held the first chunk, the caller's, used as the first slot.
    init(continuing hasher: SHA256, first: UnsafeMutableRawBufferPointer, threaded: Bool) {
        self.hasher = hasher
        var slots = [first]
        if threaded {
            for _ in 1..<Self.slotCount {
                slots.append(.allocate(byteCount: first.count, alignment: 16))
            }
        }
        self.slots = slots
        queue = threaded ? DispatchQueue(label: "bmlua.hash") : nil
        // A read that fails after `buffer()` leaves its slot's permit out.
        free = threaded ? slots.map { _ in .permits(1) } : []
    }

    deinit {
        for slot in slots.dropFirst() { slot.deallocate() }   // the first is the caller's
    }

    /// The next buffer to fill, once the hash of what it held last is done.
    func buffer() -> UnsafeMutableRawBufferPointer {
        if queue != nil { free[next].wait() }
        return slots[next]
    }

    /// The first `count` bytes of the buffer `buffer()` gave, handed to the hash:
    /// the caller may write them, but not change them, until its next `buffer()`
    /// comes round to the same slot.
    func hashed(_ count: Int) -> UnsafeRawBufferPointer {
        let k = next
        let chunk = UnsafeRawBufferPointer(rebasing: slots[k][0..<count])
        guard let queue else {
            hasher.update(bufferPointer: chunk)
            return chunk
        }
        next = (next + 1) % slots.count
        queue.async {
            self.hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: self.slots[k][0..<count]))
            self.free[k].signal()
        }
        return chunk
    }

    /// Waits for every chunk handed over to be hashed.
    func drain() { queue?.sync {} }

    func finalize() -> SHA256.Digest {
        drain()
        return hasher.finalize()
    }
}

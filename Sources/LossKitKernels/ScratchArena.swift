import CLossKitCPU
#if canImport(Glibc)
import Glibc
#endif

/// The kernels' working space (per-tile buffers, gathered rows, per-chunk sums, row maxima), taken
/// from a block each thread keeps between calls, so that a call allocates nothing once a call of its
/// shape has run on that thread. `withUnsafeTemporaryAllocation` is not that: with this toolchain on
/// Linux it uses the stack only up to 1 KB and calls malloc above (checked: 64 KB on the main thread
/// went to the heap).
///
/// Buffers are handed out and given back in nested order (`with` is scoped). The first block is 1 MB
/// of address space, of which only the pages used become memory. A buffer that does not fit above
/// the ones in use comes from the heap that once; when the last buffer of that call is given back,
/// the block grows to the most the nest has needed, so the next call of that shape fits. The block is
/// freed when the thread exits. Under AddressSanitizer every buffer comes from the heap instead, so
/// that a kernel writing past its buffer is caught rather than landing in the next one.
final class ScratchArena {
    private var base: UnsafeMutableRawPointer?
    private var capacity = 0
    /// Bytes in use from `base`.
    private var top = 0
    /// Bytes of the buffers handed out and not yet given back, in the block or on the heap.
    private var inUse = 0
    /// The most `inUse` has been on this thread.
    private var highWater = 0

    private static let alignment = 64
    /// The smallest block: the built-in losses' nests of buffers fit (a RowMaxima buffer of 256 KB at
    /// most, tiles' buffers of tens of KB), so a thread's first call is its last to allocate.
    private static let minimumBlock = 1 << 20

    private static let heapOnly = losskit_address_sanitizer() != 0

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // At a thread's exit: release its arena (and so its block).
        pthread_key_create(&key) { arena in
            if let arena { Unmanaged<ScratchArena>.fromOpaque(arena).release() }
        }
        return key
    }()

    /// This thread's arena.
    private static var current: ScratchArena {
        if let arena = pthread_getspecific(key) { return Unmanaged<ScratchArena>.fromOpaque(arena).takeUnretainedValue() }
        let arena = ScratchArena()
        pthread_setspecific(key, Unmanaged.passRetained(arena).toOpaque())
        return arena
    }

    deinit { base?.deallocate() }

    /// Runs `body` with room for `count` values of T (uninitialised, 64-byte aligned), valid until it
    /// returns.
    static func with<T, R, E: Error>(of _: T.Type, capacity count: Int,
                                     _ body: (UnsafeMutableBufferPointer<T>) throws(E) -> R) throws(E) -> R {
        let bytes = (Swift.max(1, count) * MemoryLayout<T>.stride + alignment - 1) / alignment * alignment
        if heapOnly { return try onHeap(bytes, count, body) }
        let arena = current
        arena.highWater = Swift.max(arena.highWater, arena.inUse + bytes)
        if arena.inUse == 0 && arena.capacity < arena.highWater { arena.grow() }
        let start = arena.top
        arena.inUse += bytes
        defer {
            arena.inUse -= bytes
            if arena.inUse == 0 && arena.capacity < arena.highWater { arena.grow() }
        }
        guard start + bytes <= arena.capacity else { return try onHeap(bytes, count, body) }
        arena.top = start + bytes
        defer { arena.top = start }
        let values = (arena.base! + start).bindMemory(to: T.self, capacity: count)
        return try body(UnsafeMutableBufferPointer(start: values, count: count))
    }

    /// `body` with a buffer of its own on the heap.
    private static func onHeap<T, R, E: Error>(_ bytes: Int, _ count: Int,
                                               _ body: (UnsafeMutableBufferPointer<T>) throws(E) -> R) throws(E) -> R {
        let heap = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: alignment)
        defer { heap.deallocate() }
        return try body(UnsafeMutableBufferPointer(start: heap.bindMemory(to: T.self, capacity: count), count: count))
    }

    /// A new block for the most the thread has needed (whole pages, 1 MB at least); only while
    /// nothing is in use.
    private func grow() {
        base?.deallocate()
        capacity = (Swift.max(highWater, Self.minimumBlock) + 4095) / 4096 * 4096
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: Self.alignment)
    }
}

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The process-wide thread limit and the deterministic work split used by every kernel.
///
/// Work is cut into chunks whose boundaries depend only on the batch's shape, never on the
/// number of threads; each chunk sums its own samples in a fixed order (`LossEngine.tileSum`) and
/// the chunk sums are added in chunk order. Results are therefore bit-identical for any thread count.
public enum Threading {
    private static let limit = Atomic<Int>(0)

    /// At most `count` threads per call; 0 means one per CPU.
    public static func setLimit(_ count: Int) { limit.store(max(0, count), ordering: .relaxed) }
    public static var configuredLimit: Int { limit.load(ordering: .relaxed) }

    /// Read once: sysconf opens /sys/devices/system/cpu/online, a third of a small batch's time.
    static let cpuCount = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// The threads a call may use right now.
    static var available: Int {
        let configured = configuredLimit
        return configured == 0 ? cpuCount : configured
    }

    /// Most chunks a call splits into (bounds the space of per-chunk partial sums).
    static let maxChunks = 1024
    /// Elements of work per chunk that make a thread hand-off worth it.
    static let elementsPerChunk = 1 << 15

    /// Rows per chunk and chunk count for `rows` rows of `rowCost` elements each; rows per chunk is a
    /// multiple of `multipleOf` (the column blocks' width, so that chunks do not split blocks).
    static func plan(rows: Int, rowCost: Int, maxChunks: Int = maxChunks, multipleOf unit: Int = 1) -> Plan {
        guard rows > 0 else { return Plan(rowsPerChunk: 1, chunks: 0) }
        var perChunk = max(1, elementsPerChunk / max(1, rowCost))
        if (rows + perChunk - 1) / perChunk > maxChunks { perChunk = (rows + maxChunks - 1) / maxChunks }
        perChunk = (perChunk + unit - 1) / unit * unit
        return Plan(rowsPerChunk: perChunk, chunks: (rows + perChunk - 1) / perChunk)
    }

    /// Runs `body(chunk)` for every chunk in `0..<chunks`, spread over the available threads
    /// (on the calling thread alone when `parallel` is false): the caller and the library's workers.
    static func forEachChunk(_ chunks: Int, parallel: Bool = true, _ body: (Int) -> Void) {
        let threads = parallel ? min(available, chunks) : 1
        if threads <= 1 {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        WorkerPool.shared.run(chunks: chunks, threads: threads, body)
    }

    /// Σ of `body(chunk)` over the chunks, each run as `forEachChunk` runs it and the results added
    /// in chunk order: the fixed-order sum that keeps a call's result independent of the thread count.
    static func sumOverChunks(_ chunks: Int, parallel: Bool = true, _ body: (Int) -> Double) -> Double {
        ScratchArena.with(of: Double.self, capacity: max(1, chunks)) { partials in
            forEachChunk(chunks, parallel: parallel) { chunk in partials[chunk] = body(chunk) }
            var total: Double = 0
            for chunk in 0..<chunks { total += partials[chunk] }
            return total
        }
    }
}

extension Threading {
    /// The split of `rows` rows into chunks.
    struct Plan {
        let rowsPerChunk: Int
        let chunks: Int

        func rows(of chunk: Int, total: Int) -> Range<Int> {
            let first = chunk * rowsPerChunk
            return first..<min(total, first + rowsPerChunk)
        }
    }
}

/// Reading and writing one sample's row of C values in either layout: contiguous for (N, C), strided by
/// d1·…·dk for (N, C, d1..dk), where a row is gathered into scratch and its gradient scattered back —
/// for class-index targets a tile of consecutive rows at a time, so that the strided memory is read
/// and written in runs of `tileRows` values per class instead of one value per class and row.
struct RowAccess<T: KernelFloat> {
    let logits: UnsafePointer<T>
    let grad: UnsafeMutablePointer<T>?
    let classes: Int
    let inner: Int
    /// Scratch values a caller needs beyond the logits and gradient rows (then rows go one by one).
    let extraScratch: Int
    /// Rows per tile (1: no tiles): up to 64, and a tile of logits at most 8192 values.
    let tileRows: Int

    init(_ batch: Batch<T>, extraScratch: Int = 0) {
        logits = batch.logits
        grad = batch.grad
        classes = batch.classes
        inner = batch.inner
        self.extraScratch = extraScratch
        tileRows = batch.inner > 1 && extraScratch == 0 ? max(1, min(64, 8192 / max(1, batch.classes))) : 1
    }

    var isContiguous: Bool { inner == 1 }

    /// Flat index of element (row, class 0); class j is at `base + j·inner`.
    @inline(__always) func base(_ row: Int) -> Int { (row / inner) * classes * inner + row % inner }

    /// Runs `body` with scratch for [logits row | gradient row | extra] when rows are strided (nothing
    /// is needed when they are contiguous).
    @inline(__always) func withScratch<R>(_ body: (UnsafeMutablePointer<T>) -> R) -> R {
        let count = isContiguous ? 1 : 2 * classes * tileRows + extraScratch
        return ScratchArena.with(of: T.self, capacity: count) { body($0.baseAddress!) }
    }

    /// The logits of `row` as a contiguous pointer.
    @inline(__always) func gather(_ row: Int, into scratch: UnsafeMutablePointer<T>) -> UnsafePointer<T> {
        if isContiguous { return logits + row * classes }
        let b = base(row)
        for j in 0..<classes { scratch[j] = logits[b + j * inner] }
        return UnsafePointer(scratch)
    }

    /// Where the gradient of `row` is written before `scatter`: the output itself, or scratch.
    @inline(__always) func gradientRow(_ row: Int, scratch: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T>? {
        guard let grad else { return nil }
        return isContiguous ? grad + row * classes : scratch + classes
    }

    /// Copies a gradient row written in scratch to its strided place in the output.
    @inline(__always) func scatter(_ row: Int, from g: UnsafeMutablePointer<T>?) {
        guard !isContiguous, let grad, let g else { return }
        let b = base(row)
        for j in 0..<classes { grad[b + j * inner] = g[j] }
    }

    /// How many rows from `row` form a tile (inside one sample n, ending by `end`): 0 when fewer than 2.
    @inline(__always) func tile(at row: Int, end: Int) -> Int {
        guard tileRows > 1 else { return 0 }
        let count = min(tileRows, end - row, inner - row % inner)
        return count >= 2 ? count : 0
    }

    /// Gathers rows row..<row+count into scratch, row k at scratch + k·C; returns them.
    @inline(__always) func gatherTile(_ row: Int, count: Int, into scratch: UnsafeMutablePointer<T>) -> UnsafePointer<T> {
        transposeBlock(logits + base(row), rows: classes, columns: count, sourceStride: inner, into: scratch,
                       targetStride: classes, walking: .sourceRows)
        return UnsafePointer(scratch)
    }

    /// Where a tile's gradient rows are written (row k at + k·C), or nil when there is no gradient.
    @inline(__always) func gradientTile(scratch: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T>? {
        grad == nil ? nil : scratch + classes * tileRows
    }

    /// Copies a tile's gradient rows to their strided places in the output.
    @inline(__always) func scatterTile(_ row: Int, count: Int, from g: UnsafeMutablePointer<T>?) {
        guard let grad, let g else { return }
        transposeBlock(g, rows: count, columns: classes, sourceStride: classes, into: grad + base(row), targetStride: inner,
                       walking: .targetRows)
    }
}

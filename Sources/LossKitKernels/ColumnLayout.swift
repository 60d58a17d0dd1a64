/// Where consecutive samples can run through a column kernel, a tile of P samples at a time (P a
/// multiple of the column width W: 16 floats or 8 doubles, one sample per lane), class j of sample k
/// at z[j·stride + k]:
/// - (N, C, d…) batches, in place: consecutive positions of a class are contiguous (stride = d1·…·dk),
///   for tiles of up to `maxTile` positions inside one sample n;
/// - (N, C) batches with few classes: a tile of rows is transposed into scratch (stride = P), so that
///   one vector holds a class of W samples instead of a mostly empty row, and transposed back.
/// The kernels sweep a tile class by class (see RowMath), each class's P values contiguous: walking
/// the 64 KB-apart class planes of a segmentation batch one vector at a time instead left the kernel
/// waiting on memory. Other samples (a tile's leftovers, rows with many classes) take the row kernel.
struct ColumnLayout<T: KernelFloat> {
    /// Contiguous rows with fewer classes than this are transposed into columns; with more, a row
    /// fills its vectors and the row kernel is as fast.
    static var transposeBelow: Int { 32 }
    /// Positions per tile of an (N, C, d…) batch at most (the per-sample buffers stay in L1).
    static var maxTile: Int { 512 }
    /// Rows per transposed tile.
    static var transposedTile: Int { 64 }

    /// Samples per vector.
    let width: Int
    /// Samples per tile at most: a multiple of `width`.
    let maxSamples: Int
    let classes: Int
    let inner: Int

    /// nil when neither form applies to the batch. `maxTile` lowers the positions per (N, C, d…) tile
    /// (rounded down to whole vectors, one vector at least).
    init?(_ batch: Batch<T>, width: Int, maxTile: Int = Self.maxTile) {
        guard batch.inner > 1 || batch.classes < Self.transposeBelow else { return nil }
        self.width = width
        classes = batch.classes
        inner = batch.inner
        maxSamples = inner == 1 ? Self.transposedTile : Swift.max(width, Swift.min(maxTile, Self.maxTile) / width * width)
    }

    var isTransposed: Bool { inner == 1 }

    /// The size of the tile that starts at sample `row` and ends by `end` (a multiple of `width`, and
    /// for (N, C, d…) inside one sample n), or 0 when not even one vector of samples fits.
    @inline(__always)
    func tile(at row: Int, end: Int) -> Int {
        var count = Swift.min(maxSamples, end - row)
        if !isTransposed { count = Swift.min(count, inner - row % inner) }
        return count / width * width
    }

    /// The per-tile buffers, allocated once per chunk: targets, scales and losses of the tile's samples,
    /// working space for the kernels, and the transposed tile (C × P values).
    struct Scratch {
        let targets: UnsafeMutablePointer<Int>
        let scales: UnsafeMutablePointer<T>
        let losses: UnsafeMutablePointer<Double>
        /// 8·P values for the kernel.
        let work: UnsafeMutablePointer<T>
        /// 4·P values for the kernel.
        let doubles: UnsafeMutablePointer<Double>
        let tile: UnsafeMutablePointer<T>
    }

    @inline(__always)
    func withScratch<R>(_ body: (Scratch) -> R) -> R {
        let n = maxSamples
        return ScratchArena.with(of: T.self, capacity: 9 * n + (isTransposed ? classes * n : 0)) { values in
            ScratchArena.with(of: Double.self, capacity: 5 * n) { doubles in
                ScratchArena.with(of: Int.self, capacity: n) { targets in
                    let v = values.baseAddress!, d = doubles.baseAddress!
                    return body(Scratch(targets: targets.baseAddress!, scales: v, losses: d, work: v + n, doubles: d + n,
                                        tile: v + 9 * n))
                }
            }
        }
    }

    /// The tile of `count` samples from `row` as columns: (logits, gradient, class stride). A
    /// transposed tile is copied into scratch and its gradient written there (`store` copies it out).
    @inline(__always)
    func load(_ row: Int, count: Int, logits: UnsafePointer<T>, grad: UnsafeMutablePointer<T>?,
              _ scratch: Scratch) -> (UnsafePointer<T>, UnsafeMutablePointer<T>?, Int) {
        if isTransposed {
            transposeBlock(logits + row * classes, rows: count, columns: classes, sourceStride: classes,
                           into: scratch.tile, targetStride: count, walking: .sourceRows)
            return (UnsafePointer(scratch.tile), grad == nil ? nil : scratch.tile, count)
        }
        let base = (row / inner) * classes * inner + row % inner
        return (logits + base, grad.map { $0 + base }, inner)
    }

    /// Copies a transposed tile's gradient to its rows (nothing to do for (N, C, d…) tiles).
    @inline(__always)
    func store(_ row: Int, count: Int, grad: UnsafeMutablePointer<T>?, _ scratch: Scratch) {
        guard isTransposed, let grad else { return }
        transposeBlock(scratch.tile, rows: classes, columns: count, sourceStride: count, into: grad + row * classes,
                       targetStride: classes, walking: .targetRows)
    }
}

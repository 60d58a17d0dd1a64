/// Where W consecutive samples (W = the column width, 16 floats or 8 doubles) can run as one column
/// block, class j of lane k at z[j·stride + k]:
/// - (N, C, d…) batches, directly: consecutive positions of one class are contiguous (stride = d1·…·dk),
///   for every block of W positions inside one sample n;
/// - (N, C) batches with few classes, through a transpose of W rows into stack scratch (stride = W):
///   one vector then holds a class of W samples instead of a mostly empty row.
/// Other samples (a block's leftovers, or rows with many classes) take the row kernel.
struct ColumnLayout<T: KernelFloat> {
    /// Contiguous rows with fewer classes than this are transposed into columns; with more, a row
    /// fills its vectors and the row kernel is as fast.
    static var transposeBelow: Int { 32 }

    let width: Int
    let classes: Int
    let inner: Int

    /// nil when neither form applies to the batch.
    init?(_ batch: Batch<T>, width: Int) {
        guard batch.inner > 1 || batch.classes < Self.transposeBelow else { return nil }
        self.width = width
        classes = batch.classes
        inner = batch.inner
    }

    var isTransposed: Bool { inner == 1 }

    /// Whether samples row..<row+W form a block that ends by `end`.
    @inline(__always)
    func startsBlock(at row: Int, end: Int) -> Bool {
        row + width <= end && (isTransposed || row % inner + width <= inner)
    }

    /// The per-block buffers, allocated once per chunk: W targets, scales and losses, and the
    /// transposed block of W rows.
    struct Scratch {
        let targets: UnsafeMutablePointer<Int>
        let scales: UnsafeMutablePointer<T>
        let losses: UnsafeMutablePointer<Double>
        let block: UnsafeMutablePointer<T>
    }

    @inline(__always)
    func withScratch<R>(_ body: (Scratch) -> R) -> R {
        withUnsafeTemporaryAllocation(of: T.self, capacity: width + (isTransposed ? classes * width : 0)) { values in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: width) { losses in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: width) { targets in
                    body(Scratch(targets: targets.baseAddress!, scales: values.baseAddress!,
                                 losses: losses.baseAddress!, block: values.baseAddress! + width))
                }
            }
        }
    }

    /// The block of samples row..<row+W as columns: (logits, gradient, class stride). Transposed
    /// blocks are copied into scratch, their gradient written there (`store` copies it out).
    @inline(__always)
    func load(_ row: Int, logits: UnsafePointer<T>, grad: UnsafeMutablePointer<T>?,
              _ scratch: Scratch) -> (UnsafePointer<T>, UnsafeMutablePointer<T>?, Int) {
        if isTransposed {
            let block = scratch.block, rows = logits + row * classes
            for k in 0..<width {
                for j in 0..<classes { block[j * width + k] = rows[k * classes + j] }
            }
            return (UnsafePointer(block), grad == nil ? nil : block, width)
        }
        let base = (row / inner) * classes * inner + row % inner
        return (logits + base, grad.map { $0 + base }, inner)
    }

    /// Copies a transposed block's gradient to its rows (nothing to do for direct columns).
    @inline(__always)
    func store(_ row: Int, grad: UnsafeMutablePointer<T>?, _ scratch: Scratch) {
        guard isTransposed, let grad else { return }
        let block = scratch.block, out = grad + row * classes
        for k in 0..<width {
            for j in 0..<classes { out[k * classes + j] = block[j * width + k] }
        }
    }
}

/// Reading and writing one sample's row of C values in either layout: contiguous for (N, C), strided by
/// d1·…·dk for (N, C, d1..dk), where a row is gathered into scratch and its gradient scattered back.
struct RowAccess<T: KernelFloat> {
    let logits: UnsafePointer<T>
    let grad: UnsafeMutablePointer<T>?
    let classes: Int
    let inner: Int
    /// Scratch values a caller needs beyond the logits and gradient rows.
    let extraScratch: Int

    init(_ batch: Batch<T>, extraScratch: Int = 0) {
        logits = batch.logits
        grad = batch.grad
        classes = batch.classes
        inner = batch.inner
        self.extraScratch = extraScratch
    }

    var isContiguous: Bool { inner == 1 }

    /// Flat index of element (row, class 0); class j is at `base + j·inner`.
    @inline(__always) func base(_ row: Int) -> Int { (row / inner) * classes * inner + row % inner }

    /// Runs `body` with scratch for [logits row | gradient row | extra] when rows are strided (nothing
    /// is needed when they are contiguous).
    @inline(__always) func withScratch<R>(_ body: (UnsafeMutablePointer<T>) -> R) -> R {
        let count = isContiguous ? 1 : 2 * classes + extraScratch
        return withUnsafeTemporaryAllocation(of: T.self, capacity: count) { body($0.baseAddress!) }
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
}

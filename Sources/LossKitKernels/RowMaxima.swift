/// nan_policy "error" reads every logit before anything is written, so that a refused batch leaves
/// the caller's buffers untouched; the softmax's first pass then read every logit again, for each
/// row's max. On contiguous (N, C) rows of 32 classes or more, the softmax-target losses take each
/// row's max of z + b from the check instead (`BatchValidation.checkLogits(_:rowMaxima:bias:)`, one
/// read for both), and their kernels skip their own first pass: `RowTiles` for rows of up to 1023
/// classes, the row kernel one row at a time above; so does Dice's first phase (`Dice`,
/// `DicePasses`). The max is the value the kernel's own pass finds (`RowMath.maxBelowInfinity`), so
/// the results are the same bits either way.
enum RowMaxima {
    /// Rows of fewer classes run on columns (`ColumnLayout`). From 32 classes on, the check's many
    /// short rows (each ending in a reduction of the vector's lanes) still cost less than the kernel's
    /// own max pass: cross_entropy float32 131072×32 0.94× the time, 40960×100 0.88×, 4096×1000 0.87×.
    static let minClasses = ColumnLayout<Float>.transposeBelow
    /// Bytes of maxima at most (262144 float32 rows, 131072 float64), taken from the thread's
    /// `ScratchArena` with the call's other buffers, which it then keeps: 1 MB bounds what a thread
    /// holds on to. From 256 KB to 1 MB: cross_entropy float32 131072×32 0.91× the time, float64
    /// 40960×100 0.87×, focal 131072×50 0.87×.
    static let maxBytes = 1 << 20

    /// Whether `loss` over `batch`, under `nanPolicy`, takes its rows' maxima from the check.
    static func applies<L: SoftmaxTargetLoss, T: KernelFloat>(_ loss: L, _ batch: Batch<T>, nanPolicy: NaNPolicy) -> Bool {
        guard loss.isSoftmaxTarget, applies(rowsOf: batch, nanPolicy: nanPolicy), !WideRows.applies(to: batch) else {
            return false
        }
        if case .probabilities = batch.target { return false }
        return true
    }

    /// Whether the check of `batch` under `nanPolicy` can take its rows' maxima: nan_policy "error",
    /// contiguous rows of `minClasses` or more, at most `maxBytes` of maxima (also Dice's rows).
    static func applies<T: KernelFloat>(rowsOf batch: Batch<T>, nanPolicy: NaNPolicy) -> Bool {
        nanPolicy == .error && batch.inner == 1 && batch.classes >= minClasses
            && batch.samples * MemoryLayout<T>.stride <= maxBytes
    }

    /// Room for one max per sample, and the loss's bias b (logit_adjusted's; nil for the others), which
    /// the check adds as the kernel's max pass does.
    struct Buffer<T: KernelFloat> {
        let maxima: UnsafeMutablePointer<T>
        let bias: UnsafePointer<T>?
    }

    /// Runs `body` with a `Buffer` for `loss` over `batch`. The bias is read only once the loss has
    /// checked its parameters against the batch (`RowLoss.check(classes:)`).
    static func withBuffer<L: SoftmaxTargetLoss, T: KernelFloat, R>(_ loss: L, _ batch: Batch<T>,
                                                                   _ body: (Buffer<T>) throws(LossError) -> R) throws(LossError) -> R {
        let result = loss.withBias { (bias: UnsafePointer<T>?) -> Result<R, LossError> in
            ScratchArena.with(of: T.self, capacity: batch.samples) { buffer in
                Result { () throws(LossError) -> R in try body(Buffer(maxima: buffer.baseAddress!, bias: bias)) }
            }
        }
        return try result.get()
    }

    /// Runs `loss` over a validated class-index batch that `applies`, each row's max taken from
    /// `rowMaxima`.
    static func run<L: SoftmaxTargetLoss, T: KernelFloat>(_ loss: L, _ batch: Batch<T>, _ reduction: ReductionScales<T>,
                                                         rowMaxima: UnsafePointer<T>) {
        if RowTiles.applies(to: batch) { return RowTiles.run(loss, batch, reduction, rowMaxima: rowMaxima) }
        // Long rows one at a time, in the engine's chunks and order (`RowTiles.run`'s walk, tiles of
        // rows with their targets and scales gathered), as the engine runs them.
        let classes = batch.classes
        RowTiles.run(batch, reduction, parallel: loss.isThreadSafe) { first, count, scratch in
            for k in 0..<count {
                let row = first + k, y = scratch.targets[k]
                let (z, grad) = RowTiles.rowPointers(batch, row)
                guard y >= 0 else {
                    zeroRow(grad, classes)
                    scratch.losses[k] = 0
                    continue
                }
                scratch.losses[k] = loss.weighted(target: y, batch.weight, scale: scratch.scales[k]) { scale in
                    loss.row(z, classes: classes, target: y, grad: grad, scale: scale, max: rowMaxima[row])
                }
            }
        }
    }
}

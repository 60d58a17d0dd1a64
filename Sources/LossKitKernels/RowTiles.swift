/// Contiguous (N, C) rows of a moderate number of classes for the softmax-target losses
/// (`SoftmaxTargetLoss`), `tileRows` rows at a time. One row of 100 classes is a few hundred
/// instructions whose steps wait on each other (max, Σ exp, its log, the sample's rule, a division,
/// the scaling); taken row by row, each row's chain ran alone, and a row cost twice per element what
/// a row of 1000 classes costs. Here each step runs for the whole tile before the next:
///
///   Step 1, each row r: m_r = max_j (z_j + b_j), a_y = z_y + b_y (read before g may write over z),
///     e_j = exp(z_j + b_j - m_r) left in g, S_r = Σ_j e_j (RowMath's row loops, as the row kernel).
///   Step 2, the tile at once, in vector lanes: log S_r, and the sample transform of a_y - lse
///     (`SoftmaxTargetLoss.sampleTransform`: focal's and the expectation's exp) where there is one.
///   Step 3, each row r: lse = m_r + log S_r, the sample's rule (`SoftmaxTargetLoss.sample`), then
///     g_j = e_j·scale·pScale/S_r and g_y = scale·(pScale·p_y - targetScale), as the row kernel.
/// Each row's arithmetic is the row kernel's but for step 2 (the vector log is within 0.81 ulp of
/// libm's, which the row kernel calls), and it does not depend on which tile holds the row; the
/// chunks are the engine's and the losses are summed in row order, so the results do not depend on
/// the thread count either.
enum RowTiles {
    /// Batches of contiguous rows with classes in this range run here: below it a tile of rows is
    /// transposed into columns (`ColumnLayout`); above it a row's own chain is long enough to hide
    /// its latencies.
    static let classes = ColumnLayout<Float>.transposeBelow..<1024
    /// Rows per tile.
    static let tileRows = 16

    /// Class counts that the losses whose gradient has a term in z (squentropy, logit_norm) run here.
    /// From 256 classes the row kernel was as fast or faster: their last step reads z and g of the
    /// whole tile again (128 KB of float32 at 1000 classes, past the L1 cache), and the row kernel's
    /// two passes for the max and the squares, of two dependency chains each, beat one pass of one
    /// chain each (squentropy 4096×1000: 1.06× the time in tiles, 8192×500 1.04×).
    static let linearTermClasses = ColumnLayout<Float>.transposeBelow..<256

    /// Whether `batch` runs here for those losses: contiguous (N, C) rows with C in `linearTermClasses`.
    static func applies<T>(linearTerm batch: Batch<T>) -> Bool {
        batch.inner == 1 && linearTermClasses.contains(batch.classes)
    }

    /// Whether `batch` runs here: contiguous (N, C) rows with C in `classes`.
    static func applies<T>(to batch: Batch<T>) -> Bool {
        batch.inner == 1 && classes.contains(batch.classes)
    }

    /// Runs `loss` over a batch of class-index targets that `applies(to:)` (validated by the caller).
    /// `rowMaxima`, when given, holds each row's max of z + b (`RowMaxima`), and step 1 skips its own.
    static func run<L: SoftmaxTargetLoss, T: KernelFloat>(_ loss: L, _ batch: Batch<T>, _ reduction: ReductionScales<T>,
                                                         rowMaxima: UnsafePointer<T>? = nil) {
        loss.withBias { (bias: UnsafePointer<T>?) in
            run(batch, reduction, parallel: loss.isThreadSafe) { first, count, scratch in
                tile(loss, batch, bias: bias, first: first, count: count, rowMaxima: rowMaxima, scratch)
            }
        }
    }

    /// The engine's chunks of `batch`, each cut into tiles of `tileRows` rows that `tile(first, count,
    /// scratch)` runs, leaving each row's weighted loss in `scratch.losses`; writes the reduced loss.
    @inline(__always)
    static func run<T: KernelFloat>(_ batch: Batch<T>, _ reduction: ReductionScales<T>, parallel: Bool,
                                    _ tile: (Int, Int, Scratch<T>) -> Void) {
        let rows = batch.samples
        let plan = Threading.plan(rows: rows, rowCost: batch.classes)
        let total = Threading.sumOverChunks(plan.chunks, parallel: parallel) { chunk in
            let range = plan.rows(of: chunk, total: rows)
            return withScratch(T.self) { scratch in
                var total: Double = 0
                for first in stride(from: range.lowerBound, to: range.upperBound, by: tileRows) {
                    let count = min(tileRows, range.upperBound - first)
                    batch.classIndices(from: first, count: count, into: scratch.targets)
                    reduction.scales(first, count: count, into: scratch.scales)
                    tile(first, count, scratch)
                    if reduction.isPerSample {
                        for k in 0..<count { batch.loss[first + k] = T(scratch.losses[k]) }
                    } else {
                        for k in 0..<count { total += scratch.losses[k] }
                    }
                }
                return total
            }
        }
        reduction.finish(total: total)
    }

    /// Working space of one tile: per row its target (-1: ignored), gradient scale, max, Σ exp, a_y,
    /// log Σ, transformed a_y - lse (`SoftmaxTargetLoss.sampleTransform`; squentropy's and
    /// logit_norm's p_y), weighted loss, the sum of squares (squentropy's Σ_{j≠y} z_j², logit_norm's
    /// r², then r), and logit_norm's Σ z·e and factor c.
    struct Scratch<T: KernelFloat> {
        let targets: UnsafeMutablePointer<Int>
        let scales: UnsafeMutablePointer<T>
        let rowMax: UnsafeMutablePointer<T>
        let sums: UnsafeMutablePointer<Double>
        let targetLogits: UnsafeMutablePointer<Double>
        let logSums: UnsafeMutablePointer<Double>
        let transformed: UnsafeMutablePointer<Double>
        let losses: UnsafeMutablePointer<Double>
        let squares: UnsafeMutablePointer<Double>
        let weightedSums: UnsafeMutablePointer<Double>
        let factors: UnsafeMutablePointer<Double>
    }

    @inline(__always)
    static func withScratch<T: KernelFloat, R>(_: T.Type, _ body: (Scratch<T>) -> R) -> R {
        let n = tileRows
        return ScratchArena.with(of: Int.self, capacity: n) { targets in
            ScratchArena.with(of: T.self, capacity: 2 * n) { values in
                ScratchArena.with(of: Double.self, capacity: 8 * n) { doubles in
                    let v = values.baseAddress!, d = doubles.baseAddress!
                    return body(Scratch(targets: targets.baseAddress!, scales: v, rowMax: v + n, sums: d,
                                        targetLogits: d + n, logSums: d + 2 * n, transformed: d + 3 * n,
                                        losses: d + 4 * n, squares: d + 5 * n, weightedSums: d + 6 * n,
                                        factors: d + 7 * n))
                }
            }
        }
    }

    /// The three steps over rows first..<first + count (their targets and scales in `scratch`); each
    /// row's weighted loss goes to `scratch.losses[k]` (0 for an ignored row, whose gradient is 0).
    @inline(__always)
    private static func tile<L: SoftmaxTargetLoss, T: KernelFloat>(
        _ loss: L, _ batch: Batch<T>, bias: UnsafePointer<T>?, first: Int, count: Int, rowMaxima: UnsafePointer<T>?,
        _ scratch: Scratch<T>
    ) {
        let classes = batch.classes, targets = scratch.targets
        @inline(__always) func row(_ k: Int) -> (UnsafePointer<T>, UnsafeMutablePointer<T>?) { rowPointers(batch, first + k) }
        for k in 0..<count {
            let (z, grad) = row(k), y = targets[k]
            guard y >= 0 else {
                zeroRow(grad, classes)
                scratch.sums[k] = 1  // a log to take, never used
                continue
            }
            let (lse, targetLogit) = VectorRow.softmaxPasses(z, classes, target: y, bias: bias, max: rowMaxima?[first + k],
                                                             storingInto: grad)
            scratch.targetLogits[k] = targetLogit
            scratch.rowMax[k] = lse.max
            scratch.sums[k] = lse.sum
        }
        SIMDDispatch.rowMath.log(scratch.sums, count, into: scratch.logSums)
        let transform = loss.sampleTransform
        if transform != .none {  // a_y - lse of every row (unused for ignored and masked ones), transformed
            for k in 0..<count { scratch.transformed[k] = scratch.targetLogits[k] - (Double(scratch.rowMax[k]) + scratch.logSums[k]) }
            transform.apply(scratch.transformed, count, into: scratch.transformed)
        }
        for k in 0..<count {  // the row kernel's rule and pass 3, with the tile's log and transform
            let y = targets[k]
            guard y >= 0 else {
                scratch.losses[k] = 0
                continue
            }
            let lse = OnlineLogSumExp(max: scratch.rowMax[k], sum: scratch.sums[k])
            scratch.losses[k] = loss.weighted(target: y, batch.weight, scale: scratch.scales[k]) { scale in
                loss.finishRow(lse, logSum: scratch.logSums[k], targetLogit: scratch.targetLogits[k],
                               transformed: { _ in transform == .none ? 0 : scratch.transformed[k] },
                               target: y, classes: classes, grad: row(k).1, scale: scale)
            }
        }
    }

    /// Row `row` of a contiguous batch: its logits and its gradient.
    @inline(__always)
    static func rowPointers<T>(_ batch: Batch<T>, _ row: Int) -> (UnsafePointer<T>, UnsafeMutablePointer<T>?) {
        (batch.logits + row * batch.classes, batch.grad.map { $0 + row * batch.classes })
    }
}

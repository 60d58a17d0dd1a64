/// Checks of a batch's *data* (its structure was checked by the caller), each run before anything is
/// written so that a refused batch leaves every output untouched.
enum BatchValidation {
    static func checkWeights<T: KernelFloat>(_ batch: Batch<T>) throws(LossError) {
        guard let weight = batch.weight else { return }
        for j in 0..<batch.classes where !(weight[j] >= 0 && weight[j].isFinite) {
            throw LossError(.badWeight, "class weight \(j) is \(weight[j]); expected a finite value >= 0")
        }
    }

    static func checkDLoss<T: KernelFloat>(_ batch: Batch<T>) throws(LossError) {
        guard let dloss = batch.dloss else { return }
        let count = batch.reduction == .none ? batch.samples : 1
        for i in 0..<count where !dloss[i].isFinite {
            throw LossError(.badDLoss, "dloss[\(i)] is \(dloss[i]); expected a finite upstream gradient")
        }
    }

    /// NaN and +inf are refused; -inf is a masked class and allowed.
    static func checkLogits<T: KernelFloat>(_ batch: Batch<T>) throws(LossError) {
        let total = batch.samples * batch.classes, logits = batch.logits
        let blocks = (total + elementsPerBlock - 1) / elementsPerBlock
        let bad = firstFailingBlock(blocks) { b in
            let start = b * elementsPerBlock
            return VectorRow.allBelowInfinity(logits + start, min(total, start + elementsPerBlock) - start)
        }
        guard let bad else { return }
        try reportNonfiniteLogit(batch, in: (bad * elementsPerBlock)..<min(total, (bad + 1) * elementsPerBlock))
    }

    /// As `checkLogits`, for contiguous (N, C) rows (`inner` 1), writing each row's max of z + b
    /// (`KernelFloat.rowMax`; b: C values, or none) to `rowMaxima` (N values) on the way: the check's
    /// read of the logits is then also the softmax's first pass (`RowMaxima`).
    static func checkLogits<T: KernelFloat>(_ batch: Batch<T>, rowMaxima: UnsafeMutablePointer<T>,
                                            bias: UnsafePointer<T>?) throws(LossError) {
        let classes = batch.classes, rows = batch.samples, logits = batch.logits
        let rowsPerBlock = max(1, elementsPerBlock / classes)
        let blocks = (rows + rowsPerBlock - 1) / rowsPerBlock
        let bad = firstFailingBlock(blocks) { b in
            var valid = true
            for row in (b * rowsPerBlock)..<min(rows, (b + 1) * rowsPerBlock) {
                rowMaxima[row] = T.rowMaxBelowInfinity(logits + row * classes, bias: bias, classes)
                valid = valid && !rowMaxima[row].isNaN
            }
            return valid
        }
        guard let bad else { return }
        try reportNonfiniteLogit(batch, in: (bad * rowsPerBlock * classes)..<(min(rows, (bad + 1) * rowsPerBlock) * classes))
    }

    /// Targets per block of `checkIndices`'s count, on the threads.
    private static let targetsPerBlock = 1 << 16

    /// Elements per block of the logits' check: blocks are checked with the vector test, spread over
    /// the threads (the check is a full read of the logits); the first bad block in order is then
    /// searched for the culprit, so the message does not depend on the thread count.
    private static let elementsPerBlock = 1 << 16

    /// The first of `blocks` blocks for which `valid` is false, or nil.
    private static func firstFailingBlock(_ blocks: Int, _ valid: (Int) -> Bool) -> Int? {
        ScratchArena.with(of: Bool.self, capacity: max(1, blocks)) { ok in
            Threading.forEachChunk(blocks) { ok[$0] = valid($0) }
            return (0..<blocks).first { !ok[$0] }
        }
    }

    /// Throws for the first logit in `range` (flat indices) that is NaN or +inf.
    private static func reportNonfiniteLogit<T: KernelFloat>(_ batch: Batch<T>, in range: Range<Int>) throws(LossError) {
        let logits = batch.logits
        guard let i = range.first(where: { !(logits[$0] < .infinity) }) else { return }
        let (sample, cls) = position(ofElement: i, batch)
        throw LossError(.nonfiniteLogit,
                        "logit \(logits[i]) at sample \(sample), class \(cls); expected finite values or -inf "
                            + "(a masked class), or set nan_policy=\"propagate\"")
    }

    /// Checks class indices and returns the weighted mean's divisor: Σ w_y over samples not ignored.
    static func checkIndices<T: KernelFloat, I: TargetInteger>(_ batch: Batch<T>,
                                                               _ target: UnsafePointer<I>) throws(LossError) -> Double {
        let classes = Int64(batch.classes), ignore = batch.ignoreIndex
        /// 0 ≤ y < C, as one unsigned compare.
        func isClass(_ y: Int64) -> Bool { UInt64(bitPattern: y) < UInt64(classes) }
        func outOfRange(_ i: Int) -> LossError {
            LossError(.targetOutOfRange, "target[\(i)] is \(target[i]); expected a class index in [0, \(classes)) "
                                         + "or ignore_index (\(ignore))")
        }
        guard let weight = batch.weight else {
            // Σ 1 over the samples not ignored, counted as integers in vector lanes by the row loops'
            // build (`RowMath.countClassIndices`), a block of targets per thread: the same value for
            // any thread count and as the Double sum (exact below 2^53), without a chain of dependent
            // adds (4% of cross_entropy's time at 8×21×128×128) or a thread left waiting (6% at 2
            // threads).
            let samples = batch.samples, blocks = (samples + targetsPerBlock - 1) / targetsPerBlock
            let (counted, bad) = ScratchArena.with(of: Int.self, capacity: max(1, blocks)) { counts in
                Threading.forEachChunk(blocks) { b in
                    let first = b * targetsPerBlock
                    // The block's count, or -1 - i for its first bad target i.
                    let count = I.countClassIndices(target + first, min(samples, first + targetsPerBlock) - first,
                                                    classes: batch.classes, ignore: ignore)
                    counts[b] = count >= 0 ? count : count - first
                }
                var total = 0
                for b in 0..<blocks {
                    guard counts[b] >= 0 else { return (total, -1 - counts[b]) }
                    total += counts[b]
                }
                return (total, -1)
            }
            if bad >= 0 { throw outOfRange(bad) }
            return Double(counted)
        }
        var denominator: Double = 0
        for i in 0..<batch.samples {
            let y = Int64(target[i])
            if y == ignore { continue }
            guard isClass(y) else { throw outOfRange(i) }
            denominator += Double(weight[Int(y)])
        }
        return denominator
    }

    /// Probability targets: finite, non-negative, each sample summing to 1 within the dtype's tolerance.
    static func checkProbabilities<T: KernelFloat>(_ batch: Batch<T>, _ q: UnsafePointer<T>) throws(LossError) {
        let classes = batch.classes, inner = batch.inner
        for sample in 0..<batch.samples {
            let base = (sample / inner) * classes * inner + sample % inner
            var sum: Double = 0
            for j in 0..<classes {
                let value = q[base + j * inner]
                guard value >= 0 && value.isFinite else {
                    throw LossError(.badProbabilities,
                                    "probability target \(value) at sample \(sample), class \(j); expected a finite value >= 0")
                }
                sum += Double(value)
            }
            guard abs(sum - 1) <= T.probabilitySumTolerance else {
                throw LossError(.badProbabilities,
                                "probability targets of sample \(sample) sum to \(sum); expected 1 ± \(T.probabilitySumTolerance)")
            }
        }
    }

    /// (sample, class) of the element at flat index `i` of the logits.
    private static func position<T>(ofElement i: Int, _ batch: Batch<T>) -> (Int, Int) {
        let inner = batch.inner, classes = batch.classes
        let n = i / (classes * inner), rest = i % (classes * inner)
        return (n * inner + rest % inner, rest / inner)
    }
}

/// The integer types of class-index targets, each counted and checked by the row loops' build
/// (`RowMath.countClassIndices`).
protocol TargetInteger: FixedWidthInteger {
    static func countClassIndices(_ t: UnsafePointer<Self>, _ n: Int, classes: Int, ignore: Int64) -> Int
}

extension Int32: TargetInteger {
    static func countClassIndices(_ t: UnsafePointer<Int32>, _ n: Int, classes: Int, ignore: Int64) -> Int {
        SIMDDispatch.rowMath.countClassIndices(t, n, classes: classes, ignore: ignore)
    }
}

extension Int64: TargetInteger {
    static func countClassIndices(_ t: UnsafePointer<Int64>, _ n: Int, classes: Int, ignore: Int64) -> Int {
        SIMDDispatch.rowMath.countClassIndices(t, n, classes: classes, ignore: ignore)
    }
}

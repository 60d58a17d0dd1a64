/// The host that runs any `RowLoss` over a batch: it validates the data, then walks the samples in
/// deterministic chunks across threads, gathering class-strided rows of `(N, C, d…)` batches into a
/// contiguous scratch row, applying ignore_index, the reduction and the upstream gradient.
public enum LossEngine {
    /// Validates `batch` and then writes its loss (and gradient). Throws before writing anything.
    public static func evaluate<L: RowLoss>(_ loss: L, _ batch: AnyBatch, nanPolicy: NaNPolicy) throws(LossError) {
        switch batch {
        case .float32(let b): try evaluate(loss, b, nanPolicy: nanPolicy)
        case .float64(let b): try evaluate(loss, b, nanPolicy: nanPolicy)
        }
    }

    public static func evaluate<L: RowLoss, T: KernelFloat>(_ loss: L, _ batch: Batch<T>,
                                                            nanPolicy: NaNPolicy) throws(LossError) {
        try BatchValidation.checkWeights(batch)
        try BatchValidation.checkDLoss(batch)
        if nanPolicy == .error { try BatchValidation.checkLogits(batch) }
        switch batch.target {
        case .int32(let target):
            let denominator = try BatchValidation.checkIndices(batch, target)
            run(batch, denominator: denominator) { z, g, scale, row in
                let y = Int64(target[row])
                if y == batch.ignoreIndex { return nil }
                return loss.row(z, classes: batch.classes, target: Int(y), weight: batch.weight, grad: g, scale: scale)
            }
        case .int64(let target):
            let denominator = try BatchValidation.checkIndices(batch, target)
            run(batch, denominator: denominator) { z, g, scale, row in
                let y = target[row]
                if y == batch.ignoreIndex { return nil }
                return loss.row(z, classes: batch.classes, target: Int(y), weight: batch.weight, grad: g, scale: scale)
            }
        case .probabilities(let q):
            guard loss.acceptsProbabilities else {
                throw LossError(.badProbabilities, "this loss takes class-index targets (int32 or int64), not probabilities")
            }
            try BatchValidation.checkProbabilities(batch, q)
            let classes = batch.classes, inner = batch.inner
            if inner == 1 {
                run(batch, denominator: Double(batch.samples)) { z, g, scale, row in
                    loss.row(z, classes: classes, probabilities: q + row * classes, weight: batch.weight, grad: g, scale: scale)
                }
            } else {
                // The target row is strided like the logits: gather it beside the logits' scratch row.
                run(batch, denominator: Double(batch.samples), extraScratch: classes) { z, g, scale, row in
                    let qRow = UnsafeMutablePointer(mutating: z) + 2 * classes
                    let base = (row / inner) * classes * inner + row % inner
                    for j in 0..<classes { qRow[j] = q[base + j * inner] }
                    return loss.row(z, classes: classes, probabilities: qRow, weight: batch.weight, grad: g, scale: scale)
                }
            }
        }
    }

    /// One sample: `(logits row, gradient row or nil, gradient scale, sample index) -> loss`, or nil
    /// for an ignored sample (loss 0, gradient row 0).
    typealias SampleKernel<T> = (UnsafePointer<T>, UnsafeMutablePointer<T>?, T, Int) -> Double?

    /// Runs `sample` over every sample of the batch and writes the reduced loss.
    /// `denominator` is the mean's divisor (Σ sample weights not ignored).
    private static func run<T: KernelFloat>(_ batch: Batch<T>, denominator: Double,
                                                       extraScratch: Int = 0, _ sample: SampleKernel<T>) {
        let samples = batch.samples, classes = batch.classes, inner = batch.inner
        let reduction = batch.reduction
        let upstream = batch.dloss.map { Double($0[0]) } ?? 1
        // The gradient scale of every sample for mean and sum; `none` takes dloss per sample.
        let sharedScale: Double = switch reduction {
        case .mean: denominator > 0 ? upstream / denominator : 0
        case .sum: upstream
        case .none: 0
        }
        let plan = Threading.plan(rows: samples, rowCost: classes)

        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(1, plan.chunks)) { partials in
            Threading.forEachChunk(plan.chunks) { chunk in
                let first = chunk * plan.rowsPerChunk
                let last = min(samples, first + plan.rowsPerChunk)
                var total: Double = 0
                // Class-strided rows are gathered into scratch (z, then grad) and scattered back.
                let scratchCount = inner == 1 ? 0 : 2 * classes + extraScratch
                withUnsafeTemporaryAllocation(of: T.self, capacity: max(1, scratchCount)) { scratch in
                    let zScratch = scratch.baseAddress!, gScratch = zScratch + classes
                    for row in first..<last {
                        let scale = T(reduction == .none ? (batch.dloss.map { Double($0[row]) } ?? 1) : sharedScale)
                        let z: UnsafePointer<T>, g: UnsafeMutablePointer<T>?
                        let base = (row / inner) * classes * inner + row % inner
                        if inner == 1 {
                            z = batch.logits + row * classes
                            g = batch.grad.map { $0 + row * classes }
                        } else {
                            for j in 0..<classes { zScratch[j] = batch.logits[base + j * inner] }
                            z = UnsafePointer(zScratch)
                            g = batch.grad == nil ? nil : gScratch
                        }
                        let value = sample(z, g, scale, row)
                        if let g {
                            if value == nil { for j in 0..<classes { g[j] = 0 } }
                            if inner != 1, let out = batch.grad {
                                for j in 0..<classes { out[base + j * inner] = g[j] }
                            }
                        }
                        let sampleLoss = value ?? 0
                        if reduction == .none { batch.loss[row] = T(sampleLoss) } else { total += sampleLoss }
                    }
                }
                partials[chunk] = total
            }
            guard reduction != .none else { return }
            var total: Double = 0
            for chunk in 0..<plan.chunks { total += partials[chunk] }
            batch.loss[0] = T(reduction == .mean ? (denominator > 0 ? total / denominator : 0) : total)
        }
    }
}

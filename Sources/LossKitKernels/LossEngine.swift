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
        try evaluate(loss, batch, nanPolicy: nanPolicy, columns: nil as NoColumnKernel?) { _ in false }
    }

    /// As `evaluate`, running class-index samples W at a time through the loss's column kernel where
    /// the layout allows (see `ColumnLayout`) and C < 2^24 (`ColumnKernelLimits.maxClasses`).
    public static func evaluate<L: RowLoss & ColumnKernel, T: KernelFloat>(columns loss: L, _ batch: Batch<T>,
                                                                           nanPolicy: NaNPolicy) throws(LossError) {
        try evaluate(columns: loss, batch, nanPolicy: nanPolicy) { _ in false }
    }

    /// As `evaluate(columns:)`, while the loss is of the softmax-target form with (N, C) rows of many
    /// classes cut into segments (`WideRows`) and rows of a moderate number taken a tile at a time
    /// (`RowTiles`).
    public static func evaluate<L: SoftmaxTargetLoss, T: KernelFloat>(softmax loss: L, _ batch: Batch<T>,
                                                                      nanPolicy: NaNPolicy) throws(LossError) {
        if RowMaxima.applies(loss, batch, nanPolicy: nanPolicy) {
            return try RowMaxima.withBuffer(loss, batch) { (buffer) throws(LossError) in
                try evaluate(loss, batch, nanPolicy: nanPolicy, columns: nil as NoColumnKernel?, rowMaxima: buffer) {
                    RowMaxima.run(loss, batch, $0, rowMaxima: buffer.maxima)
                    return true
                }
            }
        }
        try evaluate(columns: loss, batch, nanPolicy: nanPolicy) { reduction in
            guard loss.isSoftmaxTarget else { return false }
            if WideRows.applies(to: batch) { WideRows.run(loss, batch, reduction); return true }
            if RowTiles.applies(to: batch) { RowTiles.run(loss, batch, reduction); return true }
            return false
        }
    }

    /// As `evaluate(columns:)`, with `classIndexRunner` offered the class-index batches first
    /// (`RowTiles`, `WideRows`): it returns false for those it does not run.
    static func evaluate<L: RowLoss & ColumnKernel, T: KernelFloat>(
        columns loss: L, _ batch: Batch<T>, nanPolicy: NaNPolicy, classIndexRunner: (ReductionScales<T>) -> Bool
    ) throws(LossError) {
        let onColumns = loss.runsOnColumns && batch.classes < ColumnKernelLimits.maxClasses
        try evaluate(loss, batch, nanPolicy: nanPolicy, columns: onColumns ? loss : nil, classIndexRunner: classIndexRunner)
    }

    /// `classIndexRunner` is offered each class-index batch once it is validated, and runs it instead
    /// of the engine's rows and columns when it returns true. Not optional, so not escaping: an
    /// escaping closure's captures were a heap allocation on every call. `rowMaxima` (contiguous rows
    /// only), when given, receives each row's max from the check of nan_policy "error" (`RowMaxima`).
    private static func evaluate<L: RowLoss, K: ColumnKernel, T: KernelFloat>(
        _ loss: L, _ batch: Batch<T>, nanPolicy: NaNPolicy, columns: K?, rowMaxima: RowMaxima.Buffer<T>? = nil,
        classIndexRunner: (ReductionScales<T>) -> Bool
    ) throws(LossError) {
        try loss.check(classes: batch.classes)
        try BatchValidation.checkWeights(batch)
        try BatchValidation.checkDLoss(batch)
        if nanPolicy == .error {
            if let rowMaxima {
                try BatchValidation.checkLogits(batch, rowMaxima: rowMaxima.maxima, bias: rowMaxima.bias)
            } else {
                try BatchValidation.checkLogits(batch)
            }
        }
        let classes = batch.classes, ignoreIndex = batch.ignoreIndex
        switch batch.target {
        case .int32(let target):
            let denominator = try BatchValidation.checkIndices(batch, target)
            if classIndexRunner(ReductionScales(batch, denominator: denominator)) { return }
            run(batch, denominator: denominator, rows: RowAccess(batch), parallel: loss.isThreadSafe,
                columns: columns) { z, g, scale, row, _ in
                let y = Int64(target[row])
                if y == ignoreIndex { return nil }
                return loss.row(z, classes: classes, target: Int(y), weight: batch.weight, grad: g, scale: scale)
            }
        case .int64(let target):
            let denominator = try BatchValidation.checkIndices(batch, target)
            if classIndexRunner(ReductionScales(batch, denominator: denominator)) { return }
            run(batch, denominator: denominator, rows: RowAccess(batch), parallel: loss.isThreadSafe,
                columns: columns) { z, g, scale, row, _ in
                let y = target[row]
                if y == ignoreIndex { return nil }
                return loss.row(z, classes: classes, target: Int(y), weight: batch.weight, grad: g, scale: scale)
            }
        case .probabilities(let q):
            guard loss.acceptsProbabilities else {
                throw LossError(.badProbabilities, "this loss takes class-index targets (int32 or int64), not probabilities")
            }
            try BatchValidation.checkProbabilities(batch, q)
            // Strided target rows are gathered into the scratch space after the logits' and gradient's rows.
            let access = RowAccess(batch, extraScratch: classes), inner = batch.inner
            run(batch, denominator: Double(batch.samples), rows: access, parallel: loss.isThreadSafe,
                columns: nil as NoColumnKernel?) { z, g, scale, row, scratch in
                var qRow = q + row * classes
                if !access.isContiguous {
                    let target = scratch + 2 * classes, base = access.base(row)
                    for j in 0..<classes { target[j] = q[base + j * inner] }
                    qRow = UnsafePointer(target)
                }
                return loss.row(z, classes: classes, probabilities: qRow, weight: batch.weight, grad: g, scale: scale)
            }
        }
    }

    /// One sample: `(logits row, gradient row or nil, gradient scale, sample index, scratch) -> loss`,
    /// or nil for an ignored sample (loss 0, gradient row 0).
    typealias SampleKernel<T> = (UnsafePointer<T>, UnsafeMutablePointer<T>?, T, Int, UnsafeMutablePointer<T>) -> Double?

    /// Runs `sample` over every sample of the batch — or, where `columns` is given and the layout
    /// allows, its kernel over W samples at a time (class-index targets only) — and writes the reduced
    /// loss. `denominator` is the mean's divisor (Σ sample weights not ignored).
    private static func run<T: KernelFloat, K: ColumnKernel>(_ batch: Batch<T>, denominator: Double, rows: RowAccess<T>,
                                                             parallel: Bool, columns: K?, _ sample: SampleKernel<T>) {
        let samples = batch.samples, classes = batch.classes
        let reduction = ReductionScales(batch, denominator: denominator)
        let layout = columns == nil ? nil : ColumnLayout(batch, width: T.columnWidth)
        let plan = Threading.plan(rows: samples, rowCost: classes, multipleOf: layout?.width ?? 1)

        let total = Threading.sumOverChunks(plan.chunks, parallel: parallel) { chunk in
            let range = plan.rows(of: chunk, total: samples)
            // The chunk's samples in order; returns the sum of their losses (0 for reduction none,
            // which writes each one), a column tile's by `tileSum`. Local to one call, so the running
            // sum stays in a register.
            @inline(__always) func runRows(_ columnScratch: ColumnLayout<T>.Scratch?) -> Double {
                // The running sum is passed in, not captured: a variable captured by these nested
                // functions was boxed on the heap at every chunk (and lived in memory).
                var total: Double = 0
                @inline(__always) func record(_ row: Int, _ sampleLoss: Double, into total: inout Double) {
                    if reduction.isPerSample { batch.loss[row] = T(sampleLoss) } else { total += sampleLoss }
                }
                @inline(__always) func recordTile(_ row: Int, _ count: Int, _ losses: UnsafePointer<Double>,
                                                  into total: inout Double) {
                    if reduction.isPerSample {
                        for k in 0..<count { batch.loss[row + k] = T(losses[k]) }
                    } else {
                        total += tileSum(losses, count)
                    }
                }
                rows.withScratch { scratch in
                    var row = range.lowerBound
                    while row < range.upperBound {
                        if let layout, let columns, let cs = columnScratch {
                            let count = layout.tile(at: row, end: range.upperBound)
                            if count > 0 {
                                let (z, g, stride) = layout.load(row, count: count, logits: batch.logits,
                                                                 grad: batch.grad, cs)
                                batch.classIndices(from: row, count: count, into: cs.targets)
                                reduction.scales(row, count: count, into: cs.scales)
                                columns.columns(z, g, stride: stride, classes: classes, samples: count,
                                                weight: batch.weight, targets: cs.targets, scales: cs.scales,
                                                losses: cs.losses, work: cs.work, doubles: cs.doubles)
                                layout.store(row, count: count, grad: batch.grad, cs)
                                recordTile(row, count, cs.losses, into: &total)
                                row += count
                                continue
                            }
                        }
                        let tile = rows.tile(at: row, end: range.upperBound)
                        if tile > 0 {  // (N, C, d…): a tile of rows gathered at once
                            let z = rows.gatherTile(row, count: tile, into: scratch)
                            let g = rows.gradientTile(scratch: scratch)
                            for k in 0..<tile {
                                let zk = z + k * classes, gk = g.map { $0 + k * classes }
                                let value = sample(zk, gk, reduction.scale(row + k), row + k, scratch)
                                if value == nil { zeroRow(gk, classes) }
                                record(row + k, value ?? 0, into: &total)
                            }
                            rows.scatterTile(row, count: tile, from: g)
                            row += tile
                            continue
                        }
                        let z = rows.gather(row, into: scratch)
                        let g = rows.gradientRow(row, scratch: scratch)
                        let value = sample(z, g, reduction.scale(row), row, scratch)
                        if value == nil { zeroRow(g, classes) }
                        rows.scatter(row, from: g)
                        record(row, value ?? 0, into: &total)
                        row += 1
                    }
                }
                return total
            }
            return if let layout { layout.withScratch { runRows($0) } } else { runRows(nil) }
        }
        reduction.finish(total: total)
    }

    /// Σ of a column tile's losses (`count` a multiple of 4, as every column width is), in four
    /// running sums over the samples k mod 4, joined as (s0 + s1) + (s2 + s3): a fixed order, so still
    /// independent of the thread count, without the one chain of `count` dependent adds that the
    /// tile's samples in turn made (4% of cross_entropy's time at 8×21×128×128).
    @inline(__always)
    static func tileSum(_ losses: UnsafePointer<Double>, _ count: Int) -> Double {
        var s0: Double = 0, s1: Double = 0, s2: Double = 0, s3: Double = 0
        for k in Swift.stride(from: 0, to: count, by: 4) {
            s0 += losses[k]
            s1 += losses[k + 1]
            s2 += losses[k + 2]
            s3 += losses[k + 3]
        }
        return (s0 + s1) + (s2 + s3)
    }
}

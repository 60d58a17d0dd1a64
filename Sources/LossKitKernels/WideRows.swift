/// A few rows of many classes for the softmax-target losses (`SoftmaxTargetLoss`), cut into segments
/// of `segment` classes, whose work is spread over the threads: the row kernel runs a row on one
/// thread, so one row of 10^6 classes took as long on 2 threads as on 1. Batches of more rows keep
/// the row kernel, their rows spread over the threads (on one thread the segments were 0–7 % slower
/// at 128000 classes, and no faster for logit_adjusted's class bias).
///
///   Phase 1, each segment s of row r (in parallel): m_s = max_j (z_j + b_j), e_j = exp(z_j + b_j - m_s)
///     left in g, σ_s = Σ_j e_j (RowMath's row loops over the segment).
///   Per row, in order: M = max_s m_s, S = Σ_s σ_s·exp(m_s - M), lse = M + log S; the sample's rule
///     (`SoftmaxTargetLoss.sample`) from lse and a_y = z_y + b_y, read before phase 1 (which may write
///     over z); p_y = e_y·exp(m_s(y) - M)/S.
///   Phase 2, each segment (in parallel): g_j = e_j·(scale·pScale·exp(m_s - M)/S), then
///     g_y = scale·(pScale·p_y - targetScale): the row kernel's gradient, one exp per element.
/// Segments depend only on C and every sum runs in a fixed order, so the results do not depend on the
/// thread count. A segment whose every class is masked (-inf) gets g = 0 in phase 1 (its exps are
/// never formed); a NaN reaches S, the loss and the gradient, as in the row kernel.
enum WideRows {
    /// Batches of fewer rows than this, with at least `minClasses` classes, are cut into segments (a
    /// rule on the shape alone, so that the arithmetic never depends on the thread count).
    static let maxRows = 4
    static let minClasses = 1 << 16
    /// Classes per segment: 64 KB of float32 logits; a segment's second read (Σ exp) comes from L2.
    static let segment = 1 << 14

    /// Whether `batch` runs here: 1 to `maxRows - 1` contiguous (N, C) rows of `minClasses` classes or more.
    static func applies<T>(to batch: Batch<T>) -> Bool {
        batch.inner == 1 && (1..<maxRows).contains(batch.samples) && batch.classes >= minClasses
    }

    /// Runs `loss` over a batch of class-index targets that `applies(to:)` (validated by the caller).
    /// With rows enough for every thread, each row's three steps run on one thread, its gradient
    /// still in L2 for phase 2; with fewer, a group of rows (`groupElements` values, or one row) at
    /// a time has each step spread over the threads. The arithmetic is the same either way, and the
    /// loss is summed over rows in order, so the results do not depend on which way ran.
    static func run<L: SoftmaxTargetLoss, T: KernelFloat>(_ loss: L, _ batch: Batch<T>, _ reduction: ReductionScales<T>) {
        let rows = batch.samples, classes = batch.classes
        let perRow = (classes + segment - 1) / segment
        let threads = loss.isThreadSafe ? Threading.available : 1
        ScratchArena.with(of: Int.self, capacity: rows) { targetBuffer in
            ScratchArena.with(of: Double.self, capacity: rows) { lossBuffer in
                let targets = targetBuffer.baseAddress!, losses = lossBuffer.baseAddress!
                batch.classIndices(from: 0, count: rows, into: targets)
                loss.withBias { (bias: UnsafePointer<T>?) in
                    if rows >= 2 * threads {
                        let plan = Threading.plan(rows: rows, rowCost: classes)
                        Threading.forEachChunk(plan.chunks, parallel: loss.isThreadSafe) { chunk in
                            let range = plan.rows(of: chunk, total: rows)
                            withScratch(T.self, rows: 1, perRow: perRow) { scratch in
                                for r in range {
                                    group(loss, batch, reduction, bias: bias, rows: r..<(r + 1), perRow: perRow,
                                          parallel: false, targets: targets, losses: losses, scratch)
                                }
                            }
                        }
                    } else {
                        let groupRows = max(1, min(rows, groupElements / classes))
                        withScratch(T.self, rows: groupRows, perRow: perRow) { scratch in
                            for first in stride(from: 0, to: rows, by: groupRows) {
                                group(loss, batch, reduction, bias: bias, rows: first..<min(rows, first + groupRows),
                                      perRow: perRow, parallel: loss.isThreadSafe, targets: targets, losses: losses, scratch)
                            }
                        }
                    }
                }
                var total: Double = 0
                if !reduction.isPerSample { for r in 0..<rows { total += losses[r] } }
                reduction.finish(total: total)
            }
        }
    }

    /// Rows per group at most (with fewer classes per row), when a group's steps are spread over
    /// the threads: 4 MB of float32 gradient, within L3 for phase 2.
    static let groupElements = 1 << 20

    /// Working space for a group of `rows` rows: per segment its max and Σ exp, per row its max M, its
    /// gradient factor, its target entry and a_y.
    struct Scratch<T: KernelFloat> {
        let segmentMax: UnsafeMutablePointer<T>
        let segmentSum: UnsafeMutablePointer<Double>
        let rowMax: UnsafeMutablePointer<T>
        let rowFactor: UnsafeMutablePointer<Double>
        let targetEntry: UnsafeMutablePointer<Double>
        let targetLogit: UnsafeMutablePointer<Double>
    }

    @inline(__always)
    static func withScratch<T: KernelFloat, R>(_: T.Type, rows: Int, perRow: Int, _ body: (Scratch<T>) -> R) -> R {
        let segments = rows * perRow
        return ScratchArena.with(of: T.self, capacity: segments + rows) { values in
            ScratchArena.with(of: Double.self, capacity: segments + 3 * rows) { doubles in
                let v = values.baseAddress!, d = doubles.baseAddress!
                return body(Scratch(segmentMax: v, segmentSum: d, rowMax: v + segments, rowFactor: d + segments,
                                    targetEntry: d + segments + rows, targetLogit: d + segments + 2 * rows))
            }
        }
    }

    /// The three steps over the rows of one group, each spread over the threads when `parallel`; each
    /// row's weighted loss goes to `losses[r]` (and to the output for reduction none).
    @inline(__always)
    private static func group<L: SoftmaxTargetLoss, T: KernelFloat>(
        _ loss: L, _ batch: Batch<T>, _ reduction: ReductionScales<T>, bias: UnsafePointer<T>?, rows: Range<Int>, perRow: Int,
        parallel: Bool, targets: UnsafeMutablePointer<Int>, losses: UnsafeMutablePointer<Double>, _ scratch: Scratch<T>
    ) {
        let classes = batch.classes, first = rows.lowerBound, segments = rows.count * perRow
        for r in rows where targets[r] >= 0 {  // a_y before phase 1 may write over z
            let y = targets[r]
            scratch.targetLogit[r - first] = Double(batch.logits[r * classes + y]) + (bias.map { Double($0[y]) } ?? 0)
        }
        /// Segment i of the group: its row in the batch, its first class and its length.
        @inline(__always) func place(_ i: Int) -> (row: Int, start: Int, count: Int) {
            let start = (i % perRow) * segment
            return (first + i / perRow, start, min(segment, classes - start))
        }
        let plan = Threading.plan(rows: segments, rowCost: segment)
        Threading.forEachChunk(plan.chunks, parallel: parallel) { chunk in
            for i in plan.rows(of: chunk, total: segments) {
                let (r, start, count) = place(i)
                let g = batch.grad.map { $0 + r * classes + start }
                guard targets[r] >= 0 else {
                    zeroRow(g, count)
                    scratch.segmentMax[i] = -.infinity
                    scratch.segmentSum[i] = 0
                    continue
                }
                let part = VectorRow.logSumExp(batch.logits + r * classes + start, count, bias: bias.map { $0 + start },
                                               storingInto: g)
                if part.max == -.infinity { zeroRow(g, count) }  // no exp was written there
                scratch.segmentMax[i] = part.max
                scratch.segmentSum[i] = part.sum
            }
        }
        for r in rows {
            let k = r - first
            scratch.rowFactor[k] = 0
            losses[r] = combine(loss, r, targets: targets, weight: batch.weight, scale: reduction.scale(r),
                                segmentMax: scratch.segmentMax + k * perRow, segmentSum: scratch.segmentSum + k * perRow,
                                perRow: perRow, targetLogit: scratch.targetLogit[k], grad: batch.grad.map { $0 + r * classes },
                                rowMax: scratch.rowMax + k, factor: scratch.rowFactor + k, targetEntry: scratch.targetEntry + k)
            if reduction.isPerSample { batch.loss[r] = T(losses[r]) }
        }
        guard let grad = batch.grad else { return }
        Threading.forEachChunk(plan.chunks, parallel: parallel) { chunk in
            for i in plan.rows(of: chunk, total: segments) {
                let (r, start, count) = place(i)
                let y = targets[r], k = r - first
                guard y >= 0 else { continue }  // ignored, or every class masked: g is 0
                let shift = Double(scratch.segmentMax[i]) - Double(scratch.rowMax[k])
                T.rowScale(grad + r * classes + start, count, by: T(scratch.rowFactor[k] * Double.exp(shift)))
                if y >= start && y < start + count { grad[r * classes + y] = T(scratch.targetEntry[k]) }
            }
        }
    }

    /// Row r's combine step, from its segments' maxima and sums: its weighted loss, and for phase 2
    /// its max M, gradient factor scale·pScale/S and target entry (its target set to -1 when every
    /// class is masked: g stays 0).
    @inline(__always)
    private static func combine<L: SoftmaxTargetLoss, T: KernelFloat>(
        _ loss: L, _ r: Int, targets: UnsafeMutablePointer<Int>, weight: UnsafePointer<T>?, scale: T,
        segmentMax: UnsafePointer<T>, segmentSum: UnsafePointer<Double>, perRow: Int, targetLogit: Double,
        grad: UnsafeMutablePointer<T>?, rowMax: UnsafeMutablePointer<T>, factor: UnsafeMutablePointer<Double>,
        targetEntry: UnsafeMutablePointer<Double>
    ) -> Double {
        let y = targets[r]
        guard y >= 0 else { return 0 }
        var largest = -T.infinity
        for s in 0..<perRow where segmentMax[s] > largest { largest = segmentMax[s] }
        var sum: Double = 0
        for s in 0..<perRow {
            let m = segmentMax[s], part = segmentSum[s]
            sum += m == -.infinity ? part : part * Double.exp(Double(m) - Double(largest))  // part: 0, or a NaN
        }
        rowMax.pointee = largest
        let lse = OnlineLogSumExp(max: largest, sum: sum)
        return loss.weighted(target: y, weight, scale: scale) { scale in
            guard lse.hasFiniteInput else {
                targets[r] = -1
                return loss.maskedSampleLoss()
            }
            let terms = loss.sample(lse: lse.value, targetLogit: targetLogit,
                                    transformed: loss.sampleTransform(targetLogit - lse.value))
            factor.pointee = Double(scale) * terms.pScale / sum
            if let grad {
                let py = Double(grad[y]) * Double.exp(Double(segmentMax[y / segment]) - Double(largest)) / sum
                targetEntry.pointee = Double(scale) * (terms.pScale * py - terms.targetScale)
            }
            return terms.loss
        }
    }
}

/// The two passes of the Dice loss (see `Dice`) over one chunk of pixels, in vector loops: a pixel
/// at a time for rows of C ≥ 32 contiguous classes, a tile of pixels at a time on columns otherwise
/// ((N, C, d…) batches in place, small-C rows transposed; see `ColumnLayout`).
///
/// Phase 1 writes each pixel's softmax p and adds it to the chunk's class totals. When the gradient
/// is its own buffer (not the logits') and the pixel's gradient sits in place (a contiguous row, an
/// (N, C, d…) tile), p is written there and phase 2 starts from it instead of recomputing it (one
/// exp per element in all, not two). Phase 2, with a_c = offset_c + [c = y]·coefficient_c:
///   dot = Σ_c p_c·a_c = Σ_c p_c·offset_c + p_y·coefficient_y
///   g_c = scale·p_c·(offset_c - dot),   g_y = scale·p_y·(offset_y + coefficient_y - dot)
/// A pixel whose classes are all -inf counts for nothing and gets gradient 0; a NaN reaches the
/// totals (so the loss) and the gradient; an ignored pixel adds nothing and gets 0, even from a NaN.
struct DicePasses<T: KernelFloat> {
    let batch: Batch<T>
    let classes: Int
    let rows: RowAccess<T>
    let layout: ColumnLayout<T>?
    /// The gradient is a buffer of its own: phase 1 may leave p in it.
    let keepsSoftmax: Bool

    /// Per class, a_c's constants (see `Dice`), and the gradient's scale (dloss / Σ w), in space the
    /// caller owns for the call (C values each).
    struct Constants {
        let coefficient: UnsafeMutablePointer<Double>
        let offset: UnsafeMutablePointer<Double>
        /// offset_c in T, for the vector loops.
        let offsetValue: UnsafeMutablePointer<T>
        var scale: Double = 0
        /// False when a NaN or an infinity has reached the constants (a NaN logit): then 0·a_c is NaN,
        /// and the pixels whose gradient is 0 (ignored, or without a prediction) are zeroed explicitly.
        var isFinite = true
    }

    /// Each row's max, from nan_policy "error"'s check (`RowMaxima`), or nil: the softmax finds it.
    let rowMaxima: UnsafePointer<T>?

    init(_ batch: Batch<T>, rowMaxima: UnsafePointer<T>? = nil) {
        self.batch = batch
        self.rowMaxima = rowMaxima
        classes = batch.classes
        rows = RowAccess(batch)
        keepsSoftmax = batch.grad.map { UnsafeRawPointer($0) != UnsafeRawPointer(batch.logits) } ?? false
        // Without a gradient buffer to hold it, phase 1 writes a tile's p to a C × P block: smaller tiles
        // keep that block within 128 KB.
        let maxTile = keepsSoftmax ? ColumnLayout<T>.maxTile : 32768 / batch.classes
        layout = ColumnLayout(batch, width: T.columnWidth, maxTile: maxTile)
    }

    /// Where phase 1 writes a tile's p: in place of the gradient, in the transposed tile itself, or
    /// in a block of its own.
    private var tileKeepsSoftmax: Bool { keepsSoftmax && !(layout?.isTransposed ?? true) }
    private var needsBlock: Bool { !keepsSoftmax && !(layout?.isTransposed ?? true) }

    // MARK: Phase 1

    /// Adds the pixels of `range` to `sums`: [I_c | Σ_i p_ic | Σ_i g_ic], C values each.
    func accumulate(_ range: Range<Int>, into sums: UnsafeMutablePointer<Double>) {
        forEachPiece(of: range, block: needsBlock) { pixel, count, layout, scratch, block in
            accumulateTile(pixel, count: count, layout, scratch, block: block, into: sums)
        } row: { pixel, scratch in
            accumulateRow(pixel, scratch, into: sums)
        }
    }

    @inline(__always)
    private func accumulateRow(_ pixel: Int, _ scratch: UnsafeMutablePointer<T>, into sums: UnsafeMutablePointer<Double>) {
        let y = batch.classIndex(of: pixel)
        guard y >= 0 else { return }
        let z = rows.gather(pixel, into: scratch)
        let keep = keepsSoftmax && rows.isContiguous
        let p = keep ? batch.grad! + pixel * classes : scratch + 2 * classes
        guard softmax(z, into: p, max: rowMaxima?[pixel]) else {
            if keep { zeroRow(p, classes) }  // phase 2 reads p = 0: gradient 0
            return
        }
        T.rowAccumulate(p, classes, into: sums + classes)
        sums[y] += Double(p[y])
        sums[2 * classes + y] += 1
    }

    @inline(__always)
    private func accumulateTile(_ pixel: Int, count: Int, _ layout: ColumnLayout<T>, _ scratch: ColumnLayout<T>.Scratch,
                                block: UnsafeMutablePointer<T>?, into sums: UnsafeMutablePointer<Double>) {
        let (z, g, stride) = layout.load(pixel, count: count, logits: batch.logits, grad: batch.grad, scratch)
        let (p, pStride) = if layout.isTransposed { (scratch.tile, count) }
            else if tileKeepsSoftmax { (g!, stride) } else { (block!, count) }
        tileSoftmax(z, stride: stride, pixel: pixel, count: count, scratch, into: p, stride: pStride)
        for j in 0..<classes { sums[classes + j] += T.rowSum(p + j * pStride, count) }
        let targets = scratch.targets
        for k in 0..<count where targets[k] >= 0 && hasInput(k, scratch) {
            sums[targets[k]] += Double(p[targets[k] * pStride + k])
            sums[2 * classes + targets[k]] += 1
        }
    }

    // MARK: Phase 2

    /// Writes the gradient of the pixels of `range`.
    func gradient(_ range: Range<Int>, _ constants: Constants) {
        guard let grad = batch.grad else { return }
        let finite = constants.isFinite
        let offsets = UnsafePointer(constants.offsetValue)
        forEachPiece(of: range, block: false) { pixel, count, layout, scratch, _ in
            gradientTile(pixel, count: count, layout, scratch, grad: grad, constants, offsets, finite: finite)
        } row: { pixel, scratch in
            gradientRow(pixel, scratch, constants, offsets, finite: finite)
        }
    }

    @inline(__always)
    private func gradientRow(_ pixel: Int, _ scratch: UnsafeMutablePointer<T>, _ constants: Constants,
                             _ offsets: UnsafePointer<T>, finite: Bool) {
        guard let g = rows.gradientRow(pixel, scratch: scratch) else { return }
        defer { rows.scatter(pixel, from: g) }
        let y = batch.classIndex(of: pixel)
        guard y >= 0 else { return zeroRow(g, classes) }
        if !(keepsSoftmax && rows.isContiguous) {
            guard softmax(rows.gather(pixel, into: scratch), into: g, max: rowMaxima?[pixel]) else { return zeroRow(g, classes) }
        } else if !finite && isZero(g, count: classes, stride: 1) {
            return  // no prediction (phase 1 left p = 0): gradient 0, not 0·NaN
        }
        let scale = constants.scale, py = Double(g[y])
        let dot = T.rowDot(g, offsets, classes) + py * constants.coefficient[y]
        T.rowScale(g, classes, by: T(scale), timesDifferenceOf: offsets, minus: T(dot))
        g[y] = T(scale * py * (constants.offset[y] + constants.coefficient[y] - dot))
    }

    @inline(__always)
    private func gradientTile(_ pixel: Int, count: Int, _ layout: ColumnLayout<T>, _ scratch: ColumnLayout<T>.Scratch,
                              grad: UnsafeMutablePointer<T>, _ constants: Constants, _ offsets: UnsafePointer<T>,
                              finite: Bool) {
        let (z, tileGrad, stride) = layout.load(pixel, count: count, logits: batch.logits, grad: grad, scratch)
        let g = tileGrad!
        if tileKeepsSoftmax {
            batch.classIndices(from: pixel, count: count, into: scratch.targets)
        } else {
            tileSoftmax(z, stride: stride, pixel: pixel, count: count, scratch, into: g, stride: stride)
        }
        let targets = scratch.targets, scale = constants.scale
        if !finite {  // pixels without a prediction (p = 0) join the ignored ones, zeroed at the end
            for k in 0..<count where targets[k] >= 0 && isZero(g + k, count: classes, stride: stride) { targets[k] = -1 }
        }
        let dots = scratch.work + 4 * count, py = scratch.doubles + 2 * count
        for k in 0..<count { dots[k] = 0 }
        for j in 0..<classes { T.rowAddScaled(g + j * stride, count, by: offsets[j], into: dots) }
        for k in 0..<count where targets[k] >= 0 {
            py[k] = Double(g[targets[k] * stride + k])
            dots[k] = T(Double(dots[k]) + py[k] * constants.coefficient[targets[k]])
        }
        // g_jk = -scale·p_jk·(dot_k - offset_j)
        for j in 0..<classes { T.rowScale(g + j * stride, count, by: T(-scale), timesDifferenceOf: dots, minus: offsets[j]) }
        for k in 0..<count where targets[k] >= 0 {
            let y = targets[k]
            g[y * stride + k] = T(scale * py[k] * (constants.offset[y] + constants.coefficient[y] - Double(dots[k])))
        }
        if !finite {
            for k in 0..<count where targets[k] < 0 {
                for j in 0..<classes { g[j * stride + k] = 0 }
            }
        }
        layout.store(pixel, count: count, grad: grad, scratch)
    }

    // MARK: The softmax

    /// p = softmax(z) of one row into `p` (which may be z); false, p untouched, when every class is -inf.
    /// `knownMax`: the row's max, when the check found it.
    @inline(__always)
    private func softmax(_ z: UnsafePointer<T>, into p: UnsafeMutablePointer<T>, max knownMax: T?) -> Bool {
        let lse = VectorRow.logSumExp(z, classes, bias: nil, max: knownMax ?? T.rowMax(z, bias: nil, classes), storingInto: p)
        guard lse.hasFiniteInput else { return false }
        if lse.max > -.infinity {
            VectorRow.finishSoftmax(p, classes, lse, scale: 1)
        } else {  // -inf and NaN only: nothing was stored, and the NaN makes every p NaN
            for j in 0..<classes { p[j] = .nan }
        }
        return true
    }

    /// The softmax of a tile's `count` pixels from `pixel` into p (class j at + j·pStride), 0 for the
    /// ignored pixels and the all -inf ones; also fills the tile's targets (-1: ignored), max and sum
    /// (scratch.work[0..<P], scratch.doubles[0..<P]: what `hasInput` reads).
    @inline(__always)
    private func tileSoftmax(_ z: UnsafePointer<T>, stride: Int, pixel: Int, count: Int, _ scratch: ColumnLayout<T>.Scratch,
                             into p: UnsafeMutablePointer<T>, stride pStride: Int) {
        let targets = scratch.targets, max = scratch.work, factor = scratch.work + 3 * count
        let sum = scratch.doubles
        batch.classIndices(from: pixel, count: count, into: targets)
        T.columnSoftmax(z, stride: stride, classes: classes, samples: count, bias: nil, storingInto: p, outStride: pStride,
                        max: max, sum: sum, logSum: scratch.doubles + count, scratch: scratch.work + count)
        for k in 0..<count { factor[k] = targets[k] >= 0 && hasInput(k, scratch) ? T(1 / sum[k]) : 0 }
        T.columnScale(p, stride: pStride, classes: classes, samples: count, by: UnsafePointer(factor))
        for k in 0..<count where targets[k] < 0 && sum[k].isNaN {  // 0·NaN: an ignored pixel's p is 0
            for j in 0..<classes { p[j * pStride + k] = 0 }
        }
    }

    /// Whether the `count` values p[j·stride] are all 0.
    @inline(__always)
    private func isZero(_ p: UnsafePointer<T>, count: Int, stride: Int) -> Bool {
        for j in 0..<count where p[j * stride] != 0 { return false }
        return true
    }

    /// Whether the tile's pixel k has a prediction: a class above -inf, or a NaN (after `tileSoftmax`).
    @inline(__always)
    private func hasInput(_ k: Int, _ scratch: ColumnLayout<T>.Scratch) -> Bool {
        OnlineLogSumExp(max: scratch.work[k], sum: scratch.doubles[k]).hasFiniteInput
    }

    /// The pixels of `range` in order: a column tile where one fits (`tile(pixel, count, layout,
    /// scratch, block)`), else one pixel as a row (`row(pixel, row scratch)`).
    @inline(__always)
    private func forEachPiece(of range: Range<Int>, block needsBlock: Bool,
                              tile: (Int, Int, ColumnLayout<T>, ColumnLayout<T>.Scratch, UnsafeMutablePointer<T>?) -> Void,
                              row: (Int, UnsafeMutablePointer<T>) -> Void) {
        withScratch(block: needsBlock) { rowScratch, tileScratch, block in
            var pixel = range.lowerBound
            while pixel < range.upperBound {
                if let layout, let tileScratch {
                    let count = layout.tile(at: pixel, end: range.upperBound)
                    if count > 0 {
                        tile(pixel, count, layout, tileScratch, block)
                        pixel += count
                        continue
                    }
                }
                row(pixel, rowScratch)
                pixel += 1
            }
        }
    }

    /// Row scratch [gathered logits | gradient | p] (3·C values), the tile buffers when there are tiles,
    /// and when `block` is true a C × P block for phase 1's p.
    @inline(__always)
    private func withScratch(block: Bool,
                             _ body: (UnsafeMutablePointer<T>, ColumnLayout<T>.Scratch?, UnsafeMutablePointer<T>?) -> Void) {
        ScratchArena.with(of: T.self, capacity: 3 * classes) { rowScratch in
            guard let layout else { return body(rowScratch.baseAddress!, nil, nil) }
            layout.withScratch { tileScratch in
                ScratchArena.with(of: T.self, capacity: block ? classes * layout.maxSamples : 1) { values in
                    body(rowScratch.baseAddress!, tileScratch, block ? values.baseAddress! : nil)
                }
            }
        }
    }
}

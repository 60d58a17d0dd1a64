/// Soft Dice loss over the softmax, for segmentation batches (N, C, d1..dk). Not a sum of per-sample
/// terms: every pixel's gradient depends on class totals over the whole batch, so it has its own
/// two-phase evaluator instead of a `RowLoss`.
public struct Dice: BatchEvaluator {
    /// s: added to numerator and denominator of each class's Dice score.
    public var smooth: Double
    /// Leave classes absent from the target out of the mean (as segmentation_models_pytorch does).
    public var skipAbsent: Bool

    public init(smooth: Double = 1, skipAbsent: Bool = false) {
        self.smooth = smooth
        self.skipAbsent = skipAbsent
    }

    public static let parameters = [
        ParameterSpec("smooth", .number(default: 1, range: .nonNegative), "s: smoothing of each class's Dice score"),
        ParameterSpec("skip_absent", .integer(default: 0, allowed: [0, 1]),
                      "1: leave classes absent from the target out of the mean"),
    ]

    public init(parameters: ParameterValues) {
        self.init(smooth: parameters[number: "smooth"], skipAbsent: parameters[number: "skip_absent"] != 0)
    }

    public func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        switch batch {
        case .float32(let b): try evaluate(b, nanPolicy: context.nanPolicy)
        case .float64(let b): try evaluate(b, nanPolicy: context.nanPolicy)
        }
    }

    // Over all pixels i not ignored, with p_ic = softmax over classes and g_ic = [y_i = c]:
    //   I_c = Σ_i p_ic·g_ic,   S_c = Σ_i p_ic + Σ_i g_ic,   D_c = (2·I_c + s)/(S_c + s)
    //   L = 1 - Σ_{c counted} w_c·D_c / Σ_{c counted} w_c       (w = class weights, 1 by default)
    //   a_ic = ∂L/∂p_ic = -(w_c/W)·(2·g_ic/(S_c + s) - (2·I_c + s)/(S_c + s)²)
    //   ∂L/∂z_ik = p_ik·(a_ik - Σ_c p_ic·a_ic)          (the softmax's Jacobian)
    // Phase 1 (`DicePasses.accumulate`) sums I, Σp, Σg per chunk; phase 2 (`DicePasses.gradient`)
    // writes the gradient. Ignored pixels: no term, gradient 0.
    private func evaluate<T: KernelFloat>(_ batch: Batch<T>, nanPolicy: NaNPolicy) throws(LossError) {
        guard batch.reduction == .mean else {
            throw LossError(.badReduction, "loss 'dice' is one number per batch; expected reduction mean")
        }
        try BatchValidation.checkWeights(batch)
        try BatchValidation.checkDLoss(batch)
        // Rows of many classes take their maxima from nan_policy "error"'s check (`RowMaxima`), and
        // phase 1's softmax skips its max pass.
        guard RowMaxima.applies(rowsOf: batch, nanPolicy: nanPolicy) else {
            if nanPolicy == .error { try BatchValidation.checkLogits(batch) }
            return try evaluate(batch, rowMaxima: nil)
        }
        try ScratchArena.with(of: T.self, capacity: batch.samples) { (maxima) throws(LossError) in
            try BatchValidation.checkLogits(batch, rowMaxima: maxima.baseAddress!, bias: nil)
            try evaluate(batch, rowMaxima: maxima.baseAddress!)
        }
    }

    /// The two phases, over a batch whose logits are checked (when nan_policy asks), with each row's
    /// max when `rowMaxima` is given.
    private func evaluate<T: KernelFloat>(_ batch: Batch<T>, rowMaxima: UnsafePointer<T>?) throws(LossError) {
        switch batch.target {
        case .int32(let t): _ = try BatchValidation.checkIndices(batch, t)
        case .int64(let t): _ = try BatchValidation.checkIndices(batch, t)
        case .probabilities:
            throw LossError(.badProbabilities, "loss 'dice' takes class-index targets (int32 or int64), not probabilities")
        }
        let classes = batch.classes, pixels = batch.samples
        guard pixels > 0 else {  // an empty batch: loss 0, and no per-class work for a huge C
            batch.loss[0] = 0
            return
        }
        let passes = DicePasses(batch, rowMaxima: rowMaxima)
        // Few enough chunks that their per-class partial sums stay within ~8 MB whatever C is.
        let plan = Threading.plan(rows: pixels, rowCost: classes, maxChunks: max(1, (1 << 20) / (3 * classes)),
                                  multipleOf: passes.layout?.width ?? 1)

        // Per class: [I_c | Σ_i p_ic | Σ_i g_ic] of every chunk, then a_c's constants (pointers, not
        // arrays: at C = 128000 the arrays' uniqueness checks and zero-fills were a third of the call).
        let stats = 3 * classes
        ScratchArena.with(of: Double.self, capacity: plan.chunks * stats + 2 * classes) { space in
            ScratchArena.with(of: T.self, capacity: classes) { offsetValue in
                let partials = space.baseAddress!
                // Phase 1: per-chunk class totals, added in chunk order (deterministic for any thread count).
                Threading.forEachChunk(plan.chunks) { chunk in
                    let sums = partials + chunk * stats
                    for k in 0..<stats { sums[k] = 0 }
                    passes.accumulate(plan.rows(of: chunk, total: pixels), into: sums)
                }
                let totals = partials  // chunk 0's sums, the others added to them in order
                for chunk in 1..<max(1, plan.chunks) {
                    let sums = partials + chunk * stats
                    for k in 0..<stats { totals[k] += sums[k] }
                }
                let coefficient = partials + plan.chunks * stats
                var constants = DicePasses<T>.Constants(coefficient: coefficient, offset: coefficient + classes,
                                                        offsetValue: offsetValue.baseAddress!)
                let loss = lossAndConstants(totals, classes: classes, weight: batch.weight,
                                            upstream: batch.dloss.map { Double($0[0]) } ?? 1, into: &constants)

                // Phase 2: the gradient (0 everywhere when nothing is counted or dloss is 0).
                if let grad = batch.grad {
                    if constants.scale == 0 {
                        for k in 0..<pixels * classes { grad[k] = 0 }
                    } else {
                        Threading.forEachChunk(plan.chunks) { chunk in
                            passes.gradient(plan.rows(of: chunk, total: pixels), constants)
                        }
                    }
                }
                batch.loss[0] = T(loss)
            }
        }
    }

    /// The loss from the class totals [I | Σp | Σg], and per class the constants of
    /// a_ic = coefficient_c·g_ic + offset_c and the gradient's scale dloss / Σ w (0 when nothing counts).
    private func lossAndConstants<T: KernelFloat>(_ totals: UnsafePointer<Double>, classes: Int, weight: UnsafePointer<T>?,
                                                  upstream: Double, into constants: inout DicePasses<T>.Constants) -> Double {
        var weightTotal: Double = 0, weightedDice: Double = 0
        var finite = true
        for c in 0..<classes {
            let targetMass = totals[2 * classes + c]
            var coefficient: Double = 0, offset: Double = 0
            if !(skipAbsent && targetMass == 0) {
                let w = weight.map { Double($0[c]) } ?? 1
                let denominator = totals[classes + c] + targetMass + smooth
                let numerator = 2 * totals[c] + smooth
                weightTotal += w
                weightedDice += w * (denominator == 0 ? 1 : numerator / denominator)
                coefficient = denominator == 0 ? 0 : -w * 2 / denominator
                offset = denominator == 0 ? 0 : w * numerator / (denominator * denominator)
            }
            finite = finite && coefficient.isFinite && offset.isFinite
            constants.coefficient[c] = coefficient
            constants.offset[c] = offset
            constants.offsetValue[c] = T(offset)
        }
        constants.scale = weightTotal > 0 ? upstream / weightTotal : 0
        constants.isFinite = finite && constants.scale.isFinite
        return weightTotal > 0 ? 1 - weightedDice / weightTotal : 0
    }
}

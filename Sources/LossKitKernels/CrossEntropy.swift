/// Softmax cross-entropy with PyTorch's `F.cross_entropy` semantics: class weights, label smoothing,
/// probability targets, plus PaLM's z-loss.
public struct CrossEntropy: SoftmaxTargetLoss {
    /// ε: the target becomes (1-ε)·target + ε/C.
    public var labelSmoothing: Double
    /// λ: adds λ·lse² per sample.
    public var zLoss: Double

    public init(labelSmoothing: Double = 0, zLoss: Double = 0) {
        self.labelSmoothing = labelSmoothing
        self.zLoss = zLoss
    }

    public static let parameters = [
        ParameterSpec("label_smoothing", .number(default: 0, range: .unitInterval),
                      "ε: the target becomes (1-ε)·target + ε/C"),
        ParameterSpec("z_loss", .number(default: 0, range: .nonNegative),
                      "λ: adds λ·lse² per sample (PaLM's z-loss)"),
    ]

    public init(parameters: ParameterValues) {
        self.init(labelSmoothing: parameters[number: "label_smoothing"], zLoss: parameters[number: "z_loss"])
    }

    public var acceptsProbabilities: Bool { true }

    // One sample, written for an effective target vector t (a = the sample's weight):
    //   class index y:   t_j = (1-ε)·w_y·[j = y] + (ε/C)·w_j,        a = w_y
    //   probabilities q: t_j = w_j·((1-ε)·q_j + ε/C),                a = 1
    //   m = max_j z_j,  lse = m + log Σ_j exp(z_j - m),  A = Σ_j t_j,  p_j = exp(z_j - lse)
    //   L = Σ_j t_j·(lse - z_j) + λ·a·lse²  = A·lse - Σ_j t_j·z_j + λ·a·lse²
    //   ∂L/∂z_j = (A + 2λ·a·lse)·p_j - t_j
    // A and Σ t_j·z_j come from z_y alone for a hard target, else from a sweep of the row before
    // anything is written (terms with t_j = 0 skipped, so a masked class z_j = -inf costs nothing
    // unless it is targeted). Pass 1 reads z for m; pass 2 reads z again, sums e_j = exp(z_j - m) and
    // leaves e_j in g; pass 3 scales g in place (in cache) to scale·(A + 2λ·a·lse)·e_j/Σe, then
    // subtracts scale·t_j where t_j ≠ 0. One exp per element, two reads of the logits.

    // Without label smoothing a class-index target is of the softmax-target form (SoftmaxTargetLoss):
    //   L = lse - z_y + λ·lse²,   ∂L/∂z_j = (1 + 2λ·lse)·p_j - [j = y],   times w_y.
    public var isSoftmaxTarget: Bool { labelSmoothing == 0 }

    public func sample(lse: Double, targetLogit: Double, transformed _: Double) -> SoftmaxSample {
        SoftmaxSample(loss: lse - targetLogit + zLoss * lse * lse, pScale: 1 + 2 * zLoss * lse, targetScale: 1)
    }

    public func maskedSampleLoss() -> Double { .infinity }

    /// The column kernel, fused in vector lanes (RowMath.columnCrossEntropy) rather than the generic
    /// per-sample rule.
    public func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                        samples: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                        scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                        work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {
        let weights = work  // the targets' class weights; the kernel's working space follows
        if let weight {
            for k in 0..<samples { weights[k] = targets[k] < 0 ? 0 : weight[targets[k]] }
        } else {  // a select per sample, no branch on the optional (a tenth of the engine's time here)
            for k in 0..<samples { weights[k] = targets[k] < 0 ? 0 : 1 }
        }
        T.columnCrossEntropy(z, stride: stride, classes: classes, samples: samples, targets: targets, weights: weights,
                             scales: scales, zLoss: T(zLoss), into: g, losses: losses, scratch: work + samples)
    }

    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int, weight: UnsafePointer<T>?,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        if isSoftmaxTarget { return weightedRow(z, classes: classes, target: y, weight: weight, grad: grad, scale: scale) }
        let smoothing = labelSmoothing
        let wy = weight.map { Double($0[y]) } ?? 1
        let onTarget = (1 - smoothing) * wy              // the part of t_y from the hard target
        let uniform = smoothing / Double(classes)        // t_j = uniform·w_j elsewhere
        return fused(z, classes: classes, sampleWeight: wy, grad: grad, scale: scale,
                     hardTarget: uniform == 0 ? y : nil,
                     targetMass: { j in
                         let spread = uniform == 0 ? 0 : uniform * (weight.map { Double($0[j]) } ?? 1)
                         return j == y ? onTarget + spread : spread
                     })
    }

    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, probabilities q: UnsafePointer<T>,
                                    weight: UnsafePointer<T>?, grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let smoothing = labelSmoothing
        let uniform = smoothing / Double(classes)
        return fused(z, classes: classes, sampleWeight: 1, grad: grad, scale: scale, hardTarget: nil,
                     targetMass: { j in
                         let mass = (1 - smoothing) * Double(q[j]) + uniform
                         return weight.map { Double($0[j]) * mass } ?? mass
                     })
    }

    /// `hardTarget`: the one class with t_j ≠ 0, when there is only one.
    @inline(__always)
    private func fused<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, sampleWeight a: Double,
                                       grad: UnsafeMutablePointer<T>?, scale: T, hardTarget: Int?,
                                       targetMass t: (Int) -> Double) -> Double {
        // A = Σ t_j and Σ t_j·z_j, before a gradient written in place overwrites z.
        var targetTotal: Double = 0
        var targetDot: Double = 0
        if let y = hardTarget {
            targetTotal = t(y)
            if targetTotal != 0 { targetDot = targetTotal * Double(z[y]) }
        } else {
            for j in 0..<classes {
                let tj = t(j)
                if tj != 0 {
                    targetTotal += tj
                    targetDot += tj * Double(z[j])
                }
            }
        }
        // Passes 1 and 2: m, Σ exp(z - m), and exp(z - m) left in the gradient.
        let lseAccumulator = VectorRow.logSumExp(z, classes, storingInto: grad)
        guard lseAccumulator.hasFiniteInput else {
            // Every class is masked: nothing can be predicted, nothing can be learned.
            zeroRow(grad, classes)
            return targetTotal > 0 ? .infinity : 0
        }
        let lse = lseAccumulator.value
        let loss = targetTotal * lse - targetDot + zLoss * a * lse * lse

        // Pass 3: g_j = scale·((A + 2λ·a·lse)·p_j - t_j).
        if let grad {
            let pScale = (targetTotal + 2 * zLoss * a * lse) * Double(scale)
            if let y = hardTarget {
                let py = Double(grad[y]) / lseAccumulator.sum
                VectorRow.finishSoftmax(grad, classes, lseAccumulator, scale: pScale)
                grad[y] = T(pScale * py - Double(scale) * targetTotal)
            } else {
                VectorRow.finishSoftmax(grad, classes, lseAccumulator, scale: pScale)
                for j in 0..<classes {
                    let tj = t(j)
                    if tj != 0 { grad[j] = T(Double(grad[j]) - Double(scale) * tj) }
                }
            }
        }
        return loss
    }
}

/// Squentropy (seed 001, Hui, Belkin & Wright): cross-entropy plus the mean square of the wrong-class
/// logits, with no hyper-parameter.
public struct Squentropy: ClassIndexLoss {
    public init() {}

    // L = lse - z_y + (1/(C-1))·Σ_{j≠y} z_j²
    // ∂L/∂z_j = p_j - [j = y] + (2/(C-1))·z_j·[j ≠ y]
    // Masked classes (z_j = -inf) are left out of the square term (p_j = 0 there, gradient 0); with
    // C = 1 there is no wrong class and the square term is 0.
    // Reads of z: Σ z_j² over the unmasked j ≠ y; the max; Σ exp(z - max), leaving e = exp(z - max) in
    // g when g is its own buffer; then g_j = (scale/Σe)·e_j + scale·(2/(C-1))·z_j from the stored e
    // and z (one exp per element), or, when g is z itself, recomputing e from z as g is written (two,
    // the same arithmetic: in place gives the same bits). g_y is set last.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let squares = sumOfSquares(z, classes, except: y)
        let zy = z[y]  // after a pass has brought the row into cache (see SoftmaxTargetLoss.row)
        let storesExp = hasOwnBuffer(grad, apartFrom: z)
        let lse = VectorRow.logSumExp(z, classes, storingInto: storesExp ? grad : nil)
        return finishRow(z, lse, logSum: Double.log(lse.sum), squares: squares, targetLogit: zy,
                         targetProbability: { $0(zy) }, storesExp: storesExp, target: y, classes: classes,
                         grad: grad, scale: scale)
    }

    /// The row kernel once Σ z_j² and Σ exp are known (the exps left in g when `storesExp`): the loss,
    /// and g from them, with g_y = scale·(p_y - 1) from `targetProbability(softmax)`. The row kernel
    /// takes the log from libm and p_y as `Softmax` computes it; `RowTiles` a tile's at once in vector
    /// lanes.
    @inline(__always)
    func finishRow<T: KernelFloat>(_ z: UnsafePointer<T>, _ lse: OnlineLogSumExp<T>, logSum: Double, squares: Double,
                                   targetLogit zy: T, targetProbability: (Softmax<T>) -> T, storesExp: Bool,
                                   target y: Int, classes: Int, grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return .infinity }
        let squareWeight = classes > 1 ? 1 / Double(classes - 1) : 0
        if let grad {
            let softmax = Softmax(max: lse.max, logSum: T(logSum)), linear = scale * T(2 * squareWeight)
            let expScale = T(Double(scale) / lse.sum)
            if lse.max == -.infinity {  // NaN and -inf only (nothing was stored): NaN everywhere
                VectorRow.writeSoftmax(z, classes, softmax, scale: scale, linear: linear, into: grad)
            } else if storesExp {
                T.rowScale(grad, classes, by: expScale, adding: z, times: linear)
            } else {
                VectorRow.writeSoftmax(z, classes, Softmax(max: lse.max, logSum: 0), scale: expScale, linear: linear, into: grad)
            }
            grad[y] = scale * (targetProbability(softmax) - 1)
        }
        return Double(lse.max) + logSum - Double(zy) + squareWeight * squares
    }
}

/// Squentropy on columns (see `ColumnKernel`), every pass in vector lanes: the squares (read 1), the
/// max and Σ exp (reads 2-3), then g = s·w·(p + (2/(C-1))·z) recomputing p from z (read 4, so g may
/// be z), and each target's entry fixed up sample by sample, s·w·(p_y - 1) in Double. (Leaving the
/// exps in g at read 3 instead, when g is not z, saved nothing here: the passes wait on memory.)
/// A sample whose classes are all -inf: L = w·inf, g = 0. w = 0 (ignored, or a zero class weight):
/// L = 0, g = 0 (also when the sample's logits hold a NaN).
extension Squentropy: ColumnKernel {
    public var runsOnColumns: Bool { true }

    public func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                        samples n: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                        scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                        work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {
        let max = work, softmaxScratch = work + n, targetClass = work + 3 * n, logSumValue = work + 4 * n
        let pScale = work + 5 * n, linear = work + 6 * n, targetLogit = work + 7 * n
        let sum = doubles, logSum = doubles + n, squares = doubles + 2 * n
        ColumnSteps.targetClasses(samples: n, targets: targets, into: targetClass)
        T.columnSquares(z, stride: stride, classes: classes, samples: n, targets: targetClass, into: squares)
        ColumnSteps.targetLogits(z, stride: stride, samples: n, targets: targets, into: targetLogit)
        T.columnSoftmax(z, stride: stride, classes: classes, samples: n, bias: nil, storingInto: nil, outStride: stride,
                        max: max, sum: sum, logSum: logSum, scratch: softmaxScratch)
        let squareWeight = classes > 1 ? 1 / Double(classes - 1) : 0
        for k in 0..<n {
            pScale[k] = 0
            linear[k] = 0
            logSumValue[k] = T(logSum[k])
            let y = targets[k]
            let w = y >= 0 ? (weight.map { Double($0[y]) } ?? 1) : 0
            if !OnlineLogSumExp(max: max[k], sum: sum[k]).hasFiniteInput {  // every class -inf: shifted by 0, so p = 0
                losses[k] = weightedLoss(.infinity, w)
                max[k] = 0
                logSumValue[k] = 0
                continue
            }
            losses[k] = weightedLoss(Double(max[k]) + logSum[k] - Double(targetLogit[k]) + squareWeight * squares[k], w)
            let scale = Double(scales[k]) * w
            pScale[k] = T(scale)
            linear[k] = T(scale * 2 * squareWeight)
        }
        guard let g else { return }
        T.columnWriteSoftmax(z, stride: stride, classes: classes, samples: n, max: max, logSum: logSumValue, scale: pScale,
                             linear: linear, into: g)
        // Every p_y for the tile in vector lanes (a libm call per sample was 7 % of the kernel).
        let targetP = doubles + 3 * n
        for k in 0..<n { targetP[k] = (Double(targetLogit[k]) - Double(max[k])) - logSum[k] }
        SIMDDispatch.rowMath.exp(targetP, n, into: targetP)
        for k in 0..<n {
            let y = targets[k]
            if pScale[k] != 0 {
                let py = targetP[k]
                g[y * stride + k] = T(Double(pScale[k]) * (py - 1))
            } else if y < 0 || weight?[y] == 0 {  // a sample that does not count: 0, even from a NaN row
                for j in 0..<classes { g[j * stride + k] = 0 }
            }
        }
    }
}

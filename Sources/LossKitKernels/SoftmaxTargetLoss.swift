#if canImport(Glibc)
import Glibc
#endif

/// One sample's share of a softmax-family loss: its loss and the two coefficients of its gradient,
/// ∂L/∂z_j = pScale·p_j - targetScale·[j = y].
public struct SoftmaxSample {
    public var loss: Double
    public var pScale: Double
    public var targetScale: Double

    public init(loss: Double, pScale: Double, targetScale: Double) {
        self.loss = loss
        self.pScale = pScale
        self.targetScale = targetScale
    }
}

/// A loss of a class-index target that sees the logits only through lse = log Σ_j exp(z_j + b_j) and
/// the target's a_y = z_y + b_y (b: an optional per-class bias, 0 for most), weighted by the target's
/// class weight w_y. Its gradient is then pScale·p - targetScale·onehot(y), with p = softmax(z + b),
/// so one kernel serves every such loss, on rows and on columns: a conformer writes only `sample`.
///
/// The row kernel reads z twice (the max; Σ exp, leaving exp(z + b - max) in the gradient) and
/// scales the gradient in place. The column kernel does the same for W samples at once, one per lane,
/// where the batch's layout puts consecutive samples of a class side by side ((N, C, d…) batches), or
/// for small C after a transpose (see LossEngine).
public protocol SoftmaxTargetLoss: ClassIndexLoss, ColumnKernel {
    /// The unweighted loss and gradient coefficients of a sample, from lse, a_y and `transformed` =
    /// `sampleTransform` applied to a_y - lse (0 for `.none`). A masked target (a_y = -inf) gives
    /// lse - a_y = +inf.
    func sample(lse: Double, targetLogit: Double, transformed: Double) -> SoftmaxSample

    /// The transcendental of a_y - lse = -nll that `sample` takes (e^-nll = p_y, or e^-nll - 1), or
    /// `.none`. The row kernel takes it from libm; the column kernel computes it for a whole tile in
    /// vector lanes instead of a libm call per sample.
    var sampleTransform: SampleTransform { get }

    /// The unweighted loss of a sample whose every class is masked (-inf); its gradient is 0.
    func maskedSampleLoss() -> Double

    /// Runs `body` with b in the batch's type, or nil when the loss has no bias.
    func withBias<T: KernelFloat, R>(_ body: (UnsafePointer<T>?) -> R) -> R

    /// False when this configuration is not of the softmax-target form (the engine then runs `row`).
    var isSoftmaxTarget: Bool { get }
}

/// See `SoftmaxTargetLoss.sampleTransform`.
public enum SampleTransform: Sendable {
    case none, exp, expm1

    /// The transform of one value, by libm (the row kernels'; 0 for `.none`).
    @inline(__always)
    func callAsFunction(_ x: Double) -> Double {
        switch self {
        case .none: 0
        case .exp: Double.exp(x)
        case .expm1: Glibc.expm1(x)
        }
    }

    /// out[k] = e^x[k] or e^x[k] - 1 for k < n, in vector lanes (`RowMath.exp`, `RowMath.expm1`).
    @inline(__always)
    func apply(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>) {
        switch self {
        case .none: break
        case .exp: SIMDDispatch.rowMath.exp(x, n, into: out)
        case .expm1: SIMDDispatch.rowMath.expm1(x, n, into: out)
        }
    }
}

extension SoftmaxTargetLoss {
    public var sampleTransform: SampleTransform { .none }

    public func withBias<T: KernelFloat, R>(_ body: (UnsafePointer<T>?) -> R) -> R { body(nil) }
    public var isSoftmaxTarget: Bool { true }
    public var runsOnColumns: Bool { isSoftmaxTarget }

    /// The unweighted row kernel of `ClassIndexLoss` (the host applies w_y through `scale`).
    @inline(__always)
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        row(z, classes: classes, target: y, grad: grad, scale: scale, max: nil)
    }

    /// The row kernel, its first pass skipped when `knownMax` (of z + b) is given (`RowMaxima`).
    @inline(__always)
    func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int, grad: UnsafeMutablePointer<T>?,
                             scale: T, max knownMax: T?) -> Double {
        withBias { (bias: UnsafePointer<T>?) in
            let (lse, targetLogit) = VectorRow.softmaxPasses(z, classes, target: y, bias: bias, max: knownMax, storingInto: grad)
            return finishRow(lse, logSum: Double.log(lse.sum), targetLogit: targetLogit, transformed: { sampleTransform($0) },
                             target: y, classes: classes, grad: grad, scale: scale)
        }
    }

    /// The row kernel once Σ exp is known, its exps left in g: a row with no finite value gets g = 0
    /// and the masked loss; any other the sample's rule from lse = max + logSum and
    /// `transformed(a_y - lse)`, then pass 3, in cache: g = scale·(pScale·p - targetScale·onehot(y)).
    /// Returns the unweighted loss. The row kernel takes the log and the transform from libm,
    /// `RowTiles` a tile's at once in vector lanes.
    @inline(__always)
    func finishRow<T: KernelFloat>(_ lse: OnlineLogSumExp<T>, logSum: Double, targetLogit: Double,
                                   transformed: (Double) -> Double, target y: Int, classes: Int,
                                   grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        guard lse.hasFiniteInput else {
            zeroRow(grad, classes)
            return maskedSampleLoss()
        }
        let value = Double(lse.max) + logSum
        let terms = sample(lse: value, targetLogit: targetLogit, transformed: transformed(targetLogit - value))
        if let grad {
            let py = Double(grad[y]) / lse.sum
            VectorRow.finishSoftmax(grad, classes, lse, scale: Double(scale) * terms.pScale)
            grad[y] = T(Double(scale) * (terms.pScale * py - terms.targetScale))
        }
        return terms.loss
    }

    /// The column kernel (see `ColumnKernel`): the softmax statistics in vector lanes
    /// (RowMath.columnSoftmax), the per-sample rule `sample` sample by sample, the gradient scaled in
    /// vector lanes (RowMath.columnScale), the targets' entries fixed up sample by sample.
    @inline(__always)
    public func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                        samples: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                        scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                        work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {
        let n = samples
        let max = work, factor = work + n, softmaxScratch = work + 2 * n
        let sum = doubles, logSum = doubles + n, targetLogit = doubles + 2 * n, targetEntry = doubles + 3 * n
        // The transform of sample k is read just before targetEntry[k] is written, so they share a buffer.
        let transformed = targetEntry
        withBias { (bias: UnsafePointer<T>?) in
            // Every sample's a_y: after the softmax pass has brought the tile into cache (see
            // ColumnSteps.targetLogits), unless that pass overwrites z (g is z: in place, or a
            // transposed tile, which is in cache already).
            @inline(__always) func gatherTargetLogits() {
                for k in 0..<n where targets[k] >= 0 {
                    targetLogit[k] = Double(z[targets[k] * stride + k]) + (bias.map { Double($0[targets[k]]) } ?? 0)
                }
            }
            let overwritesLogits = g.map { UnsafePointer($0) == z } ?? false
            if overwritesLogits { gatherTargetLogits() }
            T.columnSoftmax(z, stride: stride, classes: classes, samples: n, bias: bias, storingInto: g, outStride: stride,
                            max: max, sum: sum, logSum: logSum, scratch: softmaxScratch)
            if !overwritesLogits { gatherTargetLogits() }
            let transform = sampleTransform
            if transform != .none {  // a_y - lse of every sample (0 for an ignored one), then the tile's transform
                for k in 0..<n { transformed[k] = targets[k] < 0 ? 0 : targetLogit[k] - (Double(max[k]) + logSum[k]) }
                transform.apply(transformed, n, into: transformed)
            }
            // A sample whose classes are all masked: loss as the loss says, gradient 0.
            @inline(__always) func isMasked(_ k: Int) -> Bool { !OnlineLogSumExp(max: max[k], sum: sum[k]).hasFiniteInput }
            for k in 0..<n {
                factor[k] = 0
                let y = targets[k]
                guard y >= 0 else { losses[k] = 0; continue }
                let w = weight.map { Double($0[y]) } ?? 1
                if isMasked(k) {
                    losses[k] = weightedLoss(maskedSampleLoss(), w)
                    continue
                }
                let terms = sample(lse: Double(max[k]) + logSum[k], targetLogit: targetLogit[k],
                                   transformed: transform == .none ? 0 : transformed[k])
                losses[k] = weightedLoss(terms.loss, w)
                let scale = Double(scales[k]) * w, inverseSum = 1 / sum[k]
                factor[k] = T(scale * terms.pScale * inverseSum)
                if let g {
                    let py = Double(g[y * stride + k]) * inverseSum
                    targetEntry[k] = scale * (terms.pScale * py - terms.targetScale)
                }
            }
            guard let g else { return }
            T.columnScale(g, stride: stride, classes: classes, samples: n, by: UnsafePointer(factor))
            for k in 0..<n {
                if targets[k] >= 0 {
                    if !isMasked(k) { g[targets[k] * stride + k] = T(targetEntry[k]) }
                } else if sum[k].isNaN {  // an ignored sample's gradient is 0, even from a NaN row
                    for j in 0..<classes { g[j * stride + k] = 0 }
                }
            }
        }
    }
}

// An independent float64 reference of `cross_entropy`, written straight from the formulas of
// shared/LOSSES.md ("Cross-entropy" and "What the host applies") and PyTorch's F.cross_entropy.
// It shares no code with the kernels, and a central finite-difference gradient over the C ABI.
import CLossKit
import Foundation
import LossKitABI

struct ReferenceCrossEntropy {
    /// ε
    var labelSmoothing = 0.0
    /// λ
    var zLoss = 0.0

    struct Result {
        /// One value for mean/sum, one per sample for none.
        var loss: [Double]
        /// dloss · dL/dz, shaped like the logits.
        var grad: [Double]
    }

    /// Loss and gradient of `spec`, with every input first rounded to the spec's float type (the
    /// values the library actually sees), then computed in float64.
    func evaluate(_ spec: BatchSpec) -> Result {
        let kind = spec.floatKind
        let C = spec.classes, S = spec.samples
        let eps = labelSmoothing, lambda = zLoss
        let w = (spec.weight ?? Array(repeating: 1, count: C)).map(kind.rounded)
        let z = spec.logits.map(kind.rounded)

        var sampleLoss = [Double](repeating: 0, count: S)
        var sampleGrad = [[Double]](repeating: [Double](repeating: 0, count: C), count: S)
        var meanDivisor = 0.0  // Σ w_y over samples not ignored (class indices), S (probabilities)

        for s in 0..<S {
            let row = (0..<C).map { z[spec.element(sample: s, cls: $0)] }
            // log-softmax with the max subtracted.
            let m = row.max()!
            precondition(m > -.infinity, "the reference does not define a row whose classes are all masked")
            let lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
            let logp = row.map { $0 - lse }
            let p = logp.map { Foundation.exp($0) }

            // The loss of a sample is Σ_j c_j·(-log p_j) + λ·a·lse², with coefficients c_j and z-loss
            // weight a given by the target kind; d(-log p_k)/dz_j = p_j - [j = k], d lse/dz_j = p_j.
            var c = [Double](repeating: 0, count: C)
            let a: Double
            switch spec.target {
            case .indices(let targets):
                let y = targets[s]
                if y == spec.ignoreIndex { continue }  // contributes 0, gradient row 0
                let yi = Int(y)
                // PyTorch: (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_j w_j·(-log p_j); the z-loss is part of the
                // per-sample loss, which the host multiplies by w_y.
                c[yi] += (1 - eps) * w[yi]
                for j in 0..<C { c[j] += eps / Double(C) * w[j] }
                a = w[yi]
                meanDivisor += w[yi]
            case .probabilities(let q):
                // q' = (1-ε)·q + ε/C, weights multiply per class: Σ_j w_j·q'_j·(-log p_j).
                for j in 0..<C {
                    let qj = kind.rounded(q[spec.element(sample: s, cls: j)])
                    c[j] = w[j] * ((1 - eps) * qj + eps / Double(C))
                }
                a = 1
                meanDivisor += 1
            }

            var L = lambda * a * lse * lse
            for k in 0..<C where c[k] != 0 { L += c[k] * -logp[k] }  // 0·(-log 0) counts as 0
            var g = [Double](repeating: 0, count: C)
            for k in 0..<C where c[k] != 0 {
                for j in 0..<C { g[j] += c[k] * (p[j] - (j == k ? 1 : 0)) }
            }
            for j in 0..<C { g[j] += 2 * lambda * a * lse * p[j] }
            sampleLoss[s] = L
            sampleGrad[s] = g
        }

        let reduced = reduce(spec, sampleLoss: sampleLoss, sampleGrad: sampleGrad, divisor: meanDivisor)
        return Result(loss: reduced.loss, grad: reduced.grad)
    }
}

/// Central finite differences, in float64, of the scalar the gradient is the derivative of:
/// Σ_s dloss_s·loss_s for reduction none, dloss·loss for mean and sum — each loss evaluated through
/// lk_loss_compute with the gradient off. Entries whose logit is not finite get NaN (not differentiable).
func finiteDifferenceGradient(_ spec: BatchSpec, _ handle: LossHandle, relativeStep: Double = 1e-6) -> [Double] {
    precondition(spec.floatKind == .float64, "finite differences are taken in float64")
    var probe = spec
    probe.computeGrad = false
    probe.gradInPlace = false

    func objective(_ logits: [Double]) -> Double {
        probe.logits = logits
        let prepared = PreparedBatch(probe)
        let status = prepared.compute(handle)
        precondition(status == LK_OK, "finite-difference probe failed: \(lastErrorMessage())")
        let values = prepared.lossValues
        let upstream = spec.dloss ?? Array(repeating: 1, count: values.count)
        return zip(values, upstream).reduce(0) { $0 + $1.0 * $1.1 }
    }

    return centralDifferences(spec.logits, relativeStep: relativeStep, objective)
}

/// ∂f/∂x_k by central differences with a step relative to |x_k|, for every k; NaN where x_k is not
/// finite (nothing to differentiate). Shared by every finite-difference check.
func centralDifferences(_ x: [Double], relativeStep: Double, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    return (0..<x.count).map { k in
        let xk = x[k]
        guard xk.isFinite else { return .nan }
        let h = relativeStep * max(1, abs(xk))
        let up = xk + h, down = xk - h
        x[k] = up
        let fUp = f(x)
        x[k] = down
        let fDown = f(x)
        x[k] = xk
        return (fUp - fDown) / (up - down)
    }
}

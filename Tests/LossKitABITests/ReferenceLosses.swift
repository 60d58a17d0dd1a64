// Independent float64 references of every loss other than cross_entropy, written from the formulas
// of shared/LOSSES.md and the README ("The losses", "Edge cases, defined"). Each per-sample loss and
// its gradient are derived here by hand; nothing is shared with the kernels. The host rules
// (class weights, ignore_index, reductions, dloss) are applied by `ReferenceRowLoss.evaluate`, and
// Dice, which is not a sum over samples, has its own whole-batch reference.
import CLossKit
import Foundation
import LossKitABI

/// Loss (one value for mean/sum, one per sample for none) and dloss · dL/dz shaped like the logits.
struct ReferenceOutput {
    var loss: [Double]
    var grad: [Double]
}

/// Something that evaluates a whole batch the way the library should.
protocol ReferenceModel {
    func evaluate(_ spec: BatchSpec) -> ReferenceOutput
    /// True when a sample's row lies within `tolerance` of a point where the loss is not
    /// differentiable (a hinge or a change of the high-error set); such points are resampled.
    func nearKink(_ z: [Double], target y: Int, tolerance: Double) -> Bool
}

extension ReferenceModel {
    func nearKink(_ z: [Double], target y: Int, tolerance: Double) -> Bool { false }
}

// MARK: - Shared math

/// Softmax of one row, with -inf entries (masked classes) at probability 0. Written with the max
/// subtracted; the reference never sees a row whose every class is masked.
struct ReferenceSoftmax {
    let lse: Double
    let p: [Double]

    init(_ z: [Double]) {
        let m = z.max()!
        precondition(m > -.infinity, "the reference does not define a row whose classes are all masked")
        var s = 0.0
        for v in z where v > -.infinity { s += exp(v - m) }
        let lse = m + log(s)
        self.lse = lse
        p = z.map { $0 == -.infinity ? 0 : exp($0 - lse) }
    }

    /// -log p_y, accurate also when p_y is close to 1: log1p(Σ_{j≠y} e^{z_j - z_y}) when z_y is the max.
    static func negativeLogProbability(_ z: [Double], _ y: Int) -> Double {
        let m = z.max()!
        if z[y] == m {
            var r = 0.0
            for (j, v) in z.enumerated() where j != y && v > -.infinity { r += exp(v - z[y]) }
            return log1p(r)
        }
        return ReferenceSoftmax(z).lse - z[y]
    }

    /// 1 - p_y as the sum of the other probabilities (no cancellation when p_y ≈ 1).
    func oneMinus(_ y: Int) -> Double {
        var s = 0.0
        for (j, v) in p.enumerated() where j != y { s += v }
        return s
    }
}

/// The schedule of ce_expectation_mix's α over training progress t (README: constant, linear, cosine,
/// step at t_switch).
struct ReferenceSchedule {
    enum Shape: String { case constant, linear, cosine, step }
    var shape: Shape = .constant
    var alpha = 0.5
    var start = 0.0
    var end = 1.0
    var tSwitch = 0.5

    func value(at t: Double) -> Double {
        switch shape {
        case .constant: return alpha
        case .linear: return start + (end - start) * t
        case .cosine: return start + (end - start) * 0.5 * (1 - cos(Double.pi * t))  // half a cosine from start to end
        case .step: return t < tSwitch ? start : end
        }
    }
}

// MARK: - Per-sample losses

/// A per-sample loss: (z, y) → (L, dL/dz), unweighted. Masked classes (z_j = -inf) have gradient 0.
enum ReferenceRowLoss: ReferenceModel {
    case crossEntropy
    case expectation
    /// (1 - α)·CE + α·β·(1 - p_y), α already evaluated at the progress of the call.
    case mix(alpha: Double, beta: Double)
    case squentropy
    case square(k: Double, m: Double)
    /// HEM; with class counts (HEM+) the margin is μ_y = sqrt(M/(C·s_y)) and `margin` is unused.
    case hem(margin: Double, classCounts: [Double]?, scale: Double)
    case multiMargin(margin: Double, p: Int)
    case logitNorm(tau: Double)
    case logitAdjusted(tau: Double, priors: [Double])
    case focal(gamma: Double)

    static let logitNormEpsilon = 1e-7

    func sample(_ z: [Double], _ y: Int) -> (loss: Double, grad: [Double]) {
        let C = z.count
        let delta = (0..<C).map { $0 == y ? 1.0 : 0.0 }
        switch self {
        case .crossEntropy:
            let sm = ReferenceSoftmax(z)
            return (ReferenceSoftmax.negativeLogProbability(z, y), (0..<C).map { sm.p[$0] - delta[$0] })

        case .expectation:
            // L = 1 - p_y;  ∂p_y/∂z_j = p_y(δ_j - p_j)  ⇒  ∂L/∂z_j = p_y(p_j - δ_j)
            let sm = ReferenceSoftmax(z)
            let py = sm.p[y]
            return (sm.oneMinus(y), (0..<C).map { py * (sm.p[$0] - delta[$0]) })

        case .mix(let alpha, let beta):
            let sm = ReferenceSoftmax(z)
            let ce = ReferenceSoftmax.negativeLogProbability(z, y)
            let py = sm.p[y]
            let loss = (1 - alpha) * ce + alpha * beta * sm.oneMinus(y)
            let grad = (0..<C).map { j in (1 - alpha) * (sm.p[j] - delta[j]) + alpha * beta * py * (sm.p[j] - delta[j]) }
            return (loss, grad)

        case .squentropy:
            // CE + (1/(C-1))·Σ_{j≠y} z_j² over unmasked j; C = 1: no wrong class, square term 0.
            let sm = ReferenceSoftmax(z)
            let a = C > 1 ? 1 / Double(C - 1) : 0
            var squares = 0.0
            for j in 0..<C where j != y && z[j] > -.infinity { squares += z[j] * z[j] }
            let grad = (0..<C).map { j -> Double in
                if j == y { return sm.p[j] - 1 }
                if z[j] == -.infinity { return 0 }
                return sm.p[j] + 2 * a * z[j]
            }
            return (ReferenceSoftmax.negativeLogProbability(z, y) + a * squares, grad)

        case .square(let k, let m):
            // (1/C)·[k(z_y - M)² + Σ_{j≠y} z_j²]
            var s = k * (z[y] - m) * (z[y] - m)
            var grad = [Double](repeating: 0, count: C)
            grad[y] = 2 * k * (z[y] - m) / Double(C)
            for j in 0..<C where j != y && z[j] > -.infinity {
                s += z[j] * z[j]
                grad[j] = 2 * z[j] / Double(C)
            }
            return (s / Double(C), grad)

        case .hem:
            let e = hemErrors(z, y)
            let positive = e.filter { $0 > 0 }
            guard !positive.isEmpty else { return (0, [Double](repeating: 0, count: C)) }  // K = 0
            let tau = positive.reduce(0, +) / Double(positive.count)
            let high = (0..<C).filter { e[$0] > 0 && e[$0] >= tau }  // ties with τ are in H
            var grad = [Double](repeating: 0, count: C)
            var total = 0.0
            for j in high {
                total += e[j]
                grad[j] = 1 / Double(high.count)
            }
            grad[y] = -1
            return (total / Double(high.count), grad)

        case .multiMargin(let margin, let p):
            // h_j = max(0, m - z_y + z_j), L = (1/C)·Σ_{j≠y} h_j^p;
            // ∂L/∂z_j = (p/C)·h_j^(p-1) for h_j > 0 (0 otherwise), ∂L/∂z_y = -Σ_{j≠y} ∂L/∂z_j.
            var total = 0.0
            var grad = [Double](repeating: 0, count: C)
            for j in 0..<C where j != y {
                let h = max(0, margin - z[y] + z[j])
                guard h > 0 else { continue }
                total += p == 1 ? h : h * h
                grad[j] = (p == 1 ? 1 : 2 * h) / Double(C)
                grad[y] -= grad[j]
            }
            return (total / Double(C), grad)

        case .logitNorm(let tau):
            // r = ‖z‖ over unmasked classes, c(z) = 1/(τ(r + ε)), u = c·z, L = lse(u) - u_y.
            // ∂c/∂z_j = -τ c² z_j / r, so with g = softmax(u) - δ:
            // ∂L/∂z_j = Σ_i g_i (c δ_ij + z_i ∂c/∂z_j) = c g_j - (τ c²/r)(z·g) z_j   (ε kept exactly).
            // At r = 0 the second term is O(r) and vanishes: the gradient is g/(τ ε).
            var r2 = 0.0
            for v in z where v > -.infinity { r2 += v * v }
            let r = r2.squareRoot()
            let c = 1 / (tau * (r + Self.logitNormEpsilon))
            let u = z.map { $0 == -.infinity ? -.infinity : c * $0 }
            let sm = ReferenceSoftmax(u)
            let g = (0..<C).map { sm.p[$0] - delta[$0] }
            var zg = 0.0
            for j in 0..<C where z[j] > -.infinity { zg += z[j] * g[j] }
            let radial = r > 0 ? tau * c * c / r * zg : 0
            let grad = (0..<C).map { j in z[j] == -.infinity ? 0 : c * g[j] - radial * z[j] }
            return (ReferenceSoftmax.negativeLogProbability(u, y), grad)

        case .logitAdjusted(let tau, let priors):
            // CE of a = z + τ·log π; the gradient is softmax(a) - δ.
            let a = (0..<C).map { z[$0] + tau * log(priors[$0]) }
            let sm = ReferenceSoftmax(a)
            return (ReferenceSoftmax.negativeLogProbability(a, y), (0..<C).map { sm.p[$0] - delta[$0] })

        case .focal(let gamma):
            // ℓ = -log p_y, q = 1 - p_y, L = q^γ ℓ.  ∂ℓ/∂z_j = p_j - δ_j,  ∂q/∂z_j = p_y (p_j - δ_j)
            // ⇒ ∂L/∂z_j = [q^γ + γ q^(γ-1) p_y ℓ]·(p_j - δ_j)   (second term 0 for γ = 0 or q = 0).
            let sm = ReferenceSoftmax(z)
            let l = ReferenceSoftmax.negativeLogProbability(z, y)
            let q = sm.oneMinus(y)
            let factor = pow(q, gamma) + (gamma > 0 && q > 0 ? gamma * pow(q, gamma - 1) * sm.p[y] * l : 0)
            return (pow(q, gamma) * l, (0..<C).map { factor * (sm.p[$0] - delta[$0]) })
        }
    }

    /// HEM's errors e_j = max(0, z_j - z_y + μ) for j ≠ y (0 for y itself and masked classes).
    private func hemErrors(_ z: [Double], _ y: Int) -> [Double] {
        guard case .hem(let margin, let counts, let scale) = self else { return [] }
        let C = z.count
        let mu = counts.map { (scale / (Double(C) * $0[y])).squareRoot() } ?? margin
        return (0..<C).map { j in j == y ? 0 : max(0, z[j] - z[y] + mu) }
    }

    func nearKink(_ z: [Double], target y: Int, tolerance: Double) -> Bool {
        let C = z.count
        switch self {
        case .multiMargin(let margin, _):
            return (0..<C).contains { j in j != y && z[j] > -.infinity && abs(margin - z[y] + z[j]) < tolerance }
        case .hem(let margin, let counts, let scale):
            let mu = counts.map { (scale / (Double(C) * $0[y])).squareRoot() } ?? margin
            // The hinge of each error.
            if (0..<C).contains(where: { j in j != y && z[j] > -.infinity && abs(z[j] - z[y] + mu) < tolerance }) {
                return true
            }
            // The threshold: an error near τ may leave or join H under a small change. With one positive
            // error (K = 1) it is τ itself and moves with it, which is no kink.
            let positive = hemErrors(z, y).filter { $0 > 0 }
            guard positive.count > 1 else { return false }
            let tau = positive.reduce(0, +) / Double(positive.count)
            return positive.contains { abs($0 - tau) < tolerance }
        default:
            return false
        }
    }

    /// The host: w_y multiplies each sample's loss and gradient, ignored samples give 0 and a zero
    /// gradient row, mean divides by Σ w_y over the samples not ignored (0 when there are none), the
    /// gradient is dloss · dL/dz with dloss a scalar (mean, sum) or one per sample (none).
    /// Every input is first rounded to the spec's float type (what the library actually reads).
    func evaluate(_ spec: BatchSpec) -> ReferenceOutput {
        guard case .indices(let targets) = spec.target else { preconditionFailure("class-index targets only") }
        let kind = spec.floatKind
        let C = spec.classes, S = spec.samples
        let w = (spec.weight ?? Array(repeating: 1, count: C)).map(kind.rounded)
        let z = spec.logits.map(kind.rounded)
        var sampleLoss = [Double](repeating: 0, count: S)
        var sampleGrad = [[Double]](repeating: [Double](repeating: 0, count: C), count: S)
        var divisor = 0.0
        for s in 0..<S {
            let y = targets[s]
            if y == spec.ignoreIndex { continue }
            let row = (0..<C).map { z[spec.element(sample: s, cls: $0)] }
            let (l, g) = sample(row, Int(y))
            let wy = w[Int(y)]
            sampleLoss[s] = wy * l
            sampleGrad[s] = g.map { wy * $0 }
            divisor += wy
        }
        return reduce(spec, sampleLoss: sampleLoss, sampleGrad: sampleGrad, divisor: divisor)
    }
}

/// Applies the reduction and dloss to per-sample losses and gradients.
func reduce(_ spec: BatchSpec, sampleLoss: [Double], sampleGrad: [[Double]], divisor: Double) -> ReferenceOutput {
    let kind = spec.floatKind
    let S = spec.samples, C = spec.classes
    let dloss = spec.dloss.map { $0.map(kind.rounded) }
    var loss: [Double]
    var scale = [Double](repeating: 0, count: S)
    switch spec.reduction {
    case LK_REDUCTION_NONE:
        loss = sampleLoss
        for s in 0..<S { scale[s] = dloss?[s] ?? 1 }
    case LK_REDUCTION_SUM:
        loss = [sampleLoss.reduce(0, +)]
        for s in 0..<S { scale[s] = dloss?[0] ?? 1 }
    default:
        loss = [divisor > 0 ? sampleLoss.reduce(0, +) / divisor : 0]
        for s in 0..<S { scale[s] = divisor > 0 ? (dloss?[0] ?? 1) / divisor : 0 }
    }
    var grad = [Double](repeating: 0, count: spec.elements)
    for s in 0..<S {
        for j in 0..<C { grad[spec.element(sample: s, cls: j)] = scale[s] * sampleGrad[s][j] }
    }
    return ReferenceOutput(loss: loss, grad: grad)
}

// MARK: - Dice

/// Soft Dice over the whole batch (README): over the pixels i not ignored, with p = softmax and g the
/// one-hot of the target, I_c = Σ_i p_ic g_ic, S_c = Σ_i p_ic + Σ_i g_ic, D_c = (2I_c + s)/(S_c + s),
/// L = 1 - Σ_c w_c D_c / Σ_c w_c over the counted classes (all, or with skip_absent those present in
/// the target); 0 when no class is counted. Mean reduction only; dloss is one value.
struct ReferenceDice: ReferenceModel {
    var smooth = 1.0
    var skipAbsent = false

    func evaluate(_ spec: BatchSpec) -> ReferenceOutput {
        guard case .indices(let targets) = spec.target else { preconditionFailure("class-index targets only") }
        precondition(spec.reduction == LK_REDUCTION_MEAN, "dice is mean only")
        let kind = spec.floatKind
        let C = spec.classes, S = spec.samples
        let w = (spec.weight ?? Array(repeating: 1, count: C)).map(kind.rounded)
        let z = spec.logits.map(kind.rounded)
        let s = smooth

        var probabilities = [[Double]?](repeating: nil, count: S)
        var intersection = [Double](repeating: 0, count: C)
        var predicted = [Double](repeating: 0, count: C)
        var present = [Double](repeating: 0, count: C)
        for i in 0..<S where targets[i] != spec.ignoreIndex {
            let p = ReferenceSoftmax((0..<C).map { z[spec.element(sample: i, cls: $0)] }).p
            probabilities[i] = p
            let y = Int(targets[i])
            for c in 0..<C { predicted[c] += p[c] }
            intersection[y] += p[y]
            present[y] += 1
        }
        let counted = (0..<C).filter { !skipAbsent || present[$0] > 0 }
        let W = counted.reduce(0.0) { $0 + w[$1] }
        var grad = [Double](repeating: 0, count: spec.elements)
        guard W > 0 else { return ReferenceOutput(loss: [0], grad: grad) }

        var weightedDice = 0.0
        for c in counted { weightedDice += w[c] * (2 * intersection[c] + s) / (predicted[c] + present[c] + s) }
        let loss = 1 - weightedDice / W

        // dL/dp_ic = -(w_c/W)·[2 g_ic/(S_c + s) - (2 I_c + s)/(S_c + s)²] for counted c, then through the
        // softmax Jacobian ∂p_c/∂z_k = p_c(δ_ck - p_k): dL/dz_k = p_k (a_k - Σ_c p_c a_c).
        let upstream = spec.dloss.map { kind.rounded($0[0]) } ?? 1
        for i in 0..<S {
            guard let p = probabilities[i] else { continue }
            let y = Int(targets[i])
            var a = [Double](repeating: 0, count: C)
            for c in counted {
                let d = predicted[c] + present[c] + s
                a[c] = -(w[c] / W) * ((c == y ? 2 / d : 0) - (2 * intersection[c] + s) / (d * d))
            }
            var dot = 0.0
            for c in 0..<C { dot += p[c] * a[c] }
            for k in 0..<C { grad[spec.element(sample: i, cls: k)] = upstream * p[k] * (a[k] - dot) }
        }
        return ReferenceOutput(loss: [loss], grad: grad)
    }
}

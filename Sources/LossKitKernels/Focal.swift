#if canImport(Glibc)
import Glibc
#endif

/// Focal loss (Lin et al. 2017): cross-entropy down-weighted on well-classified samples. Its per-class
/// α is the class weight vector.
public struct Focal: SoftmaxTargetLoss {
    public var gamma: Double

    public init(gamma: Double = 2) { self.gamma = gamma }

    public static let parameters = [
        ParameterSpec("gamma", .number(default: 2, range: .nonNegative), "γ: focusing exponent (0 gives cross-entropy)"),
    ]

    public init(parameters: ParameterValues) { self.init(gamma: parameters[number: "gamma"]) }

    public var sampleTransform: SampleTransform { .expm1 }

    // With p = p_y, ℓ = -log p = lse - z_y and u = 1 - p = -expm1(-ℓ) (accurate when p → 1), given
    // as `transformed` = expm1(z_y - lse):
    // L = u^γ·ℓ
    // ∂L/∂z_j = G·(p_j - [j = y]),   G = u^γ + γ·u^(γ-1)·p·ℓ   (the second term is 0 when u = 0 or p = 0)
    @inline(__always)
    public func sample(lse: Double, targetLogit: Double, transformed: Double) -> SoftmaxSample {
        let nll = lse - targetLogit
        let u = -transformed
        let p = 1 - u
        let (focus, below) = powers(u)
        let slope = u > 0 && p > 0 ? gamma * below * p * nll : 0  // p·ℓ → 0 as p → 0
        let loss = nll == .infinity ? (focus == 0 ? 0 : .infinity) : focus * nll
        return SoftmaxSample(loss: loss, pScale: focus + slope, targetScale: focus + slope)
    }

    public func maskedSampleLoss() -> Double { .infinity }

    /// (u^γ, u^(γ-1)): by multiplication for a whole γ from 1 to 8 (the usual γ = 2 gives u·u and u,
    /// both exact to rounding; two pow calls per sample were most of the column kernel's time), else pow.
    @inline(__always)
    private func powers(_ u: Double) -> (Double, Double) {
        guard let n = Int(exactly: gamma), n >= 1, n <= 8 else { return (Glibc.pow(u, gamma), Glibc.pow(u, gamma - 1)) }
        var below: Double = 1
        for _ in 1..<n { below *= u }
        return (below * u, below)
    }
}

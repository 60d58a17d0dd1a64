/// LogitNorm (Wei et al. 2022): cross-entropy of the logits scaled to norm 1/τ.
public struct LogitNorm: ClassIndexLoss {
    /// τ: the temperature; the normalised logits have norm 1/τ.
    public var tau: Double
    /// ε in the norm's denominator.
    public static let epsilon = 1e-7

    public init(tau: Double = 0.04) { self.tau = tau }

    public static let parameters = [
        ParameterSpec("tau", .number(default: 0.04, range: .positive), "τ: temperature (normalised logits have norm 1/τ)"),
    ]

    public init(parameters: ParameterValues) { self.init(tau: parameters[number: "tau"]) }

    // r = ‖z‖₂,  c = 1/(τ·(r + ε)),  u = c·z,  L = CE(u, y) = lse(u) - u_y
    // ∂L/∂z = c·g - (c²·τ/r)·(z·g)·z   with g = softmax(u) - δ_y   (z·g = Σ z_j p_j - z_y; term 0 if r = 0)
    // Masked classes (z_j = -inf) are left out of r and of the softmax (gradient 0).
    // Three reads: the norm must be known before the softmax of u can start. Exponents are formed as
    // c·(z_j - z_max) (the difference first: accurate where it matters, near the max).
    // Read 1: r² and max z. Read 2: Σ e_j and Σ z_j·e_j, e_j = exp(c·(z_j - z_max)). Read 3: g.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = z[y]
        if zy == -.infinity {  // a masked target: infinite loss; the radial term would be inf·z
            zeroRow(grad, classes)
            return .infinity
        }
        let squares = T.rowSumSquares(z, classes)
        let zMax = T.rowMax(z, bias: nil, classes)
        guard zMax > -.infinity || squares.isNaN else { zeroRow(grad, classes); return .infinity }
        let r = squares.squareRoot()
        let c = 1 / (tau * (r + Self.epsilon))
        let sums = T.rowScaledExpSums(z, classes, factor: T(c), max: zMax)
        let logSum = Double.log(sums.sum)
        let lse = c * Double(zMax) + logSum
        if let grad {
            let zDotG = sums.weighted / sums.sum - Double(zy)
            let radial = r > 0 ? c * c * tau / r * zDotG : 0
            let sT = Double(scale)
            T.rowWriteScaledSoftmax(z, classes, factor: T(c), max: zMax, logSum: T(logSum), scale: T(sT * c),
                                    linear: T(-sT * radial), into: grad)
            let py = Double.exp(c * (Double(zy) - Double(zMax)) - logSum)
            grad[y] = T(sT * (c * (py - 1) - radial * Double(zy)))
        }
        return lse - c * Double(zy)
    }
}

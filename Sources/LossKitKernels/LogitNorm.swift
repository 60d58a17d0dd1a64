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
    // Three reads: the norm must be known before the softmax of u can start.
    // Pass 1: r² and max z. Pass 2: Σ exp(u_j - u_max) and Σ z_j·exp(u_j - u_max). Pass 3: g.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        if z[y] == -.infinity {  // a masked target: infinite loss; the radial term would be inf·z
            zeroRow(grad, classes)
            return .infinity
        }
        var squares: Double = 0
        var zMax = -Double.infinity
        for j in 0..<classes {
            let zj = Double(z[j])
            if zj != -.infinity { squares += zj * zj; zMax = max(zMax, zj) }
        }
        guard zMax > -.infinity || squares.isNaN else { zeroRow(grad, classes); return .infinity }
        let r = squares.squareRoot()
        let c = 1 / (tau * (r + Self.epsilon))
        let uMax = c * zMax
        var sumExp: Double = 0
        var sumZExp: Double = 0
        for j in 0..<classes {
            let zj = Double(z[j])
            guard zj != -.infinity else { continue }
            let e = Double(T.exp(T(c * zj - uMax)))
            sumExp += e
            sumZExp += zj * e
        }
        let lse = uMax + Double.log(sumExp)
        let zy = Double(z[y])
        if let grad {
            let zDotG = sumZExp / sumExp - zy
            let radial = r > 0 ? c * c * tau / r * zDotG : 0
            let sT = Double(scale)
            for j in 0..<classes {
                let zj = z[j]
                guard zj != -.infinity else { grad[j] = 0; continue }
                let p = Double(T.exp(T(c * Double(zj) - lse)))  // exponent in Double: u and lse reach 1/τ
                let g = j == y ? p - 1 : p
                grad[j] = T(sT * (c * g - radial * Double(zj)))
            }
        }
        return lse - c * zy
    }
}

/// The multi-class hinge loss of PyTorch's `MultiMarginLoss`.
public struct MultiMargin: ClassIndexLoss {
    public var margin: Double
    /// The exponent p ∈ {1, 2}.
    public var power: Int

    public init(margin: Double = 1, power: Int = 1) {
        self.margin = margin
        self.power = power
    }

    public static let parameters = [
        ParameterSpec("margin", .number(default: 1, range: .nonNegative), "m: the margin"),
        ParameterSpec("p", .integer(default: 1, allowed: [1, 2]), "exponent of the hinge"),
    ]

    public init(parameters: ParameterValues) {
        self.init(margin: parameters[number: "margin"], power: Int(parameters[number: "p"]))
    }

    // h_j = max(0, m - z_y + z_j) for j ≠ y   (a masked z_j = -inf gives h_j = 0)
    // L = (1/C)·Σ_{j≠y} h_j^p
    // ∂L/∂z_j = (p/C)·h_j^(p-1)·[h_j > 0] for j ≠ y,  ∂L/∂z_y = -Σ_{j≠y} ∂L/∂z_j
    // One read of z (z_y first): each wrong class writes g_j; g_y is written last.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = Double(z[y])
        let invC = 1 / Double(classes)
        var total: Double = 0
        var targetGrad: Double = 0
        for j in 0..<classes where j != y {
            let zj = z[j]
            let h = zj != -.infinity ? hinge(margin - zy + Double(zj)) : 0
            let slope: Double
            if power == 1 {
                total += h
                slope = h > 0 ? invC : (h.isNaN ? .nan : 0)
            } else {
                total += h * h
                slope = 2 * h * invC
            }
            targetGrad -= slope
            grad?[j] = scale * T(slope)
        }
        grad?[y] = scale * T(targetGrad)
        return total * invC
    }
}

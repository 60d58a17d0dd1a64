/// The rescaled square loss of Hui & Belkin (2020): regression of the logits onto a scaled one-hot.
public struct SquareLoss: ClassIndexLoss {
    /// k: weight of the true-class term.
    public var k: Double
    /// M: the target value of the true-class logit.
    public var m: Double

    public init(k: Double = 1, m: Double = 1) {
        self.k = k
        self.m = m
    }

    public static let parameters = [
        ParameterSpec("k", .number(default: 1, range: .positive), "weight of the true-class term"),
        ParameterSpec("M", .number(default: 1, range: .positive), "target value of the true-class logit"),
    ]

    public init(parameters: ParameterValues) {
        self.init(k: parameters[number: "k"], m: parameters[number: "M"])
    }

    // L = (1/C)·[k·(z_y - M)² + Σ_{j≠y} z_j²]
    // ∂L/∂z_j = (2/C)·(k·(z_y - M)·[j = y] + z_j·[j ≠ y])
    // Masked classes (z_j = -inf, j ≠ y) are left out (gradient 0). One pass: read z_j, write g_j.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        if z[y] == -.infinity {  // a masked target: infinite loss, nothing finite to learn
            zeroRow(grad, classes)
            return .infinity
        }
        let invC = 1 / Double(classes)
        let twoOverC = T(2 * invC), kT = T(k), mT = T(m)
        var squares: Double = 0
        for j in 0..<classes {
            let zj = z[j]
            if j == y {
                let d = Double(zj) - m
                squares += k * d * d
                grad?[j] = scale * twoOverC * kT * (zj - mT)
            } else if zj != -.infinity {
                squares += Double(zj) * Double(zj)
                grad?[j] = scale * twoOverC * zj
            } else {
                grad?[j] = 0
            }
        }
        return invC * squares
    }
}

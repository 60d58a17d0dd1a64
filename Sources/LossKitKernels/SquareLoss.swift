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
    // Masked classes (z_j = -inf, j ≠ y) are left out (gradient 0). Two reads of z: Σ z_j² over
    // j ≠ y, then g = scale·(2/C)·z, with g_y set last.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = z[y]
        if zy == -.infinity {  // a masked target: infinite loss, nothing finite to learn
            zeroRow(grad, classes)
            return .infinity
        }
        let invC = 1 / Double(classes)
        let twoOverC = T(2 * invC)
        let d = Double(zy) - m
        let squares = sumOfSquares(z, classes, except: y) + k * d * d
        if let grad {
            T.rowWriteLinear(z, classes, factor: scale * twoOverC, into: grad)
            grad[y] = scale * twoOverC * T(k) * (zy - T(m))
        }
        return invC * squares
    }
}

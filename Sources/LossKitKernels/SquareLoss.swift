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
        let wrongSquares = sumOfSquares(z, classes, except: y)
        let zy = z[y]  // after a pass has brought the row into cache (see SoftmaxTargetLoss.row)
        if zy == -.infinity {  // a masked target: infinite loss, nothing finite to learn
            zeroRow(grad, classes)
            return .infinity
        }
        let invC = 1 / Double(classes)
        let twoOverC = T(2 * invC)
        let d = Double(zy) - m
        let squares = wrongSquares + k * d * d
        if let grad {
            T.rowWriteLinear(z, classes, factor: scale * twoOverC, into: grad)
            grad[y] = scale * twoOverC * T(k) * (zy - T(m))
        }
        return invC * squares
    }
}

/// The square loss on columns (see `ColumnKernel`, `ColumnSteps`), in vector lanes: the squares of the wrong classes
/// (read 1), g = scale·(2/C)·z (read 2, so g may be z), and each target's entry set sample by sample
/// with the row kernel's arithmetic. A masked target: L = w·inf, g = 0. w = 0 (ignored, or a zero
/// class weight): L = 0, g = 0 (also when the sample's logits hold a NaN).
extension SquareLoss: ColumnKernel {
    public var runsOnColumns: Bool { true }

    public func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                        samples n: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                        scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                        work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {
        let targetClass = work, targetLogit = work + n, factor = work + 2 * n, targetEntry = work + 3 * n
        let squares = doubles
        ColumnSteps.prepare(z, stride: stride, samples: n, targets: targets, targetClass: targetClass, pivot: targetLogit)
        T.columnSquares(z, stride: stride, classes: classes, samples: n, targets: targetClass, into: squares)
        let invC = 1 / Double(classes), twoOverC = T(2 * invC)
        // A sample that does not count, or a masked target (nothing finite to learn): gradient 0.
        @inline(__always) func kind(_ k: Int) -> ColumnSteps.Sample {
            let y = targets[k]
            return y < 0 || weight?[y] == 0 || targetLogit[k] == -.infinity ? .inert : .active
        }
        for k in 0..<n {
            factor[k] = 0
            let (w, scale) = ColumnSteps.weighting(k, targets: targets, weight: weight, scales: scales)
            if targetLogit[k] == -.infinity {  // a masked target: infinite loss
                losses[k] = weightedLoss(.infinity, w)
                continue
            }
            let d = Double(targetLogit[k]) - m
            losses[k] = weightedLoss(invC * (squares[k] + self.k * d * d), w)
            factor[k] = scale * twoOverC
            targetEntry[k] = scale * twoOverC * T(self.k) * (targetLogit[k] - T(m))
        }
        guard let g else { return }
        T.columnWriteLinear(z, stride: stride, classes: classes, samples: n, factor: factor, into: g)
        ColumnSteps.finish(g, stride: stride, classes: classes, samples: n, targets: targets, targetEntry: targetEntry, kind)
    }
}

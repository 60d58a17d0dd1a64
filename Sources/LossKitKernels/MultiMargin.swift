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
    // In the batch's type, h_j = (z_j - z_y) + m (the difference first: shift-invariant); the sums skip j = y.
    // Read 1: Σ h_j and Σ h_j² over the active j. Read 2: g_j; g_y is written last.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = z[y]
        if zy == -.infinity {  // a masked target: infinite loss, nothing finite to learn (z_j - z_y = +inf)
            zeroRow(grad, classes)
            return .infinity
        }
        let invC = 1 / Double(classes)
        let c = T(margin)
        let sums = hingeSums(z, classes, except: y, pivot: zy, offset: c, floor: 0)
        if sums.hasNaN || zy.isNaN {
            if let grad { for j in 0..<classes { grad[j] = .nan } }
            return .nan
        }
        if let grad {
            let linear = power == 2
            T.rowWriteHinge(z, classes, pivot: zy, offset: c, floor: 0, value: scale * T((linear ? 2 : 1) * invC), linear: linear,
                            into: grad)
            let targetSlope = linear ? 2 * invC * sums.sum : invC * Double(sums.count)
            grad[y] = scale * T(-targetSlope)
        }
        return (power == 1 ? sums.sum : sums.squares) * invC
    }
}

/// The multi-class hinge on columns (see `ColumnKernel`, `ColumnSteps`): Σ h and Σ h² of every
/// sample in vector lanes (read 1), the gradient likewise (read 2), the target's entries set sample
/// by sample with the row kernel's arithmetic.
extension MultiMargin: ColumnKernel {
    public var runsOnColumns: Bool { true }

    public func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                        samples n: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                        scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                        work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {
        let targetClass = work, pivot = work + n, offset = work + 2 * n, floor = work + 3 * n, value = work + 4 * n
        let targetEntry = work + 5 * n
        let count = doubles, sum = doubles + n, squares = doubles + 2 * n, nans = doubles + 3 * n
        ColumnSteps.prepare(z, stride: stride, samples: n, targets: targets, targetClass: targetClass, pivot: pivot)
        for k in 0..<n {
            offset[k] = T(margin)
            floor[k] = 0
        }
        T.columnHingeSums(z, stride: stride, classes: classes, samples: n, targets: targetClass, pivot: pivot, offset: offset,
                          floor: floor, into: doubles)
        let invC = 1 / Double(classes), linear = power == 2
        @inline(__always) func kind(_ k: Int) -> ColumnSteps.Sample {
            let y = targets[k]
            if y < 0 || weight?[y] == 0 || pivot[k] == -.infinity { return .inert }
            return nans[k] > 0 || pivot[k].isNaN ? .nan : .active
        }
        for k in 0..<n {
            let y = targets[k], (w, scale) = ColumnSteps.weighting(k, targets: targets, weight: weight, scales: scales)
            value[k] = scale * T((linear ? 2 : 1) * invC)
            switch kind(k) {
            case .inert: losses[k] = y < 0 ? 0 : weightedLoss(pivot[k] == -.infinity ? .infinity : 0, w)
            case .nan: losses[k] = weightedLoss(.nan, w)
            case .active:
                losses[k] = weightedLoss((power == 1 ? sum[k] : squares[k]) * invC, w)
                targetEntry[k] = scale * T(-(linear ? 2 * invC * sum[k] : invC * count[k]))
            }
        }
        guard let g else { return }
        T.columnWriteHinge(z, stride: stride, classes: classes, samples: n, pivot: pivot, offset: offset, floor: floor,
                           value: value, linear: linear, into: g)
        ColumnSteps.finish(g, stride: stride, classes: classes, samples: n, targets: targets, targetEntry: targetEntry, kind)
    }
}

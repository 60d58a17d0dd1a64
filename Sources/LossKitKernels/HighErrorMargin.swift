/// HEM, the high error margin loss (seed 002, Spratling & Schütt): a multi-class margin loss that
/// averages only the errors at or above the mean error, so its gradient does not fade as most margin
/// terms reach zero. HEM+ (imbalanced data) takes per-class margins from class counts.
public struct HighErrorMargin: ClassIndexLoss {
    /// μ, used when no class counts are given.
    public var margin: Double
    /// μ_c = sqrt(M / (C·s_c)) per target class c when class counts s are given (HEM+); empty otherwise.
    public var classMargins: [Double]

    public init(margin: Double = 0.5, classCounts: [Double] = [], scale: Double = 1) {
        self.margin = margin
        let c = Double(classCounts.count)
        self.classMargins = classCounts.map { ($0 > 0 ? scale / (c * $0) : 0).squareRoot() }
    }

    public static let parameters = [
        ParameterSpec("margin", .number(default: 0.5, range: .nonNegative), "μ: the margin every wrong class must clear"),
        ParameterSpec("class_counts", .vector(range: .positive),
                      "HEM+: training-set count s_c of each class (length C); margins become sqrt(M/(C·s_c))"),
        ParameterSpec("M", .number(default: 1, range: .positive), "HEM+: scale of the per-class margins"),
    ]

    public init(parameters: ParameterValues) {
        self.init(margin: parameters[number: "margin"], classCounts: parameters[vector: "class_counts"],
                  scale: parameters[number: "M"])
    }

    public func check(classes: Int) throws(LossError) {
        guard classMargins.isEmpty || classMargins.count == classes else {
            throw LossError(.badParameter, "parameter 'class_counts' of loss 'hem' has \(classMargins.count) values; "
                                + "expected one per class (\(classes))")
        }
    }

    // e_j = max(0, z_j - z_y + μ) for j ≠ y (μ = μ_y under HEM+; a masked z_j = -inf gives e_j = 0)
    // τ = mean of the non-zero e_j;  H = {j ≠ y : e_j > 0 and e_j ≥ τ}   (ties with τ are in H)
    // L = (1/|H|)·Σ_{j∈H} e_j, and L = 0 when no e_j is positive (K = 0).
    // ∂L/∂z_j = 1/|H| for j ∈ H, ∂L/∂z_y = -1 when H is non-empty, 0 elsewhere (τ and H held fixed).
    // In the batch's type, e_j = (z_j - z_y) + μ (the difference first: shift-invariant); the sums skip j = y.
    // Read 1: K and Σ e_j > 0, giving τ. Read 2: |H| and Σ_{H} e_j. Read 3: g_j = scale/|H| on H.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = z[y]
        if zy == -.infinity {  // a masked target: infinite loss, nothing finite to learn (z_j - z_y = +inf)
            zeroRow(grad, classes)
            return .infinity
        }
        let mu = classMargins.isEmpty ? margin : classMargins[y]
        let c = T(mu)
        let positive = hingeSums(z, classes, except: y, pivot: zy, offset: c, floor: 0)
        if positive.hasNaN || zy.isNaN {  // a NaN logit (nan_policy "propagate") poisons the whole row
            if let grad { for j in 0..<classes { grad[j] = .nan } }
            return .nan
        }
        guard positive.count > 0 else { zeroRow(grad, classes); return 0 }
        // The smallest T at or above τ: for e_j in T, e_j ≥ it exactly when e_j ≥ τ.
        let tau = positive.sum / Double(positive.count)
        var threshold = T(tau)
        if Double(threshold) < tau { threshold = threshold.nextUp }
        let high = hingeSums(z, classes, except: y, pivot: zy, offset: c, floor: threshold)
        if let grad {
            T.rowWriteHinge(z, classes, pivot: zy, offset: c, floor: threshold, value: scale / T(high.count), linear: false, into: grad)
            grad[y] = -scale
        }
        return high.sum / Double(high.count)
    }
}

/// HEM on columns (see `ColumnKernel`, `ColumnSteps`): the positive errors' count and sum of every
/// sample in vector lanes (read 1), giving its threshold τ; the count and sum of the errors at or
/// above τ (read 2); the gradient (read 3); the target's entries set sample by sample.
extension HighErrorMargin: ColumnKernel {
    public var runsOnColumns: Bool { true }

    public func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                        samples n: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                        scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                        work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {
        let targetClass = work, pivot = work + n, offset = work + 2 * n, floor = work + 3 * n, value = work + 4 * n
        let targetEntry = work + 5 * n, positive = work + 6 * n, hasNaN = work + 7 * n  // 1 or 0 per sample
        let count = doubles, sum = doubles + n, nans = doubles + 3 * n
        ColumnSteps.prepare(z, stride: stride, samples: n, targets: targets, targetClass: targetClass, pivot: pivot)
        for k in 0..<n {
            let y = targets[k]
            offset[k] = T(classMargins.isEmpty || y < 0 ? margin : classMargins[y])
            floor[k] = 0
        }
        T.columnHingeSums(z, stride: stride, classes: classes, samples: n, targets: targetClass, pivot: pivot, offset: offset,
                          floor: floor, into: doubles)
        for k in 0..<n {
            positive[k] = count[k] > 0 ? 1 : 0
            // The smallest T at or above τ: for e_j in T, e_j ≥ it exactly when e_j ≥ τ (none when no
            // error is positive).
            let tau = sum[k] / count[k]
            var threshold = T(tau)
            if Double(threshold) < tau { threshold = threshold.nextUp }
            floor[k] = count[k] > 0 ? threshold : .infinity
            hasNaN[k] = nans[k] > 0 ? 1 : 0  // kept: the second pass overwrites the sums
        }
        T.columnHingeSums(z, stride: stride, classes: classes, samples: n, targets: targetClass, pivot: pivot, offset: offset,
                          floor: floor, into: doubles)
        @inline(__always) func kind(_ k: Int) -> ColumnSteps.Sample {
            let y = targets[k]
            if y < 0 || weight?[y] == 0 || pivot[k] == -.infinity { return .inert }
            if hasNaN[k] > 0 || pivot[k].isNaN { return .nan }
            return positive[k] > 0 ? .active : .inert
        }
        for k in 0..<n {
            let y = targets[k], (w, scale) = ColumnSteps.weighting(k, targets: targets, weight: weight, scales: scales)
            let sample = kind(k)
            switch sample {
            case .inert: losses[k] = y < 0 ? 0 : weightedLoss(pivot[k] == -.infinity ? .infinity : 0, w)
            case .nan: losses[k] = weightedLoss(.nan, w)
            case .active:
                losses[k] = weightedLoss(sum[k] / count[k], w)
                targetEntry[k] = -scale
            }
            value[k] = sample == .active ? scale / T(count[k]) : 0
        }
        guard let g else { return }
        T.columnWriteHinge(z, stride: stride, classes: classes, samples: n, pivot: pivot, offset: offset, floor: floor,
                           value: value, linear: false, into: g)
        ColumnSteps.finish(g, stride: stride, classes: classes, samples: n, targets: targets, targetEntry: targetEntry, kind)
    }
}

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
    // Read 1: r² and max z. Read 2: Σ e_j and Σ z_j·e_j, e_j = exp(c·(z_j - z_max)), leaving e_j in g
    // when g is its own buffer. Read 3: g = (s·c/Σe)·e - s·radial·z from the stored e (one exp per
    // element), or, when g is z itself, recomputing e from z as g is written (the same arithmetic: in
    // place gives the same bits, as squentropy's rows). Rows of logits so large that g's coefficients
    // leave the type's range take a path of their own in Double (`needsWideArithmetic`, `wideSample`).
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let (zMax, squares) = maxAndSumOfSquares(z, classes, except: -1)  // read 1: no class left out
        let zy = z[y]  // after a pass has brought the row into cache (see SoftmaxTargetLoss.row)
        if zy == -.infinity {  // a masked target: infinite loss; the radial term would be inf·z
            zeroRow(grad, classes)
            return .infinity
        }
        guard zMax > -.infinity || squares.isNaN else { zeroRow(grad, classes); return .infinity }
        let r = Self.norm(squares: squares, z, classes)
        let c = factor(norm: r)
        let storesExp = hasOwnBuffer(grad, apartFrom: z)
        let sums = T.rowScaledExpSums(z, classes, factor: T(c), max: zMax, storingInto: storesExp ? grad : nil)
        let logSum = Double.log(sums.sum)
        return finishRow(z, max: zMax, targetLogit: zy, norm: r, factor: c, sums: sums, logSum: logSum,
                         targetProbability: { Double.exp(c * (Double(zy) - Double(zMax)) - logSum) },
                         storesExp: storesExp, target: y, classes: classes, grad: grad, scale: scale)
    }

    /// c = 1/(τ·(r + ε)).
    @inline(__always)
    func factor(norm r: Double) -> Double { 1 / (tau * (r + Self.epsilon)) }

    /// r = ‖z‖ from r² = Σ z² (masked classes left out), or, where that sum overflowed to +inf
    /// (float64 logits above about 1e154), from the logits divided by their largest magnitude: a
    /// second read, on such rows only. An infinite logit gives r = inf. `stride`: between classes.
    @inline(__always)
    static func norm<T: KernelFloat>(squares: Double, _ z: UnsafePointer<T>, _ count: Int, stride: Int = 1) -> Double {
        squares == .infinity ? rescaledNorm(z, count, stride: stride) : squares.squareRoot()
    }

    @inline(never)
    static func rescaledNorm<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, stride: Int) -> Double {
        var largest: Double = 0
        for j in 0..<count {
            let x = Double(z[j * stride])
            if x == .infinity { return .infinity }
            if x != -.infinity { largest = Swift.max(largest, abs(x)) }
        }
        guard largest > 0 else { return 0 }
        var sum: Double = 0
        for j in 0..<count where z[j * stride] != -.infinity {
            let u = Double(z[j * stride]) / largest
            sum += u * u
        }
        return largest * sum.squareRoot()
    }

    /// Whether a sample's gradient coefficients, s·c/Σe for p and s·radial = s·c²τ/r·(z·g) for z
    /// (`radial` as the caller computed it), are below T's normal range (then rounding them to T, as
    /// the vector loops take them, loses them) while the terms they scale are not: logits so large that c ≈ 1/(τ·r) is tiny (float32 from about 1e19,
    /// float64 from about 1e100, where c² underflows even in Double). `wideSample` serves those.
    @inline(__always)
    func needsWideArithmetic<T: KernelFloat>(_: T.Type, scale s: Double, sum: Double, factor c: Double, norm r: Double,
                                             zDotG: Double, radial: Double) -> Bool {
        let tiny = Double(T.leastNormalMagnitude)
        let expScale = abs(s * c / sum)
        guard expScale == 0 || expScale >= tiny else { return true }
        guard r > 0 else { return false }
        // The radial term at the largest logit, s·c·(z·g)/(r + ε) (factored: it does not underflow),
        // against its coefficient as the vector loops take it.
        let radialTerm = abs(s * c * (zDotG / (r + Self.epsilon)))
        return radialTerm != 0 && abs(s * radial) < tiny
    }

    /// One sample in Double, element by element (a rare path: see `needsWideArithmetic`): its norm
    /// (`norm`), max, Σ e and Σ z·e, then g_j = s·c·p_j - s·c·q·z_j/(r + ε) with q = (z·g)/r, each
    /// factor in range however large the logits, and the target's entry; libm's exp and log. Reads
    /// every logit before writing g (which may be z). `stride`, `gradStride`: between classes in z
    /// and in g. Returns the unweighted loss.
    @inline(never)
    func wideSample<T: KernelFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, gradStride: Int, scale s: Double) -> Double {
        @inline(__always) func logit(_ j: Int) -> Double { Double(z[j * stride]) }
        var squares: Double = 0, zMax = -Double.infinity
        for j in 0..<classes where logit(j) != -.infinity {
            squares += logit(j) * logit(j)
            zMax = Swift.max(zMax, logit(j))
        }
        let r = Self.norm(squares: squares, z, classes, stride: stride), c = factor(norm: r)
        var sum: Double = 0, weighted: Double = 0
        for j in 0..<classes where logit(j) != -.infinity {
            let e = Double.exp(c * (logit(j) - zMax))
            sum += e
            weighted += logit(j) * e
        }
        let zy = logit(y), logSum = Double.log(sum)
        let loss = c * (zMax - zy) + logSum
        guard let grad else { return loss }
        let q = r > 0 ? (weighted / sum - zy) / r : 0, toUnit = 1 / (r + Self.epsilon)
        for j in 0..<classes {
            let x = logit(j)
            let p = x == -.infinity ? 0 : Double.exp(c * (x - zMax) - logSum)
            let radial = x == -.infinity ? 0 : c * q * (x * toUnit)
            grad[j * gradStride] = T(s * (c * (j == y ? p - 1 : p) - radial))
        }
        return loss
    }

    /// The row kernel once Σ e and Σ z·e are known (the e left in g when `storesExp`): the loss, and
    /// g from them, with p_y from `targetProbability()`. The row kernel takes the log and p_y from
    /// libm, `RowTiles` a tile's at once in vector lanes.
    @inline(__always)
    func finishRow<T: KernelFloat>(_ z: UnsafePointer<T>, max zMax: T, targetLogit zy: T, norm r: Double, factor c: Double,
                                   sums: (sum: Double, weighted: Double), logSum: Double, targetProbability: () -> Double,
                                   storesExp: Bool, target y: Int, classes: Int, grad: UnsafeMutablePointer<T>?,
                                   scale: T) -> Double {
        let lse = c * Double(zMax) + logSum
        if let grad {
            let zDotG = sums.weighted / sums.sum - Double(zy)
            let radial = r > 0 ? c * c * tau / r * zDotG : 0
            let sT = Double(scale)
            if needsWideArithmetic(T.self, scale: sT, sum: sums.sum, factor: c, norm: r, zDotG: zDotG, radial: radial) {
                return wideSample(z, stride: 1, classes: classes, target: y, grad: grad, gradStride: 1, scale: sT)
            }
            let expScale = T(sT * c / sums.sum), linear = T(-sT * radial)
            if storesExp {
                T.rowScale(grad, classes, by: expScale, adding: z, times: linear)
            } else {
                T.rowWriteScaledSoftmax(z, classes, factor: T(c), max: zMax, logSum: 0, scale: expScale, linear: linear,
                                        into: grad)
            }
            grad[y] = T(sT * (c * (targetProbability() - 1) - radial * Double(zy)))
        }
        return lse - c * Double(zy)
    }
}

/// LogitNorm on columns (see `ColumnKernel`, `ColumnSteps`), the row kernel's passes in vector lanes:
/// r² and max z of every sample (reads 1-2), Σ e and Σ z·e with its own c (read 3), the gradient
/// (read 4), the target's entries set sample by sample with the row kernel's arithmetic except p_y,
/// whose exp is taken for the whole tile in vector lanes (libm once per sample was about 7 % of the
/// kernel). A NaN reaches the gradient as in the row kernel (NaN except at masked classes).
extension LogitNorm: ColumnKernel {
    public var runsOnColumns: Bool { true }

    public func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                        samples n: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                        scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                        work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {
        let noTarget = work, zy = work + n, max = work + 2 * n, factor = work + 3 * n, logSumValue = work + 4 * n
        let gScale = work + 5 * n, linear = work + 6 * n, targetEntry = work + 7 * n
        let squares = doubles, sum = doubles + n, weighted = doubles + 2 * n, isActive = doubles + 3 * n
        for k in 0..<n { noTarget[k] = -1 }  // r² over every class
        T.columnSquares(z, stride: stride, classes: classes, samples: n, targets: noTarget, into: squares)
        ColumnSteps.targetLogits(z, stride: stride, samples: n, targets: targets, into: zy)
        T.columnMax(z, stride: stride, classes: classes, samples: n, into: max)
        @inline(__always) func norm(_ k: Int) -> Double { Self.norm(squares: squares[k], z + k, classes, stride: stride) }
        @inline(__always) func c(_ k: Int) -> Double { self.factor(norm: norm(k)) }
        for k in 0..<n {
            // Nothing to learn: ignored, a zero weight, a masked target, every class masked.
            let y = targets[k]
            let inert = y < 0 || weight?[y] == 0 || zy[k] == -.infinity || !(max[k] > -.infinity || squares[k].isNaN)
            isActive[k] = inert ? 0 : 1
            if !inert {
                factor[k] = T(c(k))
            } else {
                losses[k] = y < 0 ? 0 : weightedLoss(.infinity, Double(weight?[y] ?? 1))  // 0 for a zero weight
                factor[k] = 0
                max[k] = 0  // exp(0) stays finite; the scales below are 0
            }
        }
        @inline(__always) func kind(_ k: Int) -> ColumnSteps.Sample { isActive[k] > 0 ? .active : .inert }
        T.columnScaledExpSums(z, stride: stride, classes: classes, samples: n, factor: factor, max: max, into: sum)
        for k in 0..<n {
            logSumValue[k] = 0
            gScale[k] = 0
            linear[k] = 0
            guard kind(k) == .active else { weighted[k] = 0; continue }
            let (w, scale) = ColumnSteps.weighting(k, targets: targets, weight: weight, scales: scales)
            let zyValue = Double(zy[k]), zMax = Double(max[k])
            let r = norm(k), c = self.factor(norm: r)
            let logSum = Double.log(sum[k])
            losses[k] = weightedLoss(c * zMax + logSum - c * zyValue, w)
            let sT = Double(scale)
            let zDotG = weighted[k] / sum[k] - zyValue
            let radial = r > 0 ? c * c * tau / r * zDotG : 0
            if needsWideArithmetic(T.self, scale: sT, sum: sum[k], factor: c, norm: r, zDotG: zDotG, radial: radial) { isActive[k] = 2 }
            logSumValue[k] = T(logSum)
            gScale[k] = T(sT * c)
            linear[k] = T(-sT * radial)
            // What the target's entry needs, kept in buffers this loop has read for the last time:
            // c, radial·z_y and the exponent of p_y, exponentiated for the whole tile below.
            squares[k] = c
            sum[k] = radial * zyValue
            weighted[k] = c * (zyValue - zMax) - logSum
        }
        var wideSamples = 0
        for k in 0..<n where isActive[k] > 1 { wideSamples += 1 }
        guard let g else {
            for k in 0..<n where isActive[k] > 1 {
                let (w, scale) = ColumnSteps.weighting(k, targets: targets, weight: weight, scales: scales)
                let loss = wideSample(z + k, stride: stride, classes: classes, target: targets[k], grad: nil, gradStride: 0,
                                      scale: Double(scale))
                losses[k] = weightedLoss(loss, w)
            }
            return
        }
        @inline(__always) func writeGradient() {
            let py = weighted
            SIMDDispatch.rowMath.exp(weighted, n, into: py)
            for k in 0..<n where kind(k) == .active {
                let sT = Double(ColumnSteps.weighting(k, targets: targets, weight: weight, scales: scales).scale)
                targetEntry[k] = T(sT * (squares[k] * (py[k] - 1) - sum[k]))
            }
            T.columnWriteScaledSoftmax(z, stride: stride, classes: classes, samples: n, factor: factor, max: max,
                                       logSum: logSumValue, scale: gScale, linear: linear, into: g)
            ColumnSteps.finish(g, stride: stride, classes: classes, samples: n, targets: targets, targetEntry: targetEntry, kind)
        }
        guard wideSamples > 0 else { return writeGradient() }
        // Samples whose coefficients T cannot hold (`needsWideArithmetic`): their loss and gradient in
        // Double, the gradient kept aside (the vector pass may overwrite z) and put over that pass's.
        ScratchArena.with(of: T.self, capacity: wideSamples * classes) { aside in
            var slot = 0
            for k in 0..<n where isActive[k] > 1 {
                let (w, scale) = ColumnSteps.weighting(k, targets: targets, weight: weight, scales: scales)
                let loss = wideSample(z + k, stride: stride, classes: classes, target: targets[k],
                                      grad: aside.baseAddress! + slot * classes, gradStride: 1, scale: Double(scale))
                losses[k] = weightedLoss(loss, w)
                slot += 1
            }
            writeGradient()
            slot = 0
            for k in 0..<n where isActive[k] > 1 {
                for j in 0..<classes { g[j * stride + k] = aside[slot * classes + j] }
                slot += 1
            }
        }
    }
}

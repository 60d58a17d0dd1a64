import CLossKitLanes
import LossKitRowMath

/// The row loops of `RowMath`, compiled for this module's instruction set. This file is shared by
/// three modules (the AVX2 and AVX-512 ones link to it): the build settings in Package.swift make
/// the difference, and `level` says which build this is.
///
/// Each loop handles whole vectors and then one partial vector (lanes past the row's end filled
/// with a neutral value), so every element goes through the same vector code wherever it sits.
public enum RowKernels: RowMath {
    #if LOSSKIT_AVX512
    public static var level: SIMDLevel { .avx512 }
    #elseif LOSSKIT_AVX2
    public static var level: SIMDLevel { .avx2 }
    #else
    public static var level: SIMDLevel { .baseline }
    #endif

    public static func max(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int) -> Float {
        if let bias { rowMax(z, ClassBias(values: bias), n) } else { rowMax(z, NoBias(), n) }
    }
    public static func max(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int) -> Double {
        if let bias { rowMax(z, ClassBias(values: bias), n) } else { rowMax(z, NoBias(), n) }
    }

    public static func sumExp(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int, shift: Float,
                              storingInto out: UnsafeMutablePointer<Float>?) -> Double {
        rowSumExp(z, bias: bias, n, shift: shift, storingInto: out)
    }
    public static func sumExp(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int, shift: Double,
                              storingInto out: UnsafeMutablePointer<Double>?) -> Double {
        rowSumExp(z, bias: bias, n, shift: shift, storingInto: out)
    }

    public static func writeSoftmax(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int, max: Float,
                                    logSum: Float, scale: Float, linear: Float, into out: UnsafeMutablePointer<Float>) {
        rowWriteSoftmax(z, bias: bias, n, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
    }
    public static func writeSoftmax(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int, max: Double,
                                    logSum: Double, scale: Double, linear: Double, into out: UnsafeMutablePointer<Double>) {
        rowWriteSoftmax(z, bias: bias, n, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
    }

    public static func scaledExpSums(_ z: UnsafePointer<Float>, _ n: Int, factor: Float, max: Float,
                                     storingInto out: UnsafeMutablePointer<Float>?) -> (sum: Double, weighted: Double) {
        if let out { return rowScaledExpSums(z, n, factor: factor, max: max, storingInto: out) }
        return rowScaledExpSums(z, n, factor: factor, max: max, storingInto: nil)
    }
    public static func writeScaledSoftmax(_ z: UnsafePointer<Float>, _ n: Int, factor: Float, max: Float, logSum: Float,
                                          scale: Float, linear: Float, into out: UnsafeMutablePointer<Float>) {
        rowWriteScaledSoftmax(z, n, factor: factor, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
    }
    public static func scaledExpSums(_ z: UnsafePointer<Double>, _ n: Int, factor: Double, max: Double,
                                     storingInto out: UnsafeMutablePointer<Double>?) -> (sum: Double, weighted: Double) {
        if let out { return rowScaledExpSums(z, n, factor: factor, max: max, storingInto: out) }
        return rowScaledExpSums(z, n, factor: factor, max: max, storingInto: nil)
    }
    public static func writeScaledSoftmax(_ z: UnsafePointer<Double>, _ n: Int, factor: Double, max: Double, logSum: Double,
                                          scale: Double, linear: Double, into out: UnsafeMutablePointer<Double>) {
        rowWriteScaledSoftmax(z, n, factor: factor, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
    }
    public static func scale(_ g: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float) { rowScale(g, n, by: factor) }
    public static func scale(_ g: UnsafeMutablePointer<Double>, _ n: Int, by factor: Double) { rowScale(g, n, by: factor) }

    public static func writeLinear(_ z: UnsafePointer<Float>, _ n: Int, factor: Float, into out: UnsafeMutablePointer<Float>) {
        rowWriteLinear(z, n, factor: factor, into: out)
    }
    public static func writeLinear(_ z: UnsafePointer<Double>, _ n: Int, factor: Double, into out: UnsafeMutablePointer<Double>) {
        rowWriteLinear(z, n, factor: factor, into: out)
    }

    public static func sumSquares(_ z: UnsafePointer<Float>, _ n: Int) -> Double { rowSumSquares(z, n) }
    public static func sumSquares(_ z: UnsafePointer<Double>, _ n: Int) -> Double { rowSumSquares(z, n) }
    public static func maxAndSquares(_ z: UnsafePointer<Float>, _ n: Int, except skipped: Int) -> (max: Float, squares: Double) {
        rowMaxAndSquares(z, n, except: skipped)
    }
    public static func maxAndSquares(_ z: UnsafePointer<Double>, _ n: Int, except skipped: Int) -> (max: Double, squares: Double) {
        rowMaxAndSquares(z, n, except: skipped)
    }

    public static func hingeSums(_ z: UnsafePointer<Float>, _ n: Int, pivot: Float, offset: Float, floor: Float) -> HingeSums {
        rowHingeSums(z, n, pivot: pivot, offset: offset, floor: floor)
    }
    public static func writeHinge(_ z: UnsafePointer<Float>, _ n: Int, pivot: Float, offset: Float, floor: Float, value: Float, linear: Bool,
                                  into out: UnsafeMutablePointer<Float>) {
        rowWriteHinge(z, n, pivot: pivot, offset: offset, floor: floor, value: value, linear: linear, into: out)
    }
    public static func hingeSums(_ z: UnsafePointer<Double>, _ n: Int, pivot: Double, offset: Double, floor: Double) -> HingeSums {
        rowHingeSums(z, n, pivot: pivot, offset: offset, floor: floor)
    }
    public static func writeHinge(_ z: UnsafePointer<Double>, _ n: Int, pivot: Double, offset: Double, floor: Double, value: Double, linear: Bool,
                                  into out: UnsafeMutablePointer<Double>) {
        rowWriteHinge(z, n, pivot: pivot, offset: offset, floor: floor, value: value, linear: linear, into: out)
    }
    public static func countClassIndices(_ t: UnsafePointer<Int64>, _ n: Int, classes: Int, ignore: Int64) -> Int {
        countTargets(t, n, classes: classes, ignore: ignore)
    }
    public static func countClassIndices(_ t: UnsafePointer<Int32>, _ n: Int, classes: Int, ignore: Int64) -> Int {
        countTargets(t, n, classes: classes, ignore: ignore)
    }
    public static func allBelowInfinity(_ z: UnsafePointer<Float>, _ n: Int) -> Bool { rowAllBelowInfinity(z, n) }
    public static func allBelowInfinity(_ z: UnsafePointer<Double>, _ n: Int) -> Bool { rowAllBelowInfinity(z, n) }
    public static func maxBelowInfinity(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int) -> Float {
        if let bias { rowMax(z, ClassBias(values: bias), n, flaggingNonFinite: true) }
        else { rowMax(z, NoBias(), n, flaggingNonFinite: true) }
    }
    public static func maxBelowInfinity(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int) -> Double {
        if let bias { rowMax(z, ClassBias(values: bias), n, flaggingNonFinite: true) }
        else { rowMax(z, NoBias(), n, flaggingNonFinite: true) }
    }

    public static func columnSoftmax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                     bias: UnsafePointer<Float>?, storingInto out: UnsafeMutablePointer<Float>?, outStride: Int,
                                     max: UnsafeMutablePointer<Float>, sum: UnsafeMutablePointer<Double>,
                                     logSum: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Float>) {
        columnSoftmaxBlock(z, stride: stride, classes: classes, samples: samples, bias: bias, storingInto: out,
                           outStride: outStride, max: max, sum: sum, logSum: logSum, scratch: scratch)
    }
    public static func columnCrossEntropy(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                          targets: UnsafePointer<Int>, weights: UnsafePointer<Float>,
                                          scales: UnsafePointer<Float>, zLoss: Float, into g: UnsafeMutablePointer<Float>?,
                                          losses: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Float>) {
        columnCrossEntropyBlock(z, stride: stride, classes: classes, samples: samples, targets: targets, weights: weights,
                                scales: scales, zLoss: zLoss, into: g, losses: losses, scratch: scratch)
    }
    public static func columnScale(_ g: UnsafeMutablePointer<Float>, stride: Int, classes: Int, samples: Int,
                                   by factor: UnsafePointer<Float>) {
        columnScaleBlock(g, stride: stride, classes: classes, samples: samples, by: factor)
    }
    public static func columnSquares(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                     targets: UnsafePointer<Float>, into squares: UnsafeMutablePointer<Double>) {
        columnSquaresBlock(z, stride: stride, classes: classes, samples: samples, targets: targets, into: squares)
    }
    public static func columnMax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                 into max: UnsafeMutablePointer<Float>) {
        columnMaxBlock(z, stride: stride, classes: classes, samples: samples, into: max)
    }
    public static func columnScaledExpSums(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                           factor: UnsafePointer<Float>, max: UnsafePointer<Float>,
                                           into sums: UnsafeMutablePointer<Double>) {
        columnScaledExpSumsBlock(z, stride: stride, classes: classes, samples: samples, factor: factor, max: max, into: sums)
    }
    public static func columnWriteScaledSoftmax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                                factor: UnsafePointer<Float>, max: UnsafePointer<Float>, logSum: UnsafePointer<Float>,
                                                scale: UnsafePointer<Float>, linear: UnsafePointer<Float>,
                                                into g: UnsafeMutablePointer<Float>) {
        columnWriteScaledSoftmaxBlock(z, stride: stride, classes: classes, samples: samples, factor: factor, max: max,
                                      logSum: logSum, scale: scale, linear: linear, into: g)
    }
    public static func columnHingeSums(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                       targets: UnsafePointer<Float>, pivot: UnsafePointer<Float>, offset: UnsafePointer<Float>,
                                       floor: UnsafePointer<Float>, into sums: UnsafeMutablePointer<Double>) {
        columnHingeSumsBlock(z, stride: stride, classes: classes, samples: samples, targets: targets, pivot: pivot,
                             offset: offset, floor: floor, into: sums)
    }
    public static func columnWriteHinge(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                        pivot: UnsafePointer<Float>, offset: UnsafePointer<Float>, floor: UnsafePointer<Float>,
                                        value: UnsafePointer<Float>, linear: Bool, into g: UnsafeMutablePointer<Float>) {
        columnWriteHingeBlock(z, stride: stride, classes: classes, samples: samples, pivot: pivot, offset: offset, floor: floor,
                              value: value, linear: linear, into: g)
    }
    public static func columnWriteLinear(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                         factor: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>) {
        columnWriteLinearBlock(z, stride: stride, classes: classes, samples: samples, factor: factor, into: g)
    }
    public static func columnWriteSoftmax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                          max: UnsafePointer<Float>, logSum: UnsafePointer<Float>, scale: UnsafePointer<Float>,
                                          linear: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>) {
        columnWriteSoftmaxBlock(z, stride: stride, classes: classes, samples: samples, max: max, logSum: logSum, scale: scale,
                                linear: linear, into: g)
    }

    public static func columnSoftmax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                     bias: UnsafePointer<Double>?, storingInto out: UnsafeMutablePointer<Double>?, outStride: Int,
                                     max: UnsafeMutablePointer<Double>, sum: UnsafeMutablePointer<Double>,
                                     logSum: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) {
        columnSoftmaxBlock(z, stride: stride, classes: classes, samples: samples, bias: bias, storingInto: out,
                           outStride: outStride, max: max, sum: sum, logSum: logSum, scratch: scratch)
    }
    public static func columnCrossEntropy(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                          targets: UnsafePointer<Int>, weights: UnsafePointer<Double>,
                                          scales: UnsafePointer<Double>, zLoss: Double, into g: UnsafeMutablePointer<Double>?,
                                          losses: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) {
        columnCrossEntropyBlock(z, stride: stride, classes: classes, samples: samples, targets: targets, weights: weights,
                                scales: scales, zLoss: zLoss, into: g, losses: losses, scratch: scratch)
    }
    public static func columnScale(_ g: UnsafeMutablePointer<Double>, stride: Int, classes: Int, samples: Int,
                                   by factor: UnsafePointer<Double>) {
        columnScaleBlock(g, stride: stride, classes: classes, samples: samples, by: factor)
    }
    public static func columnSquares(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                     targets: UnsafePointer<Double>, into squares: UnsafeMutablePointer<Double>) {
        columnSquaresBlock(z, stride: stride, classes: classes, samples: samples, targets: targets, into: squares)
    }
    public static func columnMax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                 into max: UnsafeMutablePointer<Double>) {
        columnMaxBlock(z, stride: stride, classes: classes, samples: samples, into: max)
    }
    public static func columnScaledExpSums(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                           factor: UnsafePointer<Double>, max: UnsafePointer<Double>,
                                           into sums: UnsafeMutablePointer<Double>) {
        columnScaledExpSumsBlock(z, stride: stride, classes: classes, samples: samples, factor: factor, max: max, into: sums)
    }
    public static func columnWriteScaledSoftmax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                                factor: UnsafePointer<Double>, max: UnsafePointer<Double>, logSum: UnsafePointer<Double>,
                                                scale: UnsafePointer<Double>, linear: UnsafePointer<Double>,
                                                into g: UnsafeMutablePointer<Double>) {
        columnWriteScaledSoftmaxBlock(z, stride: stride, classes: classes, samples: samples, factor: factor, max: max,
                                      logSum: logSum, scale: scale, linear: linear, into: g)
    }
    public static func columnHingeSums(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                       targets: UnsafePointer<Double>, pivot: UnsafePointer<Double>, offset: UnsafePointer<Double>,
                                       floor: UnsafePointer<Double>, into sums: UnsafeMutablePointer<Double>) {
        columnHingeSumsBlock(z, stride: stride, classes: classes, samples: samples, targets: targets, pivot: pivot,
                             offset: offset, floor: floor, into: sums)
    }
    public static func columnWriteHinge(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                        pivot: UnsafePointer<Double>, offset: UnsafePointer<Double>, floor: UnsafePointer<Double>,
                                        value: UnsafePointer<Double>, linear: Bool, into g: UnsafeMutablePointer<Double>) {
        columnWriteHingeBlock(z, stride: stride, classes: classes, samples: samples, pivot: pivot, offset: offset, floor: floor,
                              value: value, linear: linear, into: g)
    }
    public static func columnWriteLinear(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                         factor: UnsafePointer<Double>, into g: UnsafeMutablePointer<Double>) {
        columnWriteLinearBlock(z, stride: stride, classes: classes, samples: samples, factor: factor, into: g)
    }
    public static func columnWriteSoftmax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                          max: UnsafePointer<Double>, logSum: UnsafePointer<Double>, scale: UnsafePointer<Double>,
                                          linear: UnsafePointer<Double>, into g: UnsafeMutablePointer<Double>) {
        columnWriteSoftmaxBlock(z, stride: stride, classes: classes, samples: samples, max: max, logSum: logSum, scale: scale,
                                linear: linear, into: g)
    }

    public static func widen(_ h: UnsafePointer<UInt16>, _ n: Int, format: HalfFormat, into out: UnsafeMutablePointer<Float>) {
        HalfConversion.widen(h, n, format: format, into: out)
    }
    public static func narrow(_ x: UnsafePointer<Float>, _ n: Int, format: HalfFormat, into out: UnsafeMutablePointer<UInt16>) {
        HalfConversion.narrow(x, n, format: format, into: out)
    }

    public static var floatColumnWidth: Int { Float.Vector.scalarCount }
    public static var doubleColumnWidth: Int { Double.Vector.scalarCount }

    public static func exp(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>) {
        mapLanes(x, n, into: out) { vexp($0) }
    }
    public static func expm1(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>) {
        mapLanes(x, n, into: out) { vexpm1($0) }
    }
    public static func log(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>) {
        mapLanes(x, n, into: out) { vlog($0) }
    }
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> { vexp(x) }
    public static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> { vexp(x) }
    public static func expShifted(_ x: SIMD16<Float>) -> SIMD16<Float> { vexpShifted(x) }
    public static func expShifted(_ x: SIMD8<Double>) -> SIMD8<Double> { vexpShifted(x) }
    public static func log(_ x: SIMD16<Float>) -> SIMD16<Float> { vlog(x) }
}

// The loops, written once over T (Float, Double) and specialised by the wrappers above.
extension RowKernels {
    /// max_j (z_j + b_j) with two running maxima, so that consecutive vectors do not wait on each
    /// other's compare (one made the compare chain the bottleneck: logit_adjusted at 32×128000 ran at
    /// half cross_entropy's speed). A NaN never replaces the max. With `flaggingNonFinite` it is also
    /// nan_policy "error"'s check of the row (`RowMaxima`): NaN instead when a z_j is NaN or +inf,
    /// from a lane flag beside the same maxima, so the max is the one the kernels' own pass finds.
    /// Without it, the flags are dead code once inlined.
    @inline(__always)
    static func rowMax<T: VectorFloat, B: BiasLanes>(_ z: UnsafePointer<T>, _ bias: B, _ n: Int,
                                                     flaggingNonFinite flagging: Bool = false) -> T where B.Scalar == T {
        typealias V = T.Vector
        let width = V.scalarCount, infinity = V(repeating: .infinity), zero = V(repeating: 0), one = V(repeating: 1)
        var even = V(repeating: -.infinity), odd = even
        var badEven = zero, badOdd = zero  // 1 in a lane that has seen a z_j that is not < +inf
        var j = 0
        while j + 2 * width <= n {
            let za = V.load(z, j), zb = V.load(z, j + width)
            let a = bias.add(to: za, j, lanes: width), b = bias.add(to: zb, j + width, lanes: width)
            even = even.replacing(with: a, where: a .> even)
            odd = odd.replacing(with: b, where: b .> odd)
            if flagging {
                badEven = one.replacing(with: badEven, where: za .< infinity)
                badOdd = one.replacing(with: badOdd, where: zb .< infinity)
            }
            j += 2 * width
        }
        V.sweep(n - j) { k, lanes in
            let zx = V.load(z, j + k, lanes: lanes, fill: -.infinity), x = bias.add(to: zx, j + k, lanes: lanes)
            even = even.replacing(with: x, where: x .> even)
            if flagging { badEven = one.replacing(with: badEven, where: zx .< infinity) }
        }
        let max = even.replacing(with: odd, where: odd .> even).largestLane
        return flagging && (badEven + badOdd).laneSum != 0 ? .nan : max
    }

    // Σ_j e_j with e_j = exp(z_j + b_j - shift); out_j = e_j when asked. Lanes past the row's end
    // read z = -inf (e = 0) and b = 0. Each case is its own loop (generic over the bias, so that the
    // variants specialise: closures here were left as calls per vector).
    @inline(__always)
    static func rowSumExp<T: VectorFloat>(_ z: UnsafePointer<T>, bias: UnsafePointer<T>?, _ n: Int, shift: T,
                                          storingInto out: UnsafeMutablePointer<T>?) -> Double {
        switch (bias, out) {
        case (let b?, let o?): sumExpLoop(z, ClassBias(values: b), n, shift: shift, storingInto: o)
        case (let b?, nil): sumExpLoop(z, ClassBias(values: b), n, shift: shift, storingInto: nil)
        case (nil, let o?): sumExpLoop(z, NoBias<T>(), n, shift: shift, storingInto: o)
        case (nil, nil): sumExpLoop(z, NoBias<T>(), n, shift: shift, storingInto: nil)
        }
    }

    @inline(__always)
    static func sumExpLoop<T: VectorFloat, B: BiasLanes>(_ z: UnsafePointer<T>, _ bias: B, _ n: Int, shift: T,
                                                         storingInto out: UnsafeMutablePointer<T>?) -> Double
        where B.Scalar == T {
        typealias V = T.Vector
        let s = V(repeating: shift)
        var total = V(repeating: 0)
        V.sweep(n) { j, lanes in
            let e = T.expShifted(bias.add(to: V.load(z, j, lanes: lanes, fill: -.infinity), j, lanes: lanes) - s)
            if let out { e.store(out, j, lanes: lanes) }
            total += e
        }
        return total.laneSum
    }

    // out_j = scale·exp((z_j + b_j - max) - logSum) + linear·z_j, the linear term 0 where z_j = -inf.
    @inline(__always)
    static func rowWriteSoftmax<T: VectorFloat>(_ z: UnsafePointer<T>, bias: UnsafePointer<T>?, _ n: Int, max: T,
                                                logSum: T, scale: T, linear: T, into out: UnsafeMutablePointer<T>) {
        if let bias {
            writeSoftmaxLoop(z, ClassBias(values: bias), n, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
        } else {
            writeSoftmaxLoop(z, NoBias<T>(), n, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
        }
    }

    @inline(__always)
    static func writeSoftmaxLoop<T: VectorFloat, B: BiasLanes>(_ z: UnsafePointer<T>, _ bias: B, _ n: Int, max: T, logSum: T,
                                                               scale: T, linear: T, into out: UnsafeMutablePointer<T>)
        where B.Scalar == T {
        typealias V = T.Vector
        let m = V(repeating: max), l = V(repeating: logSum), a = V(repeating: scale), c = V(repeating: linear)
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        if linear == 0 {
            V.sweep(n) { j, lanes in
                let x = V.load(z, j, lanes: lanes, fill: -.infinity)
                (a * T.expShifted((bias.add(to: x, j, lanes: lanes) - m) - l)).store(out, j, lanes: lanes)
            }
        } else {
            V.sweep(n) { j, lanes in
                let x = V.load(z, j, lanes: lanes, fill: -.infinity)
                let term = x * c + a * T.expShifted((bias.add(to: x, j, lanes: lanes) - m) - l)  // not fused: as rowScaleAddingLinear
                term.replacing(with: zero, where: x .== negativeInfinity).store(out, j, lanes: lanes)
            }
        }
    }

    // LogitNorm's softmax of u = c·z, exponents formed as c·(z - max): lanes past the row's end and
    // masked classes read -inf, whose e is 0 and whose z·e is taken as 0. Called with `out` known to be
    // nil or not (the wrappers' two calls), so that each variant is its own loop.
    @inline(__always)
    static func rowScaledExpSums<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int, factor: T, max: T,
                                                 storingInto out: UnsafeMutablePointer<T>?) -> (sum: Double, weighted: Double) {
        typealias V = T.Vector
        let c = V(repeating: factor), m = V(repeating: max), zero = V(repeating: 0), negativeInfinity = V(repeating: -.infinity)
        var sum = zero, weighted = zero
        V.sweep(n) { j, lanes in
            let x = V.load(z, j, lanes: lanes, fill: -.infinity)
            let masked = x .== negativeInfinity  // e = 0 there, also when the factor is 0 (0·-inf = NaN)
            let e = T.expShifted(c * (x - m)).replacing(with: zero, where: masked)
            if let out { e.store(out, j, lanes: lanes) }
            sum += e
            weighted += (x * e).replacing(with: zero, where: masked)
        }
        return (sum.laneSum, weighted.laneSum)
    }

    @inline(__always)
    static func rowWriteScaledSoftmax<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int, factor: T, max: T, logSum: T,
                                                      scale: T, linear: T, into out: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let c = V(repeating: factor), m = V(repeating: max), l = V(repeating: logSum)
        let a = V(repeating: scale), b = V(repeating: linear), zero = V(repeating: 0), negativeInfinity = V(repeating: -.infinity)
        V.sweep(n) { j, lanes in
            let x = V.load(z, j, lanes: lanes, fill: -.infinity)
            let term = x * b + a * T.expShifted(c * (x - m) - l)  // not fused: as rowScaleAddingLinear
            term.replacing(with: zero, where: x .== negativeInfinity).store(out, j, lanes: lanes)
        }
    }

    @inline(__always)
    static func rowScale<T: VectorFloat>(_ g: UnsafeMutablePointer<T>, _ n: Int, by factor: T) {
        typealias V = T.Vector
        let f = V(repeating: factor)
        V.sweep(n) { j, lanes in (V.load(UnsafePointer(g), j, lanes: lanes, fill: 0) * f).store(g, j, lanes: lanes) }
    }

    @inline(__always)
    static func rowWriteLinear<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int, factor: T, into out: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let f = V(repeating: factor), negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        V.sweep(n) { j, lanes in
            let x = V.load(z, j, lanes: lanes, fill: 0)
            (x * f).replacing(with: zero, where: x .== negativeInfinity).store(out, j, lanes: lanes)
        }
    }

    // The squares summed as `VectorFloat.addSquares` sums them: float32 ones exact in Double lanes
    // (so a square past float32's range, of a value above 1.8e19, is still counted: LogitNorm's norm
    // of such logits is finite), float64 ones compensated (Kahan). Rows of 256 values or more run two
    // sums, of the even and the odd vectors (one compensated sum's four dependent steps per vector
    // were a third of squentropy's time at 4096×1000), joined before the lanes are summed.
    @inline(__always)
    static func rowSumSquares<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int) -> Double {
        typealias V = T.Vector
        let width = V.scalarCount, negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        var even = WideLanes(), odd = WideLanes()
        var j = 0
        while n >= 256 && j + 2 * width <= n {
            let a = V.load(z, j), b = V.load(z, j + width)
            T.addSquares(a.replacing(with: zero, where: a .== negativeInfinity), into: &even)
            T.addSquares(b.replacing(with: zero, where: b .== negativeInfinity), into: &odd)
            j += 2 * width
        }
        V.sweep(n - j) { k, lanes in
            let x = V.load(z, j + k, lanes: lanes, fill: 0)
            T.addSquares(x.replacing(with: zero, where: x .== negativeInfinity), into: &even)
        }
        let total = T.total(ofSquares: j == 0 ? even : T.joined(even, odd))
        return total.isNaN ? nonFiniteSquares(z, n) : total
    }

    // One sweep for both: the max as `rowMax` and the squares of the lanes that are neither the skipped
    // class (found by lane index, carried from vector to vector and exact as T below 2^24) nor -inf as
    // `rowSumSquares` sums them, in one chain each (where `rowMax` and `rowSumSquares` have two from
    // 256 values on): for short rows, whose chains are short anyway.
    @inline(__always)
    static func rowMaxAndSquares<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int, except skipped: Int) -> (max: T, squares: Double) {
        typealias V = T.Vector
        let width = V.scalarCount
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0), target = V(repeating: T(skipped))
        let step = V(repeating: T(width))
        var index = zero  // the class of each lane
        for lane in 0..<width { index[lane] = T(lane) }
        var max = negativeInfinity, squares = WideLanes()
        @inline(__always) func add(_ x: V) {
            max = max.replacing(with: x, where: x .> max)  // a NaN never replaces the max
            let counted = x.replacing(with: zero, where: V.either(x .== negativeInfinity, index .== target))
            T.addSquares(counted, into: &squares)
        }
        var j = 0
        while j + width <= n {
            add(V.load(z, j))
            index += step
            j += width
        }
        if j < n { add(V.loadPartial(z + j, lanes: n - j, fill: -.infinity)) }
        let total = T.total(ofSquares: squares)
        return (max.largestLane, total.isNaN ? nonFiniteSquares(z, n, except: skipped) : total)
    }

    /// A sum of squares whose lanes came out NaN: NaN when a value counted is NaN; otherwise squares
    /// overflowed in a compensated sum (the first made a compensation inf - inf, which spread NaN to
    /// its lane at the next), and the sum is +inf. Out of line: rare, and a scan of the row.
    @inline(never)
    static func nonFiniteSquares<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int, except skipped: Int = -1) -> Double {
        (0..<n).contains { $0 != skipped && z[$0].isNaN } ? .nan : .infinity
    }

    // The margin loops: x = (z - pivot) + offset, "active" where x > 0 and x ≥ floor (compares are false for
    // NaN, so a NaN is never active; its own flag and output say it is there). Counts accumulate as
    // 1s in the lanes (exact up to 2^24 per lane in float32).
    @inline(__always)
    static func rowHingeSums<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int, pivot: T, offset: T, floor: T) -> HingeSums {
        typealias V = T.Vector
        let p = V(repeating: pivot), c = V(repeating: offset), lower = V(repeating: Swift.max(floor, 0))
        let zero = V(repeating: 0), one = V(repeating: 1)
        var count = zero, sum = zero, squares = zero, nan = zero
        V.sweep(n) { j, lanes in
            let x = (V.load(z, j, lanes: lanes, fill: -.infinity) - p) + c
            let inactive = zero.replacing(with: one, where: x .> zero).replacing(with: zero, where: x .< lower) .== zero
            let term = x.replacing(with: zero, where: inactive)
            count += one.replacing(with: zero, where: inactive)
            sum += term
            squares += term * term
            nan = nan.replacing(with: one, where: x .!= x)
        }
        return HingeSums(count: Int(count.laneSum), sum: sum.laneSum, squares: squares.laneSum, hasNaN: nan.laneSum > 0)
    }

    @inline(__always)
    static func rowWriteHinge<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int, pivot: T, offset: T, floor: T, value: T, linear: Bool,
                                              into out: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let p = V(repeating: pivot), c = V(repeating: offset), lower = V(repeating: Swift.max(floor, 0))
        let zero = V(repeating: 0), v = V(repeating: value)
        V.sweep(n) { j, lanes in
            let x = (V.load(z, j, lanes: lanes, fill: -.infinity) - p) + c
            let g = linear ? v * x : v
            let inactive = zero.replacing(with: V(repeating: 1), where: x .> zero)
                .replacing(with: zero, where: x .< lower) .== zero
            g.replacing(with: zero, where: inactive).replacing(with: x, where: x .!= x).store(out, j, lanes: lanes)
        }
    }

    /// out[k] = f(x[k]) for k < n, eight lanes at a time (the last vector partial, its missing lanes
    /// read as 0 and not written).
    @inline(__always)
    static func mapLanes(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>,
                         _ f: (SIMD8<Double>) -> SIMD8<Double>) {
        typealias V = SIMD8<Double>
        V.sweep(n) { j, lanes in f(V.load(x, j, lanes: lanes, fill: 0)).store(out, j, lanes: lanes) }
    }

    @inline(__always)
    static func rowAllBelowInfinity<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int) -> Bool {
        typealias V = T.Vector
        let infinity = V(repeating: .infinity), zero = V(repeating: 0), one = V(repeating: 1)
        var bad = zero  // 1 in a lane that has seen a value that is not < +inf (NaN or +inf)
        V.sweep(n) { j, lanes in
            bad = one.replacing(with: bad, where: V.load(z, j, lanes: lanes, fill: 0) .< infinity)
        }
        return bad.laneSum == 0
    }

    // The targets counted and checked in vector lanes, without a branch per target (the scalar loop
    // with its early exit was 5% of cross_entropy's time at 8×21×128×128): per lane, the number kept
    // (not `ignore`) and the number bad (neither `ignore` nor in [0, classes), an unsigned compare),
    // over runs of 256 targets; a run with a bad target is walked again for the first one. The counts
    // are 1s in floating-point lanes whose masks are the targets' (exact: at most 32 per lane in a
    // run), summed by `laneSum`, as the hinge sums count: a sum of integer lanes took the standard
    // library's generic `wrappedSum`, which every build emitted and the linker shares (Tests/dispatch
    // refuses such a function). Each type has its own loop, on its concrete vectors.
    @inline(__always)
    static func countTargets(_ t: UnsafePointer<Int64>, _ n: Int, classes: Int, ignore: Int64) -> Int {
        typealias V = SIMD8<Int64>
        typealias Counts = SIMD8<Double>
        let skip = V(repeating: ignore), bound = SIMD8<UInt64>(repeating: UInt64(classes))
        let zero = Counts(repeating: 0), one = Counts(repeating: 1)
        return countTargetRuns(t, n, classes: classes, ignore: ignore) { start, end in
            var kept = zero, bad = zero, j = start
            while j + V.scalarCount <= end {
                let y = UnsafeRawPointer(t + j).loadUnaligned(as: V.self)
                let k = one.replacing(with: zero, where: y .== skip)
                kept += k
                bad += k.replacing(with: zero, where: unsafeBitCast(y, to: SIMD8<UInt64>.self) .< bound)
                j += V.scalarCount
            }
            return (Int(kept.laneSum), Int(bad.laneSum), j)
        }
    }

    @inline(__always)
    static func countTargets(_ t: UnsafePointer<Int32>, _ n: Int, classes: Int, ignore: Int64) -> Int {
        typealias V = SIMD16<Int32>
        typealias Counts = SIMD16<Float>
        // An ignore_index outside Int32's range matches no target (no lane equals the stand-in then).
        let matchable = Int64(Int32(truncatingIfNeeded: ignore)) == ignore
        let skip = V(repeating: Int32(truncatingIfNeeded: ignore))
        let bound = SIMD16<UInt32>(repeating: UInt32(Swift.min(classes, Int(UInt32.max))))
        let zero = Counts(repeating: 0), one = Counts(repeating: 1), never = SIMDMask<V>(repeating: false)
        return countTargetRuns(t, n, classes: classes, ignore: ignore) { start, end in
            var kept = zero, bad = zero, j = start
            while j + V.scalarCount <= end {
                let y = UnsafeRawPointer(t + j).loadUnaligned(as: V.self)
                let k = one.replacing(with: zero, where: matchable ? y .== skip : never)
                kept += k
                bad += k.replacing(with: zero, where: unsafeBitCast(y, to: SIMD16<UInt32>.self) .< bound)
                j += V.scalarCount
            }
            return (Int(kept.laneSum), Int(bad.laneSum), j)
        }
    }

    /// The runs of `countTargets`: `vectors(start, end)` counts the run's whole vectors and returns
    /// the kept and bad counts and where it stopped; the tail and the search for the first bad target
    /// are scalar.
    @inline(__always)
    static func countTargetRuns<I: FixedWidthInteger>(_ t: UnsafePointer<I>, _ n: Int, classes: Int, ignore: Int64,
                                                      _ vectors: (Int, Int) -> (kept: Int, bad: Int, end: Int)) -> Int {
        @inline(__always) func isBad(_ y: Int64) -> Bool { y != ignore && UInt64(bitPattern: y) >= UInt64(classes) }
        let run = 256
        var total = 0, start = 0
        while start < n {
            let end = Swift.min(n, start + run)
            var (count, badCount, j) = vectors(start, end)
            while j < end {
                let y = Int64(t[j])
                count &+= y == ignore ? 0 : 1
                badCount &+= isBad(y) ? 1 : 0
                j += 1
            }
            if badCount != 0 {
                var i = start
                while !isBad(Int64(t[i])) { i += 1 }
                return -1 - i
            }
            total &+= count
            start = end
        }
        return total
    }

    // The column loops: the row loops' passes with the class axis walked by `stride` and every lane
    // its own sample (its own max and sum), P samples a vector at a time. Each pass takes the classes
    // in turn and sweeps the P samples of a class (contiguous), so memory is read in long runs; the
    // per-sample running values live in P-long buffers (in L1). A sample that is all -inf is shifted
    // by 0 instead of -inf, so its terms are exp(-inf) = 0 rather than NaN. Lane-by-lane work reads
    // memory, never the vectors' lanes (see `spill`).
    @inline(__always)
    static func columnSoftmaxBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                   bias: UnsafePointer<T>?, storingInto out: UnsafeMutablePointer<T>?,
                                                   outStride: Int, max: UnsafeMutablePointer<T>,
                                                   sum: UnsafeMutablePointer<Double>,
                                                   logSum: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let totals = scratch
        columnExpSum(z, stride: stride, classes: classes, samples: samples, bias: bias, storingInto: out,
                     outStride: outStride, max: max, sum: totals, shifts: scratch + samples)
        for k in 0..<samples { sum[k] = Double(totals[k]) }
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) { T.log(V.load(totals, v)).spill(to: totals + v) }
        for k in 0..<samples { logSum[k] = Double(totals[k]) }
    }

    /// The two passes of a column block: max_k (written to `max`), then Σ_j exp(z_jk + b_j - max_k)
    /// (written to `sum`), with the terms written to `out` (class j at + j·outStride) when it is
    /// given. `shifts`: P values of working space.
    @inline(__always)
    static func columnExpSum<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                             bias: UnsafePointer<T>?, storingInto out: UnsafeMutablePointer<T>?,
                                             outStride: Int, max: UnsafeMutablePointer<T>, sum: UnsafeMutablePointer<T>,
                                             shifts: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let width = V.scalarCount, negativeInfinity = V(repeating: -.infinity)
        for v in Swift.stride(from: 0, to: samples, by: width) { negativeInfinity.store(max, v) }
        let ahead = prefetchDistance(stride: stride, samples: samples)
        for j in 0..<classes {
            let row = z + j * stride, b = V(repeating: bias?[j] ?? 0)
            for v in Swift.stride(from: 0, to: samples, by: width) {
                losskit_prefetch_to_l2(row + ahead + v)
                let x = V.load(row, v) + b, m = V.load(max, v)
                m.replacing(with: x, where: x .> m).store(max, v)
            }
        }
        columnExpPass(z, stride: stride, classes: classes, samples: samples, bias: bias, storingInto: out,
                      outStride: outStride, max: max, sum: sum, shifts: shifts)
    }

    /// A column block's second pass, from its maxima: the shifts (the max, or 0 for an all -inf
    /// sample), then Σ_j exp(z_jk + b_j - shift_k) into `sum`, with the terms written to `out` (class j
    /// at + j·outStride) when it is given.
    @inline(__always)
    static func columnExpPass<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                              bias: UnsafePointer<T>?, storingInto out: UnsafeMutablePointer<T>?,
                                              outStride: Int, max: UnsafePointer<T>, sum: UnsafeMutablePointer<T>,
                                              shifts: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            let m = V.load(max, v)
            m.replacing(with: zero, where: m .== negativeInfinity).store(shifts, v)
            zero.store(sum, v)
        }
        for j in 0..<classes {
            columnClassExp(z + j * stride, bias: bias?[j] ?? 0, samples: samples, shifts: shifts, sum: sum,
                           storingInto: out == nil ? nil : out! + j * outStride)
        }
    }

    /// How far past the value being read a column pass that reads a tile first asks for its next
    /// line (`losskit_prefetch_to_l2`). On an (N, C, d…) batch, each class's next P positions (the next
    /// tile's, or the next sample's first class): the class planes, 64 KB apart at 128×128, are more
    /// streams than the hardware prefetcher follows (8×21×128×128, hot loop: cross_entropy 0.95× the
    /// time, focal and the expectation 0.92×, float64 0.90×). A transposed tile (stride = P) is in
    /// cache already: the hint is then for the line being read.
    @inline(__always)
    static func prefetchDistance(stride: Int, samples: Int) -> Int { stride > samples ? samples : 0 }

    /// One class of a column block: sum_k += e_k = exp(z_k + b - shift_k), out_k = e_k when asked.
    /// Each store first asks for the line P values on to be owned (the next tile's, prefetchw where the
    /// CPU has it): the stores into the caller's gradient otherwise waited on a read of each line
    /// for ownership (8×21×128×128 float32: cross_entropy 0.81× the time, focal 0.90×, expectation 0.93×).
    /// Out of line on purpose: inlined into the column kernels, LLVM split this loop's vectors into
    /// 128-bit pieces in the AVX-512 build (four times the instructions).
    @inline(never)
    static func columnClassExp<T: VectorFloat>(_ row: UnsafePointer<T>, bias: T, samples: Int,
                                               shifts: UnsafePointer<T>, sum: UnsafeMutablePointer<T>,
                                               storingInto out: UnsafeMutablePointer<T>?) {
        typealias V = T.Vector
        let b = V(repeating: bias)
        if let out {
            for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
                losskit_prefetch_for_write(out + samples + v)
                let e = T.expShifted(V.load(row, v) + b - V.load(shifts, v))
                e.store(out, v)
                (V.load(UnsafePointer(sum), v) + e).store(sum, v)
            }
        } else {
            for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
                (V.load(UnsafePointer(sum), v) + T.expShifted(V.load(row, v) + b - V.load(shifts, v))).store(sum, v)
            }
        }
    }

    /// Per class, the squares of the P samples added to their Double sums, leaving out -inf and the
    /// samples whose target is this class.
    @inline(__always)
    static func columnSquaresBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                   targets: UnsafePointer<T>, into squares: UnsafeMutablePointer<Double>) {
        for k in 0..<samples { squares[k] = 0 }
        let ahead = prefetchDistance(stride: stride, samples: samples)
        for j in 0..<classes {
            columnClassSquares(z + j * stride, T(j), samples: samples, ahead: ahead, targets: targets, into: squares)
        }
    }

    /// Out of line, as `columnClassExp`; a first read of the tile (squentropy, square, logit_norm), so
    /// it asks for the line `ahead` values on (`prefetchDistance`).
    @inline(never)
    static func columnClassSquares<T: VectorFloat>(_ row: UnsafePointer<T>, _ j: T, samples: Int, ahead: Int,
                                                   targets: UnsafePointer<T>, into squares: UnsafeMutablePointer<Double>) {
        typealias V = T.Vector
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0), cls = V(repeating: j)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            losskit_prefetch_to_l2(row + ahead + v)
            let x = V.load(row, v)
            T.addSquares(x.replacing(with: zero, where: V.either(x .== negativeInfinity, V.load(targets, v) .== cls)),
                         toDoublesAt: squares + v)
        }
    }

    // The column passes of the losses' own column kernels: each walks the classes, calling a one-class
    // loop kept out of line (as `columnClassExp`). The loops that write g ask, as `columnClassExp`
    // does, for the next tile's line of g to be owned before each store (squentropy, square, hem,
    // multi_margin 8×21×128×128 0.93–0.98× the time from memory, logit_norm 1.01×).

    @inline(__always)
    static func columnMaxBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                               into max: UnsafeMutablePointer<T>) {
        for k in 0..<samples { max[k] = -.infinity }
        for j in 0..<classes { columnClassMax(z + j * stride, samples: samples, into: max) }
    }

    @inline(__always)
    static func columnScaledExpSumsBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                         factor: UnsafePointer<T>, max: UnsafePointer<T>,
                                                         into sums: UnsafeMutablePointer<Double>) {
        for k in 0..<2 * samples { sums[k] = 0 }
        for j in 0..<classes { columnClassScaledExpSums(z + j * stride, samples: samples, factor: factor, max: max, into: sums) }
    }

    @inline(__always)
    static func columnWriteScaledSoftmaxBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                              factor: UnsafePointer<T>, max: UnsafePointer<T>,
                                                              logSum: UnsafePointer<T>, scale: UnsafePointer<T>,
                                                              linear: UnsafePointer<T>, into g: UnsafeMutablePointer<T>) {
        for j in 0..<classes {
            columnClassWriteScaledSoftmax(z + j * stride, samples: samples, factor: factor, max: max, logSum: logSum, scale: scale,
                                          linear: linear, into: g + j * stride)
        }
    }

    @inline(__always)
    static func columnHingeSumsBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                     targets: UnsafePointer<T>, pivot: UnsafePointer<T>, offset: UnsafePointer<T>,
                                                     floor: UnsafePointer<T>, into sums: UnsafeMutablePointer<Double>) {
        for k in 0..<4 * samples { sums[k] = 0 }
        let ahead = prefetchDistance(stride: stride, samples: samples)
        for j in 0..<classes {
            columnClassHingeSums(z + j * stride, T(j), samples: samples, ahead: ahead, targets: targets, pivot: pivot,
                                 offset: offset, floor: floor, into: sums)
        }
    }

    @inline(__always)
    static func columnWriteHingeBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                      pivot: UnsafePointer<T>, offset: UnsafePointer<T>, floor: UnsafePointer<T>,
                                                      value: UnsafePointer<T>, linear: Bool, into g: UnsafeMutablePointer<T>) {
        for j in 0..<classes {
            columnClassWriteHinge(z + j * stride, samples: samples, pivot: pivot, offset: offset, floor: floor, value: value,
                                  linear: linear, into: g + j * stride)
        }
    }

    @inline(__always)
    static func columnWriteLinearBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                       factor: UnsafePointer<T>, into g: UnsafeMutablePointer<T>) {
        for j in 0..<classes { columnClassWriteLinear(z + j * stride, samples: samples, factor: factor, into: g + j * stride) }
    }

    @inline(__always)
    static func columnWriteSoftmaxBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                        max: UnsafePointer<T>, logSum: UnsafePointer<T>, scale: UnsafePointer<T>,
                                                        linear: UnsafePointer<T>, into g: UnsafeMutablePointer<T>) {
        for j in 0..<classes {
            columnClassWriteSoftmax(z + j * stride, samples: samples, max: max, logSum: logSum, scale: scale, linear: linear,
                                    into: g + j * stride)
        }
    }

    /// One class of `columnMax`, out of line as `columnClassExp`.
    @inline(never)
    static func columnClassMax<T: VectorFloat>(_ row: UnsafePointer<T>, samples: Int, into max: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            let x = V.load(row, v), m = V.load(UnsafePointer(max), v)
            m.replacing(with: x, where: x .> m).store(max, v)  // a NaN never replaces the max
        }
    }

    /// One class of `columnScaledExpSums`, out of line as `columnClassExp`: a masked class (-inf) adds
    /// 0 to both sums, also when the factor is 0 (0·-inf would be NaN).
    @inline(never)
    static func columnClassScaledExpSums<T: VectorFloat>(_ row: UnsafePointer<T>, samples: Int, factor: UnsafePointer<T>,
                                                         max: UnsafePointer<T>, into sums: UnsafeMutablePointer<Double>) {
        typealias V = T.Vector
        let zero = V(repeating: 0), negativeInfinity = V(repeating: -.infinity)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            let x = V.load(row, v), masked = x .== negativeInfinity
            let e = T.expShifted(V.load(factor, v) * (x - V.load(max, v))).replacing(with: zero, where: masked)
            T.add(e, toDoublesAt: sums + v)
            T.add((x * e).replacing(with: zero, where: masked), toDoublesAt: sums + samples + v)
        }
    }

    /// One class of `columnWriteScaledSoftmax`, out of line as `columnClassExp`.
    @inline(never)
    static func columnClassWriteScaledSoftmax<T: VectorFloat>(_ row: UnsafePointer<T>, samples: Int, factor: UnsafePointer<T>,
                                                              max: UnsafePointer<T>, logSum: UnsafePointer<T>,
                                                              scale: UnsafePointer<T>, linear: UnsafePointer<T>,
                                                              into g: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let zero = V(repeating: 0), negativeInfinity = V(repeating: -.infinity)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            losskit_prefetch_for_write(g + samples + v)
            let x = V.load(row, v)
            let p = T.expShifted(V.load(factor, v) * (x - V.load(max, v)) - V.load(logSum, v))
            let term = x * V.load(linear, v) + V.load(scale, v) * p  // not fused: as the in-place path
            term.replacing(with: zero, where: x .== negativeInfinity).store(g, v)
        }
    }

    /// One class of `columnHingeSums`, out of line as `columnClassExp`; the row loops' rule of activity.
    /// It asks for the line `ahead` values on (`prefetchDistance`).
    @inline(never)
    static func columnClassHingeSums<T: VectorFloat>(_ row: UnsafePointer<T>, _ j: T, samples: Int, ahead: Int,
                                                     targets: UnsafePointer<T>, pivot: UnsafePointer<T>, offset: UnsafePointer<T>,
                                                     floor: UnsafePointer<T>, into sums: UnsafeMutablePointer<Double>) {
        typealias V = T.Vector
        let zero = V(repeating: 0), one = V(repeating: 1), cls = V(repeating: j)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            losskit_prefetch_to_l2(row + ahead + v)  // the next tile, whose targets' logits are gathered first
            let x = (V.load(row, v) - V.load(pivot, v)) + V.load(offset, v)
            let own = V.load(targets, v) .== cls
            let active = zero.replacing(with: one, where: x .> zero).replacing(with: zero, where: x .< V.load(floor, v))
                .replacing(with: zero, where: own)  // 1 where active (compares are false for NaN)
            let term = x.replacing(with: zero, where: active .== zero)
            T.add(active, toDoublesAt: sums + v)
            T.add(term, toDoublesAt: sums + samples + v)
            T.add(term * term, toDoublesAt: sums + 2 * samples + v)
            T.add(zero.replacing(with: one, where: x .!= x).replacing(with: zero, where: own), toDoublesAt: sums + 3 * samples + v)
        }
    }

    /// One class of `columnWriteHinge`, out of line as `columnClassExp`.
    @inline(never)
    static func columnClassWriteHinge<T: VectorFloat>(_ row: UnsafePointer<T>, samples: Int, pivot: UnsafePointer<T>,
                                                      offset: UnsafePointer<T>, floor: UnsafePointer<T>, value: UnsafePointer<T>,
                                                      linear: Bool, into g: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let zero = V(repeating: 0), one = V(repeating: 1)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            losskit_prefetch_for_write(g + samples + v)
            let x = (V.load(row, v) - V.load(pivot, v)) + V.load(offset, v), a = V.load(value, v)
            let out = linear ? a * x : a
            let inactive = zero.replacing(with: one, where: x .> zero).replacing(with: zero, where: x .< V.load(floor, v)) .== zero
            out.replacing(with: zero, where: inactive).replacing(with: x, where: x .!= x).store(g, v)
        }
    }

    /// One class of `columnWriteLinear`, out of line as `columnClassExp`.
    @inline(never)
    static func columnClassWriteLinear<T: VectorFloat>(_ row: UnsafePointer<T>, samples: Int, factor: UnsafePointer<T>,
                                                       into g: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            losskit_prefetch_for_write(g + samples + v)
            let x = V.load(row, v)
            (x * V.load(factor, v)).replacing(with: zero, where: x .== negativeInfinity).store(g, v)
        }
    }

    /// One class of `columnWriteSoftmax`, out of line as `columnClassExp`.
    @inline(never)
    static func columnClassWriteSoftmax<T: VectorFloat>(_ row: UnsafePointer<T>, samples: Int, max: UnsafePointer<T>,
                                                        logSum: UnsafePointer<T>, scale: UnsafePointer<T>,
                                                        linear: UnsafePointer<T>, into g: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            losskit_prefetch_for_write(g + samples + v)
            let x = V.load(row, v)
            let p = T.expShifted((x - V.load(max, v)) - V.load(logSum, v))
            let term = x * V.load(linear, v) + V.load(scale, v) * p  // not fused: as the in-place path
            // Where x = -inf, p = 0 and the linear term is left out (0·-inf would be NaN).
            term.replacing(with: zero, where: x .== negativeInfinity).store(g, v)
        }
    }

    @inline(__always)
    static func columnScaleBlock<T: VectorFloat>(_ g: UnsafeMutablePointer<T>, stride: Int, classes: Int, samples: Int,
                                                 by factor: UnsafePointer<T>) {
        typealias V = T.Vector
        for j in 0..<classes {
            let row = g + j * stride
            for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
                (V.load(UnsafePointer(row), v) * V.load(factor, v)).store(row, v)
            }
        }
    }

    // Cross-entropy on columns, every step in vector lanes (the generic column kernel's per-sample
    // rule is scalar; this is the loss that has to be fast):
    //   lse_k = m_k + log Σ_j exp(z_jk - m_k),   L_k = w_k·(lse_k - z_{y_k,k} + λ·lse_k²)
    //   g_jk = s_k·w_k·((1 + 2λ·lse_k)·e_jk/Σ_j e_jk - [j = y_k])
    // Read 1: the max, z_y caught as its class goes by; read 2: e = exp(z - m) left in g; then per
    // sample (W at a time) the loss, the factor of g and the target's entry; last, g scaled in place,
    // the target's entry put in as its class goes by. No step gathers or scatters a sample's target.
    // A sample whose classes are all -inf: L = w·inf, g = 0. w = 0 (ignored, or a zero class weight):
    // L = 0, g = 0 (also when the sample's logits hold a NaN).
    @inline(__always)
    static func columnCrossEntropyBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, samples: Int,
                                                        targets: UnsafePointer<Int>, weights: UnsafePointer<T>,
                                                        scales: UnsafePointer<T>, zLoss: T, into g: UnsafeMutablePointer<T>?,
                                                        losses: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let targetClass = scratch, targetLogit = targetClass + samples, largest = targetLogit + samples
        let total = largest + samples, shifts = total + samples, factor = shifts + samples, targetEntry = factor + samples
        for k in 0..<samples { targetClass[k] = T(targets[k]) }  // -1 (ignored) matches no class
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            negativeInfinity.store(largest, v)
            zero.store(targetLogit, v)
        }
        let ahead = prefetchDistance(stride: stride, samples: samples)
        for j in 0..<classes {
            columnClassMaxCatchingTarget(z + j * stride, T(j), samples: samples, ahead: ahead, targetClass: targetClass,
                                         max: largest, targetLogit: targetLogit)
        }
        columnExpPass(z, stride: stride, classes: classes, samples: samples, bias: nil, storingInto: g, outStride: stride,
                      max: largest, sum: total, shifts: shifts)
        let loss = shifts  // each vector of shifts is read before its loss is written over it
        let zeroedNaN = columnCrossEntropyTerms(samples: samples, zLoss: zLoss, max: largest, shifts: shifts, sum: total,
                                                weights: weights, scales: scales, targetLogit: targetLogit, factor: factor,
                                                targetEntry: targetEntry, loss: loss)
        for k in 0..<samples { losses[k] = Double(loss[k]) }
        guard let g else { return }
        for j in 0..<classes {
            columnClassScaleSettingTarget(g + j * stride, T(j), samples: samples, factor: factor, targetClass: targetClass,
                                          targetEntry: targetEntry)
        }
        guard zeroedNaN else { return }
        for k in 0..<samples where weights[k] == 0 && total[k].isNaN {
            for j in 0..<classes { g[j * stride + k] = 0 }
        }
    }

    /// One class of the cross-entropy's first read, out of line as `columnClassExp`: the running max
    /// of z + 0 (as `columnExpSum` takes it), and z itself kept in `targetLogit` for the samples whose
    /// target is this class.
    @inline(never)
    static func columnClassMaxCatchingTarget<T: VectorFloat>(_ row: UnsafePointer<T>, _ j: T, samples: Int, ahead: Int,
                                                             targetClass: UnsafePointer<T>, max: UnsafeMutablePointer<T>,
                                                             targetLogit: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let cls = V(repeating: j), zero = V(repeating: 0)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            losskit_prefetch_to_l2(row + ahead + v)
            let z = V.load(row, v), x = z + zero, m = V.load(UnsafePointer(max), v)
            m.replacing(with: x, where: x .> m).store(max, v)
            V.load(UnsafePointer(targetLogit), v).replacing(with: z, where: V.load(targetClass, v) .== cls).store(targetLogit, v)
        }
    }

    /// One class of the cross-entropy's last pass, out of line as `columnClassExp`: g = e·factor, or
    /// the target's entry for the samples whose target is this class.
    @inline(never)
    static func columnClassScaleSettingTarget<T: VectorFloat>(_ g: UnsafeMutablePointer<T>, _ j: T, samples: Int,
                                                              factor: UnsafePointer<T>, targetClass: UnsafePointer<T>,
                                                              targetEntry: UnsafePointer<T>) {
        typealias V = T.Vector
        let cls = V(repeating: j)
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            (V.load(UnsafePointer(g), v) * V.load(factor, v))
                .replacing(with: V.load(targetEntry, v), where: V.load(targetClass, v) .== cls).store(g, v)
        }
    }
}

extension RowKernels {
    /// `columnCrossEntropyBlock`'s per-sample terms, W samples a vector: the loss (into `loss`, which
    /// may be `shifts`), the factor s·w·(1 + 2λ·lse)/Σ of g (into `factor`) and the target's entry of g
    /// (into `targetEntry`). The entry is s·w·((1 + 2λ·lse)·e_y/Σ - 1) in Double lanes (it cancels as
    /// p_y → 1), with e_y = exp(z_y - shift) recomputed as the exp pass formed it; where the sample is
    /// masked (every class -inf) or has no weight it is e_y·factor, what the scaling gives. Returns
    /// whether a sample of weight 0 has a NaN sum (its column is then zeroed). Out of line: inlined
    /// into the column kernel, LLVM split these vectors (the log among them) into 128-bit pieces in
    /// the AVX-512 build, as `columnClassExp`'s.
    @inline(never)
    static func columnCrossEntropyTerms<T: VectorFloat>(samples: Int, zLoss: T, max largest: UnsafePointer<T>,
                                                        shifts: UnsafePointer<T>, sum total: UnsafePointer<T>,
                                                        weights: UnsafePointer<T>, scales: UnsafePointer<T>,
                                                        targetLogit: UnsafePointer<T>, factor factorOut: UnsafeMutablePointer<T>,
                                                        targetEntry: UnsafeMutablePointer<T>,
                                                        loss lossOut: UnsafeMutablePointer<T>) -> Bool {
        typealias V = T.Vector
        let zero = V(repeating: 0), one = V(repeating: 1), two = V(repeating: 2), infinity = V(repeating: .infinity)
        let lambda = V(repeating: zLoss)
        var zeroedNaN = zero  // 1 in a lane that has seen a sample of weight 0 with a NaN sum
        for v in Swift.stride(from: 0, to: samples, by: V.scalarCount) {
            let m = V.load(largest, v), sum = V.load(total, v), w = V.load(weights, v), s = V.load(scales, v)
            let zy = V.load(targetLogit, v), shift = V.load(shifts, v)
            let logSum = T.log(sum), lse = m + logSum
            let masked = zero.replacing(with: one, where: m .== zero - infinity).replacing(with: zero, where: sum .!= sum)
            let isMasked = masked .> zero, unweighted = w .== zero
            // lse - z_y as (m - z_y) + log Σ: no cancellation when the target dominates (small losses).
            let nll = (m - zy) + logSum
            let loss = (w * (nll + lambda * lse * lse))
                .blended(with: w * infinity, where: isMasked)
                .blended(with: zero, where: unweighted)
            let probabilityScale = (lambda * lse).multiplied(by: two, adding: one)
            let factor = (s * w * probabilityScale / sum)
                .blended(with: zero, where: isMasked).blended(with: zero, where: unweighted)
            let targetExp = T.expShifted(zy + zero - shift)
            T.targetGradient(exp: targetExp, sum: sum, scale: s, weight: w, probabilityScale: probabilityScale)
                .blended(with: targetExp * factor, where: V.either(isMasked, unweighted)).store(targetEntry, v)
            zeroedNaN = one.replacing(with: zeroedNaN, where: V.either(sum .== sum, w .!= zero))
            loss.store(lossOut, v)
            factor.store(factorOut, v)
        }
        return zeroedNaN.laneSum != 0
    }
}

/// A per-class bias added to a vector of logits: none, or b_j from memory.
protocol BiasLanes {
    associatedtype Scalar: VectorFloat
    func add(to x: Scalar.Vector, _ j: Int, lanes: Int) -> Scalar.Vector
}

struct NoBias<Scalar: VectorFloat>: BiasLanes {
    @inline(__always) func add(to x: Scalar.Vector, _ j: Int, lanes: Int) -> Scalar.Vector { x }
}

struct ClassBias<Scalar: VectorFloat>: BiasLanes {
    let values: UnsafePointer<Scalar>
    @inline(__always) func add(to x: Scalar.Vector, _ j: Int, lanes: Int) -> Scalar.Vector {
        x + Scalar.Vector.load(values, j, lanes: lanes, fill: 0)
    }
}

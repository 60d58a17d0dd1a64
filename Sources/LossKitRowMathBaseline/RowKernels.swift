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
        bias.map { rowMax(z, $0, n) } ?? rowMax(z, n)
    }
    public static func max(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int) -> Double {
        bias.map { rowMax(z, $0, n) } ?? rowMax(z, n)
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

    public static func allBelowInfinity(_ z: UnsafePointer<Float>, _ n: Int) -> Bool { rowAllBelowInfinity(z, n) }
    public static func allBelowInfinity(_ z: UnsafePointer<Double>, _ n: Int) -> Bool { rowAllBelowInfinity(z, n) }

    public static func columnSoftmax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, bias: UnsafePointer<Float>?,
                                     storingInto out: UnsafeMutablePointer<Float>?, max: UnsafeMutablePointer<Float>,
                                     sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>) {
        columnSoftmaxBlock(z, stride: stride, classes: classes, bias: bias, storingInto: out, max: max, sum: sum, logSum: logSum)
    }
    public static func columnSoftmax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, bias: UnsafePointer<Double>?,
                                     storingInto out: UnsafeMutablePointer<Double>?, max: UnsafeMutablePointer<Double>,
                                     sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>) {
        columnSoftmaxBlock(z, stride: stride, classes: classes, bias: bias, storingInto: out, max: max, sum: sum, logSum: logSum)
    }

    public static func columnScale(_ g: UnsafeMutablePointer<Float>, stride: Int, classes: Int, by factor: UnsafePointer<Float>) {
        columnScaleBlock(g, stride: stride, classes: classes, by: factor)
    }
    public static func columnScale(_ g: UnsafeMutablePointer<Double>, stride: Int, classes: Int, by factor: UnsafePointer<Double>) {
        columnScaleBlock(g, stride: stride, classes: classes, by: factor)
    }

    public static var floatColumnWidth: Int { Float.Vector.scalarCount }
    public static var doubleColumnWidth: Int { Double.Vector.scalarCount }

    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> { vexp(x) }
    public static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> { vexp(x) }
    public static func log(_ x: SIMD16<Float>) -> SIMD16<Float> { vlog(x) }
}

// The loops, written once over T (Float, Double) and specialised by the wrappers above.
extension RowKernels {
    /// Two running maxima, so that consecutive vectors do not wait on each other's compare.
    @inline(__always)
    static func rowMax<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int) -> T {
        typealias V = T.Vector
        let width = V.scalarCount
        var even = V(repeating: -.infinity), odd = even
        var j = 0
        while j + 2 * width <= n {
            let a = V.load(z, j), b = V.load(z, j + width)
            even = even.replacing(with: a, where: a .> even)  // a NaN never replaces the max
            odd = odd.replacing(with: b, where: b .> odd)
            j += 2 * width
        }
        V.sweep(n - j) { k, lanes in
            let x = V.load(z, j + k, lanes: lanes, fill: -.infinity)
            even = even.replacing(with: x, where: x .> even)
        }
        return largestLane(even.replacing(with: odd, where: odd .> even))
    }

    /// max_j (z_j + b_j), one running maximum (the biased row is rare: logit_adjusted).
    @inline(__always)
    static func rowMax<T: VectorFloat>(_ z: UnsafePointer<T>, _ bias: UnsafePointer<T>, _ n: Int) -> T {
        typealias V = T.Vector
        var largest = V(repeating: -.infinity)
        V.sweep(n) { j, lanes in
            let x = V.load(z, j, lanes: lanes, fill: -.infinity) + V.load(bias, j, lanes: lanes, fill: 0)
            largest = largest.replacing(with: x, where: x .> largest)
        }
        return largestLane(largest)
    }

    @inline(__always)
    static func largestLane<V: LaneVector>(_ v: V) -> V.Scalar {
        var result = -V.Scalar.infinity
        for lane in 0..<V.scalarCount where v[lane] > result { result = v[lane] }
        return result
    }

    // Σ_j e_j with e_j = exp(z_j + b_j - shift); out_j = e_j when asked. Lanes past the row's end
    // read z = -inf (e = 0) and b = 0.
    @inline(__always)
    static func rowSumExp<T: VectorFloat>(_ z: UnsafePointer<T>, bias: UnsafePointer<T>?, _ n: Int, shift: T,
                                          storingInto out: UnsafeMutablePointer<T>?) -> Double {
        typealias V = T.Vector
        let s = V(repeating: shift)
        var total = V(repeating: 0)
        @inline(__always) func run(_ term: (_ j: Int, _ lanes: Int) -> V) {
            if let out {
                V.sweep(n) { j, lanes in
                    let e = term(j, lanes)
                    e.store(out, j, lanes: lanes)
                    total += e
                }
            } else {
                V.sweep(n) { j, lanes in total += term(j, lanes) }
            }
        }
        if let bias {
            run { j, lanes in T.exp(V.load(z, j, lanes: lanes, fill: -.infinity) + V.load(bias, j, lanes: lanes, fill: 0) - s) }
        } else {
            run { j, lanes in T.exp(V.load(z, j, lanes: lanes, fill: -.infinity) - s) }
        }
        return total.laneSum
    }

    // out_j = scale·exp((z_j + b_j - max) - logSum) + linear·z_j, the linear term 0 where z_j = -inf.
    @inline(__always)
    static func rowWriteSoftmax<T: VectorFloat>(_ z: UnsafePointer<T>, bias: UnsafePointer<T>?, _ n: Int, max: T,
                                                logSum: T, scale: T, linear: T, into out: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let m = V(repeating: max), l = V(repeating: logSum), a = V(repeating: scale), c = V(repeating: linear)
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        @inline(__always) func run(_ shifted: (_ x: V, _ j: Int, _ lanes: Int) -> V) {
            if linear == 0 {
                V.sweep(n) { j, lanes in
                    let x = V.load(z, j, lanes: lanes, fill: -.infinity)
                    (a * T.exp(shifted(x, j, lanes) - l)).store(out, j, lanes: lanes)
                }
            } else {
                V.sweep(n) { j, lanes in
                    let x = V.load(z, j, lanes: lanes, fill: -.infinity)
                    let term = x.multiplied(by: c, adding: a * T.exp(shifted(x, j, lanes) - l))
                    term.replacing(with: zero, where: x .== negativeInfinity).store(out, j, lanes: lanes)
                }
            }
        }
        if let bias {
            run { x, j, lanes in x + V.load(bias, j, lanes: lanes, fill: 0) - m }
        } else {
            run { x, _, _ in x - m }
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

    // Compensated (Kahan) sum in the lanes: the squares of a float32 row keep their Double-like accuracy.
    @inline(__always)
    static func rowSumSquares<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int) -> Double {
        typealias V = T.Vector
        let negativeInfinity = V(repeating: -.infinity), zero = V(repeating: 0)
        var sum = zero, compensation = zero
        V.sweep(n) { j, lanes in
            let x = V.load(z, j, lanes: lanes, fill: 0)
            let term = (x * x).replacing(with: zero, where: x .== negativeInfinity) - compensation
            let next = sum + term
            compensation = (next - sum) - term
            sum = next
        }
        return sum.laneSum - compensation.laneSum
    }

    @inline(__always)
    static func rowAllBelowInfinity<T: VectorFloat>(_ z: UnsafePointer<T>, _ n: Int) -> Bool {
        typealias V = T.Vector
        let infinity = V(repeating: .infinity), zero = V(repeating: 0), one = V(repeating: 1)
        var bad = zero  // 1 in a lane that has seen a value that is not < +inf (NaN or +inf)
        V.sweep(n) { j, lanes in
            bad = one.replacing(with: bad, where: V.load(z, j, lanes: lanes, fill: 0) .< infinity)
        }
        return !V.anyLane(bad .> zero)
    }

    // The column loops: the same passes as the row loops, with the class axis walked by `stride` and
    // every lane its own sample (its own max and sum). A lane that is all -inf is shifted by 0 instead
    // of -inf, so its terms are exp(-inf) = 0 rather than NaN.
    @inline(__always)
    static func columnSoftmaxBlock<T: VectorFloat>(_ z: UnsafePointer<T>, stride: Int, classes: Int, bias: UnsafePointer<T>?,
                                                   storingInto out: UnsafeMutablePointer<T>?, max: UnsafeMutablePointer<T>,
                                                   sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>) {
        typealias V = T.Vector
        let negativeInfinity = V(repeating: -.infinity)
        @inline(__always) func logit(_ j: Int) -> V {
            let x = V.load(z, j * stride)
            return bias.map { x + V(repeating: $0[j]) } ?? x
        }
        var largest = negativeInfinity
        for j in 0..<classes {
            let x = logit(j)
            largest = largest.replacing(with: x, where: x .> largest)
        }
        let shift = largest.replacing(with: V(repeating: 0), where: largest .== negativeInfinity)
        var total = V(repeating: 0)
        if let out {
            for j in 0..<classes {
                let e = T.exp(logit(j) - shift)
                e.store(out, j * stride)
                total += e
            }
        } else {
            for j in 0..<classes { total += T.exp(logit(j) - shift) }
        }
        largest.store(max, 0)
        for lane in 0..<V.scalarCount { sum[lane] = Double(total[lane]) }
        T.log(total, into: logSum)
    }

    @inline(__always)
    static func columnScaleBlock<T: VectorFloat>(_ g: UnsafeMutablePointer<T>, stride: Int, classes: Int,
                                                 by factor: UnsafePointer<T>) {
        typealias V = T.Vector
        let f = V.load(factor, 0)
        for j in 0..<classes { (V.load(UnsafePointer(g), j * stride) * f).store(g, j * stride) }
    }
}

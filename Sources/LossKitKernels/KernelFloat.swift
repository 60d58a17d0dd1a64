import LossKitRowMath
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The floating-point types the kernels are written over (`Float`, `Double`): IEEE arithmetic, the
/// elementary functions the losses need (mapped to libm so generic code specialises to it) and the
/// vector row loops of `RowMath`, reached through the build `SIMDDispatch` chose for this CPU.
public protocol KernelFloat: BinaryFloatingPoint, Sendable {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// Tolerance on `Σ q_j = 1` for probability targets of this type.
    static var probabilitySumTolerance: Double { get }

    // The row loops (see `RowMath` for what each computes).
    static func rowMax(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int) -> Self
    static func rowSumExp(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int, shift: Self,
                          storingInto out: UnsafeMutablePointer<Self>?) -> Double
    static func rowWriteSoftmax(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int, max: Self,
                                logSum: Self, scale: Self, linear: Self, into out: UnsafeMutablePointer<Self>)
    static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self)
    static func rowScaledExpSums(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, max: Self,
                                 storingInto out: UnsafeMutablePointer<Self>?) -> (sum: Double, weighted: Double)
    static func rowWriteScaledSoftmax(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, max: Self, logSum: Self,
                                      scale: Self, linear: Self, into out: UnsafeMutablePointer<Self>)
    static func rowWriteLinear(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, into out: UnsafeMutablePointer<Self>)
    static func rowSumSquares(_ z: UnsafePointer<Self>, _ n: Int) -> Double
    static func rowMaxAndSquares(_ z: UnsafePointer<Self>, _ n: Int, except skipped: Int) -> (max: Self, squares: Double)
    static func rowAllBelowInfinity(_ z: UnsafePointer<Self>, _ n: Int) -> Bool
    static func rowMaxBelowInfinity(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int) -> Self
    static func rowHingeSums(_ z: UnsafePointer<Self>, _ n: Int, pivot: Self, offset: Self, floor: Self) -> HingeSums
    static func rowWriteHinge(_ z: UnsafePointer<Self>, _ n: Int, pivot: Self, offset: Self, floor: Self, value: Self, linear: Bool,
                              into out: UnsafeMutablePointer<Self>)
    static func rowSum(_ x: UnsafePointer<Self>, _ n: Int) -> Double
    static func rowDot(_ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, _ n: Int) -> Double
    static func rowAccumulate(_ x: UnsafePointer<Self>, _ n: Int, into sums: UnsafeMutablePointer<Double>)
    static func rowAddScaled(_ x: UnsafePointer<Self>, _ n: Int, by factor: Self, into y: UnsafeMutablePointer<Self>)
    static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self, timesDifferenceOf x: UnsafePointer<Self>,
                         minus c: Self)
    static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self, adding x: UnsafePointer<Self>,
                         times linear: Self)
    static func columnSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int, bias: UnsafePointer<Self>?,
                              storingInto out: UnsafeMutablePointer<Self>?, outStride: Int, max: UnsafeMutablePointer<Self>,
                              sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>,
                              scratch: UnsafeMutablePointer<Self>)
    static func columnScale(_ g: UnsafeMutablePointer<Self>, stride: Int, classes: Int, samples: Int,
                            by factor: UnsafePointer<Self>)
    static func columnSquares(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                              targets: UnsafePointer<Self>, into squares: UnsafeMutablePointer<Double>)
    static func columnWriteLinear(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                  factor: UnsafePointer<Self>, into g: UnsafeMutablePointer<Self>)
    static func columnMax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int, into max: UnsafeMutablePointer<Self>)
    static func columnScaledExpSums(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                    factor: UnsafePointer<Self>, max: UnsafePointer<Self>, into sums: UnsafeMutablePointer<Double>)
    static func columnWriteScaledSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                         factor: UnsafePointer<Self>, max: UnsafePointer<Self>, logSum: UnsafePointer<Self>,
                                         scale: UnsafePointer<Self>, linear: UnsafePointer<Self>,
                                         into g: UnsafeMutablePointer<Self>)
    static func columnHingeSums(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int, targets: UnsafePointer<Self>,
                                pivot: UnsafePointer<Self>, offset: UnsafePointer<Self>, floor: UnsafePointer<Self>,
                                into sums: UnsafeMutablePointer<Double>)
    static func columnWriteHinge(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int, pivot: UnsafePointer<Self>,
                                 offset: UnsafePointer<Self>, floor: UnsafePointer<Self>, value: UnsafePointer<Self>,
                                 linear: Bool, into g: UnsafeMutablePointer<Self>)
    static func columnWriteSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                   max: UnsafePointer<Self>, logSum: UnsafePointer<Self>, scale: UnsafePointer<Self>,
                                   linear: UnsafePointer<Self>, into g: UnsafeMutablePointer<Self>)
    static func columnCrossEntropy(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                   targets: UnsafePointer<Int>, weights: UnsafePointer<Self>, scales: UnsafePointer<Self>,
                                   zLoss: Self, into g: UnsafeMutablePointer<Self>?, losses: UnsafeMutablePointer<Double>,
                                   scratch: UnsafeMutablePointer<Self>)
    /// Samples per column block (one vector of lanes).
    static var columnWidth: Int { get }
}

extension Float: KernelFloat {
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable @inline(__always) public static func log(_ x: Float) -> Float { logf(x) }
    @inlinable @inline(__always) public static func sqrt(_ x: Float) -> Float { sqrtf(x) }
    @inlinable @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    public static var probabilitySumTolerance: Double { 1e-3 }
}

extension Double: KernelFloat {
    @inlinable @inline(__always) public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inlinable @inline(__always) public static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inlinable @inline(__always) public static func sqrt(_ x: Double) -> Double { Glibc.sqrt(x) }
    @inlinable @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
    public static var probabilitySumTolerance: Double { 1e-6 }
}

/// Both float types forward the row loops to the dispatched build; `RowMath` declares an overload per
/// type, which these generic bodies pick through `Self`.
extension KernelFloat where Self == Float {
    public static var columnWidth: Int { SIMDDispatch.rowMath.floatColumnWidth }
    public static func columnSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int, bias: UnsafePointer<Self>?,
                                     storingInto out: UnsafeMutablePointer<Self>?, outStride: Int, max: UnsafeMutablePointer<Self>,
                                     sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>,
                                     scratch: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnSoftmax(z, stride: stride, classes: classes, samples: samples, bias: bias, storingInto: out,
                                           outStride: outStride, max: max, sum: sum, logSum: logSum, scratch: scratch)
    }
    public static func rowSum(_ x: UnsafePointer<Self>, _ n: Int) -> Double { SIMDDispatch.rowMath.sum(x, n) }
    public static func rowDot(_ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, _ n: Int) -> Double {
        SIMDDispatch.rowMath.dot(x, y, n)
    }
    public static func rowAccumulate(_ x: UnsafePointer<Self>, _ n: Int, into sums: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.accumulate(x, n, into: sums)
    }
    public static func rowAddScaled(_ x: UnsafePointer<Self>, _ n: Int, by factor: Self, into y: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.addScaled(x, n, by: factor, into: y)
    }
    public static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self,
                                timesDifferenceOf x: UnsafePointer<Self>, minus c: Self) {
        SIMDDispatch.rowMath.scale(g, n, by: factor, timesDifferenceOf: x, minus: c)
    }
    public static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self, adding x: UnsafePointer<Self>,
                                times linear: Self) {
        SIMDDispatch.rowMath.scale(g, n, by: factor, adding: x, times: linear)
    }
    public static func columnScale(_ g: UnsafeMutablePointer<Self>, stride: Int, classes: Int, samples: Int,
                                   by factor: UnsafePointer<Self>) {
        SIMDDispatch.rowMath.columnScale(g, stride: stride, classes: classes, samples: samples, by: factor)
    }
    public static func columnSquares(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                     targets: UnsafePointer<Self>, into squares: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.columnSquares(z, stride: stride, classes: classes, samples: samples, targets: targets,
                                           into: squares)
    }
    public static func columnMax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                 into max: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnMax(z, stride: stride, classes: classes, samples: samples, into: max)
    }
    public static func columnScaledExpSums(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                           factor: UnsafePointer<Self>, max: UnsafePointer<Self>,
                                           into sums: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.columnScaledExpSums(z, stride: stride, classes: classes, samples: samples, factor: factor, max: max,
                                                 into: sums)
    }
    public static func columnWriteScaledSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                                factor: UnsafePointer<Self>, max: UnsafePointer<Self>, logSum: UnsafePointer<Self>,
                                                scale: UnsafePointer<Self>, linear: UnsafePointer<Self>,
                                                into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteScaledSoftmax(z, stride: stride, classes: classes, samples: samples, factor: factor,
                                                      max: max, logSum: logSum, scale: scale, linear: linear, into: g)
    }
    public static func columnHingeSums(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                       targets: UnsafePointer<Self>, pivot: UnsafePointer<Self>, offset: UnsafePointer<Self>,
                                       floor: UnsafePointer<Self>, into sums: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.columnHingeSums(z, stride: stride, classes: classes, samples: samples, targets: targets,
                                             pivot: pivot, offset: offset, floor: floor, into: sums)
    }
    public static func columnWriteHinge(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                        pivot: UnsafePointer<Self>, offset: UnsafePointer<Self>, floor: UnsafePointer<Self>,
                                        value: UnsafePointer<Self>, linear: Bool, into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteHinge(z, stride: stride, classes: classes, samples: samples, pivot: pivot,
                                              offset: offset, floor: floor, value: value, linear: linear, into: g)
    }
    public static func columnWriteLinear(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                         factor: UnsafePointer<Self>, into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteLinear(z, stride: stride, classes: classes, samples: samples, factor: factor, into: g)
    }
    public static func columnWriteSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                          max: UnsafePointer<Self>, logSum: UnsafePointer<Self>, scale: UnsafePointer<Self>,
                                          linear: UnsafePointer<Self>, into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteSoftmax(z, stride: stride, classes: classes, samples: samples, max: max,
                                                logSum: logSum, scale: scale, linear: linear, into: g)
    }
    public static func columnCrossEntropy(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                          targets: UnsafePointer<Int>, weights: UnsafePointer<Self>, scales: UnsafePointer<Self>,
                                          zLoss: Self, into g: UnsafeMutablePointer<Self>?, losses: UnsafeMutablePointer<Double>,
                                          scratch: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnCrossEntropy(z, stride: stride, classes: classes, samples: samples, targets: targets,
                                                weights: weights, scales: scales, zLoss: zLoss, into: g, losses: losses,
                                                scratch: scratch)
    }
    public static func rowMax(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int) -> Self {
        SIMDDispatch.rowMath.max(z, bias: bias, n)
    }
    public static func rowSumExp(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int, shift: Self,
                                 storingInto out: UnsafeMutablePointer<Self>?) -> Double {
        SIMDDispatch.rowMath.sumExp(z, bias: bias, n, shift: shift, storingInto: out)
    }
    public static func rowWriteSoftmax(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int, max: Self,
                                       logSum: Self, scale: Self, linear: Self, into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeSoftmax(z, bias: bias, n, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
    }
    public static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self) {
        SIMDDispatch.rowMath.scale(g, n, by: factor)
    }
    public static func rowScaledExpSums(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, max: Self,
                                        storingInto out: UnsafeMutablePointer<Self>?) -> (sum: Double, weighted: Double) {
        SIMDDispatch.rowMath.scaledExpSums(z, n, factor: factor, max: max, storingInto: out)
    }
    public static func rowWriteScaledSoftmax(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, max: Self, logSum: Self,
                                             scale: Self, linear: Self, into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeScaledSoftmax(z, n, factor: factor, max: max, logSum: logSum, scale: scale, linear: linear,
                                                into: out)
    }
    public static func rowWriteLinear(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeLinear(z, n, factor: factor, into: out)
    }
    public static func rowSumSquares(_ z: UnsafePointer<Self>, _ n: Int) -> Double { SIMDDispatch.rowMath.sumSquares(z, n) }
    public static func rowMaxAndSquares(_ z: UnsafePointer<Self>, _ n: Int, except skipped: Int) -> (max: Self, squares: Double) {
        SIMDDispatch.rowMath.maxAndSquares(z, n, except: skipped)
    }
    public static func rowAllBelowInfinity(_ z: UnsafePointer<Self>, _ n: Int) -> Bool {
        SIMDDispatch.rowMath.allBelowInfinity(z, n)
    }
    public static func rowMaxBelowInfinity(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int) -> Self {
        SIMDDispatch.rowMath.maxBelowInfinity(z, bias: bias, n)
    }
    public static func rowHingeSums(_ z: UnsafePointer<Self>, _ n: Int, pivot: Self, offset: Self, floor: Self) -> HingeSums {
        SIMDDispatch.rowMath.hingeSums(z, n, pivot: pivot, offset: offset, floor: floor)
    }
    public static func rowWriteHinge(_ z: UnsafePointer<Self>, _ n: Int, pivot: Self, offset: Self, floor: Self, value: Self, linear: Bool,
                                     into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeHinge(z, n, pivot: pivot, offset: offset, floor: floor, value: value, linear: linear, into: out)
    }
}

extension KernelFloat where Self == Double {
    public static var columnWidth: Int { SIMDDispatch.rowMath.doubleColumnWidth }
    public static func columnSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int, bias: UnsafePointer<Self>?,
                                     storingInto out: UnsafeMutablePointer<Self>?, outStride: Int, max: UnsafeMutablePointer<Self>,
                                     sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>,
                                     scratch: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnSoftmax(z, stride: stride, classes: classes, samples: samples, bias: bias, storingInto: out,
                                           outStride: outStride, max: max, sum: sum, logSum: logSum, scratch: scratch)
    }
    public static func rowSum(_ x: UnsafePointer<Self>, _ n: Int) -> Double { SIMDDispatch.rowMath.sum(x, n) }
    public static func rowDot(_ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, _ n: Int) -> Double {
        SIMDDispatch.rowMath.dot(x, y, n)
    }
    public static func rowAccumulate(_ x: UnsafePointer<Self>, _ n: Int, into sums: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.accumulate(x, n, into: sums)
    }
    public static func rowAddScaled(_ x: UnsafePointer<Self>, _ n: Int, by factor: Self, into y: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.addScaled(x, n, by: factor, into: y)
    }
    public static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self,
                                timesDifferenceOf x: UnsafePointer<Self>, minus c: Self) {
        SIMDDispatch.rowMath.scale(g, n, by: factor, timesDifferenceOf: x, minus: c)
    }
    public static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self, adding x: UnsafePointer<Self>,
                                times linear: Self) {
        SIMDDispatch.rowMath.scale(g, n, by: factor, adding: x, times: linear)
    }
    public static func columnScale(_ g: UnsafeMutablePointer<Self>, stride: Int, classes: Int, samples: Int,
                                   by factor: UnsafePointer<Self>) {
        SIMDDispatch.rowMath.columnScale(g, stride: stride, classes: classes, samples: samples, by: factor)
    }
    public static func columnSquares(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                     targets: UnsafePointer<Self>, into squares: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.columnSquares(z, stride: stride, classes: classes, samples: samples, targets: targets,
                                           into: squares)
    }
    public static func columnMax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                 into max: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnMax(z, stride: stride, classes: classes, samples: samples, into: max)
    }
    public static func columnScaledExpSums(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                           factor: UnsafePointer<Self>, max: UnsafePointer<Self>,
                                           into sums: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.columnScaledExpSums(z, stride: stride, classes: classes, samples: samples, factor: factor, max: max,
                                                 into: sums)
    }
    public static func columnWriteScaledSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                                factor: UnsafePointer<Self>, max: UnsafePointer<Self>, logSum: UnsafePointer<Self>,
                                                scale: UnsafePointer<Self>, linear: UnsafePointer<Self>,
                                                into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteScaledSoftmax(z, stride: stride, classes: classes, samples: samples, factor: factor,
                                                      max: max, logSum: logSum, scale: scale, linear: linear, into: g)
    }
    public static func columnHingeSums(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                       targets: UnsafePointer<Self>, pivot: UnsafePointer<Self>, offset: UnsafePointer<Self>,
                                       floor: UnsafePointer<Self>, into sums: UnsafeMutablePointer<Double>) {
        SIMDDispatch.rowMath.columnHingeSums(z, stride: stride, classes: classes, samples: samples, targets: targets,
                                             pivot: pivot, offset: offset, floor: floor, into: sums)
    }
    public static func columnWriteHinge(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                        pivot: UnsafePointer<Self>, offset: UnsafePointer<Self>, floor: UnsafePointer<Self>,
                                        value: UnsafePointer<Self>, linear: Bool, into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteHinge(z, stride: stride, classes: classes, samples: samples, pivot: pivot,
                                              offset: offset, floor: floor, value: value, linear: linear, into: g)
    }
    public static func columnWriteLinear(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                         factor: UnsafePointer<Self>, into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteLinear(z, stride: stride, classes: classes, samples: samples, factor: factor, into: g)
    }
    public static func columnWriteSoftmax(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                          max: UnsafePointer<Self>, logSum: UnsafePointer<Self>, scale: UnsafePointer<Self>,
                                          linear: UnsafePointer<Self>, into g: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnWriteSoftmax(z, stride: stride, classes: classes, samples: samples, max: max,
                                                logSum: logSum, scale: scale, linear: linear, into: g)
    }
    public static func columnCrossEntropy(_ z: UnsafePointer<Self>, stride: Int, classes: Int, samples: Int,
                                          targets: UnsafePointer<Int>, weights: UnsafePointer<Self>, scales: UnsafePointer<Self>,
                                          zLoss: Self, into g: UnsafeMutablePointer<Self>?, losses: UnsafeMutablePointer<Double>,
                                          scratch: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.columnCrossEntropy(z, stride: stride, classes: classes, samples: samples, targets: targets,
                                                weights: weights, scales: scales, zLoss: zLoss, into: g, losses: losses,
                                                scratch: scratch)
    }
    public static func rowMax(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int) -> Self {
        SIMDDispatch.rowMath.max(z, bias: bias, n)
    }
    public static func rowSumExp(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int, shift: Self,
                                 storingInto out: UnsafeMutablePointer<Self>?) -> Double {
        SIMDDispatch.rowMath.sumExp(z, bias: bias, n, shift: shift, storingInto: out)
    }
    public static func rowWriteSoftmax(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int, max: Self,
                                       logSum: Self, scale: Self, linear: Self, into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeSoftmax(z, bias: bias, n, max: max, logSum: logSum, scale: scale, linear: linear, into: out)
    }
    public static func rowScale(_ g: UnsafeMutablePointer<Self>, _ n: Int, by factor: Self) {
        SIMDDispatch.rowMath.scale(g, n, by: factor)
    }
    public static func rowScaledExpSums(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, max: Self,
                                        storingInto out: UnsafeMutablePointer<Self>?) -> (sum: Double, weighted: Double) {
        SIMDDispatch.rowMath.scaledExpSums(z, n, factor: factor, max: max, storingInto: out)
    }
    public static func rowWriteScaledSoftmax(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, max: Self, logSum: Self,
                                             scale: Self, linear: Self, into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeScaledSoftmax(z, n, factor: factor, max: max, logSum: logSum, scale: scale, linear: linear,
                                                into: out)
    }
    public static func rowWriteLinear(_ z: UnsafePointer<Self>, _ n: Int, factor: Self, into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeLinear(z, n, factor: factor, into: out)
    }
    public static func rowSumSquares(_ z: UnsafePointer<Self>, _ n: Int) -> Double { SIMDDispatch.rowMath.sumSquares(z, n) }
    public static func rowMaxAndSquares(_ z: UnsafePointer<Self>, _ n: Int, except skipped: Int) -> (max: Self, squares: Double) {
        SIMDDispatch.rowMath.maxAndSquares(z, n, except: skipped)
    }
    public static func rowAllBelowInfinity(_ z: UnsafePointer<Self>, _ n: Int) -> Bool {
        SIMDDispatch.rowMath.allBelowInfinity(z, n)
    }
    public static func rowMaxBelowInfinity(_ z: UnsafePointer<Self>, bias: UnsafePointer<Self>?, _ n: Int) -> Self {
        SIMDDispatch.rowMath.maxBelowInfinity(z, bias: bias, n)
    }
    public static func rowHingeSums(_ z: UnsafePointer<Self>, _ n: Int, pivot: Self, offset: Self, floor: Self) -> HingeSums {
        SIMDDispatch.rowMath.hingeSums(z, n, pivot: pivot, offset: offset, floor: floor)
    }
    public static func rowWriteHinge(_ z: UnsafePointer<Self>, _ n: Int, pivot: Self, offset: Self, floor: Self, value: Self, linear: Bool,
                                     into out: UnsafeMutablePointer<Self>) {
        SIMDDispatch.rowMath.writeHinge(z, n, pivot: pivot, offset: offset, floor: floor, value: value, linear: linear, into: out)
    }
}

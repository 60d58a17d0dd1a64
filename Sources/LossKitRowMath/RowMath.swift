/// The vector loops every loss is built from, over one contiguous row of `n` values, as a protocol so
/// that the kernels can call whichever build of them suits the CPU (see `SIMDLevel`).
///
/// The same source (Sources/LossKitRowMathBaseline) is compiled three times: for any x86-64 (SSE2),
/// for AVX2 + FMA and for AVX-512, as the modules LossKitRowMathBaseline, LossKitRowMathFastAVX2 and
/// LossKitRowMathFastAVX512. Each conforms its `RowKernels` enum to this protocol; the kernels pick one at
/// load time. Conventions shared by every requirement:
/// - a masked class is z = -inf: it adds 0 to every sum and gets a gradient of 0;
/// - NaN propagates into sums and outputs (the max alone skips it: a NaN reaches the sum instead);
/// - `out` may be the same memory as `z` (a gradient written in place): each z_j is read before
///   out_j is written, and never read after;
/// - reductions run in a fixed order, so a row's result depends only on its values and the build.
public protocol RowMath: SendableMetatype {
    /// Which build this is.
    static var level: SIMDLevel { get }

    /// max_j (z_j + b_j) over the values that are not NaN, b = 0 when `bias` is nil; -inf when there
    /// are none.
    static func max(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int) -> Float
    static func max(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int) -> Double

    /// Σ_j exp(z_j + b_j - shift), with b = 0 when `bias` is nil; when `out` is not nil, also writes
    /// out_j = exp(z_j + b_j - shift).
    static func sumExp(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int, shift: Float,
                       storingInto out: UnsafeMutablePointer<Float>?) -> Double
    static func sumExp(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int, shift: Double,
                       storingInto out: UnsafeMutablePointer<Double>?) -> Double

    /// out_j = scale·exp((z_j + b_j - max) - logSum) + linear·z_j   (the linear term is 0 where
    /// z_j = -inf, and skipped when `linear` is 0): a scaled softmax, plus a multiple of the logits.
    static func writeSoftmax(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int, max: Float,
                             logSum: Float, scale: Float, linear: Float, into out: UnsafeMutablePointer<Float>)
    static func writeSoftmax(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int, max: Double,
                             logSum: Double, scale: Double, linear: Double, into out: UnsafeMutablePointer<Double>)

    /// With e_j = exp(factor·(z_j - max)): (Σ_j e_j, Σ_j z_j·e_j) over the z_j that are not -inf (the
    /// softmax of scaled logits, LogitNorm's u = c·z; the difference first keeps the exponent accurate);
    /// when `out` is not nil, also writes out_j = e_j (0 where z_j = -inf).
    static func scaledExpSums(_ z: UnsafePointer<Float>, _ n: Int, factor: Float, max: Float,
                              storingInto out: UnsafeMutablePointer<Float>?) -> (sum: Double, weighted: Double)
    static func scaledExpSums(_ z: UnsafePointer<Double>, _ n: Int, factor: Double, max: Double,
                              storingInto out: UnsafeMutablePointer<Double>?) -> (sum: Double, weighted: Double)

    /// out_j = scale·exp(factor·(z_j - max) - logSum) + linear·z_j, and 0 where z_j = -inf.
    static func writeScaledSoftmax(_ z: UnsafePointer<Float>, _ n: Int, factor: Float, max: Float, logSum: Float,
                                   scale: Float, linear: Float, into out: UnsafeMutablePointer<Float>)
    static func writeScaledSoftmax(_ z: UnsafePointer<Double>, _ n: Int, factor: Double, max: Double, logSum: Double,
                                   scale: Double, linear: Double, into out: UnsafeMutablePointer<Double>)

    /// g_j = factor·g_j.
    static func scale(_ g: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float)
    static func scale(_ g: UnsafeMutablePointer<Double>, _ n: Int, by factor: Double)

    /// out_j = factor·z_j, and 0 where z_j = -inf.
    static func writeLinear(_ z: UnsafePointer<Float>, _ n: Int, factor: Float, into out: UnsafeMutablePointer<Float>)
    static func writeLinear(_ z: UnsafePointer<Double>, _ n: Int, factor: Double, into out: UnsafeMutablePointer<Double>)

    /// Σ_j z_j² over the z_j that are not -inf: float32 squares exact in Double lanes, float64 ones
    /// summed with compensation.
    static func sumSquares(_ z: UnsafePointer<Float>, _ n: Int) -> Double
    static func sumSquares(_ z: UnsafePointer<Double>, _ n: Int) -> Double

    /// (max_j z_j over the values that are not NaN, -inf when there are none; Σ_{j ≠ skipped} z_j² over
    /// the z_j that are not -inf) in one read of the row (squentropy's first pass on rows of fewer than
    /// 256 classes); n < 2^24. One dependency chain each, where `max` and `sumSquares` have two.
    static func maxAndSquares(_ z: UnsafePointer<Float>, _ n: Int, except skipped: Int) -> (max: Float, squares: Double)
    static func maxAndSquares(_ z: UnsafePointer<Double>, _ n: Int, except skipped: Int) -> (max: Double, squares: Double)

    /// Over x_j = (z_j - pivot) + offset (a masked z_j = -inf gives x_j = -inf; the difference first, so
    /// that shifting z and the pivot together changes nothing): the count, sum and sum of
    /// squares of the x_j with x_j > 0 and x_j ≥ floor, and whether any x_j is NaN (margin losses).
    static func hingeSums(_ z: UnsafePointer<Float>, _ n: Int, pivot: Float, offset: Float, floor: Float) -> HingeSums
    static func hingeSums(_ z: UnsafePointer<Double>, _ n: Int, pivot: Double, offset: Double, floor: Double) -> HingeSums

    /// out_j = value·(linear ? x_j : 1) where x_j = (z_j - pivot) + offset has x_j > 0 and x_j ≥ floor, else 0;
    /// NaN where x_j is NaN.
    static func writeHinge(_ z: UnsafePointer<Float>, _ n: Int, pivot: Float, offset: Float, floor: Float, value: Float, linear: Bool,
                           into out: UnsafeMutablePointer<Float>)
    static func writeHinge(_ z: UnsafePointer<Double>, _ n: Int, pivot: Double, offset: Double, floor: Double, value: Double, linear: Bool,
                           into out: UnsafeMutablePointer<Double>)

    /// Σ_j x_j, summed in Double lanes (the Dice loss's class totals).
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Double
    static func sum(_ x: UnsafePointer<Double>, _ n: Int) -> Double

    /// Σ_j x_j·y_j, each product rounded to the type and summed in Double lanes.
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Double
    static func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ n: Int) -> Double

    /// sums_j = sums_j + x_j in Double, for j < n.
    static func accumulate(_ x: UnsafePointer<Float>, _ n: Int, into sums: UnsafeMutablePointer<Double>)
    static func accumulate(_ x: UnsafePointer<Double>, _ n: Int, into sums: UnsafeMutablePointer<Double>)

    /// y_j = y_j + factor·x_j.
    static func addScaled(_ x: UnsafePointer<Float>, _ n: Int, by factor: Float, into y: UnsafeMutablePointer<Float>)
    static func addScaled(_ x: UnsafePointer<Double>, _ n: Int, by factor: Double, into y: UnsafeMutablePointer<Double>)

    /// g_j = factor·g_j + linear·x_j, the linear term 0 where x_j = -inf (a stored softmax, scaled, plus
    /// a multiple of the logits).
    static func scale(_ g: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float, adding x: UnsafePointer<Float>,
                      times linear: Float)
    static func scale(_ g: UnsafeMutablePointer<Double>, _ n: Int, by factor: Double, adding x: UnsafePointer<Double>,
                      times linear: Double)

    /// g_j = factor·g_j·(x_j - c).
    static func scale(_ g: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float, timesDifferenceOf x: UnsafePointer<Float>,
                      minus c: Float)
    static func scale(_ g: UnsafeMutablePointer<Double>, _ n: Int, by factor: Double, timesDifferenceOf x: UnsafePointer<Double>,
                      minus c: Double)

    /// True when every value is finite or -inf (no NaN, no +inf).
    static func allBelowInfinity(_ z: UnsafePointer<Float>, _ n: Int) -> Bool
    static func allBelowInfinity(_ z: UnsafePointer<Double>, _ n: Int) -> Bool

    /// The number of class-index targets t_i (i < n) that are not `ignore`, when each is `ignore` or in
    /// [0, classes); otherwise -1 - i for the first t_i that is neither.
    static func countClassIndices(_ t: UnsafePointer<Int64>, _ n: Int, classes: Int, ignore: Int64) -> Int
    static func countClassIndices(_ t: UnsafePointer<Int32>, _ n: Int, classes: Int, ignore: Int64) -> Int

    /// `max(z, bias: bias, n)` when every z_j is finite or -inf, else NaN: nan_policy "error"'s check
    /// of a row and its max in one read (the max the same value `max` returns).
    static func maxBelowInfinity(_ z: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ n: Int) -> Float
    static func maxBelowInfinity(_ z: UnsafePointer<Double>, bias: UnsafePointer<Double>?, _ n: Int) -> Double

    // Columns: P samples at once (P a multiple of the vector width W: 16 floats, 8 doubles), sample k's
    // class j at z[j·stride + k] — the layout of an (N, C, d1..dk) batch, where consecutive positions
    // of a class are contiguous, and of a transposed tile of (N, C) rows. Each pass walks the classes
    // one after the other and, inside a class, the P samples in order: one memory stream at a time.
    // `scratch` is caller-owned working space of the size each requirement states.

    /// For each sample k < P: max_k = max_j (z_jk + b_j), sum_k = Σ_j exp(z_jk + b_j - max_k) and
    /// logSum_k = log sum_k (in the lanes' precision), written to `max`, `sum` and `logSum` (P values
    /// each); when `out` is not nil, also out[j·outStride + k] = exp(z_jk + b_j - max_k) (outStride is
    /// `stride` to write over the logits' layout, P to a compact C × P block). A sample whose
    /// classes are all -inf gets max -inf and sum 0; NaN as for rows. scratch: 2·P values.
    static func columnSoftmax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int, bias: UnsafePointer<Float>?,
                              storingInto out: UnsafeMutablePointer<Float>?, outStride: Int, max: UnsafeMutablePointer<Float>,
                              sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>,
                              scratch: UnsafeMutablePointer<Float>)
    static func columnSoftmax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int, bias: UnsafePointer<Double>?,
                              storingInto out: UnsafeMutablePointer<Double>?, outStride: Int, max: UnsafeMutablePointer<Double>,
                              sum: UnsafeMutablePointer<Double>, logSum: UnsafeMutablePointer<Double>,
                              scratch: UnsafeMutablePointer<Double>)

    /// Cross-entropy with z-loss λ of P samples on columns, the whole kernel in vector lanes: sample k
    /// has target targets[k] (-1: ignored), weight weights[k] (its target's class weight, 0 when
    /// ignored) and gradient scale scales[k]; writes L_k = w_k·(lse_k - z_{y_k} + λ·lse_k²) to losses[k]
    /// and, when g is not nil, g = s_k·w_k·((1 + 2λ·lse_k)·p - onehot(y_k)). w_k = 0 gives L = 0, g = 0;
    /// a sample whose classes are all -inf gives L = w·inf and g = 0. g may be z. scratch: 7·P values.
    static func columnCrossEntropy(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                   targets: UnsafePointer<Int>, weights: UnsafePointer<Float>, scales: UnsafePointer<Float>,
                                   zLoss: Float, into g: UnsafeMutablePointer<Float>?, losses: UnsafeMutablePointer<Double>,
                                   scratch: UnsafeMutablePointer<Float>)
    static func columnCrossEntropy(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                   targets: UnsafePointer<Int>, weights: UnsafePointer<Double>, scales: UnsafePointer<Double>,
                                   zLoss: Double, into g: UnsafeMutablePointer<Double>?, losses: UnsafeMutablePointer<Double>,
                                   scratch: UnsafeMutablePointer<Double>)

    /// squares[k] = Σ_j z_jk² over the classes j ≠ t_k whose z_jk is not -inf, for each sample k < P,
    /// the squares formed and summed in Double lanes (a float32 square exact, as in `sumSquares`). t_k
    /// (`targets`) is sample k's class as a value of the type (-1: none), so a Float build needs
    /// C < 2^24.
    static func columnSquares(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                              targets: UnsafePointer<Float>, into squares: UnsafeMutablePointer<Double>)
    static func columnSquares(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                              targets: UnsafePointer<Double>, into squares: UnsafeMutablePointer<Double>)

    /// `hingeSums` of each sample k < P on columns, with x_jk = (z_jk - pivot_k) + offset_k, active
    /// where x_jk > 0 and x_jk ≥ floor_k (floor_k ≥ 0), leaving out the class j = t_k (`targets`, as
    /// values of the type, -1: none; a Float build needs C < 2^24): the count, sum and sum of squares
    /// of the active x_jk and the number of NaN x_jk, in Double, written to `sums` as four runs of P
    /// values (count, sum, squares, NaNs). pivot, offset, floor: P values each.
    static func columnHingeSums(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int, targets: UnsafePointer<Float>,
                                pivot: UnsafePointer<Float>, offset: UnsafePointer<Float>, floor: UnsafePointer<Float>,
                                into sums: UnsafeMutablePointer<Double>)
    static func columnHingeSums(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int, targets: UnsafePointer<Double>,
                                pivot: UnsafePointer<Double>, offset: UnsafePointer<Double>, floor: UnsafePointer<Double>,
                                into sums: UnsafeMutablePointer<Double>)

    /// `writeHinge` of each sample k < P on columns: g_jk = value_k·(linear ? x_jk : 1) where x_jk (as
    /// in `columnHingeSums`) is active, else 0; NaN where x_jk is NaN. Every class is written (the
    /// target's entry too: the caller sets it after). g may be z.
    static func columnWriteHinge(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int, pivot: UnsafePointer<Float>,
                                 offset: UnsafePointer<Float>, floor: UnsafePointer<Float>, value: UnsafePointer<Float>,
                                 linear: Bool, into g: UnsafeMutablePointer<Float>)
    static func columnWriteHinge(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int, pivot: UnsafePointer<Double>,
                                 offset: UnsafePointer<Double>, floor: UnsafePointer<Double>, value: UnsafePointer<Double>,
                                 linear: Bool, into g: UnsafeMutablePointer<Double>)

    /// max_k = max_j z_jk over the values that are not NaN (-inf when there are none), for each
    /// sample k < P, written to `max`.
    static func columnMax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int, into max: UnsafeMutablePointer<Float>)
    static func columnMax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int, into max: UnsafeMutablePointer<Double>)

    /// `scaledExpSums` of each sample k < P on columns, with its own factor_k and max_k: Σ_j e_jk and
    /// Σ_j z_jk·e_jk, e_jk = exp(factor_k·(z_jk - max_k)), over the z_jk that are not -inf, in Double,
    /// written to `sums` as two runs of P values.
    static func columnScaledExpSums(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                    factor: UnsafePointer<Float>, max: UnsafePointer<Float>, into sums: UnsafeMutablePointer<Double>)
    static func columnScaledExpSums(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                    factor: UnsafePointer<Double>, max: UnsafePointer<Double>, into sums: UnsafeMutablePointer<Double>)

    /// `writeScaledSoftmax` of each sample k < P on columns: g_jk = scale_k·exp(factor_k·(z_jk - max_k)
    /// - logSum_k) + linear_k·z_jk, and 0 where z_jk = -inf (every argument P values). g may be z.
    static func columnWriteScaledSoftmax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                         factor: UnsafePointer<Float>, max: UnsafePointer<Float>, logSum: UnsafePointer<Float>,
                                         scale: UnsafePointer<Float>, linear: UnsafePointer<Float>,
                                         into g: UnsafeMutablePointer<Float>)
    static func columnWriteScaledSoftmax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                         factor: UnsafePointer<Double>, max: UnsafePointer<Double>, logSum: UnsafePointer<Double>,
                                         scale: UnsafePointer<Double>, linear: UnsafePointer<Double>,
                                         into g: UnsafeMutablePointer<Double>)

    /// g[j·stride + k] = factor_k·z_jk for every class j and sample k < P, and 0 where z_jk = -inf
    /// (factor: P values). g may be z.
    static func columnWriteLinear(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                  factor: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>)
    static func columnWriteLinear(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                  factor: UnsafePointer<Double>, into g: UnsafeMutablePointer<Double>)

    /// g[j·stride + k] = scale_k·exp((z_jk - max_k) - logSum_k) + linear_k·z_jk for every class j and
    /// sample k < P, the linear term 0 where z_jk = -inf (max, logSum, scale, linear: P values each):
    /// a scaled softmax plus a multiple of the logits, per sample. g may be z.
    static func columnWriteSoftmax(_ z: UnsafePointer<Float>, stride: Int, classes: Int, samples: Int,
                                   max: UnsafePointer<Float>, logSum: UnsafePointer<Float>, scale: UnsafePointer<Float>,
                                   linear: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>)
    static func columnWriteSoftmax(_ z: UnsafePointer<Double>, stride: Int, classes: Int, samples: Int,
                                   max: UnsafePointer<Double>, logSum: UnsafePointer<Double>, scale: UnsafePointer<Double>,
                                   linear: UnsafePointer<Double>, into g: UnsafeMutablePointer<Double>)

    /// g[j·stride + k] = factor_k·g[j·stride + k] for every class j and sample k < P (factor: P values).
    static func columnScale(_ g: UnsafeMutablePointer<Float>, stride: Int, classes: Int, samples: Int,
                            by factor: UnsafePointer<Float>)
    static func columnScale(_ g: UnsafeMutablePointer<Double>, stride: Int, classes: Int, samples: Int,
                            by factor: UnsafePointer<Double>)

    // 16-bit floats, as raw bit patterns.

    /// out_j = the float32 value of the 16-bit pattern h_j (exact: every bfloat16 and binary16 value
    /// is a float32; NaN payloads kept).
    static func widen(_ h: UnsafePointer<UInt16>, _ n: Int, format: HalfFormat, into out: UnsafeMutablePointer<Float>)

    /// out_j = x_j rounded to the 16-bit format, to nearest, ties to even; beyond the format's range
    /// ±inf (binary16 from 65520 up); NaN stays NaN (quiet, sign kept).
    static func narrow(_ x: UnsafePointer<Float>, _ n: Int, format: HalfFormat, into out: UnsafeMutablePointer<UInt16>)

    /// The lanes of one column vector: 16 for Float, 8 for Double.
    static var floatColumnWidth: Int { get }
    static var doubleColumnWidth: Int { get }

    /// out[k] = e^x[k] and out[k] = e^x[k] - 1 for k < n, in vector lanes (`exp`'s accuracy; expm1
    /// accurate to a few ulp, also where e^x - 1 is tiny): the per-sample steps of the column kernels,
    /// which would call libm once per sample. out may be x.
    static func exp(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>)
    static func expm1(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>)
    /// out[k] = log x[k] for k < n, in vector lanes (≤ 2 ulp; 0 → -inf, x < 0 → NaN); out may be x.
    static func log(_ x: UnsafePointer<Double>, _ n: Int, into out: UnsafeMutablePointer<Double>)

    /// e^x and log x lane by lane, ≤ 2 ulp over the whole range (the building blocks, exposed for
    /// their accuracy tests).
    static func exp(_ x: SIMD16<Float>) -> SIMD16<Float>
    static func exp(_ x: SIMD8<Double>) -> SIMD8<Double>
    static func log(_ x: SIMD16<Float>) -> SIMD16<Float>
    /// e^x for x ≤ 64 (Float) or x ≤ 640 (Double), bit-identical to `exp` there: the form the softmax
    /// loops use, whose exponents are z - max ≤ 0.
    static func expShifted(_ x: SIMD16<Float>) -> SIMD16<Float>
    static func expShifted(_ x: SIMD8<Double>) -> SIMD8<Double>
}

/// The instruction sets the row kernels are built for, in increasing order.
public enum SIMDLevel: Int, Comparable, Sendable, CaseIterable {
    /// Any x86-64 (SSE2), or another architecture's baseline.
    case baseline = 0
    /// x86-64 with AVX2 and FMA (Haswell, Zen 1 and later).
    case avx2 = 1
    /// x86-64 with AVX-512 F/BW/DQ/VL enabled by the OS (Skylake-SP, Zen 4 and later).
    case avx512 = 2

    public var name: String {
        switch self {
        case .baseline: "baseline"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }

    public init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public static func < (a: SIMDLevel, b: SIMDLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The 16-bit float formats of logits and gradients.
public enum HalfFormat: Sendable {
    /// bfloat16: float32's sign, 8 exponent bits and the top 7 of its 23 fraction bits.
    case bfloat16
    /// IEEE 754 binary16: 5 exponent bits (bias 15), 10 fraction bits, subnormals.
    case float16
}

/// What `RowMath.hingeSums` returns.
public struct HingeSums: Sendable {
    public var count: Int
    public var sum: Double
    public var squares: Double
    public var hasNaN: Bool

    public init(count: Int, sum: Double, squares: Double, hasNaN: Bool) {
        self.count = count
        self.sum = sum
        self.squares = squares
        self.hasNaN = hasNaN
    }
}

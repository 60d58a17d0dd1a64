#if canImport(Glibc)
import Glibc
#endif
import CLossKitLanes

/// The lane-parallel operations the row loops and the vector exp need, as protocol requirements.
///
/// Why a protocol rather than generic `SIMD` code: in a function generic over `V: SIMD` the
/// operators resolve to the standard library's generic implementations, which run lane by lane
/// even after specialisation. Declared as requirements here, each one is witnessed by the concrete
/// type's own operator (SIMD16<Float>, SIMD8<Double>), which lowers to packed instructions — so
/// the row loops are written once, generically, and still compile to vector code. (The vector exp
/// and log are written per concrete type instead: they need integer bit tricks too.)
protocol LaneVector {
    associatedtype Scalar: BinaryFloatingPoint
    associatedtype Mask

    init(repeating value: Scalar)
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func / (a: Self, b: Self) -> Self
    static func += (a: inout Self, b: Self)
    static func .> (a: Self, b: Self) -> Mask
    static func .< (a: Self, b: Self) -> Mask
    static func .== (a: Self, b: Self) -> Mask
    static func .!= (a: Self, b: Self) -> Mask
    /// self where `mask` is false, `other` where it is true.
    func replacing(with other: Self, where mask: Mask) -> Self
    /// `replacing`, blended by bits, for a `self` that is the result of a long computation: a
    /// `replacing` there made LLVM scalarise the computation (every lane extracted for the select)
    /// and re-vectorise it in 128-bit pieces in the AVX-512 build.
    func blended(with other: Self, where mask: Mask) -> Self
    /// Lanes where either mask is true (one `korw` in the AVX-512 build, where two `replacing` in a row
    /// made LLVM move both masks through vector registers).
    static func either(_ a: Mask, _ b: Mask) -> Mask
    /// self·b + c: fused (rounded once) in the fast builds, which have FMA (LOSSKIT_FMA, Package.swift),
    /// a multiply and an add (rounded twice) in the baseline build. So results differ between builds
    /// in the last bits, and within a build every loop rounds the same way. Not `addingProduct`: the
    /// standard library computes it lane by lane and LLVM re-vectorises that into 128-bit pieces
    /// inside larger loops (seen in the AVX-512 build: four xmm FMAs per vector instead of one zmm
    /// FMA); the fast builds call Clang's elementwise fma instead (fused_multiply_add.h).
    func multiplied(by b: Self, adding c: Self) -> Self
    /// The first `lanes` (< scalarCount) values at p, the other lanes `fill`; nothing past them is
    /// read. One masked load in the AVX-512 build, two in the AVX2 build, lane by lane in the baseline.
    static func loadPartial(_ p: UnsafePointer<Scalar>, lanes: Int, fill: Scalar) -> Self
    /// Stores the first `lanes` (< scalarCount) lanes at p and writes nothing else: one masked store
    /// in the AVX-512 build, two in the AVX2 build, lane by lane in the baseline.
    func storePartial(_ p: UnsafeMutablePointer<Scalar>, lanes: Int)
    /// Σ of the lanes in Double, added as a tree (halves, then their halves): four dependent adds
    /// instead of sixteen at the end of every row, which on rows of a hundred classes cost as much
    /// as the row's exps. Clang's code (lane_reductions.h), as `largestLane`.
    var laneSum: Double { get }
    /// The largest lane (none may be NaN), also as a tree.
    var largestLane: Scalar { get }
    subscript(lane: Int) -> Scalar { get set }
    static var scalarCount: Int { get }
}

extension LaneVector {
    @inline(__always)
    static func load(_ p: UnsafePointer<Scalar>, _ j: Int) -> Self {
        UnsafeRawPointer(p + j).loadUnaligned(as: Self.self)
    }

    @inline(__always)
    func store(_ p: UnsafeMutablePointer<Scalar>, _ j: Int) {
        UnsafeMutableRawPointer(p + j).storeBytes(of: self, as: Self.self)
    }

    /// The `lanes` values at p + j, the other lanes set to `fill` (a row's last, partial vector).
    @inline(__always)
    static func load(_ p: UnsafePointer<Scalar>, _ j: Int, lanes: Int, fill: Scalar) -> Self {
        if lanes == scalarCount { return load(p, j) }
        return loadPartial(p + j, lanes: lanes, fill: fill)
    }

    /// Stores the first `lanes` lanes at p + j.
    @inline(__always)
    func store(_ p: UnsafeMutablePointer<Scalar>, _ j: Int, lanes: Int) {
        if lanes == Self.scalarCount { return store(p, j) }
        storePartial(p + j, lanes: lanes)
    }

    /// `loadPartial` lane by lane: the builds without masked loads.
    @inline(__always)
    static func loadLaneByLane(_ p: UnsafePointer<Scalar>, lanes: Int, fill: Scalar) -> Self {
        var v = Self(repeating: fill)
        for k in 0..<lanes { v[k] = p[k] }
        return v
    }

    /// `storePartial` lane by lane: the builds without masked stores.
    @inline(__always)
    func storeLaneByLane(_ p: UnsafeMutablePointer<Scalar>, lanes: Int) {
        for k in 0..<lanes { p[k] = self[k] }
    }

    /// Stores the vector at p, out of line: lane-by-lane code after it reads memory, never the
    /// vector's lanes. (Extracting lanes, to convert them to Double say, made LLVM split the whole
    /// vector computation before it into 128-bit pieces in the AVX-512 build.)
    @inline(never)
    func spill(to p: UnsafeMutablePointer<Scalar>) { store(p, 0) }

    /// Runs `body(j, lanes)` over a row of n values a vector at a time: whole vectors (lanes =
    /// scalarCount), then one partial vector for the rest (a row never has a scalar tail).
    @inline(__always)
    static func sweep(_ n: Int, _ body: (_ j: Int, _ lanes: Int) -> Void) {
        let width = scalarCount
        var j = 0
        while j + width <= n {
            body(j, width)
            j += width
        }
        if j < n { body(j, n - j) }
    }
}

extension SIMD16: LaneVector where Scalar == Float {
    @inline(__always) var laneSum: Double { losskit_float_lane_sum(self) }
    @inline(__always) static func either(_ a: SIMDMask<SIMD16<Int32>>, _ b: SIMDMask<SIMD16<Int32>>) -> SIMDMask<SIMD16<Int32>> { a .| b }
    @inline(__always) var largestLane: Float { losskit_float_largest_lane(self) }
    @inline(__always) static func loadPartial(_ p: UnsafePointer<Float>, lanes: Int, fill: Float) -> Self {
        #if LOSSKIT_AVX512
        losskit_avx512_load_float_lanes(p, lanes, fill)
        #elseif LOSSKIT_AVX2
        losskit_avx2_load_float_lanes(p, lanes, fill)
        #else
        loadLaneByLane(p, lanes: lanes, fill: fill)
        #endif
    }
    @inline(__always) func storePartial(_ p: UnsafeMutablePointer<Float>, lanes: Int) {
        #if LOSSKIT_AVX512
        losskit_avx512_store_float_lanes(p, self, lanes)
        #elseif LOSSKIT_AVX2
        losskit_avx2_store_float_lanes(p, self, lanes)
        #else
        storeLaneByLane(p, lanes: lanes)
        #endif
    }
    @inline(__always) func multiplied(by b: Self, adding c: Self) -> Self {
        #if LOSSKIT_FMA
        losskit_fma_float(self, b, c)
        #else
        self * b + c
        #endif
    }
    @inline(__always) func blended(with other: Self, where mask: SIMDMask<SIMD16<Int32>>) -> Self {
        typealias I = SIMD16<Int32>
        let kept = I(repeating: -1).replacing(with: I(repeating: 0), where: mask)  // the lanes of self
        return unsafeBitCast((unsafeBitCast(self, to: I.self) & kept) | (unsafeBitCast(other, to: I.self) & ~kept), to: Self.self)
    }
}

extension SIMD8: LaneVector where Scalar == Double {
    @inline(__always) var laneSum: Double { losskit_double_lane_sum(self) }
    @inline(__always) static func either(_ a: SIMDMask<SIMD8<Int64>>, _ b: SIMDMask<SIMD8<Int64>>) -> SIMDMask<SIMD8<Int64>> { a .| b }
    @inline(__always) var largestLane: Double { losskit_double_largest_lane(self) }
    @inline(__always) static func loadPartial(_ p: UnsafePointer<Double>, lanes: Int, fill: Double) -> Self {
        #if LOSSKIT_AVX512
        losskit_avx512_load_double_lanes(p, lanes, fill)
        #elseif LOSSKIT_AVX2
        losskit_avx2_load_double_lanes(p, lanes, fill)
        #else
        loadLaneByLane(p, lanes: lanes, fill: fill)
        #endif
    }
    @inline(__always) func storePartial(_ p: UnsafeMutablePointer<Double>, lanes: Int) {
        #if LOSSKIT_AVX512
        losskit_avx512_store_double_lanes(p, self, lanes)
        #elseif LOSSKIT_AVX2
        losskit_avx2_store_double_lanes(p, self, lanes)
        #else
        storeLaneByLane(p, lanes: lanes)
        #endif
    }
    @inline(__always) func multiplied(by b: Self, adding c: Self) -> Self {
        #if LOSSKIT_FMA
        losskit_fma_double(self, b, c)
        #else
        self * b + c
        #endif
    }
    @inline(__always) func blended(with other: Self, where mask: SIMDMask<SIMD8<Int64>>) -> Self {
        typealias I = SIMD8<Int64>
        let kept = I(repeating: -1).replacing(with: I(repeating: 0), where: mask)  // the lanes of self
        return unsafeBitCast((unsafeBitCast(self, to: I.self) & kept) | (unsafeBitCast(other, to: I.self) & ~kept), to: Self.self)
    }
}

/// A float type with its row vector (64 bytes: 16 floats or 8 doubles) and vector exp.
protocol VectorFloat: BinaryFloatingPoint {
    associatedtype Vector: LaneVector where Vector.Scalar == Self
    static func exp(_ x: Vector) -> Vector
    /// exp for the exponents of a softmax, x ≤ 0 (vexpShifted: valid up to 64 for Float, 640 for Double).
    static func expShifted(_ x: Vector) -> Vector
    /// log of each lane: vlog for Float; libm lane by lane for Double (the Double vlog serves
    /// `RowMath.log`; the column kernels' Double logs have not been moved to it).
    static func log(_ x: Vector) -> Vector
    /// total += x, lane by lane in Double.
    static func accumulate(_ x: Vector, into total: inout WideLanes)
    /// p[k] += x[k] in Double for every lane k (a whole vector).
    static func add(_ x: Vector, toDoublesAt p: UnsafeMutablePointer<Double>)
    /// p[k] += x[k]² in Double for every lane k (a float32 square exact there).
    static func addSquares(_ x: Vector, toDoublesAt p: UnsafeMutablePointer<Double>)
    /// Adds x² lane by lane to running sums: for Float in Double lanes (each square exact, so no
    /// compensation is needed; one chain of one add per vector, where a compensated float sum has
    /// four), for Double compensated (Kahan: `low` the sums, `high` the compensations).
    static func addSquares(_ x: Vector, into sums: inout WideLanes)
    /// Two sums of `addSquares` as one (for Double, the two compensated sums joined exactly).
    static func joined(_ a: WideLanes, _ b: WideLanes) -> WideLanes
    /// Σ of the squares `addSquares` accumulated: +inf after an overflow, or NaN (then see
    /// `RowKernels.nonFiniteSquares`).
    static func total(ofSquares sums: WideLanes) -> Double
    /// A softmax target's gradient entry s·w·(ρ·e/Σ - 1) of each lane (e = exp(z_y - m), ρ the
    /// probability scale), every step in Double and rounded once to the type: it cancels as p_y → 1.
    /// The steps of the scalar `T(Double(s) * Double(w) * (Double(ρ) * (Double(e) / Double(Σ)) - 1))`,
    /// so the same bits.
    static func targetGradient(exp e: Vector, sum: Vector, scale s: Vector, weight w: Vector,
                               probabilityScale rho: Vector) -> Vector
}

/// `VectorFloat.targetGradient` on Double lanes.
@inline(__always)
private func targetGradientLanes(_ e: SIMD8<Double>, _ sum: SIMD8<Double>, _ s: SIMD8<Double>, _ w: SIMD8<Double>,
                                 _ rho: SIMD8<Double>) -> SIMD8<Double> {
    s * w * (rho * (e / sum) - SIMD8<Double>(repeating: 1))
}

/// Running sums of one vector's lanes in Double: 16 lanes for Float (two vectors), 8 for Double.
/// (`Double.addSquares` keeps its compensations in `high`.)
struct WideLanes {
    var low = SIMD8<Double>(repeating: 0)
    var high = SIMD8<Double>(repeating: 0)

    /// Σ of the lanes, in lane order.
    @inline(__always)
    var laneSum: Double { low.laneSum + high.laneSum }
}

extension Float: VectorFloat {
    typealias Vector = SIMD16<Float>
    @inline(__always) static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> { vexp(x) }
    @inline(__always) static func expShifted(_ x: SIMD16<Float>) -> SIMD16<Float> { vexpShifted(x) }
    @inline(__always) static func log(_ x: SIMD16<Float>) -> SIMD16<Float> { vlog(x) }
    @inline(__always) static func accumulate(_ x: SIMD16<Float>, into total: inout WideLanes) {
        total.low += widened(x, from: 0)
        total.high += widened(x, from: 8)
    }
    @inline(__always) static func add(_ x: SIMD16<Float>, toDoublesAt p: UnsafeMutablePointer<Double>) {
        (SIMD8<Double>.load(UnsafePointer(p), 0) + widened(x, from: 0)).store(p, 0)
        (SIMD8<Double>.load(UnsafePointer(p), 8) + widened(x, from: 8)).store(p, 8)
    }
    @inline(__always) static func addSquares(_ x: SIMD16<Float>, into sums: inout WideLanes) {
        let low = widened(x, from: 0), high = widened(x, from: 8)
        sums.low += low * low
        sums.high += high * high
    }
    @inline(__always) static func addSquares(_ x: SIMD16<Float>, toDoublesAt p: UnsafeMutablePointer<Double>) {
        let low = widened(x, from: 0), high = widened(x, from: 8)
        (SIMD8<Double>.load(UnsafePointer(p), 0) + low * low).store(p, 0)
        (SIMD8<Double>.load(UnsafePointer(p), 8) + high * high).store(p, 8)
    }
    @inline(__always) static func joined(_ a: WideLanes, _ b: WideLanes) -> WideLanes {
        WideLanes(low: a.low + b.low, high: a.high + b.high)
    }
    @inline(__always) static func total(ofSquares sums: WideLanes) -> Double { sums.laneSum }
    @inline(__always) static func targetGradient(exp e: SIMD16<Float>, sum: SIMD16<Float>, scale s: SIMD16<Float>,
                                                 weight w: SIMD16<Float>, probabilityScale rho: SIMD16<Float>) -> SIMD16<Float> {
        narrowed(targetGradientLanes(widened(e, from: 0), widened(sum, from: 0), widened(s, from: 0), widened(w, from: 0),
                                     widened(rho, from: 0)),
                 targetGradientLanes(widened(e, from: 8), widened(sum, from: 8), widened(s, from: 8), widened(w, from: 8),
                                     widened(rho, from: 8)))
    }

    /// Lanes first..<first + 8 of x in Double: one vcvtps2pd. A loop of this module's own, not the
    /// standard library's `SIMD8<Double>(_: SIMD8<Float>)`: a specialisation of that is one symbol
    /// that all three builds emit and call when the optimiser leaves it out of line (it did, in a
    /// clean build), and the linker keeps one copy for all, so the AVX-512 code would run the
    /// baseline's, which takes its vectors in other registers (Tests/dispatch checks for this).
    @inline(__always) private static func widened(_ x: SIMD16<Float>, from first: Int) -> SIMD8<Double> {
        var wide = SIMD8<Double>()
        for lane in 0..<8 { wide[lane] = Double(x[first + lane]) }
        return wide
    }

    /// Two vectors of Double rounded to one of Float (low lanes first), for the reason of `widened`.
    @inline(__always) private static func narrowed(_ low: SIMD8<Double>, _ high: SIMD8<Double>) -> SIMD16<Float> {
        var x = SIMD16<Float>()
        for lane in 0..<8 {
            x[lane] = Float(low[lane])
            x[8 + lane] = Float(high[lane])
        }
        return x
    }
}

extension Double: VectorFloat {
    typealias Vector = SIMD8<Double>
    @inline(__always) static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> { vexp(x) }
    @inline(__always) static func expShifted(_ x: SIMD8<Double>) -> SIMD8<Double> { vexpShifted(x) }
    @inline(__always) static func accumulate(_ x: SIMD8<Double>, into total: inout WideLanes) { total.low += x }
    @inline(__always) static func add(_ x: SIMD8<Double>, toDoublesAt p: UnsafeMutablePointer<Double>) {
        (SIMD8<Double>.load(UnsafePointer(p), 0) + x).store(p, 0)
    }
    @inline(__always) static func addSquares(_ x: SIMD8<Double>, into sums: inout WideLanes) {
        let term = x * x - sums.high, next = sums.low + term
        sums.high = (next - sums.low) - term
        sums.low = next
    }
    @inline(__always) static func addSquares(_ x: SIMD8<Double>, toDoublesAt p: UnsafeMutablePointer<Double>) {
        (SIMD8<Double>.load(UnsafePointer(p), 0) + x * x).store(p, 0)
    }
    @inline(__always) static func joined(_ a: WideLanes, _ b: WideLanes) -> WideLanes {
        // sum + error = a + b exactly (TwoSum), the error moved into the compensation, whose own
        // rounding is far below the sum's last bit.
        let sum = a.low + b.low, bPart = sum - a.low
        let error = (a.low - (sum - bPart)) + (b.low - bPart)
        return WideLanes(low: sum, high: (a.high + b.high) - error)
    }
    @inline(__always) static func total(ofSquares sums: WideLanes) -> Double {
        // A first overflow to +inf makes a compensation inf - inf = NaN: the sum is then +inf itself.
        let total = sums.low.laneSum
        return total.isFinite ? total - sums.high.laneSum : total
    }
    @inline(__always) static func targetGradient(exp e: SIMD8<Double>, sum: SIMD8<Double>, scale s: SIMD8<Double>,
                                                 weight w: SIMD8<Double>, probabilityScale rho: SIMD8<Double>) -> SIMD8<Double> {
        targetGradientLanes(e, sum, s, w, rho)
    }
    @inline(__always) static func log(_ x: SIMD8<Double>) -> SIMD8<Double> {
        var y = x
        for lane in 0..<8 { y[lane] = Glibc.log(x[lane]) }
        return y
    }
}

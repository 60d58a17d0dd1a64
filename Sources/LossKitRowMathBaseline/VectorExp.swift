#if LOSSKIT_AVX512
import CLossKitLanes
#endif

// Vectorised exp for Float and Double SIMD vectors: straight-line lane-parallel arithmetic (no libm
// calls, no branches), so the compiler emits packed SSE/AVX code for whatever ISA the build targets.
//
// Each function is written for one concrete vector type on purpose: in code generic over `SIMD`
// the operators resolve to the standard library's generic, lane-by-lane implementations (the
// generic version of this file compiled to scalar loops); on a concrete type they resolve to the
// packed ones. The widths are the kernels' (KernelFloat.Vector): 16 floats, 8 doubles.
//
// Only SIMD operations that lower to packed instructions are used: + - * on vectors, integer
// &+ &- &<< &>> on the bit patterns, comparisons and `replacing(with:where:)` (blends). Avoided on
// purpose: `.rounded()`, `pointwiseMin/Max`, `clamped`, int<->float conversions — these run lane by
// lane. Multiply-adds go through `multiplied(by:adding:)`: one fused multiply-add in the AVX2 and
// AVX-512 builds, a multiply and an add in the baseline (see LaneVector.swift), so the builds' results
// differ in the last bit now and then, each within the bounds the tests check for every build.
// The AVX-512 build's exps are another algorithm, from a table in registers (`vexpTabled`): fewer
// multiply-adds (two of nine for Float, four of fourteen for Double), which bound the exp passes, so
// its bits differ from the other builds' now and then, within the same bound. It applies the final
// 2^n with one vscalef (avx512_lanes.h), which rounds y·2^n once, as the other builds'
// exponent-field multiplies do (four to six instructions fewer).

// exp(x), Float, ≤ 2 ulp over the whole range (measured max ≈ 1 ulp, see VectorExpTests).
//   x is clamped to [-104, 89]: below -103.97 exp(x) < 2^-150 rounds to 0, above 88.72 it overflows;
//   ±inf land on the clamps and give 0 / inf, NaN passes the clamps (comparisons are false).
//   n = round(x·log2 e) by the magic-number trick: t = x·log2 e + 1.5·2^23 rounds to an integer in
//   the float adder, n = t - 1.5·2^23 exactly, and the integer n is bits(t) - bits(1.5·2^23).
//   r = x - n·ln2 with the Cody-Waite split ln2 = C1 + C2, C1 = 0.693359375 (9 bits, so n·C1 and
//   x - n·C1 are exact), C2 = -2.12194440e-4; |r| ≤ ln2/2. Both steps are multiply-adds: in the fast
//   builds the second is fused (rounded once), in the baseline it is the multiply and subtraction.
//   exp(r) ≈ 1 + r + r²·P(r), P of degree 4: a Chebyshev fit of (e^r - 1 - r)/r² on [-ln2/2, ln2/2]
//   whose own error is 0.13 half-ulp (scripts/exp_polynomials.py; Cephes' degree 5 was one step
//   more for little accuracy: 0.96 → 1.02 ulp at most on the stride-97 sweep, 1.05 ulp over every Float).
//   exp(x) = exp(r)·2^n1·2^n2 with n1 = n >> 1, n2 = n - n1: both factors are normal floats for every
//   n in [-150, 128], so results in the subnormal range are rounded once (no flush to zero) and
//   n = 128 overflows to inf correctly.
@inline(__always)
func vexp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    #if LOSSKIT_AVX512
    return vexpTabled(x.replacing(with: 89, where: x .> 89))
    #else
    let (y, n) = vexpReduced(x.replacing(with: 89, where: x .> 89))
    let n1 = n &>> 1
    let n2 = n &- n1
    let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: V.self)
    let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: V.self)
    return y * s1 * s2
    #endif
}

// exp(x) for x ≤ 64 — the softmax passes' exponents z - max ≤ 0 —, bit-identical to vexp there and
// six operations cheaper: no upper clamp, and 2^n applied as 2^(n+32)·2^-32, whose first factor is
// normal and leaves y·2^(n+32) normal (so exact) for every n in [-150, 95]; the second multiply rounds
// once, as vexp's does. Above 64 the result is wrong (the exponent field overflows).
@inline(__always)
func vexpShifted(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    #if LOSSKIT_AVX512
    return vexpTabled(x)
    #else
    let (y, n) = vexpReduced(x)
    let s1 = unsafeBitCast((n &+ (127 + 32)) &<< 23, to: V.self)
    return y * s1 * V(repeating: 0x1p-32)
    #endif
}

#if LOSSKIT_AVX512
// exp(x) for x ≤ 89 (clamped below at -104 here), the AVX-512 build's Float exp: two fused
// multiply-adds fewer than `vexpReduced` (the row loops' exp passes are bound by them), from a
// 16-entry table in a register (one vpermps) and a polynomial of degree 3 on a range 16 times smaller.
//   h = k/16 = round(x·log2 e to sixteenths) by the magic number 1.5·2^19, whose float ulp is 1/16:
//   t = x·log2 e + 1.5·2^19, h = t - 1.5·2^19 exactly, and the low four bits of t's pattern are
//   j = k mod 16 (the table's index). r = x - h·ln2 by Cody-Waite as `vexpReduced` (h·C1 is exact:
//   k has at most 12 bits, C1 9), |r| ≤ ln2/32.
//   e^r - 1 ≈ r + r²·(c2 + c3·r), a Chebyshev fit on [-0.0217, 0.0217] whose relative error is
//   0.08 half-ulp; then s = 2^(j/16) rounded to float (≤ half an ulp) and y = s + s·(e^r - 1), rounded
//   once (fused). exp(x) = y·2^floor(h), by vscalefps, which floors its exponent operand and rounds once
//   (subnormal results included, inf past the top). Measured max ≈ 1 ulp (VectorExpTests).
@inline(__always)
func vexpTabled(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let xc = x.replacing(with: -104, where: x .< -104)
    let magic: Float = 786_432                                  // 1.5·2^19
    let t = xc.multiplied(by: V(repeating: 1.442_695_04), adding: V(repeating: magic))  // log2 e
    let h = t - magic
    let r = h.multiplied(by: V(repeating: 2.121_944_40e-4), adding: h.multiplied(by: V(repeating: -0.693_359_375), adding: xc))
    let q = r.multiplied(by: V(repeating: 0.166_668_623_685_836_8), adding: V(repeating: 0.500_009_834_766_387_9))
    let expm1 = q.multiplied(by: r * r, adding: r)
    // 2^(j/16), j = 0…15, each rounded to the nearest float (checked against 60-digit values). A
    // local constant: as a global it was initialised lazily, behind a call in the loop.
    let twoToSixteenths = V(0x1p0, 0x1.0b5586p0, 0x1.172b84p0, 0x1.2387a6p0, 0x1.306fe0p0, 0x1.3dea64p0, 0x1.4bfdaep0,
                            0x1.5ab07ep0, 0x1.6a09e6p0, 0x1.7a1148p0, 0x1.8ace54p0, 0x1.9c4918p0, 0x1.ae89fap0,
                            0x1.c199bep0, 0x1.d5818ep0, 0x1.ea4afap0)
    let s = losskit_avx512_lookup_float(twoToSixteenths, t)
    return losskit_avx512_scale_float(expm1.multiplied(by: s, adding: s), h)
}

#endif

/// exp(r) and n with exp(x) = exp(r)·2^n, for x ≤ 89 (clamped below here): the shared part of the
/// baseline and AVX2 builds' Float exps above.
@inline(__always)
func vexpReduced(_ x: SIMD16<Float>) -> (y: SIMD16<Float>, n: SIMD16<Int32>) {
    typealias V = SIMD16<Float>
    typealias I = SIMD16<Int32>
    let xc = x.replacing(with: -104, where: x .< -104)

    let magic: Float = 12_582_912                              // 1.5·2^23
    let t = xc.multiplied(by: V(repeating: 1.442_695_04), adding: V(repeating: magic))  // log2 e
    let nf = t - magic
    let n = unsafeBitCast(t, to: I.self) &- I(repeating: 0x4B40_0000)

    let r = nf.multiplied(by: V(repeating: 2.121_944_40e-4), adding: nf.multiplied(by: V(repeating: -0.693_359_375), adding: xc))
    let z = r * r
    var p = r.multiplied(by: V(repeating: 1.392_618_358_771_349e-3), adding: V(repeating: 8.363_179_052_722_577e-3))
    p = p.multiplied(by: r, adding: V(repeating: 4.166_655_461_720_457e-2))
    p = p.multiplied(by: r, adding: V(repeating: 1.666_657_698_969_878e-1))
    p = p.multiplied(by: r, adding: V(repeating: 0.5))
    return (p.multiplied(by: z, adding: r) + 1, n)
}

// exp(x), Double, ≤ 2 ulp over the whole range (measured max ≈ 1 ulp against expl).
//   Same scheme as the Float version: clamp to [-746, 710] (exp(x) < 2^-1075 rounds to 0 below
//   -745.14, overflow above 709.78), n = round(x·log2 e) with the magic number 1.5·2^52,
//   r = x - n·ln2 with fdlibm's split ln2 = ln2HI + ln2LO (ln2HI has 32 significant bits, so n·ln2HI
//   is exact for |n| ≤ 1076), |r| ≤ ln2/2, by two multiply-adds as for Float.
//   exp(r) ≈ 1 + r + r²·P(r), P of degree 9, a Chebyshev fit as for Float (fit error 0.11 half-ulp;
//   it replaced the degree-11 Taylor polynomial: 0.95 → 1.01 ulp at most), evaluated by Horner.
//   exp(x) = exp(r)·2^n1·2^n2, n1 = n >> 1, n2 = n - n1, both normal for n in [-1076, 1024].
@inline(__always)
func vexp(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    #if LOSSKIT_AVX512
    return vexpTabled(x.replacing(with: 710, where: x .> 710))
    #else
    let (y, n) = vexpReduced(x.replacing(with: 710, where: x .> 710))
    let n1 = n &>> 1
    let n2 = n &- n1
    let s1 = unsafeBitCast((n1 &+ 1023) &<< 52, to: V.self)
    let s2 = unsafeBitCast((n2 &+ 1023) &<< 52, to: V.self)
    return y * s1 * s2
    #endif
}

// exp(x) for x ≤ 640, bit-identical to vexp there, as the Float vexpShifted: 2^n applied as
// 2^(n+64)·2^-64, exact then rounded once for every n in [-1076, 959].
@inline(__always)
func vexpShifted(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    #if LOSSKIT_AVX512
    return vexpTabled(x)
    #else
    let (y, n) = vexpReduced(x)
    let s1 = unsafeBitCast((n &+ (1023 + 64)) &<< 52, to: V.self)
    return y * s1 * V(repeating: 0x1p-64)
    #endif
}

#if LOSSKIT_AVX512
// exp(x) for x ≤ 710 (clamped below at -746 here), the AVX-512 build's Double exp, as the Float
// `vexpTabled`: h = k/16 by the magic number 1.5·2^48 (whose double ulp is 1/16), j = k mod 16 the
// low four bits of t's pattern, r = x - h·ln2 by fdlibm's split as `vexpReduced` (k has at most 15
// bits, ln2HI 32: h·ln2HI is exact), |r| ≤ ln2/32; e^r - 1 ≈ r + r²·P(r), P of degree 4, a Chebyshev
// fit on [-0.02167, 0.02167] whose relative error is 0.26 half-ulp; 2^(j/16) = s + s' with s rounded
// to double and s' the rest (each looked up by vpermt2pd from two registers), y = s + (s·(e^r - 1) +
// s') with the inner step fused, exp(x) = y·2^floor(h) by vscalefpd. Four multiply-adds fewer than
// `vexpReduced` in all (five fewer in the polynomial, one more for s'); with s alone (no s') the max
// error was 1.17 ulp, and expm1's 2.27.
@inline(__always)
func vexpTabled(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    let xc = x.replacing(with: -746, where: x .< -746)
    let magic: Double = 422_212_465_065_984                      // 1.5·2^48
    let t = xc.multiplied(by: V(repeating: 1.442_695_040_888_963_407_36), adding: V(repeating: magic))  // log2 e
    let h = t - magic
    let r = h.multiplied(by: V(repeating: -1.908_214_929_270_587_700_02e-10),
                         adding: h.multiplied(by: V(repeating: -6.931_471_803_691_238_164_90e-01), adding: xc))
    var p = r.multiplied(by: V(repeating: 1.388_903_447_152_472_7e-3), adding: V(repeating: 8.333_449_799_593_924e-3))
    p = p.multiplied(by: r, adding: V(repeating: 4.166_666_666_495_756_6e-2))
    p = p.multiplied(by: r, adding: V(repeating: 1.666_666_666_529_938_2e-1))
    p = p.multiplied(by: r, adding: V(repeating: 0.5))
    let expm1 = p.multiplied(by: r * r, adding: r)
    // 2^(j/16), j = 0…7 and 8…15: rounded to the nearest double, and what rounding left out (both
    // from 60-digit values).
    let low = V(0x1p0, 0x1.0b5586cf9890fp0, 0x1.172b83c7d517bp0, 0x1.2387a6e756238p0,
                0x1.306fe0a31b715p0, 0x1.3dea64c123422p0, 0x1.4bfdad5362a27p0, 0x1.5ab07dd485429p0)
    let high = V(0x1.6a09e667f3bcdp0, 0x1.7a11473eb0187p0, 0x1.8ace5422aa0dbp0, 0x1.9c49182a3f090p0,
                 0x1.ae89f995ad3adp0, 0x1.c199bdd85529cp0, 0x1.d5818dcfba487p0, 0x1.ea4afa2a490dap0)
    let lowRest = V(0, 0x1.8a62e4adc610bp-54, -0x1.19041b9d78a76p-55, 0x1.9b07eb6c70573p-54,
                    0x1.6f46ad23182e4p-55, 0x1.ada0911f09ebcp-55, 0x1.d4397afec42e2p-56, 0x1.6324c054647adp-54)
    let highRest = V(-0x1.bdd3413b26456p-54, -0x1.41577ee04992fp-55, 0x1.6e9f156864b27p-54, 0x1.c7c46b071f2bep-56,
                     0x1.7a1cd345dcc81p-54, 0x1.11065895048ddp-55, 0x1.2ed02d75b3707p-55, -0x1.e9c23179c2893p-54)
    let s = losskit_avx512_lookup_double(low, high, t), rest = losskit_avx512_lookup_double(lowRest, highRest, t)
    return losskit_avx512_scale_double(s + expm1.multiplied(by: s, adding: rest), h)
}
#endif

/// exp(r) and n with exp(x) = exp(r)·2^n, for x ≤ 710 (clamped below here): the baseline and AVX2
/// builds' Double exps above.
@inline(__always)
func vexpReduced(_ x: SIMD8<Double>) -> (y: SIMD8<Double>, n: SIMD8<Int64>) {
    typealias V = SIMD8<Double>
    typealias I = SIMD8<Int64>
    let xc = x.replacing(with: -746, where: x .< -746)

    let magic: Double = 6_755_399_441_055_744                  // 1.5·2^52
    let t = xc.multiplied(by: V(repeating: 1.442_695_040_888_963_407_36), adding: V(repeating: magic))  // log2 e
    let nf = t - magic
    let n = unsafeBitCast(t, to: I.self) &- I(repeating: 0x4338_0000_0000_0000)

    let r = nf.multiplied(by: V(repeating: -1.908_214_929_270_587_700_02e-10),
                          adding: nf.multiplied(by: V(repeating: -6.931_471_803_691_238_164_90e-01), adding: xc))
    let z = r * r
    var p = r.multiplied(by: V(repeating: 2.510_038_549_551_031_907_76e-8), adding: V(repeating: 2.762_008_844_540_974_816_10e-7))
    p = p.multiplied(by: r, adding: V(repeating: 2.755_726_845_999_706_477_17e-6))
    p = p.multiplied(by: r, adding: V(repeating: 2.480_152_129_595_437_513_12e-5))
    p = p.multiplied(by: r, adding: V(repeating: 1.984_126_986_305_361_687_79e-4))
    p = p.multiplied(by: r, adding: V(repeating: 1.388_888_891_721_371_690_14e-3))
    p = p.multiplied(by: r, adding: V(repeating: 8.333_333_333_330_061_832_52e-3))
    p = p.multiplied(by: r, adding: V(repeating: 4.166_666_666_662_412_787_30e-2))
    p = p.multiplied(by: r, adding: V(repeating: 1.666_666_666_666_666_745_27e-1))
    p = p.multiplied(by: r, adding: V(repeating: 5.000_000_000_000_001_022_11e-1))
    return (p.multiplied(by: z, adding: r) + 1, n)
}

// expm1(x) = e^x - 1, Double, accurate where e^x - 1 is small (focal's 1 - p_y = -expm1(-nll)).
//   |x| ≤ 1/2: x + x²·Q(x), Q the Taylor series Σ_{k=2..16} x^(k-2)/k! by Horner (what is left out,
//   from x^17/17! on, is below 2^-60 of the result); x²·Q ≤ |x|/3 there, so the exact x dominates.
//   Elsewhere e^x - 1 from vexp: |e^x - 1| ≥ 0.39, and for x < -1/2 the subtraction is exact
//   (Sterbenz), so the error stays within a few ulp. -inf gives -1, +inf gives inf, NaN stays NaN
//   (it fails the |x| ≤ 1/2 test and takes the e^x - 1 branch), ±0 gives ±0.
@inline(__always)
func vexpm1(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    var q = V(repeating: 1 / 20_922_789_888_000)                    // 1/16!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 1_307_674_368_000))  // 1/15!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 87_178_291_200))  // 1/14!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 6_227_020_800))  // 1/13!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 479_001_600))    // 1/12!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 39_916_800))     // 1/11!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 3_628_800))      // 1/10!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 362_880))        // 1/9!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 40_320))         // 1/8!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 5_040))          // 1/7!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 720))            // 1/6!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 120))            // 1/5!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 24))             // 1/4!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 6))              // 1/3!
    q = q.multiplied(by: x, adding: V(repeating: 1 / 2))              // 1/2!
    let series = (x * x).multiplied(by: q, adding: x).blended(with: x, where: x .== V(repeating: 0))  // -0 stays -0
    let small = (x .>= V(repeating: -0.5)) .& (x .<= V(repeating: 0.5))
    return (vexp(x) - V(repeating: 1)).blended(with: series, where: small)
}

// Vectorised natural log for Float SIMD vectors: branch-free lane-parallel arithmetic on the bit
// patterns (see the notes at the top of VectorExp.swift on which SIMD operations stay packed).

// log(x), Float, ≤ 2 ulp over the whole range (measured max ≈ 1 ulp, see VectorExpTests).
//   Subnormal x are first scaled by 2^23 (and 23 taken off the exponent afterwards).
//   x = m·2^e with m in [√½, √2) read from the bits less those of √½ (0x3F3504F3), by integer steps
//   alone: their exponent field is e, and √½'s bits added back to their mantissa field give m.
//   f = m - 1 in [-0.293, 0.414] is exact.
//   log(1 + f) ≈ f - f²/2 + f³·P(f), P of degree 8 (Cephes logf minimax coefficients).
//   log(x) = e·ln2 + log(1 + f), ln2 split as C1 + C2 (C1 = 0.693359375 has 9 bits, so e·C1 is exact),
//   summed as ((f³·P + e·C2) - f²/2 + f) + e·C1, smallest terms first.
//   e becomes a float through the magic number 1.5·2^23 (no int→float conversion instruction needed).
//   Specials, patched at the end: 0 → -inf, x < 0 → NaN, +inf → +inf, NaN → NaN.
@inline(__always)
func vlog(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    typealias I = SIMD16<Int32>
    let subnormal = x .< V(repeating: Float.leastNormalMagnitude)
    let xs = x.replacing(with: x * V(repeating: 8_388_608), where: subnormal)       // ·2^23
    let scaled = I(repeating: 0).replacing(with: I(repeating: 23), where: subnormal)

    let bits = unsafeBitCast(xs, to: I.self) &- I(repeating: 0x3F35_04F3)
    let e = (bits &>> 23) &- scaled                                    // arithmetic shift
    let m = unsafeBitCast((bits & 0x007F_FFFF) &+ I(repeating: 0x3F35_04F3), to: V.self)
    let f = m - V(repeating: 1)

    let magic: Float = 12_582_912                                     // 1.5·2^23
    let fe = unsafeBitCast(e &+ I(repeating: 0x4B40_0000), to: V.self) - V(repeating: magic)

    let z = f * f
    var p = f * V(repeating: 7.037_683_629_2e-2) - V(repeating: 1.151_461_031_0e-1)
    p = p * f + V(repeating: 1.167_699_874_0e-1)
    p = p * f - V(repeating: 1.242_014_084_6e-1)
    p = p * f + V(repeating: 1.424_932_278_7e-1)
    p = p * f - V(repeating: 1.666_805_766_5e-1)
    p = p * f + V(repeating: 2.000_071_476_5e-1)
    p = p * f - V(repeating: 2.499_999_399_3e-1)
    p = p * f + V(repeating: 3.333_333_117_4e-1)
    var y = p * f * z + fe * V(repeating: -2.121_944_40e-4)
    y = y - f * (f * V(repeating: 0.5))                                 // z/2 exactly (f = 0 or |f| ≥ 2^-23)
    let result = (f + y) + fe * V(repeating: 0.693_359_375)

    // The specials, chosen from x alone and blended in by bits (`LaneVector.blended`: a `replacing`
    // here scalarised the polynomial).
    let special = x.replacing(with: -Float.infinity, where: x .== V(repeating: 0))
        .replacing(with: Float.nan, where: x .< V(repeating: 0))     // +inf and NaN (payload kept) are x
    return special.blended(with: result, where: (x .> V(repeating: 0)) .& (x .< V(repeating: .infinity)))
}

// log(x), Double, ≤ 2 ulp (measured max ≈ 1 ulp against logl, see VectorExpTests): fdlibm's log in
// lanes. Subnormal x are first scaled by 2^54. x = m·2^e with m in [√½, √2) read from the bits by
// integer steps as for Float (√½'s bits 0x3FE6A09E667F3BCD); f = m - 1 is exact, s = f/(2 + f), and
//   log(1 + f) = f - (f²/2 - s·(f²/2 + R(s²))), R of degree 7 in s² (fdlibm's Lg1…Lg7, |error| < 2^-58.45),
//   log(x) = e·ln2hi - ((f²/2 - (s·(f²/2 + R) + e·ln2lo)) - f), ln2hi with 32 significant bits
//   (e·ln2hi exact). e becomes a Double through the magic number 1.5·2^52. Specials as for Float.
@inline(__always)
func vlog(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    typealias I = SIMD8<Int64>
    let subnormal = x .< V(repeating: Double.leastNormalMagnitude)
    let xs = x.replacing(with: x * V(repeating: 0x1p54), where: subnormal)
    let scaled = I(repeating: 0).replacing(with: I(repeating: 54), where: subnormal)

    let bits = unsafeBitCast(xs, to: I.self) &- I(repeating: 0x3FE6_A09E_667F_3BCD)
    let e = (bits &>> 52) &- scaled                                     // arithmetic shift
    let m = unsafeBitCast((bits & 0x000F_FFFF_FFFF_FFFF) &+ I(repeating: 0x3FE6_A09E_667F_3BCD), to: V.self)
    let f = m - V(repeating: 1)

    let magic: Double = 6_755_399_441_055_744                             // 1.5·2^52
    let fe = unsafeBitCast(e &+ I(repeating: 0x4338_0000_0000_0000), to: V.self) - V(repeating: magic)

    let s = f / (V(repeating: 2) + f)
    let z = s * s, w = z * z
    var odd = w.multiplied(by: V(repeating: 1.479_819_860_511_658_591e-01), adding: V(repeating: 1.818_357_216_161_805_012e-01))
    odd = odd.multiplied(by: w, adding: V(repeating: 2.857_142_874_366_239_149e-01))
    odd = odd.multiplied(by: w, adding: V(repeating: 6.666_666_666_666_735_130e-01))
    var even = w.multiplied(by: V(repeating: 1.531_383_769_920_937_332e-01), adding: V(repeating: 2.222_219_843_214_978_396e-01))
    even = even.multiplied(by: w, adding: V(repeating: 3.999_999_999_940_941_908e-01))
    let r = odd * z + even * w
    let halfSquare = f * (f * V(repeating: 0.5))
    let inner = s.multiplied(by: halfSquare + r, adding: fe * V(repeating: 1.908_214_929_270_587_700_02e-10))
    let result = fe * V(repeating: 6.931_471_803_691_238_164_90e-01) - ((halfSquare - inner) - f)

    let special = x.replacing(with: -Double.infinity, where: x .== V(repeating: 0))
        .replacing(with: Double.nan, where: x .< V(repeating: 0))       // +inf and NaN (payload kept) are x
    return special.blended(with: result, where: (x .> V(repeating: 0)) .& (x .< V(repeating: .infinity)))
}

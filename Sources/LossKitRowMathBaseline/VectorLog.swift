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

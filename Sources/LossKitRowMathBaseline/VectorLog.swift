// Vectorised natural log for Float SIMD vectors: branch-free lane-parallel arithmetic on the bit
// patterns (see the notes at the top of VectorExp.swift on which SIMD operations stay packed).

// log(x), Float, ≤ 2 ulp over the whole range (measured max ≈ 1 ulp, see VectorExpTests).
//   Subnormal x are first scaled by 2^23 (and 23 taken off the exponent afterwards).
//   x = m·2^e with m in [0.5, 1) read from the bits; if m < √½ then m ← 2m, e ← e - 1, so
//   m in [√½, √2) and f = m - 1 in [-0.293, 0.414] is exact.
//   log(1 + f) ≈ f - f²/2 + f³·P(f), P of degree 8 (Cephes logf minimax coefficients).
//   log(x) = e·ln2 + log(1 + f), ln2 split as C1 + C2 (C1 = 0.693359375 has 9 bits, so e·C1 is exact),
//   summed as ((f³·P + e·C2) - f²/2 + f) + e·C1, smallest terms first.
//   e becomes a float through the magic number 1.5·2^23 (no int→float conversion instruction needed).
//   Specials, patched at the end: 0 → -inf, x < 0 → NaN, +inf → +inf, NaN → NaN.
@inline(__always)
func vlog(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    typealias I = SIMD16<Int32>
    let subnormal = x .< Float.leastNormalMagnitude
    let xs = x.replacing(with: x * 8_388_608, where: subnormal)       // ·2^23

    let bits = unsafeBitCast(xs, to: I.self)
    let e = ((bits &>> 23) & 0xFF) &- 126                             // xs = m·2^e, m in [0.5, 1)
    var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: V.self)
    let small = m .< 0.707_106_781_186_547_524
    m = m.replacing(with: m + m, where: small)
    let f = m - 1

    let magic: Float = 12_582_912                                     // 1.5·2^23
    var fe = unsafeBitCast(e &+ I(repeating: 0x4B40_0000), to: V.self) - magic
    fe = fe.replacing(with: fe - 23, where: subnormal)
    fe = fe.replacing(with: fe - 1, where: small)

    let z = f * f
    var p = f * 7.037_683_629_2e-2 - 1.151_461_031_0e-1
    p = p * f + 1.167_699_874_0e-1
    p = p * f - 1.242_014_084_6e-1
    p = p * f + 1.424_932_278_7e-1
    p = p * f - 1.666_805_766_5e-1
    p = p * f + 2.000_071_476_5e-1
    p = p * f - 2.499_999_399_3e-1
    p = p * f + 3.333_333_117_4e-1
    var y = p * f * z + fe * -2.121_944_40e-4
    y = y - z * 0.5
    var result = (f + y) + fe * 0.693_359_375

    result = result.replacing(with: Float.infinity, where: x .== Float.infinity)
    result = result.replacing(with: -Float.infinity, where: x .== 0)
    result = result.replacing(with: Float.nan, where: x .< 0)
    result = result.replacing(with: x, where: x .!= x)                  // NaN stays NaN (keeps payload)
    return result
}

import LossKitRowMath

/// bfloat16 and binary16 <-> float32, 16 values at a time with integer and float lane operations
/// only (no F16C instruction, so every build has them; the fast builds get wider vectors).
/// A row's last values go through a partial vector, as in the row loops.
enum HalfConversion {
    typealias F = SIMD16<Float>
    typealias U = SIMD16<UInt32>

    @inline(__always)
    static func widen(_ h: UnsafePointer<UInt16>, _ n: Int, format: HalfFormat, into out: UnsafeMutablePointer<Float>) {
        F.sweep(n) { j, lanes in
            var bits = U(repeating: 0)
            for k in 0..<lanes { bits[k] = UInt32(h[j + k]) }
            let value = format == .bfloat16 ? unsafeBitCast(bits &<< 16, to: F.self) : widenBinary16(bits)
            value.store(out, j, lanes: lanes)
        }
    }

    @inline(__always)
    static func narrow(_ x: UnsafePointer<Float>, _ n: Int, format: HalfFormat, into out: UnsafeMutablePointer<UInt16>) {
        F.sweep(n) { j, lanes in
            let v = F.load(x, j, lanes: lanes, fill: 0)
            let bits = format == .bfloat16 ? narrowBFloat16(v) : narrowBinary16(v)
            for k in 0..<lanes { out[j + k] = UInt16(truncatingIfNeeded: bits[k]) }
        }
    }

    // binary16 -> float32, by the exponent e (5 bits) of the magnitude shifted into float32's places
    // (13 bits up): normal (0 < e < 31): add (127 - 15) to the exponent; subnormal (e = 0):
    // (1 + f)·2^-14 - 2^-14 = f·2^-14 exactly, both operands normal floats (so a caller's
    // denormals-are-zero mode cannot flush them); infinity and NaN (e = 31): exponent 255.
    // The classes are told apart by integer compares.
    @inline(__always)
    static func widenBinary16(_ h: U) -> F {
        let magnitude = h & 0x7FFF, sign = (h & 0x8000) &<< 16, shifted = magnitude &<< 13
        let normal = unsafeBitCast(shifted &+ 0x3800_0000, to: F.self)
        let subnormal = unsafeBitCast(shifted | 0x3880_0000, to: F.self) - F(repeating: 0x1p-14)
        let special = unsafeBitCast(shifted | 0x7F80_0000, to: F.self)
        var value = normal.replacing(with: subnormal, where: magnitude .< 0x0400)
        value = value.replacing(with: special, where: magnitude .>= 0x7C00)
        return unsafeBitCast(unsafeBitCast(value, to: U.self) | sign, to: F.self)
    }

    // float32 -> bfloat16, to nearest even: add 0x7FFF plus the lowest kept bit, keep the top 16 bits;
    // NaN becomes a quiet NaN (the addition could carry it into infinity).
    @inline(__always)
    static func narrowBFloat16(_ x: F) -> U {
        let bits = unsafeBitCast(x, to: U.self)
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
        let quiet = (bits &>> 16) | 0x0040
        return unsafeBitCast(unsafeBitCast(rounded, to: F.self).replacing(with: unsafeBitCast(quiet, to: F.self),
                                                                        where: x .!= x), to: U.self)
    }

    // float32 -> binary16, to nearest even, on the magnitude a (sign put back at the end):
    // - a ≥ 65520 (rounds past the largest binary16, 65504): inf; NaN: quiet NaN 0x7E00;
    // - a < 2^-14 (binary16 subnormals and 0): a + 0.5 rounds a to a multiple of 2^-24 in float32's
    //   adder (RNE), and the low bits of the sum are the binary16 pattern;
    // - otherwise: rebias the exponent (-112 << 23), add 0xFFF plus the lowest kept bit, shift by 13.
    @inline(__always)
    static func narrowBinary16(_ x: F) -> U {
        let bits = unsafeBitCast(x, to: U.self)
        let sign = (bits &>> 16) & 0x8000
        let magnitudeBits = bits & 0x7FFF_FFFF
        let a = unsafeBitCast(magnitudeBits, to: F.self)
        let normal = ((magnitudeBits &+ 0xC800_0FFF &+ ((magnitudeBits &>> 13) & 1)) &>> 13) & 0xFFFF
        let subnormal = unsafeBitCast(a + F(repeating: 0.5), to: U.self) &- 0x3F00_0000
        var result = unsafeBitCast(normal, to: F.self)
        result = result.replacing(with: unsafeBitCast(subnormal, to: F.self), where: a .< F(repeating: 0x1p-14))
        result = result.replacing(with: unsafeBitCast(U(repeating: 0x7C00), to: F.self), where: a .>= F(repeating: 65520))
        result = result.replacing(with: unsafeBitCast(U(repeating: 0x7E00), to: F.self), where: x .!= x)
        return unsafeBitCast(result, to: U.self) | sign
    }
}

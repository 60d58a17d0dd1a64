// The 16-bit conversions of every build (RowMath.widen / narrow) against references written here
// independently: Swift's Float16 conversions (correctly rounded) for binary16, and for bfloat16 the
// nearest of the two neighbouring bfloat16 values chosen by exact Double arithmetic, ties to even.
import LossKitKernels
import LossKitRowMath
import XCTest

/// The value of a bfloat16 pattern, with the infinity pattern read as 2^128 (the value the rounding
/// compares against past the largest finite bfloat16).
private func bfloat16Value(_ h: UInt16) -> Double {
    let magnitude = h & 0x7FFF
    let v = magnitude == 0x7F80 ? 0x1p128 : Double(Float(bitPattern: UInt32(magnitude) << 16))
    return h & 0x8000 != 0 ? -v : v
}

/// float32 -> bfloat16 to nearest even, by comparing distances (not the library's bit trick).
private func referenceBFloat16(_ x: Float) -> UInt16 {
    if x.isNaN { return UInt16(x.bitPattern >> 16) | 0x0040 }
    if x.isInfinite { return UInt16(x.bitPattern >> 16) }
    let down = UInt16(x.bitPattern >> 16)  // truncation: toward zero
    if Double(x) == bfloat16Value(down) { return down }
    let up = down &+ 1                     // the next value away from zero
    let dDown = abs(Double(x) - bfloat16Value(down)), dUp = abs(bfloat16Value(up) - Double(x))
    if dDown != dUp { return dDown < dUp ? down : up }
    return down & 1 == 0 ? down : up
}

private func widen(_ math: any RowMath.Type, _ bits: [UInt16], _ format: HalfFormat) -> [Float] {
    var out = [Float](repeating: 0, count: bits.count)
    bits.withUnsafeBufferPointer { h in out.withUnsafeMutableBufferPointer { math.widen(h.baseAddress!, h.count, format: format, into: $0.baseAddress!) } }
    return out
}

private func narrow(_ math: any RowMath.Type, _ values: [Float], _ format: HalfFormat) -> [UInt16] {
    var out = [UInt16](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { math.narrow(x.baseAddress!, x.count, format: format, into: $0.baseAddress!) } }
    return out
}

/// Float32 values that test rounding: random bit patterns, and for every 16-bit value its neighbours'
/// midpoints and the floats just around them.
private func testFloats(_ format: HalfFormat) -> [Float] {
    var values: [Float] = [0, -0.0, .infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                           .leastNonzeroMagnitude, .leastNormalMagnitude, 65504, 65519.99609375, 65520, 65536, 1e-8, 2.98e-8,
                           0x1p-24, 0x1p-25, 0x1.8p-25, 0x1p-14, 0x1.ff8p-15]
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0..<200_000 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        values.append(Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32)))
    }
    for h in stride(from: 0, to: 0x7C00, by: 7) {
        let a = format == .float16 ? Float(Float16(bitPattern: UInt16(h))) : Float(bitPattern: UInt32(h) << 16)
        let b = format == .float16 ? Float(Float16(bitPattern: UInt16(h + 1))) : Float(bitPattern: UInt32(h + 1) << 16)
        let mid = Float((Double(a) + Double(b)) / 2)
        values += [mid, mid.nextUp, mid.nextDown, -mid, a, -a]
    }
    return values
}

final class HalfConversionTests: XCTestCase {
    /// Every 16-bit pattern widens to the exact value, and narrows back to itself (NaN to a NaN).
    func testEveryHalfWidensExactlyAndRoundTrips() {
        let all = (0...0xFFFF).map { UInt16($0) }
        for math in SIMDDispatch.runnable {
            for format in [HalfFormat.bfloat16, .float16] {
                let wide = widen(math, all, format)
                for (h, x) in zip(all, wide) {
                    let exact = format == .float16 ? Float(Float16(bitPattern: h)) : Float(bitPattern: UInt32(h) << 16)
                    if exact.isNaN {
                        XCTAssertTrue(x.isNaN, "\(math.level.name) \(format) widen 0x\(String(h, radix: 16))")
                    } else {
                        XCTAssertEqual(x.bitPattern, exact.bitPattern, "\(math.level.name) \(format) widen 0x\(String(h, radix: 16))")
                    }
                }
                let back = narrow(math, wide, format)
                for (h, b) in zip(all, back) {
                    let isNaN = format == .float16 ? Float16(bitPattern: h).isNaN : Float(bitPattern: UInt32(h) << 16).isNaN
                    if isNaN {
                        XCTAssertTrue(format == .float16 ? Float16(bitPattern: b).isNaN : Float(bitPattern: UInt32(b) << 16).isNaN)
                    } else {
                        XCTAssertEqual(b, h, "\(math.level.name) \(format) round trip 0x\(String(h, radix: 16))")
                    }
                }
            }
        }
    }

    /// Narrowing rounds to nearest, ties to even, overflows to infinity, keeps NaN a NaN.
    func testNarrowingRoundsToNearestEven() {
        for format in [HalfFormat.bfloat16, .float16] {
            let values = testFloats(format)
            let expected = values.map { format == .float16 ? Float16($0).bitPattern : referenceBFloat16($0) }
            for math in SIMDDispatch.runnable {
                let got = narrow(math, values, format)
                var mismatches = 0
                for i in values.indices where got[i] != expected[i] {
                    let bothNaN = format == .float16 ? Float16(bitPattern: got[i]).isNaN && values[i].isNaN
                        : Float(bitPattern: UInt32(got[i]) << 16).isNaN && values[i].isNaN
                    if bothNaN { continue }
                    mismatches += 1
                    if mismatches <= 5 {
                        XCTFail("\(math.level.name) \(format) narrow(\(values[i]) = 0x\(String(values[i].bitPattern, radix: 16))): "
                                + "0x\(String(got[i], radix: 16)), expected 0x\(String(expected[i], radix: 16))")
                    }
                }
                XCTAssertEqual(mismatches, 0, "\(math.level.name) \(format): \(mismatches) of \(values.count) values")
            }
        }
    }
}

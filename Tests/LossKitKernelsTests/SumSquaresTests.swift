// RowMath.sumSquares in every build: a compensated sum of the squares in the type's lanes (one
// chain of vectors below 256 values, the even and the odd vectors in two chains joined exactly from
// 256 on). Checked against the squares (each rounded to the type, as the lanes form them) summed
// exactly enough in Double pairs, on both sides of 256 and on partial vectors, to a few units of the
// type's rounding (a compensated sum's bound; a plain Float sum of 4099 such squares is off by
// tens of them); -inf adds nothing, a NaN makes the sum NaN, a square that overflows makes it +inf.
import LossKitKernels
import LossKitRowMath
import XCTest

final class SumSquaresTests: XCTestCase {
    private let lengths = [1, 15, 16, 17, 100, 255, 256, 257, 271, 1000, 4099]

    /// Σ of the values with an error far below a Double ulp of the total (TwoSum into a pair).
    private func exactSum(_ values: [Double]) -> Double {
        var high = 0.0, low = 0.0
        for x in values {
            let s = high + x, b = s - high
            low += (high - (s - b)) + (x - b)
            high = s
        }
        return high + low
    }

    private func check<T: BinaryFloatingPoint>(_: T.Type, tolerance: Double,
                                               _ sumSquares: (any RowMath.Type, UnsafePointer<T>, Int) -> Double) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func uniform() -> Double {  // splitmix64 → [0, 1)
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        for math in SIMDDispatch.runnable {
            for n in lengths {
                // A first vector of large values, then values within ±1: an uncompensated Float sum
                // drops the small squares (ulp(2^24) = 2) and is off by about 2e-6 at n = 4099.
                var row = (0..<n).map { j in T(j < 16 ? 4096 * (1 + 0.01 * uniform()) : 2 * uniform() - 1) }
                if n > 3 { row[n / 3] = -.infinity }
                let expected = exactSum(row.filter { $0 != -.infinity }.map { Double($0 * $0) })
                let got = row.withUnsafeBufferPointer { sumSquares(math, $0.baseAddress!, n) }
                XCTAssertEqual(got, expected, accuracy: tolerance * expected, "\(math.level.name) \(T.self) n = \(n)")
                row[n - 1] = .nan
                XCTAssertTrue(row.withUnsafeBufferPointer { sumSquares(math, $0.baseAddress!, n) }.isNaN,
                              "\(math.level.name) \(T.self) n = \(n): a NaN")
                row[n - 1] = T.greatestFiniteMagnitude
                XCTAssertEqual(row.withUnsafeBufferPointer { sumSquares(math, $0.baseAddress!, n) }, .infinity,
                               "\(math.level.name) \(T.self) n = \(n): an overflow")
            }
        }
    }

    func testFloatSumSquares() {
        check(Float.self, tolerance: 3e-7) { math, z, n in math.sumSquares(z, n) }
    }

    func testDoubleSumSquares() {
        check(Double.self, tolerance: 1e-14) { math, z, n in math.sumSquares(z, n) }
    }
}

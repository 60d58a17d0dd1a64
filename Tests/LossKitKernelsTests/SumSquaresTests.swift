// RowMath.sumSquares and maxAndSquares in every build: float32 squares exact in Double lanes, float64
// ones summed with compensation (one chain of vectors below 256 values; sumSquares the even and the
// odd vectors in two chains joined exactly from 256 on). Checked against the squares summed exactly
// enough in Double pairs, on both sides of 256 and on partial vectors, to a few units of Double's
// rounding (a compensated sum's bound; a plain float64 sum of 4099 such squares, or a compensated
// float32 one, is off by far more); -inf adds nothing, a NaN makes the sum NaN, float64 squares that
// overflow make it +inf (one, or many in the same lane: a compensation inf - inf once turned that
// into NaN), float32 ones past float32's range are counted. maxAndSquares leaves one class out (its
// NaN reaches neither result), and its max is checked against the row's.
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

    /// `sumSquares(math, z, n, skipped)` against the exact sum over the classes other than `skipped`
    /// (-1: none) that are not -inf, of the squares in Double (exact for float32, where they cannot
    /// overflow; rounded as the kernels round them for float64).
    private func check<T: BinaryFloatingPoint>(_: T.Type, tolerance: Double, skipping: Bool = false,
                                               _ sumSquares: (any RowMath.Type, UnsafePointer<T>, Int, Int) -> Double) {
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
                // The class left out: in the large first vector, or the last, partial one.
                let skipped = skipping ? (n % 2 == 0 ? min(n - 1, 5) : n - 1) : -1
                let counted = row.indices.filter { $0 != skipped && row[$0] != -.infinity }
                let what = "\(math.level.name) \(T.self) n = \(n) skipping \(skipped)"
                func expect(_ note: String) {
                    let got = row.withUnsafeBufferPointer { sumSquares(math, $0.baseAddress!, n, skipped) }
                    let squares = counted.map { Double(row[$0]) * Double(row[$0]) }
                    let expected = squares.contains(.infinity) ? .infinity : exactSum(squares)
                    if expected.isInfinite { return XCTAssertEqual(got, expected, "\(what)\(note)") }
                    XCTAssertEqual(got, expected, accuracy: tolerance * expected, "\(what)\(note)")
                }
                expect("")
                if skipped >= 0 {
                    let clean = row[skipped]
                    row[skipped] = .nan
                    expect(": a NaN left out")
                    row[skipped] = clean
                }
                guard let last = counted.last else { continue }
                row[last] = .nan
                XCTAssertTrue(row.withUnsafeBufferPointer { sumSquares(math, $0.baseAddress!, n, skipped) }.isNaN, "\(what): a NaN")
                row[last] = T.greatestFiniteMagnitude
                expect(": the largest value")
                for j in counted { row[j] = T.greatestFiniteMagnitude / 2 }
                expect(": every value huge")
            }
        }
    }

    func testFloatSumSquares() {
        check(Float.self, tolerance: 1e-14) { math, z, n, _ in math.sumSquares(z, n) }
    }

    func testDoubleSumSquares() {
        check(Double.self, tolerance: 1e-14) { math, z, n, _ in math.sumSquares(z, n) }
    }

    func testFloatMaxAndSquares() {
        check(Float.self, tolerance: 1e-14, skipping: true) { math, z, n, skipped in math.maxAndSquares(z, n, except: skipped).squares }
        checkMax(Float.self) { math, z, n in math.maxAndSquares(z, n, except: 0).max }
    }

    func testDoubleMaxAndSquares() {
        check(Double.self, tolerance: 1e-14, skipping: true) { math, z, n, skipped in math.maxAndSquares(z, n, except: skipped).squares }
        checkMax(Double.self) { math, z, n in math.maxAndSquares(z, n, except: 0).max }
    }

    /// The max of rows with it at each end, in the middle, beside a NaN (skipped) and of -inf alone.
    private func checkMax<T: BinaryFloatingPoint>(_: T.Type, _ max: (any RowMath.Type, UnsafePointer<T>, Int) -> T) {
        for math in SIMDDispatch.runnable {
            for n in lengths {
                for position in Set([0, n / 2, n - 1]) {
                    var row = (0..<n).map { T(-Double($0 % 7)) - 1 }
                    row[position] = 3
                    if n > 1 { row[(position + 1) % n] = .nan }
                    XCTAssertEqual(row.withUnsafeBufferPointer { max(math, $0.baseAddress!, n) }, 3,
                                   "\(math.level.name) \(T.self) n = \(n) max at \(position)")
                }
                let masked = [T](repeating: -.infinity, count: n)
                XCTAssertEqual(masked.withUnsafeBufferPointer { max(math, $0.baseAddress!, n) }, -.infinity,
                               "\(math.level.name) \(T.self) n = \(n): every class masked")
            }
        }
    }
}

// The reductions of a vector's lanes to one number (lane_reductions.h) in every build, through the row
// loops that end in them: a row's max with its largest value in each position (so in every lane of
// both running maxima and in the partial last vector), and sums and dot products of values whose
// sums are exact in Double, so that any lane dropped, counted twice or taken from the wrong vector
// shows as a difference. Also the row check of nan_policy "error" that returns the row's max.
import LossKitKernels
import LossKitRowMath
import XCTest

final class LaneReductionTests: XCTestCase {
    /// Lengths covering one to three vectors of floats (16) and five of doubles (8), partial or not.
    private let lengths = Array(1...48)

    func testMaxFindsTheLargestValueInEveryPosition() {
        for math in SIMDDispatch.runnable {
            for n in lengths {
                for position in 0..<n {
                    // Distinct values below 0, the largest (0.5) at `position`.
                    let floats = (0..<n).map { $0 == position ? Float(0.5) : -Float(($0 * 37) % 101 + 1) / 8 }
                    XCTAssertEqual(floats.withUnsafeBufferPointer { math.max($0.baseAddress!, bias: nil, n) }, 0.5,
                                   "\(math.level) float n = \(n) at \(position)")
                    let doubles = floats.map(Double.init)
                    XCTAssertEqual(doubles.withUnsafeBufferPointer { math.max($0.baseAddress!, bias: nil, n) }, 0.5,
                                   "\(math.level) double n = \(n) at \(position)")
                }
            }
        }
    }

    /// nan_policy "error"'s check of a row with its max of z + b (`RowMaxima`): the same max as `max`
    /// when the row is valid (-inf included), with and without a bias, NaN when a NaN or +inf logit
    /// sits in any position. A finite z_j whose z_j + b_j overflows is not refused.
    func testMaxBelowInfinityIsTheMaxOrRefusesTheRow() {
        for math in SIMDDispatch.runnable {
            for n in lengths {
                let floats: [Float] = (0..<n).map { (i: Int) -> Float in
                    i % 5 == 4 ? -.infinity : -Float((i * 37) % 101 + 1) / 8  // every fifth class masked
                }
                let bias: [Float] = (0..<n).map { (i: Int) -> Float in Float((i * 11) % 7) / 4 }
                for b in [nil, bias] {
                    check("\(math.level) float", floats, b, { math.max($0, bias: $1, $2) }, { math.maxBelowInfinity($0, bias: $1, $2) })
                    check("\(math.level) double", floats.map(Double.init), b?.map(Double.init), { math.max($0, bias: $1, $2) },
                          { math.maxBelowInfinity($0, bias: $1, $2) })
                }
                var overflowing = floats, huge = bias
                overflowing[n - 1] = .greatestFiniteMagnitude
                huge[n - 1] = .greatestFiniteMagnitude
                check("\(math.level) float, z + b overflowing", overflowing, huge, { math.max($0, bias: $1, $2) },
                      { math.maxBelowInfinity($0, bias: $1, $2) })
            }
        }
    }

    /// `maxBelowInfinity` of z (and b) against `max`, then with each position made NaN and +inf.
    private func check<T: BinaryFloatingPoint>(_ what: String, _ z: [T], _ bias: [T]?,
                                               _ max: (UnsafePointer<T>, UnsafePointer<T>?, Int) -> T,
                                               _ maxBelowInfinity: (UnsafePointer<T>, UnsafePointer<T>?, Int) -> T) {
        let n = z.count
        func apply(_ f: (UnsafePointer<T>, UnsafePointer<T>?, Int) -> T, _ z: [T]) -> T {
            z.withUnsafeBufferPointer { zs in
                guard let bias else { return f(zs.baseAddress!, nil, n) }
                return bias.withUnsafeBufferPointer { f(zs.baseAddress!, $0.baseAddress!, n) }
            }
        }
        let label = "\(what) n = \(n) bias \(bias != nil)"
        XCTAssertEqual(apply(maxBelowInfinity, z), apply(max, z), label)
        for position in 0..<n {
            for bad in [T.nan, .infinity] {
                var broken = z
                broken[position] = bad
                XCTAssertTrue(apply(maxBelowInfinity, broken).isNaN, "\(label), \(bad) at \(position)")
            }
        }
    }

    func testSumsAndDotProductsCountEveryLaneOnce() {
        for math in SIMDDispatch.runnable {
            for n in lengths {
                // Multiples of 1/8 up to a few hundred, each lane's value different: every partial sum exact.
                let x = (0..<n).map { Float(($0 * 53) % 97 + 1) / 8 }
                let y = (0..<n).map { Float(($0 * 29) % 31 + 1) / 4 }
                let sum = x.reduce(0.0) { $0 + Double($1) }
                let dot = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                x.withUnsafeBufferPointer { xs in
                    y.withUnsafeBufferPointer { ys in
                        XCTAssertEqual(math.sum(xs.baseAddress!, n), sum, "\(math.level) float sum n = \(n)")
                        XCTAssertEqual(math.dot(xs.baseAddress!, ys.baseAddress!, n), dot, "\(math.level) float dot n = \(n)")
                    }
                }
                let xd = x.map(Double.init), yd = y.map(Double.init)
                xd.withUnsafeBufferPointer { xs in
                    yd.withUnsafeBufferPointer { ys in
                        XCTAssertEqual(math.sum(xs.baseAddress!, n), sum, "\(math.level) double sum n = \(n)")
                        XCTAssertEqual(math.dot(xs.baseAddress!, ys.baseAddress!, n), dot, "\(math.level) double dot n = \(n)")
                    }
                }
            }
        }
    }
}

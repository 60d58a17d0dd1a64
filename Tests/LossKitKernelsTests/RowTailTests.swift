// A row's last, partial vector in every build (RowMath): loads must not take in the values past the
// row's end, stores must not write there. The AVX-512 build does both with one masked instruction, the
// others lane by lane. Each row sits between guard values that would show if read (a huge logit:
// it would win the max and make Σ exp infinite) or written (the guards must come back unchanged).
import LossKitKernels
import LossKitRowMath
import XCTest

final class RowTailTests: XCTestCase {
    /// Row lengths around one and two vectors of either type (16 floats, 8 doubles).
    private let lengths = Array(1...35)
    private let guardCount = 16

    func testFloatRowTailsReadAndWriteOnlyTheRow() {
        for math in SIMDDispatch.runnable {
            for n in lengths {
                check(math, n, Float.self, max: { math.max($0, bias: nil, $1) },
                      sumExp: { math.sumExp($0, bias: nil, $1, shift: $2, storingInto: $3) },
                      scale: { math.scale($0, $1, by: $2) },
                      writeSoftmax: { math.writeSoftmax($0, bias: nil, $1, max: $2, logSum: $3, scale: 1, linear: 0, into: $4) })
            }
        }
    }

    func testDoubleRowTailsReadAndWriteOnlyTheRow() {
        for math in SIMDDispatch.runnable {
            for n in lengths {
                check(math, n, Double.self, max: { math.max($0, bias: nil, $1) },
                      sumExp: { math.sumExp($0, bias: nil, $1, shift: $2, storingInto: $3) },
                      scale: { math.scale($0, $1, by: $2) },
                      writeSoftmax: { math.writeSoftmax($0, bias: nil, $1, max: $2, logSum: $3, scale: 1, linear: 0, into: $4) })
            }
        }
    }

    /// Runs the four row loops on a row of n values with guards on both sides of the input and output.
    private func check<T: BinaryFloatingPoint>(
        _ math: any RowMath.Type, _ n: Int, _: T.Type,
        max: (UnsafePointer<T>, Int) -> T,
        sumExp: (UnsafePointer<T>, Int, T, UnsafeMutablePointer<T>?) -> Double,
        scale: (UnsafeMutablePointer<T>, Int, T) -> Void,
        writeSoftmax: (UnsafePointer<T>, Int, T, T, UnsafeMutablePointer<T>) -> Void
    ) {
        let name = "\(math.level.name) \(T.self) n = \(n)"
        let inputGuard: T = 1e30, outputGuard = -T.greatestFiniteMagnitude
        let row = (0..<n).map { T(($0 * 7) % 11) * T(0.25) - 1 }   // values in [-1, 1.5]
        var input = [T](repeating: inputGuard, count: guardCount) + row + [T](repeating: inputGuard, count: guardCount)
        var output = [T](repeating: outputGuard, count: n + 2 * guardCount)
        let expectedMax = row.max()!
        let expectedSum = row.reduce(0.0) { $0 + Foundation.exp(Double($1 - expectedMax)) }
        input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                let z = UnsafePointer(inputBuffer.baseAddress! + guardCount), out = outputBuffer.baseAddress! + guardCount
                XCTAssertEqual(max(z, n), expectedMax, "\(name): max read past the row")
                let sum = sumExp(z, n, expectedMax, out)
                XCTAssertEqual(sum, expectedSum, accuracy: 1e-5 * expectedSum, "\(name): Σ exp read past the row")
                scale(out, n, 2)
                for j in 0..<n {
                    XCTAssertEqual(Double(out[j]), 2 * Foundation.exp(Double(row[j] - expectedMax)), accuracy: 1e-5,
                                   "\(name): scaled exp at \(j)")
                }
                writeSoftmax(z, n, expectedMax, T(Foundation.log(expectedSum)), out)
                for j in 0..<n {
                    XCTAssertEqual(Double(out[j]), Foundation.exp(Double(row[j] - expectedMax)) / expectedSum, accuracy: 1e-6,
                                   "\(name): softmax at \(j)")
                }
            }
        }
        XCTAssertEqual(Array(output[..<guardCount]) + Array(output[(guardCount + n)...]),
                       [T](repeating: outputGuard, count: 2 * guardCount), "\(name): a store wrote outside the row")
        XCTAssertEqual(Array(input[guardCount..<(guardCount + n)]), row, "\(name): the input row changed")
    }
}

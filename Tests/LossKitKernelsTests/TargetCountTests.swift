// RowMath.countClassIndices in every build, against a scalar count written here: the vector runs,
// their scalar tails, the first bad target (which the error message names) wherever it falls, and an
// ignore_index that Int32 targets cannot hold.
import LossKitKernels
import LossKitRowMath
import XCTest

final class TargetCountTests: XCTestCase {
    /// Lengths around one vector of either type (8 Int64, 16 Int32) and one run of 256, and longer.
    private let lengths = [0, 1, 7, 8, 9, 15, 16, 17, 255, 256, 257, 511, 513, 1000]
    private let classes = 21

    /// The count of targets that are not `ignore`, or -1 - i for the first one that is neither
    /// `ignore` nor in [0, classes).
    private func expected<I: FixedWidthInteger>(_ t: [I], ignore: Int64) -> Int {
        var kept = 0
        for (i, y) in t.enumerated() {
            let y = Int64(y)
            if y == ignore { continue }
            guard 0 <= y && y < Int64(classes) else { return -1 - i }
            kept += 1
        }
        return kept
    }

    /// Valid targets, about one in five ignored.
    private func targets(_ n: Int, ignore: Int64, seed: Int) -> [Int64] {
        (0..<n).map { i in
            let h = (i &* 2_654_435_761 &+ seed &* 97) % 1000
            return h % 5 == 0 ? ignore : Int64(h % classes)
        }
    }

    func testInt64CountsAndFirstBadTarget() {
        for math in SIMDDispatch.runnable {
            for ignore: Int64 in [-100, 3, Int64.min] {
                check(math, ignore: ignore, bad: [-1, 21, -101, Int64.max, Int64.min + 1]) { $0 }
            }
        }
    }

    func testInt32CountsAndFirstBadTarget() {
        for math in SIMDDispatch.runnable {
            // 2^32 - 100 would match -100 if it were cut to 32 bits; Int64.max fits no Int32 either.
            for ignore: Int64 in [-100, 3, (1 << 32) - 100, Int64.max] {
                check(math, ignore: ignore, bad: [-1, 21, -101, Int64(Int32.max), Int64(Int32.min)]) { Int32(truncatingIfNeeded: $0) }
            }
        }
    }

    /// For each length: the clean targets, then each bad value at the first position, in the middle,
    /// at the last (a tail when the length is not a multiple of the vector), and two bad targets at
    /// once (the first must be named).
    private func check<I: FixedWidthInteger>(_ math: any RowMath.Type, ignore: Int64, bad: [Int64],
                                             _ convert: (Int64) -> I) {
        for n in lengths {
            let clean = targets(n, ignore: ignore, seed: n).map(convert)
            var cases = [("clean", clean)]
            for value in bad where n > 0 {
                for at in Set([0, n / 2, n - 1]) {
                    var t = clean
                    t[at] = convert(value)
                    cases.append(("\(value) at \(at)", t))
                }
                if n > 2 {
                    var t = clean
                    t[n - 1] = convert(value)
                    t[n / 3] = convert(value)
                    cases.append(("\(value) at \(n / 3) and \(n - 1)", t))
                }
            }
            for (label, t) in cases {
                let got = t.withUnsafeBufferPointer { buffer in
                    count(math, buffer.baseAddress ?? UnsafePointer(bitPattern: 64)!, n, ignore: ignore)
                }
                XCTAssertEqual(got, expected(t, ignore: ignore),
                               "\(math.level.name) \(I.self) n = \(n), ignore \(ignore): \(label)")
            }
        }
    }

    private func count<I>(_ math: any RowMath.Type, _ t: UnsafePointer<I>, _ n: Int, ignore: Int64) -> Int {
        switch t {
        case let t as UnsafePointer<Int64>: math.countClassIndices(t, n, classes: classes, ignore: ignore)
        case let t as UnsafePointer<Int32>: math.countClassIndices(t, n, classes: classes, ignore: ignore)
        default: fatalError("targets are Int32 or Int64")
        }
    }
}

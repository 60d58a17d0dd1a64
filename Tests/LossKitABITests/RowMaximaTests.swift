// nan_policy "error" on contiguous rows of 32 or more classes (Sources/LossKitKernels/RowMaxima.swift):
// the softmax-target losses take each row's max of z + b from the check of the logits instead of a
// pass of their own, in tiles (up to 1023 classes) and in the row kernel (more). Their results
// must be the bits that nan_policy "propagate" gives (the kernels' own max) for every option, on any
// thread count; a NaN or +inf in any row is still refused with its position, buffers untouched.
// Dice's rows take the maxima too (its phase 1's softmax skips its max pass), with the same demands.
import CLossKit
import XCTest

final class RowMaximaTests: XCTestCase {
    private func losses(_ classes: Int) -> [LossCase] {
        [.crossEntropy(), .expectation(), .mix(), .focal(gamma: 2), .logitAdjusted(priors: LossCase.priors(classes))]
    }
    /// Tiles (two full and a partial one; one full), and the row kernel.
    private let shapes: [[Int64]] = [[37, 32], [16, 1000], [9, 1024], [3, 5000]]

    func testCheckedMaximaGiveThePropagatePolicysBits() {
        var rng = SeededRandom(seed: 9_100)
        for shape in shapes {
            for lossCase in losses(Int(shape[1])) {
                for floatKind in FloatKind.allCases {
                    let variants = [
                        SpecOptions(floatKind: floatKind, weighted: true, upstream: true, ignoredFraction: 0.3, masked: true),
                        SpecOptions(floatKind: floatKind, indexKind: .int32),
                    ]
                    for options in variants {
                        for reduction in [LK_REDUCTION_MEAN, LK_REDUCTION_NONE] {
                            for inPlace in [false, true] {
                                var spec = makeSpec(&rng, lossCase, shape: shape, reduction: reduction, options)
                                for j in 0..<spec.classes { spec.logits[spec.element(sample: 2, cls: j)] = -.infinity }
                                spec.gradInPlace = inPlace
                                assertSameBits(spec, lossCase)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Dice on rows of 32 classes or more: the bits of "propagate" for every option it takes (class
    /// weights, dloss, ignored and masked pixels, in place, skip_absent), and a NaN refused.
    func testDiceTakesTheCheckedMaxima() {
        var rng = SeededRandom(seed: 9_104)
        for shape in shapes {
            for lossCase in [LossCase.dice(), .dice(smooth: 0, skipAbsent: true)] {
                for floatKind in FloatKind.allCases {
                    for inPlace in [false, true] {
                        var spec = makeSpec(&rng, lossCase, shape: shape, reduction: LK_REDUCTION_MEAN,
                                            SpecOptions(floatKind: floatKind, weighted: true, upstream: true,
                                                        ignoredFraction: 0.3, masked: true, absentClasses: [1, 3]))
                        for j in 0..<spec.classes { spec.logits[spec.element(sample: 2, cls: j)] = -.infinity }
                        spec.gradInPlace = inPlace
                        assertSameBits(spec, lossCase)
                    }
                }
            }
            var broken = makeSpec(&rng, .dice(), shape: shape, reduction: LK_REDUCTION_MEAN, SpecOptions(floatKind: .float32))
            let (sample, cls) = (broken.samples - 1, broken.classes / 2)
            broken.logits[broken.element(sample: sample, cls: cls)] = .nan
            let prepared = PreparedBatch(broken)
            XCTAssertEqual(prepared.compute(LossCase.dice().makeHandle()), LK_ERROR_NONFINITE_LOGIT)
            XCTAssertTrue(lastErrorMessage().contains("at sample \(sample), class \(cls)"), "\(shape): \(lastErrorMessage())")
            XCTAssertTrue(prepared.lossUntouched && prepared.gradUntouched, "\(shape): a buffer was written")
        }
    }

    /// More rows than 65536 (past the first cap of the maxima, in the tiles), both float types.
    func testATallBatchGivesThePropagatePolicysBits() {
        var rng = SeededRandom(seed: 9_103)
        for floatKind in FloatKind.allCases {
            let spec = makeSpec(&rng, .crossEntropy(), shape: [70_000, 33], reduction: LK_REDUCTION_NONE,
                                SpecOptions(floatKind: floatKind, ignoredFraction: 0.1))
            assertSameBits(spec, .crossEntropy())
        }
    }

    /// A batch of several check blocks and chunks, on 1, 2 and 3 threads.
    func testCheckedMaximaDoNotDependOnTheThreadCount() {
        defer { XCTAssertEqual(lk_set_num_threads(0), LK_OK) }
        var rng = SeededRandom(seed: 9_101)
        let spec = makeSpec(&rng, .crossEntropy(), shape: [300, 1000], reduction: LK_REDUCTION_NONE,
                            SpecOptions(floatKind: .float32, upstream: true, ignoredFraction: 0.1))
        var results: [([Double], [Double])] = []
        for threads: Int32 in [1, 2, 3] {
            XCTAssertEqual(lk_set_num_threads(threads), LK_OK)
            let prepared = PreparedBatch(spec)
            XCTAssertEqual(prepared.compute(LossCase.crossEntropy().makeHandle()), LK_OK, lastErrorMessage())
            results.append((prepared.lossValues, prepared.gradValues))
        }
        for (threads, result) in zip([2, 3], results.dropFirst()) {
            assertBitIdentical(result.0, results[0].0, "loss, \(threads) threads against 1")
            assertBitIdentical(result.1, results[0].1, "gradient, \(threads) threads against 1")
        }
    }

    /// NaN (cross_entropy) or +inf (logit_adjusted, whose check adds its bias) in the first, a middle
    /// or the last row is refused, naming its position, and no buffer of the caller's is written.
    func testABadLogitInAnyRowIsRefused() {
        var rng = SeededRandom(seed: 9_102)
        for shape in shapes {
            for floatKind in FloatKind.allCases {
                let spec = makeSpec(&rng, .crossEntropy(), shape: shape, reduction: LK_REDUCTION_NONE, SpecOptions(floatKind: floatKind))
                for (sample, cls) in [(0, 0), (spec.samples / 2, spec.classes / 3), (spec.samples - 1, spec.classes - 1)] {
                    for (bad, lossCase) in [(Double.nan, LossCase.crossEntropy()),
                                            (.infinity, .logitAdjusted(priors: LossCase.priors(spec.classes)))] {
                        var broken = spec
                        broken.logits[spec.element(sample: sample, cls: cls)] = bad
                        let prepared = PreparedBatch(broken)
                        let logitsBefore = prepared.logits.snapshot()
                        XCTAssertEqual(prepared.compute(lossCase.makeHandle()), LK_ERROR_NONFINITE_LOGIT)
                        let message = lastErrorMessage()
                        XCTAssertTrue(message.contains("at sample \(sample), class \(cls)"), "\(shape) \(bad): \(message)")
                        XCTAssertTrue(prepared.lossUntouched, "\(shape) \(bad): the loss buffer was written")
                        XCTAssertTrue(prepared.gradUntouched, "\(shape) \(bad): the gradient buffer was written")
                        XCTAssertTrue(prepared.logits.snapshot() == logitsBefore, "\(shape) \(bad): the logits changed")
                    }
                }
            }
        }
    }

    private func assertSameBits(_ spec: BatchSpec, _ lossCase: LossCase, file: StaticString = #filePath, line: UInt = #line) {
        let checked = PreparedBatch(spec), propagated = PreparedBatch(spec)
        XCTAssertEqual(checked.compute(lossCase.makeHandle()), LK_OK, "\(lossCase.name) \(spec): \(lastErrorMessage())",
                       file: file, line: line)
        XCTAssertEqual(propagated.compute(lossCase.makeHandle(nanPolicy: "propagate")), LK_OK,
                       "\(lossCase.name) \(spec): \(lastErrorMessage())", file: file, line: line)
        assertBitIdentical(checked.lossValues, propagated.lossValues, "loss, \(lossCase.name) \(spec)", file: file, line: line)
        assertBitIdentical(checked.gradValues, propagated.gradValues, "gradient, \(lossCase.name) \(spec)", file: file, line: line)
    }
}

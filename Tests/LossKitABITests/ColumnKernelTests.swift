// The column kernel (W samples per vector: (N, C) batches with few classes, transposed, and (N, C, d…)
// batches with d ≥ W, directly) against the row kernel: every sample of a batch that takes the
// column kernel is evaluated again alone, as a (1, C) batch, which takes the row kernel at these
// class counts (below RowTiles').
// The lanes include the cases a vector must not mix up: ignored samples, a fully masked sample
// (every class -inf), a masked target, a NaN row (nan_policy propagate), huge logits.
import CLossKit
import Foundation
import LossKitABI
import XCTest

final class ColumnKernelTests: XCTestCase {
    /// The losses that run on columns (SoftmaxTargetLoss, squentropy, square, the margin losses,
    /// logit_norm), cross_entropy with a z-loss too.
    static func columnCases(classes: Int) -> [(LossCase, zLoss: Double)] {
        [(.crossEntropy(), 0), (.crossEntropy(), 0.05), (.expectation(), 0), (.mix(), 0), (.focal(gamma: 1.5), 0),
         (.focal(gamma: 2), 0), (.logitAdjusted(priors: LossCase.priors(classes)), 0), (.squentropy(), 0),
         (.square(), 0), (.square(k: 2, m: 3), 0), (.multiMargin(), 0), (.multiMargin(p: 2), 0), (.hem(), 0),
         (.hem(classCounts: (0..<classes).map { Double(10 * ($0 + 1)) }), 0), (.logitNorm(), 0), (.logitNorm(tau: 1), 0)]
    }

    func testColumnsMatchRowsSampleBySample() {
        var rng = SeededRandom(seed: 4242)
        // (N, C) with C < 32 and (N, C, d) with d ≥ 16: blocks of W plus leftovers, for both widths.
        for shape: [Int64] in [[37, 5], [2, 5, 35]] {
            for floatKind in FloatKind.allCases {
                for (lossCase, zLoss) in Self.columnCases(classes: 5) {
                    for inPlace in [false, true] {
                        var spec = edgeSampleSpec(&rng, shape: shape, floatKind: floatKind)
                        spec.gradInPlace = inPlace
                        let handle = lossCase.makeHandle(nanPolicy: "propagate")
                        if zLoss > 0 { XCTAssertEqual(lk_loss_set_param(handle.pointer, "z_loss", zLoss), LK_OK) }
                        let whole = PreparedBatch(spec)
                        XCTAssertEqual(whole.compute(handle), LK_OK, "\(lossCase.name) \(spec): \(lastErrorMessage())")
                        let losses = whole.lossValues, grads = whole.gradValues
                        let tolerance = floatKind == .float32 ? 2e-6 : 1e-13
                        for s in 0..<spec.samples {
                            let alone = PreparedBatch(sampleAlone(spec, sample: s))
                            XCTAssertEqual(alone.compute(handle), LK_OK)
                            let what = "\(lossCase.name) z_loss \(zLoss) \(spec) sample \(s)"
                            assertCloseValue(losses[s], alone.lossValues[0], tolerance, "loss, \(what)")
                            let rowGrad = alone.gradValues
                            for j in 0..<spec.classes {
                                assertCloseValue(grads[spec.element(sample: s, cls: j)], rowGrad[j], tolerance, "grad \(j), \(what)")
                            }
                        }
                        // The edge lanes: ignored → 0; masked → zero gradient.
                        XCTAssertEqual(losses[0], 0)
                        for j in 0..<spec.classes {
                            XCTAssertEqual(grads[spec.element(sample: 0, cls: j)], 0)
                            XCTAssertEqual(grads[spec.element(sample: 1, cls: j)], 0)
                        }
                        XCTAssertTrue(losses[3].isNaN, "a NaN row gives a NaN loss")
                    }
                }
            }
        }
    }
}

// The column kernel (W samples per vector: (N, C) batches with few classes, transposed, and (N, C, d…)
// batches with d ≥ W, directly) against the row kernel: every sample of a batch that takes the
// column kernel is evaluated again alone, as a (1, C) batch, which always takes the row kernel.
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

    /// A batch of `shape` whose samples 1, 2, 3 and 4 are a masked row, a row with a masked target, a
    /// NaN row and a row of huge logits (in float32's range); sample 0 is ignored and holds a NaN (its
    /// gradient is 0 all the same: 0·NaN must not reach it).
    func edgeSpec(_ rng: inout SeededRandom, shape: [Int64], floatKind: FloatKind) -> BatchSpec {
        var spec = BatchSpec(shape: shape, logits: [], target: .indices([]), floatKind: floatKind, reduction: LK_REDUCTION_NONE)
        spec.logits = rng.logits(spec.elements)
        var targets = rng.indices(spec.samples, classes: spec.classes, ignoredFraction: 0.2)
        targets[0] = -100
        for k in 1...4 where targets[k] == -100 { targets[k] = 1 }
        for j in 0..<spec.classes {
            spec.logits[spec.element(sample: 1, cls: j)] = -.infinity
            spec.logits[spec.element(sample: 3, cls: j)] = j == 2 ? .nan : 0.5
            spec.logits[spec.element(sample: 4, cls: j)] = 1e30 * Double(j % 3)
        }
        spec.logits[spec.element(sample: 2, cls: Int(targets[2]))] = -.infinity
        spec.logits[spec.element(sample: 0, cls: 1)] = .nan
        spec.target = .indices(targets)
        spec.weight = rng.weights(spec.classes)
        spec.dloss = (0..<spec.samples).map { _ in rng.uniform(0.5...2) }
        return spec
    }

    /// Sample `s` of `spec` alone, as a (1, C) batch.
    func single(_ spec: BatchSpec, sample s: Int) -> BatchSpec {
        var one = spec
        one.shape = [1, spec.shape[1]]
        one.logits = (0..<spec.classes).map { spec.logits[spec.element(sample: s, cls: $0)] }
        if case .indices(let y) = spec.target { one.target = .indices([y[s]]) }
        one.dloss = spec.dloss.map { [$0[s]] }
        return one
    }

    func assertClose(_ a: Double, _ b: Double, _ tolerance: Double, _ what: @autoclosure () -> String,
                     file: StaticString = #filePath, line: UInt = #line) {
        if a.isNaN || b.isNaN { return XCTAssertTrue(a.isNaN && b.isNaN, "\(what()): \(a) vs \(b)", file: file, line: line) }
        if a.isInfinite || b.isInfinite { return XCTAssertEqual(a, b, what(), file: file, line: line) }
        XCTAssertLessThanOrEqual(abs(a - b), tolerance * max(1, abs(b)), "\(what()): \(a) vs \(b)", file: file, line: line)
    }

    func testColumnsMatchRowsSampleBySample() {
        var rng = SeededRandom(seed: 4242)
        // (N, C) with C < 32 and (N, C, d) with d ≥ 16: blocks of W plus leftovers, for both widths.
        for shape: [Int64] in [[37, 5], [2, 5, 35]] {
            for floatKind in FloatKind.allCases {
                for (lossCase, zLoss) in Self.columnCases(classes: 5) {
                    for inPlace in [false, true] {
                        var spec = edgeSpec(&rng, shape: shape, floatKind: floatKind)
                        spec.gradInPlace = inPlace
                        let handle = lossCase.makeHandle(nanPolicy: "propagate")
                        if zLoss > 0 { XCTAssertEqual(lk_loss_set_param(handle.pointer, "z_loss", zLoss), LK_OK) }
                        let whole = PreparedBatch(spec)
                        XCTAssertEqual(whole.compute(handle), LK_OK, "\(lossCase.name) \(spec): \(lastErrorMessage())")
                        let losses = whole.lossValues, grads = whole.gradValues
                        let tolerance = floatKind == .float32 ? 2e-6 : 1e-13
                        for s in 0..<spec.samples {
                            let alone = PreparedBatch(single(spec, sample: s))
                            XCTAssertEqual(alone.compute(handle), LK_OK)
                            let what = "\(lossCase.name) z_loss \(zLoss) \(spec) sample \(s)"
                            assertClose(losses[s], alone.lossValues[0], tolerance, "loss, \(what)")
                            let rowGrad = alone.gradValues
                            for j in 0..<spec.classes {
                                assertClose(grads[spec.element(sample: s, cls: j)], rowGrad[j], tolerance, "grad \(j), \(what)")
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

// Invariances the formulas imply, checked on the library alone (no reference): softmax- and
// margin-based losses ignore a constant added to a row, their gradient rows sum to 0, logit_norm
// ignores the scale of a row, Dice ignores a constant added to a pixel's logits; squentropy and the
// square loss, which look at the logits themselves, do change under a shift.
import CLossKit
import Foundation
import LossKitABI
import XCTest

final class LossPropertyTests: XCTestCase {
    static let layouts: [[Int64]] = [[5, 4], [3, 4, 2, 3]]
    static let reductions: [lk_reduction] = [LK_REDUCTION_NONE, LK_REDUCTION_MEAN, LK_REDUCTION_SUM]

    /// `spec` with each sample's row (all classes of one (n, i1..ik)) transformed by `f(row, sample)`.
    func transformingRows(_ spec: BatchSpec, _ f: ([Double], Int) -> [Double]) -> BatchSpec {
        var out = spec
        for s in 0..<spec.samples {
            let row = (0..<spec.classes).map { spec.logits[spec.element(sample: s, cls: $0)] }
            let new = f(row, s)
            for j in 0..<spec.classes { out.logits[spec.element(sample: s, cls: j)] = new[j] }
        }
        return out
    }

    /// The losses whose value depends on the logits only through their differences.
    static var shiftInvariantCases: [LossCase] {
        [.crossEntropy(), .expectation(), .mix(), .mix(ReferenceSchedule(shape: .constant, alpha: 0.3), beta: 2),
         .mix(ReferenceSchedule(shape: .cosine, start: 0.1, end: 0.9), callProgress: 0.6), .focal(), .focal(gamma: 0.5),
         .logitAdjusted(priors: LossCase.priors(4)), .logitAdjusted(priors: LossCase.priors(4), tau: 2),
         .multiMargin(), .multiMargin(margin: 0.4, p: 2), .hem(), .hem(margin: 1.2), .hem(classCounts: [40, 5, 300, 12])]
    }

    /// Adding a constant (a different one per row) to every logit of a row changes neither the loss nor
    /// the gradient (up to the rounding of the shifted logits), in every reduction and both layouts.
    /// Margin losses are sampled away from their kinks, where the rounding could flip a hinge.
    func testShiftInvarianceOfSoftmaxAndMarginLosses() {
        var rng = SeededRandom(seed: 2000)
        for lossCase in Self.shiftInvariantCases {
            let handle = lossCase.makeHandle()
            for shape in Self.layouts {
                for reduction in Self.reductions {
                    for masked in [false, true] {
                        let spec = makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                            SpecOptions(weighted: true, upstream: true, ignoredFraction: 0.2, masked: masked))
                        let constants = (0..<spec.samples).map { _ in rng.uniform(-6...6) }
                        let shifted = transformingRows(spec) { row, s in row.map { $0 + constants[s] } }
                        let a = evaluateBatch(spec, lossCase, handle), b = evaluateBatch(shifted, lossCase, handle)
                        XCTAssertEqual(a.status, LK_OK, "\(lossCase): \(lastErrorMessage())")
                        XCTAssertEqual(b.status, LK_OK, "\(lossCase): \(lastErrorMessage())")
                        assertClose(b.loss, a.loss, rtol: 1e-9, floorFraction: 1e-6, "shifted loss, \(lossCase) \(spec)")
                        assertClose(b.grad, a.grad, rtol: 1e-9, floorFraction: 1e-6, "shifted grad, \(lossCase) \(spec)")
                    }
                }
            }
        }
    }

    /// Shift invariance makes Σ_j ∂L/∂z_j = 0 for every row; checked per row, both float types.
    func testGradientRowsSumToZero() {
        var rng = SeededRandom(seed: 2100)
        for lossCase in Self.shiftInvariantCases {
            let handle = lossCase.makeHandle()
            for shape in Self.layouts {
                for floatKind in FloatKind.allCases {
                    for reduction in [LK_REDUCTION_NONE, LK_REDUCTION_MEAN] {
                        let spec = makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                            SpecOptions(floatKind: floatKind, weighted: true, upstream: true,
                                                        ignoredFraction: 0.2, masked: true))
                        let result = evaluateBatch(spec, lossCase, handle)
                        XCTAssertEqual(result.status, LK_OK, "\(lossCase): \(lastErrorMessage())")
                        guard result.status == LK_OK else { continue }
                        // Judged on the sample's gradient scale σ_s = w_y·dloss (/Σ w_y for the mean) as
                        // well as on the row itself: float32 probabilities carry ~C·2^-24·σ of error.
                        guard case .indices(let y) = spec.target else { return XCTFail() }
                        let w = spec.weight!.map(floatKind.rounded), d = spec.dloss!.map(floatKind.rounded)
                        let divisor = y.filter { $0 != spec.ignoreIndex }.reduce(0.0) { $0 + w[Int($1)] }
                        let tolerance = floatKind == .float64 ? 1e-13 : 2e-6
                        for s in 0..<spec.samples where y[s] != spec.ignoreIndex {
                            let sigma = reduction == LK_REDUCTION_NONE ? w[Int(y[s])] * d[s] : w[Int(y[s])] * d[0] / divisor
                            let row = (0..<spec.classes).map { result.grad[spec.element(sample: s, cls: $0)] }
                            let total = row.reduce(0, +), size = row.reduce(0) { $0 + abs($1) } + abs(sigma)
                            XCTAssertLessThanOrEqual(abs(total), tolerance * size,
                                                     "\(lossCase) \(spec): gradient row \(s) sums to \(total): \(row)")
                        }
                    }
                }
            }
        }
    }

    /// logit_norm depends on z only through z/‖z‖ (up to ε = 1e-7 in the norm): scaling a row by λ > 0
    /// leaves its loss unchanged and divides its gradient by λ (the gradient of a function of degree 0
    /// is of degree -1); and Euler's relation makes the gradient orthogonal to z. The ε term moves u by
    /// a relative ~ε/‖z‖, hence the 1e-5 tolerances.
    func testLogitNormScaleInvariance() {
        var rng = SeededRandom(seed: 2200)
        for lossCase in [LossCase.logitNorm(), .logitNorm(tau: 0.5)] {
            let handle = lossCase.makeHandle()
            for shape in Self.layouts {
                for reduction in Self.reductions {
                    let spec = makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                        SpecOptions(weighted: true, upstream: true, ignoredFraction: 0.2))
                    let factors = (0..<spec.samples).map { _ in exp(rng.uniform(-1.5...2.5)) }
                    let scaled = transformingRows(spec) { row, s in row.map { $0 * factors[s] } }
                    let a = evaluateBatch(spec, lossCase, handle), b = evaluateBatch(scaled, lossCase, handle)
                    XCTAssertEqual(a.status, LK_OK)
                    XCTAssertEqual(b.status, LK_OK)
                    for (x, y) in zip(a.loss, b.loss) {
                        XCTAssertEqual(y, x, accuracy: 1e-5 * max(1, abs(x)), "scaled loss, \(lossCase) \(spec)")
                    }
                    // λ·g(λz) = g(z)
                    let rescaled = transformingRows(BatchSpec(shape: spec.shape, logits: b.grad, target: spec.target)) { row, s in
                        row.map { $0 * factors[s] }
                    }.logits
                    assertClose(rescaled, a.grad, rtol: 1e-5, floorFraction: 1e-3, "λ·grad at λz, \(lossCase) \(spec)")
                    // z·g = 0 per row.
                    for s in 0..<spec.samples {
                        let z = (0..<spec.classes).map { spec.logits[spec.element(sample: s, cls: $0)] }
                        let g = (0..<spec.classes).map { a.grad[spec.element(sample: s, cls: $0)] }
                        let dot = zip(z, g).reduce(0) { $0 + $1.0 * $1.1 }
                        let norms = z.reduce(0) { $0 + $1 * $1 }.squareRoot() * g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                        XCTAssertLessThanOrEqual(abs(dot), 1e-6 * norms, "\(lossCase): z·grad of row \(s)")
                    }
                }
            }
        }
    }

    /// squentropy and the square loss look at the logits themselves (the square terms), so a shift of a
    /// row does change them, by what the reference says, and their gradient rows do not sum to 0.
    func testSquentropyAndSquareAreNotShiftInvariant() {
        var rng = SeededRandom(seed: 2300)
        for lossCase in [LossCase.squentropy(), .square(), .square(k: 2, m: 3)] {
            let handle = lossCase.makeHandle()
            for shape in Self.layouts {
                let spec = makeSpec(&rng, lossCase, shape: shape, reduction: LK_REDUCTION_NONE)
                let shifted = transformingRows(spec) { row, _ in row.map { $0 + 1.5 } }
                let a = evaluateBatch(spec, lossCase, handle), b = evaluateBatch(shifted, lossCase, handle)
                XCTAssertEqual(a.status, LK_OK)
                XCTAssertEqual(b.status, LK_OK)
                for s in 0..<spec.samples {
                    XCTAssertGreaterThan(abs(b.loss[s] - a.loss[s]), 1e-3, "\(lossCase): shifting row \(s) should change it")
                }
                let expected = lossCase.reference.evaluate(shifted)
                assertClose(b.loss, expected.loss, rtol: 1e-10, floorFraction: 1e-4, "\(lossCase) shifted loss vs reference")
                assertClose(b.grad, expected.grad, rtol: 1e-10, floorFraction: 1e-4, "\(lossCase) shifted grad vs reference")
                let rowSums = (0..<spec.samples).map { s in
                    (0..<spec.classes).reduce(0.0) { $0 + a.grad[spec.element(sample: s, cls: $1)] }
                }
                XCTAssertTrue(rowSums.contains { abs($0) > 1e-3 }, "\(lossCase): gradient rows \(rowSums)")
            }
        }
    }

    /// Dice sees the logits only through each pixel's softmax: a constant added to all classes of one
    /// pixel (a different one per pixel) changes neither the batch loss nor the gradient.
    func testDicePixelShiftInvariance() {
        var rng = SeededRandom(seed: 2400)
        for lossCase in [LossCase.dice(), .dice(smooth: 0.2, skipAbsent: true)] {
            let handle = lossCase.makeHandle()
            for shape: [Int64] in [[6, 4], [2, 4, 3, 5]] {
                for masked in [false, true] {
                    let spec = makeSpec(&rng, lossCase, shape: shape, reduction: LK_REDUCTION_MEAN,
                                        SpecOptions(weighted: true, upstream: true, ignoredFraction: 0.2, masked: masked,
                                                    absentClasses: [1]))
                    let constants = (0..<spec.samples).map { _ in rng.uniform(-8...8) }
                    let shifted = transformingRows(spec) { row, s in row.map { $0 + constants[s] } }
                    let a = evaluateBatch(spec, lossCase, handle), b = evaluateBatch(shifted, lossCase, handle)
                    XCTAssertEqual(a.status, LK_OK)
                    XCTAssertEqual(b.status, LK_OK)
                    assertClose(b.loss, a.loss, rtol: 1e-9, "dice shifted loss \(spec)")
                    assertClose(b.grad, a.grad, rtol: 1e-9, floorFraction: 1e-6, "dice shifted grad \(spec)")
                    // The softmax Jacobian also makes each pixel's gradient row sum to 0.
                    for s in 0..<spec.samples {
                        let row = (0..<spec.classes).map { a.grad[spec.element(sample: s, cls: $0)] }
                        XCTAssertLessThanOrEqual(abs(row.reduce(0, +)), 1e-13 * row.reduce(0) { $0 + abs($1) }, "pixel \(s)")
                    }
                }
            }
        }
    }
}

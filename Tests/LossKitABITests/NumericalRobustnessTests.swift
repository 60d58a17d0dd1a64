import CLossKit
import LossKitABI
import XCTest

/// Extreme but legal inputs: huge logits, rows masked down to one class, C = 1, C = 2^20, N = 1.
/// Expected values are worked out by hand (softmax of logits 1e30 apart is one-hot).
final class NumericalRobustnessTests: XCTestCase {
    /// Losses whose values stay representable for huge logits (the square-based ones do not:
    /// z² overflows float32 beyond |z| ≈ 1.8e19 and gives +inf, which is the true value rounded).
    private let boundedLosses = ["cross_entropy", "expectation", "ce_expectation_mix", "hem", "multi_margin",
                                 "logit_norm", "focal", "dice"]

    private func run(_ name: String, _ logits: [Double], _ target: [Int64], classes: Int64, kind: FloatKind,
                     reduction: lk_reduction = LK_REDUCTION_NONE) -> (loss: [Double], grad: [Double]) {
        var spec = BatchSpec(shape: [Int64(target.count), classes], logits: logits, target: .indices(target))
        spec.floatKind = kind
        spec.reduction = name == "dice" ? LK_REDUCTION_MEAN : reduction
        let batch = PreparedBatch(spec)
        let status = batch.compute(LossHandle(name))
        XCTAssertEqual(status, LK_OK, "\(name) \(kind): \(lastErrorMessage())")
        return (batch.lossValues, batch.gradValues)
    }

    func testHugeLogitsGiveFiniteCorrectResults() {
        for (kind, big) in [(FloatKind.float32, 1e30), (FloatKind.float64, 1e300)] {
            // Row 0: the target has the largest logit (loss 0); row 1: it is `big` below the top.
            let logits = [big, 0, -big, big, 0, -big]
            let target: [Int64] = [0, 1]
            for name in boundedLosses {
                let (loss, grad) = run(name, logits, target, classes: 3, kind: kind)
                XCTAssertTrue(loss.allSatisfy(\.isFinite), "\(name) \(kind) loss \(loss)")
                XCTAssertTrue(grad.allSatisfy(\.isFinite), "\(name) \(kind) grad \(grad)")
            }
            let (loss, grad) = run("cross_entropy", logits, target, classes: 3, kind: kind)
            XCTAssertEqual(loss[0], 0)
            XCTAssertEqual(loss[1], kind.rounded(big), accuracy: kind.rounded(big) * 1e-6)
            XCTAssertEqual(grad, [0, 0, 0, 1, -1, 0])  // p is one-hot on class 0
        }
    }

    /// LogitNorm sees z/‖z‖ only, so L(λz) = L(z) and λ·∇L(λz) = ∇L(z) (up to ε in the norm). Checked
    /// where the arithmetic is at its limits: float32 logits whose squares overflow float32 (an
    /// overflowed norm once made the loss log C) and whose gradient coefficients, about 1/(τ·‖z‖²),
    /// fall below float32's range (that term of the gradient was once lost); float64 logits whose
    /// squares overflow even Double (above about 1e154). On columns (3 classes, transposed), in tiles
    /// (100) and on the row kernel (300).
    func testLogitNormIsScaleInvariantForHugeLogits() {
        for (kind, factors, tolerance) in [(FloatKind.float32, [1e20, 1e30, 1e36], 2e-5), (.float64, [1e120, 1e200, 1e300], 1e-6)] {
            for classes in [3, 100, 300] {
                let unit = (0..<(2 * classes)).map { kind.rounded(Double(($0 * 7919) % 23) / 8 - 1.4) }
                let target: [Int64] = [0, 1]
                let reference = run("logit_norm", unit, target, classes: Int64(classes), kind: kind)
                let largest = reference.grad.map(abs).max()!
                for factor in factors {
                    let huge = run("logit_norm", unit.map { kind.rounded($0 * factor) }, target, classes: Int64(classes), kind: kind)
                    for k in 0..<2 {
                        XCTAssertEqual(huge.loss[k], reference.loss[k], accuracy: tolerance * reference.loss[k],
                                       "\(kind) C = \(classes) ×\(factor) row \(k)")
                    }
                    let worst = zip(huge.grad, reference.grad).map { abs($0 * factor - $1) }.max()!
                    XCTAssertLessThanOrEqual(worst, tolerance * largest, "\(kind) C = \(classes) ×\(factor) gradient")
                }
            }
        }
    }

    func testRowsWithAllButOneClassMasked() {
        for kind in [FloatKind.float32, .float64] {
            let logits: [Double] = [-.infinity, 3, -.infinity, -.infinity, -.infinity, -7]
            let (loss, grad) = run("cross_entropy", logits, [1, 2], classes: 3, kind: kind)
            XCTAssertEqual(loss, [0, 0])
            XCTAssertEqual(grad, [0, 0, 0, 0, 0, 0])
            for name in boundedLosses where name != "dice" {
                let (loss, grad) = run(name, logits, [1, 2], classes: 3, kind: kind)
                XCTAssertTrue(loss.allSatisfy(\.isFinite) && grad.allSatisfy(\.isFinite), "\(name) \(kind)")
            }
        }
    }

    func testSingleClass() {
        for kind in [FloatKind.float32, .float64] {
            let (loss, grad) = run("cross_entropy", [5, -3], [0, 0], classes: 1, kind: kind)
            XCTAssertEqual(loss, [0, 0])
            XCTAssertEqual(grad, [0, 0])
            let (squentropy, _) = run("squentropy", [5, -3], [0, 0], classes: 1, kind: kind)
            XCTAssertEqual(squentropy, [0, 0])  // no wrong class: the square term is 0
        }
    }

    func testOneSampleOfAMillionClasses() {
        let classes = 1 << 20
        var rng = SeededRandom(seed: 20)
        let logits = rng.logits(classes, scale: 3)
        let target: Int64 = 123_457
        // Reference in Double, max subtracted.
        let m = logits.max()!
        let sum = logits.reduce(0) { $0 + exp($1 - m) }
        let lse = m + log(sum)
        for kind in [FloatKind.float32, .float64] {
            let (loss, grad) = run("cross_entropy", logits.map(kind.rounded), [target], classes: Int64(classes), kind: kind,
                                   reduction: LK_REDUCTION_MEAN)
            let tolerance = kind == .float32 ? 1e-5 : 1e-10
            XCTAssertEqual(loss[0], lse - logits[Int(target)], accuracy: tolerance * abs(lse))
            var worst = 0.0
            for j in stride(from: 0, to: classes, by: 997) {
                let expected = exp(logits[j] - lse) - (j == Int(target) ? 1 : 0)
                worst = max(worst, abs(grad[j] - expected))
            }
            XCTAssertLessThan(worst, tolerance, "\(kind)")
        }
    }
}

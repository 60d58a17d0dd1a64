// Every loss other than cross_entropy, with every option, through the C ABI: loss and gradient
// against the independent float64 references of ReferenceLosses.swift (float64 1e-10, float32 1e-5
// relative) and against central finite differences of the library's own loss (float64, 1e-6), in
// both layouts, with and without class weights, ignore_index and dloss, for every reduction the loss
// offers, the gradient in place and out of place. Margin losses are sampled away from their kinks
// (see makeSpec in LossCases.swift).
import CLossKit
import Foundation
import LossKitABI
import XCTest

final class LossCatalogueTests: XCTestCase {
    // (N, C) and (N, C, d1, d2) on the row kernel, and two shapes that also take the column kernel
    // (ColumnLayout: W = 16 float32 / 8 float64 samples per block) with leftovers on the row kernel:
    // (N, C) with few classes and N past two blocks, and (N, C, d) with d past one block.
    static let layouts: [[Int64]] = [[5, 4], [3, 4, 2, 3], [18, 4], [2, 4, 17]]
    static let reductions: [lk_reduction] = [LK_REDUCTION_NONE, LK_REDUCTION_MEAN, LK_REDUCTION_SUM]

    override class func tearDown() {
        print("Worst relative error vs the float64 reference (and of the gradient vs finite differences):\n"
              + ErrorLedger.report())
        super.tearDown()
    }

    /// The matrix for one configured loss: both layouts, every reduction it offers (dice: mean), and
    /// three batches each: float64 plain; float64 with class weights, ignored samples and dloss; float32
    /// with the same (int32 or int64 targets). `full: false` keeps only the last two.
    func checkEverywhere(_ lossCase: LossCase, seed: UInt64, full: Bool = true, absentClasses: Set<Int> = [],
                         file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        let reductions = lossCase.isDice ? [LK_REDUCTION_MEAN] : Self.reductions
        for shape in Self.layouts {
            for (r, reduction) in reductions.enumerated() {
                if full {
                    checkAgainstReference(makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                                   SpecOptions(absentClasses: absentClasses)),
                                          lossCase, file: file, line: line)
                }
                checkAgainstReference(makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                               SpecOptions(weighted: true, upstream: true, ignoredFraction: 0.3,
                                                           absentClasses: absentClasses)),
                                      lossCase, file: file, line: line)
                checkAgainstReference(makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                               SpecOptions(floatKind: .float32, indexKind: r % 2 == 0 ? .int32 : .int64,
                                                           weighted: true, upstream: true, ignoredFraction: 0.3,
                                                           absentClasses: absentClasses)),
                                      lossCase, file: file, line: line)
            }
        }
    }

    // MARK: - expectation

    func testExpectation() {
        checkEverywhere(.expectation(), seed: 100)
    }

    // MARK: - ce_expectation_mix

    /// The constant schedule: the default α = 0.5, other α and β, and the two ends α = 0 and α = 1.
    func testMixConstant() {
        var seed: UInt64 = 200
        for lossCase in [LossCase.mix(),
                         .mix(ReferenceSchedule(shape: .constant, alpha: 0.2), beta: 3),
                         .mix(ReferenceSchedule(shape: .constant, alpha: 0), setDefaults: true),
                         .mix(ReferenceSchedule(shape: .constant, alpha: 1), beta: 0.5),
                         .mix(ReferenceSchedule(shape: .constant, alpha: 0.7), beta: 0)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    /// linear, cosine and step schedules at several values of the "progress" parameter, with
    /// non-default alpha_start, alpha_end, t_switch and β; rising and falling.
    func testMixSchedules() {
        var seed: UInt64 = 210
        let schedules = [
            ReferenceSchedule(shape: .linear, start: 0.1, end: 0.9),
            ReferenceSchedule(shape: .cosine, start: 0.2, end: 0.95),
            ReferenceSchedule(shape: .step, start: 0.05, end: 0.85, tSwitch: 0.4),
            ReferenceSchedule(shape: .linear, start: 0.9, end: 0.2),
        ]
        for schedule in schedules {
            for t in [0.0, 0.3, 0.65, 1.0] {
                checkEverywhere(.mix(schedule, beta: 2.5, parameterProgress: t), seed: seed, full: false)
                seed += 1
            }
        }
        // The defaults of the schedule's ends (0 → 1) with only the shape set.
        for shape in [ReferenceSchedule.Shape.linear, .cosine, .step] {
            checkEverywhere(.mix(ReferenceSchedule(shape: shape), parameterProgress: 0.7), seed: seed, full: false)
            seed += 1
        }
    }

    /// lk_loss_compute_at: the progress of the call wins over the "progress" parameter (which stays
    /// as set), for every schedule, at several t; for step on both sides of t_switch.
    func testMixComputeAt() {
        var seed: UInt64 = 230
        let schedules = [
            ReferenceSchedule(shape: .constant, alpha: 0.35),
            ReferenceSchedule(shape: .linear, start: 0.1, end: 0.9),
            ReferenceSchedule(shape: .cosine, start: 0.2, end: 0.95),
            ReferenceSchedule(shape: .step, start: 0.05, end: 0.85, tSwitch: 0.4),
        ]
        for schedule in schedules {
            for t in [0.0, 0.25, 0.39, 0.41, 0.8, 1.0] {
                let lossCase = LossCase.mix(schedule, beta: 1.5, parameterProgress: 0.6, callProgress: t)
                checkEverywhere(lossCase, seed: seed, full: false)
                seed += 1
                let handle = lossCase.makeHandle()
                var progress = -1.0
                XCTAssertEqual(lk_loss_get_param(handle.pointer, "progress", &progress), LK_OK)
                XCTAssertEqual(progress, 0.6, "compute_at must not change the progress parameter")
            }
        }
        // The step really switches: α = 0.05 just before t_switch, 0.85 from it on, so the losses differ.
        var rng = SeededRandom(seed: 239)
        let step = ReferenceSchedule(shape: .step, start: 0.05, end: 0.85, tSwitch: 0.4)
        let before = LossCase.mix(step, callProgress: 0.399), after = LossCase.mix(step, callProgress: 0.401)
        let spec = makeSpec(&rng, before, shape: [5, 4], reduction: LK_REDUCTION_SUM)
        let a = evaluateBatch(spec, before, before.makeHandle()), b = evaluateBatch(spec, after, after.makeHandle())
        XCTAssertEqual(a.status, LK_OK)
        XCTAssertEqual(b.status, LK_OK)
        XCTAssertGreaterThan(abs(a.loss[0] - b.loss[0]), 1e-3, "the step schedule should switch at t_switch")
    }

    /// Progress outside [0, 1] in lk_loss_compute_at is refused before anything is written.
    func testMixComputeAtOutOfRange() {
        var rng = SeededRandom(seed: 240)
        let lossCase = LossCase.mix(ReferenceSchedule(shape: .linear))
        let handle = lossCase.makeHandle()
        for t in [-0.01, 1.5, Double.nan, .infinity] {
            let prepared = PreparedBatch(makeSpec(&rng, lossCase, shape: [3, 4], reduction: LK_REDUCTION_MEAN))
            let status = withUnsafePointer(to: &prepared.batch) { lk_loss_compute_at(handle.pointer, $0, t) }
            XCTAssertEqual(status, LK_ERROR_BAD_PARAM, "progress \(t)")
            XCTAssertTrue(lastErrorMessage().contains("progress"), lastErrorMessage())
            XCTAssertTrue(prepared.lossUntouched && prepared.gradUntouched, "nothing written for progress \(t)")
        }
    }

    // MARK: - squentropy, square

    func testSquentropy() {
        checkEverywhere(.squentropy(), seed: 300)
    }

    func testSquare() {
        var seed: UInt64 = 310
        for lossCase in [LossCase.square(), .square(k: 3, m: 5), .square(k: 0.5, m: 0.25), .square(k: 1, m: 15)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    // MARK: - hem, multi_margin

    func testHEM() {
        var seed: UInt64 = 400
        for lossCase in [LossCase.hem(), .hem(margin: 0), .hem(margin: 1.5), .hem(margin: 0.05)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    /// HEM+: per-class margins μ_y = sqrt(M/(C·s_y)) from class counts s, with the default and other M.
    func testHEMPlus() {
        var seed: UInt64 = 410
        for lossCase in [LossCase.hem(classCounts: [40, 5, 300, 12]),
                         .hem(classCounts: [40, 5, 300, 12], scale: 4),
                         .hem(classCounts: [1, 2, 3, 4], scale: 0.5)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    func testMultiMargin() {
        var seed: UInt64 = 500
        for lossCase in [LossCase.multiMargin(), .multiMargin(p: 2), .multiMargin(margin: 0.3, p: 1),
                         .multiMargin(margin: 2, p: 2), .multiMargin(margin: 0), .multiMargin(margin: 0, p: 2)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    // MARK: - logit_norm, logit_adjusted, focal

    func testLogitNorm() {
        var seed: UInt64 = 600
        for lossCase in [LossCase.logitNorm(), .logitNorm(tau: 1), .logitNorm(tau: 0.3), .logitNorm(tau: 5)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    func testLogitAdjusted() {
        var seed: UInt64 = 700
        let priors = LossCase.priors(4)
        for lossCase in [LossCase.logitAdjusted(priors: priors), .logitAdjusted(priors: priors, tau: 0),
                         .logitAdjusted(priors: priors, tau: 2.5), .logitAdjusted(priors: [0.25, 0.25, 0.25, 0.25])] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    func testFocal() {
        var seed: UInt64 = 800
        for lossCase in [LossCase.focal(), .focal(gamma: 0), .focal(gamma: 0.5), .focal(gamma: 2), .focal(gamma: 3.5)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    // MARK: - Losses that reduce to others at special parameter values

    /// Both computed by the library on the same batch: loss and gradient agree to 1e-12.
    func assertSameResults(_ a: LossCase, _ b: LossCase, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                for floatKind in FloatKind.allCases {
                    let spec = makeSpec(&rng, a, shape: shape, reduction: reduction,
                                        SpecOptions(floatKind: floatKind, weighted: true, upstream: true, ignoredFraction: 0.2))
                    let x = evaluateBatch(spec, a, a.makeHandle()), y = evaluateBatch(spec, b, b.makeHandle())
                    XCTAssertEqual(x.status, LK_OK, file: file, line: line)
                    XCTAssertEqual(y.status, LK_OK, file: file, line: line)
                    let rtol = floatKind == .float64 ? 1e-12 : 1e-6
                    assertClose(x.loss, y.loss, rtol: rtol, floorFraction: 1e-6, "loss \(a) vs \(b), \(spec)", file: file, line: line)
                    assertClose(x.grad, y.grad, rtol: rtol, floorFraction: 1e-6, "grad \(a) vs \(b), \(spec)", file: file, line: line)
                }
            }
        }
    }

    /// focal with γ = 0 is cross_entropy, with weights, ignore_index and every reduction.
    func testFocalGammaZeroIsCrossEntropy() {
        assertSameResults(.focal(gamma: 0), .crossEntropy(), seed: 810)
    }

    /// logit_adjusted with τ = 0 or uniform priors is cross_entropy; ce_expectation_mix with α = 0 is
    /// cross_entropy and with α = 1, β = 1 the expectation loss.
    func testSpecialValuesReduceToOtherLosses() {
        assertSameResults(.logitAdjusted(priors: LossCase.priors(4), tau: 0), .crossEntropy(), seed: 820)
        assertSameResults(.logitAdjusted(priors: [0.25, 0.25, 0.25, 0.25]), .crossEntropy(), seed: 821)
        assertSameResults(.mix(ReferenceSchedule(shape: .constant, alpha: 0)), .crossEntropy(), seed: 822)
        assertSameResults(.mix(ReferenceSchedule(shape: .constant, alpha: 1)), .expectation(), seed: 823)
        assertSameResults(.mix(ReferenceSchedule(shape: .linear), callProgress: 1), .expectation(), seed: 824)
    }

    /// Losses without a schedule ignore the progress of lk_loss_compute_at: same bits as lk_loss_compute.
    func testComputeAtWithoutScheduleIsCompute() {
        var rng = SeededRandom(seed: 830)
        for var lossCase in LossCase.everyLoss(classes: 4) where lossCase.name != "ce_expectation_mix" {
            let spec = makeSpec(&rng, lossCase, shape: [3, 4, 2], reduction: LK_REDUCTION_MEAN, SpecOptions(weighted: true))
            let plain = evaluateBatch(spec, lossCase, lossCase.makeHandle())
            lossCase.progress = 0.7
            let at = evaluateBatch(spec, lossCase, lossCase.makeHandle())
            XCTAssertEqual(plain.status, LK_OK)
            XCTAssertEqual(at.status, LK_OK)
            assertBitIdentical(at.loss, plain.loss, "\(lossCase.name) loss")
            assertBitIdentical(at.grad, plain.grad, "\(lossCase.name) grad")
        }
    }

    // MARK: - dice

    func testDice() {
        var seed: UInt64 = 900
        for lossCase in [LossCase.dice(), .dice(smooth: 0), .dice(smooth: 2.5), .dice(skipAbsent: false)] {
            checkEverywhere(lossCase, seed: seed)
            seed += 1
        }
    }

    /// Classes absent from the target: counted by default, left out with skip_absent = 1.
    func testDiceAbsentClasses() {
        var seed: UInt64 = 910
        for lossCase in [LossCase.dice(), .dice(skipAbsent: true), .dice(smooth: 0.5, skipAbsent: true),
                         .dice(smooth: 0, skipAbsent: true)] {
            checkEverywhere(lossCase, seed: seed, absentClasses: [2])
            seed += 1
        }
        // With an absent class the two settings must differ (the absent class's Dice term s/(Σp + s) < 1
        // pulls the default's mean down).
        var rng = SeededRandom(seed: 919)
        let counted = LossCase.dice(), skipped = LossCase.dice(skipAbsent: true)
        let spec = makeSpec(&rng, counted, shape: [3, 4, 2, 3], reduction: LK_REDUCTION_MEAN, SpecOptions(absentClasses: [2]))
        let a = evaluateBatch(spec, counted, counted.makeHandle()), b = evaluateBatch(spec, skipped, skipped.makeHandle())
        XCTAssertEqual(a.status, LK_OK)
        XCTAssertEqual(b.status, LK_OK)
        XCTAssertGreaterThan(abs(a.loss[0] - b.loss[0]), 1e-3, "skip_absent should change the loss")
    }

    /// A bigger segmentation batch (more pixels than classes by far), weights and ignore_index.
    func testDiceSegmentationBatch() {
        var rng = SeededRandom(seed: 920)
        for lossCase in [LossCase.dice(), .dice(smooth: 0.1, skipAbsent: true)] {
            for floatKind in FloatKind.allCases {
                let spec = makeSpec(&rng, lossCase, shape: [2, 5, 6, 7], reduction: LK_REDUCTION_MEAN,
                                    SpecOptions(floatKind: floatKind, weighted: true, upstream: true, ignoredFraction: 0.2))
                checkAgainstReference(spec, lossCase, finiteDifferences: false)
            }
        }
    }

    // MARK: - Every loss

    /// -inf logits are masked classes (README): finite loss, gradient exactly 0 on the masked class,
    /// the rest as the reference and finite differences say, for every loss.
    func testMaskedClasses() {
        var seed: UInt64 = 1000
        let cases = LossCase.everyLoss(classes: 4) + [.hem(classCounts: [40, 5, 300, 12]), .multiMargin(p: 2),
                                                      .logitNorm(tau: 1), .mix(ReferenceSchedule(shape: .constant, alpha: 1))]
        for lossCase in cases {
            var rng = SeededRandom(seed: seed)
            seed += 1
            for shape in Self.layouts {
                for reduction in lossCase.isDice ? [LK_REDUCTION_MEAN] : Self.reductions {
                    for floatKind in FloatKind.allCases {
                        let spec = makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                            SpecOptions(floatKind: floatKind, weighted: true, upstream: true,
                                                        ignoredFraction: 0.2, masked: true))
                        let result = checkAgainstReference(spec, lossCase)
                        guard result.status == LK_OK else { continue }
                        XCTAssertTrue(result.loss.allSatisfy(\.isFinite), "\(lossCase): loss \(result.loss)")
                        XCTAssertTrue(result.grad.allSatisfy(\.isFinite), "\(lossCase): gradient not finite")
                        let masked = spec.logits.indices.filter { spec.logits[$0] == -.infinity }
                        XCTAssertFalse(masked.isEmpty)
                        for e in masked {
                            XCTAssertEqual(result.grad[e], 0, "\(lossCase): gradient of the masked class at element \(e)")
                        }
                    }
                }
            }
        }
    }

    /// Every sample ignored: mean 0 with a zero gradient, sum 0, none all zeros, for every loss.
    func testAllSamplesIgnored() {
        var rng = SeededRandom(seed: 1100)
        for lossCase in LossCase.everyLoss(classes: 4) {
            for shape in Self.layouts {
                for reduction in lossCase.isDice ? [LK_REDUCTION_MEAN] : Self.reductions {
                    var spec = makeSpec(&rng, lossCase, shape: shape, reduction: reduction,
                                        SpecOptions(weighted: true, upstream: true))
                    spec.target = .indices(Array(repeating: spec.ignoreIndex, count: spec.samples))
                    let result = checkAgainstReference(spec, lossCase)
                    XCTAssertEqual(result.loss, Array(repeating: 0, count: spec.lossCount), "\(lossCase) \(spec)")
                    XCTAssertEqual(result.grad, Array(repeating: 0, count: spec.elements), "\(lossCase) \(spec)")
                }
            }
        }
    }
}

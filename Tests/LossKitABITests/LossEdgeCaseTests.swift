// The README's "Edge cases, defined" for the seed losses and their comparators, worked out by hand,
// the parameter checks (every refusal with its status, a message naming the parameter and its
// range, the old value kept, no output written), NaN propagation, and thread-count independence.
import CLossKit
import Foundation
import LossKitABI
import XCTest

final class LossEdgeCaseTests: XCTestCase {
    static let reductions: [lk_reduction] = [LK_REDUCTION_NONE, LK_REDUCTION_MEAN, LK_REDUCTION_SUM]

    // MARK: - Helpers

    /// Evaluates a small hand-made batch and returns its results (asserting success).
    func evaluate(_ lossCase: LossCase, shape: [Int64], logits: [Double], targets: [Int64], floatKind: FloatKind = .float64,
                  reduction: lk_reduction = LK_REDUCTION_SUM, weight: [Double]? = nil,
                  file: StaticString = #filePath, line: UInt = #line) -> Computed {
        let spec = BatchSpec(shape: shape, logits: logits, target: .indices(targets), floatKind: floatKind, weight: weight,
                             reduction: reduction)
        let result = evaluateBatch(spec, lossCase, lossCase.makeHandle(file: file, line: line))
        XCTAssertEqual(result.status, LK_OK, "\(lossCase): \(lastErrorMessage())", file: file, line: line)
        return result
    }

    /// Asserts `spec` is refused by `lossCase` with `expected`, a message mentioning `mentions`, and
    /// neither output written (both still hold the sentinel).
    func expectRefusal(_ spec: BatchSpec, _ lossCase: LossCase, _ expected: lk_status, mentions: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        let handle = lossCase.makeHandle(file: file, line: line)
        let prepared = PreparedBatch(spec)
        let status = lossCase.compute(prepared, handle)
        XCTAssertEqual(status, expected, "\(lossCase): \(statusString(status)): \(lastErrorMessage())", file: file, line: line)
        let message = lastErrorMessage()
        for word in mentions {
            XCTAssertTrue(message.contains(word), "\(lossCase): message \"\(message)\" should mention \"\(word)\"",
                          file: file, line: line)
        }
        XCTAssertTrue(prepared.lossUntouched, "\(lossCase): the loss was written on error", file: file, line: line)
        XCTAssertTrue(prepared.gradUntouched, "\(lossCase): the gradient was written on error", file: file, line: line)
    }

    func smallSpec(_ lossCase: LossCase, classes: Int = 4, reduction: lk_reduction = LK_REDUCTION_MEAN, seed: UInt64 = 1) -> BatchSpec {
        var rng = SeededRandom(seed: seed)
        return makeSpec(&rng, lossCase, shape: [3, Int64(classes), 2], reduction: reduction, SpecOptions(weighted: true))
    }

    // MARK: - hem

    /// No positive error (every wrong class at least μ below the target): K = 0, loss 0, gradient 0.
    func testHEMWithNoPositiveErrorIsZero() {
        for lossCase in [LossCase.hem(), .hem(margin: 2), .hem(classCounts: [1, 2, 3, 4])] {
            for floatKind in FloatKind.allCases {
                for reduction in Self.reductions {
                    // Targets 2 and 0, their logit 3 above every other class (μ ≤ 2 everywhere here).
                    let result = evaluate(lossCase, shape: [2, 4], logits: [0.5, -1, 3.5, 0, 4, 1, 0.75, -2],
                                          targets: [2, 0], floatKind: floatKind, reduction: reduction, weight: [1, 2, 3, 4])
                    XCTAssertEqual(result.loss, Array(repeating: 0, count: reduction == LK_REDUCTION_NONE ? 2 : 1), "\(lossCase)")
                    XCTAssertEqual(result.grad, Array(repeating: 0, count: 8), "\(lossCase)")
                }
            }
        }
    }

    /// Ties with τ are in H. z = (0, 0, 0.5, 1), y = 0, μ = 0.5: errors (0.5, 1, 1.5), τ = 1, so
    /// H = {2, 3} (the error 1 equals τ), L = (1 + 1.5)/2 = 1.25, gradient (-1, 0, 1/2, 1/2). (A strict
    /// rule would give H = {3} and L = 1.5.) All values are exact in float32 and float64.
    /// Also: three equal errors are all equal to τ and all in H.
    func testHEMTiesWithTheThresholdAreHigh() {
        for floatKind in FloatKind.allCases {
            var result = evaluate(.hem(), shape: [1, 4], logits: [0, 0, 0.5, 1], targets: [0], floatKind: floatKind)
            XCTAssertEqual(result.loss, [1.25], "\(floatKind)")
            XCTAssertEqual(result.grad, [-1, 0, 0.5, 0.5], "\(floatKind)")

            // z = (0, 1, 1, 1), y = 0: errors all 1.5 = τ: H = {1, 2, 3}, L = 1.5.
            result = evaluate(.hem(), shape: [1, 4], logits: [0, 1, 1, 1], targets: [0], floatKind: floatKind)
            XCTAssertEqual(result.loss, [1.5], "\(floatKind)")
            assertClose(result.grad, [-1, 1.0 / 3, 1.0 / 3, 1.0 / 3], rtol: floatKind == .float64 ? 1e-15 : 1e-7, "equal errors")

            // An error exactly 0 (a kink) is not positive: z = (0, -0.5, 1, 0.25), y = 0: errors (0, 1.5, 0.75),
            // K = 2, τ = 1.125, H = {2}: L = 1.5, sub-gradient 0 on class 1.
            result = evaluate(.hem(), shape: [1, 4], logits: [0, -0.5, 1, 0.25], targets: [0], floatKind: floatKind)
            XCTAssertEqual(result.loss, [1.5], "\(floatKind)")
            XCTAssertEqual(result.grad, [-1, 0, 1, 0], "\(floatKind)")

            // The class-second layout and a weight: the same sample at pixel 1 of (1, 4, 2), w_0 = 2.
            result = evaluate(.hem(), shape: [1, 4, 2], logits: [9, 0, 9, 0, 9, 0.5, 9, 1], targets: [-100, 0],
                              floatKind: floatKind, weight: [2, 1, 1, 1])
            XCTAssertEqual(result.loss, [2.5], "\(floatKind)")
            XCTAssertEqual(result.grad, [0, -2, 0, 0, 0, 1, 0, 1], "\(floatKind)")
        }
    }

    /// HEM+: the margin is that of the sample's target class, μ_y = sqrt(M/(C·s_y)). With s = (1, 4, 16,
    /// 64), M = 4, C = 4: μ = (1, 1/2, 1/4, 1/8). Equal logits make every error μ_y: L = μ_y.
    func testHEMPlusUsesTheTargetClassMargin() {
        let lossCase = LossCase.hem(classCounts: [1, 4, 16, 64], scale: 4)
        for floatKind in FloatKind.allCases {
            let result = evaluate(lossCase, shape: [4, 4], logits: Array(repeating: 0.25, count: 16), targets: [0, 1, 2, 3],
                                  floatKind: floatKind, reduction: LK_REDUCTION_NONE)
            XCTAssertEqual(result.loss, [1, 0.5, 0.25, 0.125], "\(floatKind)")
            // Every wrong class is in H (all equal τ): 1/3 each, -1 on the target.
            for s in 0..<4 {
                for j in 0..<4 {
                    XCTAssertEqual(result.grad[4 * s + j], j == s ? -1 : 1.0 / 3, accuracy: 1e-7, "\(floatKind) sample \(s)")
                }
            }
        }
    }

    /// multi_margin at a hinge's exact kink uses the sub-gradient 0 (README): z = (0, -1, 0.5), y = 0,
    /// m = 1: h_1 = 0 exactly, h_2 = 1.5; L = 1.5/3, gradient (-1/3, 0, 1/3).
    func testMultiMarginAtTheKink() {
        for floatKind in FloatKind.allCases {
            let result = evaluate(.multiMargin(), shape: [1, 3], logits: [0, -1, 0.5], targets: [0], floatKind: floatKind)
            XCTAssertEqual(result.loss[0], 0.5, accuracy: 1e-7)
            assertClose(result.grad, [-1.0 / 3, 0, 1.0 / 3], rtol: 1e-7, "kink \(floatKind)")
        }
    }

    // MARK: - squentropy, logit_norm

    /// C = 1: no wrong class, the square term is 0, and the cross-entropy of one class is 0.
    func testSquentropyWithOneClass() {
        for floatKind in FloatKind.allCases {
            for reduction in Self.reductions {
                let result = evaluate(.squentropy(), shape: [3, 1], logits: [2.5, -7, 0.25], targets: [0, 0, 0],
                                      floatKind: floatKind, reduction: reduction)
                XCTAssertEqual(result.loss, Array(repeating: 0, count: reduction == LK_REDUCTION_NONE ? 3 : 1))
                XCTAssertEqual(result.grad, [0, 0, 0])
            }
        }
    }

    /// An all-zero row: u = 0, the loss is log C, and the gradient is g/(τ·ε) with g = 1/C - δ_y, ε = 1e-7.
    func testLogitNormAllZeroRow() {
        for tau in [0.04, 1.0] {
            for floatKind in FloatKind.allCases {
                // Sample 0 all zeros (target 2), sample 1 ordinary.
                let logits: [Double] = [0, 0, 0, 0, 1.5, -0.5, 0.25, 2]
                let result = evaluate(.logitNorm(tau: tau), shape: [2, 4], logits: logits, targets: [2, 1], floatKind: floatKind,
                                      reduction: LK_REDUCTION_NONE)
                let rtol = floatKind == .float64 ? 1e-12 : 1e-6
                XCTAssertEqual(result.loss[0], log(4.0), accuracy: rtol * log(4.0), "\(floatKind) τ \(tau)")
                let scale = 1 / (tau * 1e-7)
                assertClose(Array(result.grad[0..<4]), [0.25, 0.25, -0.75, 0.25].map { $0 * scale }, rtol: rtol,
                            "zero row gradient \(floatKind) τ \(tau)")
                // The other sample is unaffected: as the reference says.
                let reference = ReferenceRowLoss.logitNorm(tau: tau).sample(Array(logits[4..<8]).map(floatKind.rounded), 1)
                XCTAssertEqual(result.loss[1], reference.loss, accuracy: 1e-5 * reference.loss)
            }
        }
    }

    /// float32 logit_norm: the gradient's natural scale is c = 1/(τ‖z‖) (|∂L/∂z| ≤ 2c). Inputs exact in
    /// float32, everything after them float64 in the reference: a float32 kernel owes an error of a few
    /// float32 ulps of that scale. Forming each exponent u_j - lse in float64 before a float32 exp gives
    /// ~1e-7·c (and cross_entropy on the same normalised logits ~6e-8); rounding u_j and lse to float32
    /// separately first costs |u|·2^-24 ≈ 1.5e-6 at τ = 0.04 (|u| up to 1/τ = 25). Bound: 5e-7·c.
    func testLogitNormFloat32GradientAccuracy() {
        let tau = 0.04
        let lossCase = LossCase.logitNorm(tau: tau)
        let handle = lossCase.makeHandle()
        var rng = SeededRandom(seed: 3100)
        var worst = 0.0
        for _ in 0..<300 {
            let spec = makeSpec(&rng, lossCase, shape: [1, 4], reduction: LK_REDUCTION_SUM, SpecOptions(floatKind: .float32))
            let result = evaluateBatch(spec, lossCase, handle)
            XCTAssertEqual(result.status, LK_OK)
            let reference = lossCase.reference.evaluate(spec)
            let z = spec.logits.map(FloatKind.float32.rounded)
            let c = 1 / (tau * z.reduce(0) { $0 + $1 * $1 }.squareRoot())
            for k in 0..<4 { worst = max(worst, abs(result.grad[k] - reference.grad[k]) / c) }
        }
        XCTAssertLessThanOrEqual(worst, 5e-7, "float32 logit_norm gradient error, relative to c = 1/(τ‖z‖)")
    }

    // MARK: - Vector parameters

    /// logit_adjusted has no default priors: computing without them is refused (naming 'priors'), and so
    /// is computing after they are cleared with count 0.
    func testLogitAdjustedWithoutPriors() {
        var rng = SeededRandom(seed: 3000)
        var lossCase = LossCase(name: "logit_adjusted", reference: ReferenceRowLoss.crossEntropy)
        let spec = makeSpec(&rng, lossCase, shape: [3, 4], reduction: LK_REDUCTION_MEAN)
        expectRefusal(spec, lossCase, LK_ERROR_BAD_PARAM, mentions: ["priors"])
        lossCase.arrays = [("priors", [0.1, 0.2, 0.3, 0.4]), ("priors", [])]
        expectRefusal(spec, lossCase, LK_ERROR_BAD_PARAM, mentions: ["priors"])
    }

    /// priors and class_counts must have one value per class: checked when computing, before any write.
    func testVectorParametersOfTheWrongLength() {
        var rng = SeededRandom(seed: 3001)
        for count in [1, 3, 5] {
            let values = (1...count).map { Double($0) / Double(count * (count + 1) / 2) }
            for reduction in Self.reductions {
                let priors = LossCase(name: "logit_adjusted", arrays: [("priors", values)], reference: ReferenceRowLoss.crossEntropy)
                let counts = LossCase(name: "hem", arrays: [("class_counts", values.map { $0 * 100 })],
                                      reference: ReferenceRowLoss.crossEntropy)
                let spec = makeSpec(&rng, priors, shape: [3, 4, 2], reduction: reduction, SpecOptions(weighted: true))
                expectRefusal(spec, priors, LK_ERROR_BAD_PARAM, mentions: ["priors"])
                expectRefusal(spec, counts, LK_ERROR_BAD_PARAM, mentions: ["class_counts"])
            }
        }
    }

    // MARK: - Reductions and targets a loss does not take

    func testDiceRefusesSumAndNone() {
        for reduction in [LK_REDUCTION_SUM, LK_REDUCTION_NONE] {
            for floatKind in FloatKind.allCases {
                var rng = SeededRandom(seed: 3002)
                let spec = makeSpec(&rng, .dice(), shape: [2, 3, 4], reduction: reduction, SpecOptions(floatKind: floatKind))
                expectRefusal(spec, .dice(), LK_ERROR_BAD_REDUCTION, mentions: ["dice"])
            }
        }
    }

    /// Only cross_entropy takes probability targets; every other loss refuses them.
    func testProbabilityTargetsAreRefused() {
        for lossCase in LossCase.everyLoss(classes: 4) {
            for floatKind in FloatKind.allCases {
                var rng = SeededRandom(seed: 3003)
                let shape: [Int64] = [3, 4, 2]
                var spec = makeSpec(&rng, lossCase, shape: shape, reduction: LK_REDUCTION_MEAN, SpecOptions(floatKind: floatKind))
                spec.target = .probabilities(rng.probabilities(shape: shape))
                expectRefusal(spec, lossCase, LK_ERROR_BAD_PROBABILITIES, mentions: [])
            }
        }
        // cross_entropy takes the same batch.
        var rng = SeededRandom(seed: 3003)
        var spec = makeSpec(&rng, .crossEntropy(), shape: [3, 4, 2], reduction: LK_REDUCTION_MEAN)
        spec.target = .probabilities(rng.probabilities(shape: [3, 4, 2]))
        XCTAssertEqual(evaluateBatch(spec, .crossEntropy(), LossHandle()).status, LK_OK)
    }

    // MARK: - Parameter values

    /// A refused numeric value: LK_ERROR_BAD_PARAM, a message naming the parameter and stating the allowed
    /// values (every bound appears in it), and the previous value kept.
    func assertRefusedValue(_ loss: String, _ parameter: String, _ value: Double, bounds: [String],
                            file: StaticString = #filePath, line: UInt = #line) {
        let handle = LossHandle(loss)
        var before = Double.nan
        XCTAssertEqual(lk_loss_get_param(handle.pointer, parameter, &before), LK_OK, "\(loss).\(parameter)", file: file, line: line)
        let status = lk_loss_set_param(handle.pointer, parameter, value)
        XCTAssertEqual(status, LK_ERROR_BAD_PARAM, "\(loss).\(parameter) = \(value): \(statusString(status))", file: file, line: line)
        assertMessage(lastErrorMessage(), names: parameter, bounds: bounds, file: file, line: line)
        var after = Double.nan
        XCTAssertEqual(lk_loss_get_param(handle.pointer, parameter, &after), LK_OK, file: file, line: line)
        XCTAssertEqual(after, before, "\(loss).\(parameter) must keep its value after a refused set", file: file, line: line)
    }

    /// The message names the parameter (quoted) and every bound: a number equal to it or "inf".
    func assertMessage(_ message: String, names parameter: String, bounds: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(message.contains("'\(parameter)'") || message.contains("\"\(parameter)\""),
                      "message \"\(message)\" should name '\(parameter)'", file: file, line: line)
        let numbers = message.split(whereSeparator: { !"0123456789.-+e".contains($0) }).compactMap { Double($0) }
        for bound in bounds {
            let found = bound == "inf" ? message.contains("inf") || message.contains("∞")
                                       : numbers.contains(Double(bound)!)
            XCTAssertTrue(found, "message \"\(message)\" should state the bound \(bound)", file: file, line: line)
        }
    }

    func testParametersOutOfRange() {
        let nonNegative = ["0", "inf"], positive = ["0", "inf"], unit = ["0", "1"]
        let cases: [(String, String, [Double], [String])] = [
            ("hem", "margin", [-0.1, -5], nonNegative),
            ("hem", "M", [0, -1], positive),
            ("multi_margin", "margin", [-0.5], nonNegative),
            ("multi_margin", "p", [3, 0, 1.5, -1], ["1", "2"]),
            ("logit_norm", "tau", [0, -0.04], positive),
            ("logit_adjusted", "tau", [-1], nonNegative),
            ("ce_expectation_mix", "alpha", [-0.1, 1.1], unit),
            ("ce_expectation_mix", "alpha_start", [-0.5, 2], unit),
            ("ce_expectation_mix", "alpha_end", [-0.01, 1.01], unit),
            ("ce_expectation_mix", "t_switch", [-0.1, 1.5], unit),
            ("ce_expectation_mix", "progress", [-0.2, 1.2], unit),
            ("ce_expectation_mix", "beta", [-1], nonNegative),
            ("focal", "gamma", [-0.5, -2], nonNegative),
            ("square", "k", [0, -1], positive),
            ("square", "M", [0, -3], positive),
            ("dice", "smooth", [-1], nonNegative),
            ("dice", "skip_absent", [2, 0.5, -1], ["0", "1"]),
        ]
        for (loss, parameter, values, bounds) in cases {
            for value in values + [.nan, .infinity, -.infinity] {
                assertRefusedValue(loss, parameter, value, bounds: bounds)
            }
        }
    }

    /// Vector parameters: every value must be positive (a prior or a class count of 0 is refused).
    func testVectorParameterValuesOutOfRange() {
        for (loss, parameter) in [("logit_adjusted", "priors"), ("hem", "class_counts")] {
            for bad in [[0.25, 0.25, 0, 0.5], [0.5, -0.5, 0.5, 0.5], [0.5, .nan, 0.25, 0.25], [.infinity, 1, 1, 1]] {
                let handle = LossHandle(loss)
                let status = lk_loss_set_param_array(handle.pointer, parameter, bad, Int64(bad.count))
                XCTAssertEqual(status, LK_ERROR_BAD_PARAM, "\(loss).\(parameter) = \(bad)")
                assertMessage(lastErrorMessage(), names: parameter, bounds: ["0", "inf"])
            }
        }
        // A refused vector keeps the previous one: logit_adjusted still computes with its old priors.
        let lossCase = LossCase.logitAdjusted(priors: [0.1, 0.2, 0.3, 0.4])
        let handle = lossCase.makeHandle()
        XCTAssertEqual(lk_loss_set_param_array(handle.pointer, "priors", [0.5, 0, 0.25, 0.25], 4), LK_ERROR_BAD_PARAM)
        var rng = SeededRandom(seed: 3004)
        let spec = makeSpec(&rng, lossCase, shape: [4, 4], reduction: LK_REDUCTION_SUM)
        let result = evaluateBatch(spec, lossCase, handle)
        XCTAssertEqual(result.status, LK_OK, lastErrorMessage())
        assertClose(result.loss, lossCase.reference.evaluate(spec).loss, rtol: 1e-10, "old priors kept")
    }

    /// Boundary values that are allowed: margin 0, α 0 and 1, γ 0, smooth 0, p 1 and 2.
    func testBoundaryValuesAreAccepted() {
        let cases: [(String, String, Double)] = [
            ("hem", "margin", 0), ("multi_margin", "margin", 0), ("multi_margin", "p", 2), ("multi_margin", "p", 1),
            ("ce_expectation_mix", "alpha", 0), ("ce_expectation_mix", "alpha", 1), ("ce_expectation_mix", "beta", 0),
            ("ce_expectation_mix", "t_switch", 1), ("ce_expectation_mix", "progress", 1), ("focal", "gamma", 0),
            ("dice", "smooth", 0), ("dice", "skip_absent", 1), ("logit_adjusted", "tau", 0), ("logit_norm", "tau", 1e-3),
        ]
        for (loss, parameter, value) in cases {
            let handle = LossHandle(loss)
            XCTAssertEqual(lk_loss_set_param(handle.pointer, parameter, value), LK_OK, "\(loss).\(parameter) = \(value): \(lastErrorMessage())")
            var read = Double.nan
            XCTAssertEqual(lk_loss_get_param(handle.pointer, parameter, &read), LK_OK)
            XCTAssertEqual(read, value, "\(loss).\(parameter)")
        }
    }

    func testScheduleNames() {
        let handle = LossHandle("ce_expectation_mix")
        for name in ["constant", "linear", "cosine", "step"] {
            XCTAssertEqual(lk_loss_set_param_string(handle.pointer, "schedule", name), LK_OK, "\(name): \(lastErrorMessage())")
        }
        for bad in ["exponential", "", "Linear"] {
            XCTAssertEqual(lk_loss_set_param_string(handle.pointer, "schedule", bad), LK_ERROR_BAD_PARAM, bad)
            let message = lastErrorMessage()
            XCTAssertTrue(message.contains("schedule"), message)
            for name in ["constant", "linear", "cosine", "step"] { XCTAssertTrue(message.contains(name), message) }
        }
        XCTAssertEqual(lk_loss_set_param(handle.pointer, "schedule", 1), LK_ERROR_BAD_PARAM)
    }

    /// Names a loss does not have (including parameters of other losses), through every setter.
    func testUnknownParameters() {
        let foreign: [String: String] = [
            "expectation": "alpha", "ce_expectation_mix": "gamma", "squentropy": "k", "square": "margin", "hem": "p",
            "multi_margin": "tau", "logit_norm": "priors", "logit_adjusted": "gamma", "focal": "label_smoothing",
            "dice": "margin",
        ]
        for name in seedLossNames {
            let handle = LossHandle(name)
            for parameter in ["no_such_parameter", foreign[name]!] {
                XCTAssertEqual(lk_loss_set_param(handle.pointer, parameter, 0.5), LK_ERROR_UNKNOWN_PARAM, "\(name).\(parameter)")
                XCTAssertTrue(lastErrorMessage().contains(parameter), lastErrorMessage())
                XCTAssertEqual(lk_loss_set_param_string(handle.pointer, parameter, "x"), LK_ERROR_UNKNOWN_PARAM, "\(name).\(parameter)")
                XCTAssertEqual(lk_loss_set_param_array(handle.pointer, parameter, [0.5, 0.5], 2), LK_ERROR_UNKNOWN_PARAM,
                               "\(name).\(parameter)")
                var value = 0.0
                XCTAssertEqual(lk_loss_get_param(handle.pointer, parameter, &value), LK_ERROR_UNKNOWN_PARAM, "\(name).\(parameter)")
            }
        }
    }

    // MARK: - NaN

    /// nan_policy "error" (the default) refuses a NaN logit for every loss, before writing.
    func testNaNIsRefusedByDefault() {
        for lossCase in LossCase.everyLoss(classes: 4) {
            var spec = smallSpec(lossCase)
            spec.logits[5] = .nan
            expectRefusal(spec, lossCase, LK_ERROR_NONFINITE_LOGIT, mentions: [])
        }
    }

    /// nan_policy "propagate": a NaN logit, on the target class or another one, makes that sample's loss
    /// NaN (never a silently finite value); the other samples are as without the NaN. Dice (one number
    /// per batch) and the mean and sum become NaN.
    func testNaNPropagates() {
        let cases = LossCase.everyLoss(classes: 4) + [.multiMargin(p: 2), .hem(classCounts: [1, 2, 3, 4]), .focal(gamma: 0),
                                                     .mix(ReferenceSchedule(shape: .constant, alpha: 1)),
                                                     .mix(ReferenceSchedule(shape: .constant, alpha: 0))]
        for lossCase in cases {
            for floatKind in FloatKind.allCases {
                for onTarget in [true, false] {
                    var rng = SeededRandom(seed: 3200)
                    let reductions = lossCase.isDice ? [LK_REDUCTION_MEAN] : Self.reductions
                    for reduction in reductions {
                        var spec = makeSpec(&rng, lossCase, shape: [3, 4], reduction: reduction, SpecOptions(floatKind: floatKind))
                        guard case .indices(let y) = spec.target else { return XCTFail() }
                        let clean = spec
                        let cls = onTarget ? Int(y[1]) : (Int(y[1]) + 1) % 4
                        spec.logits[spec.element(sample: 1, cls: cls)] = .nan
                        let handle = lossCase.makeHandle(nanPolicy: "propagate")
                        let result = evaluateBatch(spec, lossCase, handle)
                        let what = "\(lossCase) \(floatKind) NaN on \(onTarget ? "the target" : "another class") \(spec)"
                        XCTAssertEqual(result.status, LK_OK, "\(what): \(lastErrorMessage())")
                        guard result.status == LK_OK else { continue }
                        if reduction == LK_REDUCTION_NONE {
                            XCTAssertTrue(result.loss[1].isNaN, "\(what): loss of the NaN sample is \(result.loss[1])")
                            let reference = evaluateBatch(clean, lossCase, handle)
                            XCTAssertEqual(result.loss[0], reference.loss[0], what)
                            XCTAssertEqual(result.loss[2], reference.loss[2], what)
                        } else {
                            XCTAssertTrue(result.loss[0].isNaN, "\(what): loss is \(result.loss[0])")
                        }
                    }
                }
            }
        }
    }

    // MARK: - Threads

    /// Every loss on a batch big enough to be split into chunks (2000 samples of 40 classes, in one of
    /// the two layouts and float types): bit-identical results with 1 and 2 threads. The limit is restored to 0.
    /// (Whether these results are right is the catalogue's business; here only the thread count varies.)
    func testThreadCountDoesNotChangeResults() {
        defer { XCTAssertEqual(lk_set_num_threads(0), LK_OK) }
        var rng = SeededRandom(seed: 3300)
        let counts = (0..<40).map { _ in Double(1 + rng.int(500)) }
        let cases = LossCase.everyLoss(classes: 40) + [
            .hem(classCounts: counts, scale: 2), .multiMargin(margin: 0.5, p: 2), .focal(gamma: 0.5),
            .mix(ReferenceSchedule(shape: .cosine, start: 0.1, end: 0.9), beta: 2, callProgress: 0.3), .dice(skipAbsent: true),
        ]
        for (index, lossCase) in cases.enumerated() {
            // One batch per loss, alternating: (N, C) float64 mean, and (N, C, d1, d2) float32 none (dice: mean).
            let specs = [index % 2 == 0
                ? makeSpec(&rng, lossCase, shape: [2000, 40], reduction: LK_REDUCTION_MEAN,
                           SpecOptions(weighted: true, upstream: true, ignoredFraction: 0.1))
                : makeSpec(&rng, lossCase, shape: [20, 40, 10, 10], reduction: lossCase.isDice ? LK_REDUCTION_MEAN : LK_REDUCTION_NONE,
                           SpecOptions(floatKind: .float32, indexKind: .int32, weighted: true, upstream: true, ignoredFraction: 0.1))]
            let handle = lossCase.makeHandle()
            for spec in specs {
                XCTAssertEqual(lk_set_num_threads(1), LK_OK)
                let one = evaluateBatch(spec, lossCase, handle)
                XCTAssertEqual(lk_set_num_threads(2), LK_OK)
                XCTAssertEqual(lk_get_num_threads(), 2)
                let two = evaluateBatch(spec, lossCase, handle)
                XCTAssertEqual(one.status, LK_OK, "\(lossCase): \(lastErrorMessage())")
                XCTAssertEqual(two.status, LK_OK, "\(lossCase): \(lastErrorMessage())")
                XCTAssertTrue(one.loss.allSatisfy(\.isFinite), "\(lossCase): loss \(one.loss.prefix(4))")
                assertBitIdentical(two.loss, one.loss, "\(lossCase) loss, 2 threads vs 1, \(spec.shape) \(spec.floatKind)")
                assertBitIdentical(two.grad, one.grad, "\(lossCase) grad, 2 threads vs 1, \(spec.shape) \(spec.floatKind)")
            }
        }
    }
}

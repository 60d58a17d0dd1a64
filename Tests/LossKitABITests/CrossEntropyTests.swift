// `cross_entropy` through the C ABI, checked against the independent float64 reference
// (ReferenceCrossEntropy.swift), against central finite differences of the library's own loss, and
// against small cases worked out by hand.
import CLossKit
import Foundation
import LossKitABI
import XCTest

final class CrossEntropyTests: XCTestCase {
    // (N, C) and (N, C, d1, d2) on the row kernel, and two shapes that also take the column kernel
    // (ColumnLayout: W = 16 float32 / 8 float64 samples per block) with leftovers on the row kernel:
    // (N, C) with few classes and N past two blocks, and (N, C, d) with d past one block.
    static let layouts: [[Int64]] = [[5, 4], [3, 4, 2, 3], [18, 4], [2, 4, 17]]
    static let reductions: [lk_reduction] = [LK_REDUCTION_NONE, LK_REDUCTION_MEAN, LK_REDUCTION_SUM]

    // MARK: - The common check

    struct Computed {
        var loss: [Double]
        var grad: [Double]
    }

    /// Runs `spec` through lk_loss_compute and checks, in order:
    ///  - the call succeeds and leaves the error message "";
    ///  - loss and gradient match the reference (float64: 1e-10 relative; float32: 1e-5 relative);
    ///  - (float64) the gradient matches central finite differences of the library's own loss;
    ///  - the gradient computed in place (grad == logits) and the loss computed without a gradient
    ///    are bit-identical to the out-of-place results.
    @discardableResult
    func check(_ spec: BatchSpec, labelSmoothing: Double = 0, zLoss: Double = 0, finiteDifferences: Bool = true,
               file: StaticString = #filePath, line: UInt = #line) -> Computed {
        let what = "\(spec) ε \(labelSmoothing) λ \(zLoss)"
        let handle = LossHandle(labelSmoothing: labelSmoothing, zLoss: zLoss, file: file, line: line)
        var outOfPlace = spec
        outOfPlace.computeGrad = true
        outOfPlace.gradInPlace = false
        let prepared = PreparedBatch(outOfPlace)
        let status = prepared.compute(handle)
        XCTAssertEqual(status, LK_OK, "\(what): \(lastErrorMessage())", file: file, line: line)
        XCTAssertEqual(lastErrorMessage(), "", file: file, line: line)
        guard status == LK_OK else { return Computed(loss: [], grad: []) }
        let loss = prepared.lossValues, grad = prepared.gradValues

        let reference = ReferenceCrossEntropy(labelSmoothing: labelSmoothing, zLoss: zLoss).evaluate(spec)
        let (rtol, floor) = spec.floatKind == .float64 ? (1e-10, 1e-4) : (1e-5, 0.1)
        assertClose(loss, reference.loss, rtol: rtol, floorFraction: floor, "loss vs reference, \(what)", file: file, line: line)
        assertClose(grad, reference.grad, rtol: rtol, floorFraction: floor, "grad vs reference, \(what)", file: file, line: line)

        if finiteDifferences && spec.floatKind == .float64 {
            let fd = finiteDifferenceGradient(outOfPlace, handle)
            let differentiable = fd.indices.filter { fd[$0].isFinite }
            assertClose(differentiable.map { grad[$0] }, differentiable.map { fd[$0] }, rtol: 1e-6,
                        "grad vs finite differences, \(what)", file: file, line: line)
        }

        var inPlace = spec
        inPlace.computeGrad = true
        inPlace.gradInPlace = true
        let preparedInPlace = PreparedBatch(inPlace)
        XCTAssertEqual(preparedInPlace.compute(handle), LK_OK, "in place, \(what): \(lastErrorMessage())", file: file, line: line)
        assertBitIdentical(preparedInPlace.lossValues, loss, "in-place loss, \(what)", file: file, line: line)
        assertBitIdentical(preparedInPlace.gradValues, grad, "in-place grad, \(what)", file: file, line: line)

        var lossOnly = spec
        lossOnly.computeGrad = false
        lossOnly.gradInPlace = false
        let preparedLossOnly = PreparedBatch(lossOnly)
        XCTAssertEqual(preparedLossOnly.compute(handle), LK_OK, "loss only, \(what): \(lastErrorMessage())", file: file, line: line)
        assertBitIdentical(preparedLossOnly.lossValues, loss, "loss without gradient, \(what)", file: file, line: line)
        XCTAssertEqual(preparedLossOnly.logits.loadFloats(count: spec.elements, as: spec.floatKind),
                       spec.logits.map(spec.floatKind.rounded), "logits must be read-only", file: file, line: line)
        return Computed(loss: loss, grad: grad)
    }

    /// A random batch with class-index targets.
    func indexSpec(_ rng: inout SeededRandom, shape: [Int64], reduction: lk_reduction, floatKind: FloatKind = .float64,
                   indexKind: IndexKind = .int64, weighted: Bool = false, upstream: Bool = false,
                   ignoredFraction: Double = 0, ignoreIndex: Int64 = -100) -> BatchSpec {
        var spec = BatchSpec(shape: shape, logits: [], target: .indices([]), floatKind: floatKind, indexKind: indexKind,
                             reduction: reduction, ignoreIndex: ignoreIndex)
        spec.logits = rng.logits(spec.elements)
        var targets = rng.indices(spec.samples, classes: spec.classes, ignoredFraction: ignoredFraction, ignoreIndex: ignoreIndex)
        if ignoredFraction > 0 && spec.samples >= 2 {  // at least one ignored and one counted sample
            targets[0] = ignoreIndex
            if targets[1] == ignoreIndex { targets[1] = 0 }
        }
        spec.target = .indices(targets)
        if weighted { spec.weight = rng.weights(spec.classes) }
        if upstream { spec.dloss = randomUpstream(&rng, spec) }
        return spec
    }

    /// A random batch with probability targets.
    func probabilitySpec(_ rng: inout SeededRandom, shape: [Int64], reduction: lk_reduction, floatKind: FloatKind = .float64,
                         weighted: Bool = false, upstream: Bool = false) -> BatchSpec {
        var spec = BatchSpec(shape: shape, logits: [], target: .indices([]), floatKind: floatKind, reduction: reduction)
        spec.logits = rng.logits(spec.elements)
        spec.target = .probabilities(rng.probabilities(shape: shape))
        if weighted { spec.weight = rng.weights(spec.classes) }
        if upstream { spec.dloss = randomUpstream(&rng, spec) }
        return spec
    }

    func randomUpstream(_ rng: inout SeededRandom, _ spec: BatchSpec) -> [Double] {
        (0..<spec.lossCount).map { _ in (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(0.3...2.5) }
    }

    // MARK: - Options against the reference and finite differences

    func testPlainAllReductionsBothLayouts() {
        var rng = SeededRandom(seed: 1)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                check(indexSpec(&rng, shape: shape, reduction: reduction))
            }
        }
    }

    func testClassWeights() {
        var rng = SeededRandom(seed: 2)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                check(indexSpec(&rng, shape: shape, reduction: reduction, weighted: true))
            }
        }
    }

    func testIgnoreIndexDefault() {
        var rng = SeededRandom(seed: 3)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                for weighted in [false, true] {
                    check(indexSpec(&rng, shape: shape, reduction: reduction, weighted: weighted, ignoredFraction: 0.3))
                }
            }
        }
    }

    /// ignore_index may be any value, even a real class (PyTorch allows it): those samples are skipped.
    func testIgnoreIndexThatIsAValidClassOrOutOfRange() {
        var rng = SeededRandom(seed: 4)
        for ignoreIndex: Int64 in [2, 1000, -1] {
            for reduction in Self.reductions {
                check(indexSpec(&rng, shape: [6, 4], reduction: reduction, weighted: true, ignoredFraction: 0.3,
                                ignoreIndex: ignoreIndex))
            }
        }
    }

    /// Every sample ignored: mean is 0 with a zero gradient (PyTorch would give NaN; losskit
    /// documents 0), sum is 0, none is all zeros.
    func testAllSamplesIgnored() {
        for shape in Self.layouts {
            for reduction in Self.reductions {
                for (weighted, smoothing) in [(false, 0.0), (true, 0.2)] {
                    var rng = SeededRandom(seed: 5)
                    var spec = indexSpec(&rng, shape: shape, reduction: reduction, weighted: weighted, upstream: true)
                    spec.target = .indices(Array(repeating: -100, count: spec.samples))
                    let result = check(spec, labelSmoothing: smoothing, zLoss: 0.01)
                    XCTAssertEqual(result.loss, Array(repeating: 0, count: spec.lossCount), "\(spec)")
                    XCTAssertEqual(result.grad, Array(repeating: 0, count: spec.elements), "\(spec)")
                }
            }
        }
    }

    func testLabelSmoothing() {
        var rng = SeededRandom(seed: 6)
        for smoothing in [0.1, 0.45, 1.0] {
            for shape in Self.layouts {
                for reduction in Self.reductions {
                    check(indexSpec(&rng, shape: shape, reduction: reduction, ignoredFraction: 0.2), labelSmoothing: smoothing)
                }
            }
        }
    }

    /// PyTorch's rule with weights: (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_j w_j·(-log p_j), mean over Σ w_y.
    func testLabelSmoothingWithWeights() {
        var rng = SeededRandom(seed: 7)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                check(indexSpec(&rng, shape: shape, reduction: reduction, weighted: true, ignoredFraction: 0.2),
                      labelSmoothing: 0.3)
            }
        }
    }

    /// The same rule by hand. Logits 0, C = 2, w = (1, 3), targets (0, 1), ε = 0.5: -log p_j = log 2,
    /// p = 1/2. Sample 0: 0.5·1·log2 + 0.25·(1+3)·log2 = 1.5·log2; sample 1: 0.5·3·log2 + log2 =
    /// 2.5·log2; the mean divides the sum 4·log2 by w_0 + w_1 = 4: log 2.
    /// Gradients (1-ε)·w_y·(p - δ_y) + (ε/C)·(Σw·p - w): sample 0: (-0.25 + 0.25, 0.25 - 0.25) = (0, 0);
    /// sample 1: (0.75 + 0.25, -0.75 - 0.25) = (1, -1); divided by 4 for the mean.
    func testLabelSmoothingWithWeightsByHand() {
        let handle = LossHandle(labelSmoothing: 0.5)
        var spec = BatchSpec(shape: [2, 2], logits: [0, 0, 0, 0], target: .indices([0, 1]), weight: [1, 3])
        for floatKind in FloatKind.allCases {
            spec.floatKind = floatKind
            spec.reduction = LK_REDUCTION_MEAN
            var prepared = PreparedBatch(spec)
            XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
            XCTAssertEqual(prepared.lossValues[0], floatKind.rounded(log(2.0)), accuracy: 1e-7)
            assertClose(prepared.gradValues, [0, 0, 0.25, -0.25], rtol: 1e-6, "grad \(floatKind)")

            spec.reduction = LK_REDUCTION_NONE
            prepared = PreparedBatch(spec)
            XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
            assertClose(prepared.lossValues, [1.5 * log(2.0), 2.5 * log(2.0)], rtol: 1e-6, "none \(floatKind)")
            assertClose(prepared.gradValues, [0, 0, 1, -1], rtol: 1e-6, "grad none \(floatKind)")
        }
    }

    /// Probability targets: mean divides by the number of samples S = N·d1..dk.
    func testProbabilityTargets() {
        var rng = SeededRandom(seed: 8)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                check(probabilitySpec(&rng, shape: shape, reduction: reduction))
            }
        }
    }

    /// Weights multiply each class's term; label smoothing mixes ε/C into q.
    func testProbabilityTargetsWithWeightsAndSmoothing() {
        var rng = SeededRandom(seed: 9)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                check(probabilitySpec(&rng, shape: shape, reduction: reduction, weighted: true))
                check(probabilitySpec(&rng, shape: shape, reduction: reduction, weighted: true), labelSmoothing: 0.2)
                check(probabilitySpec(&rng, shape: shape, reduction: reduction), labelSmoothing: 0.2)
            }
        }
    }

    /// One-hot probabilities give the same per-sample losses and sum as the class indices, weights
    /// included; only the weighted mean differs: Σ L / S for probabilities against Σ L / Σ w_y.
    func testOneHotProbabilitiesAgainstIndices() {
        var rng = SeededRandom(seed: 10)
        let handle = LossHandle()
        for shape in Self.layouts {
            var indices = indexSpec(&rng, shape: shape, reduction: LK_REDUCTION_NONE, weighted: true)
            guard case .indices(let y) = indices.target else { return XCTFail() }
            var oneHot = [Double](repeating: 0, count: indices.elements)
            for s in 0..<indices.samples { oneHot[indices.element(sample: s, cls: Int(y[s]))] = 1 }
            var probabilities = indices
            probabilities.target = .probabilities(oneHot)

            var results: [UInt32: ([Double], [Double])] = [:]
            for reduction in Self.reductions {
                indices.reduction = reduction
                probabilities.reduction = reduction
                let a = PreparedBatch(indices), b = PreparedBatch(probabilities)
                XCTAssertEqual(a.compute(handle), LK_OK, lastErrorMessage())
                XCTAssertEqual(b.compute(handle), LK_OK, lastErrorMessage())
                results[reduction.rawValue] = (a.lossValues, b.lossValues)
                if reduction != LK_REDUCTION_MEAN {
                    assertClose(b.lossValues, a.lossValues, rtol: 1e-12, "one-hot vs indices \(reduction)")
                    assertClose(b.gradValues, a.gradValues, rtol: 1e-12, floorFraction: 1e-6, "grad one-hot vs indices")
                }
            }
            let sumWy = (0..<indices.samples).reduce(0.0) { $0 + indices.weight![Int(y[$1])] }
            let (meanIndices, meanProbabilities) = results[LK_REDUCTION_MEAN.rawValue]!
            let total = results[LK_REDUCTION_SUM.rawValue]!.0[0]
            XCTAssertEqual(meanIndices[0], total / sumWy, accuracy: 1e-12 * abs(total))
            XCTAssertEqual(meanProbabilities[0], total / Double(indices.samples), accuracy: 1e-12 * abs(total))
        }
    }

    func testZLoss() {
        var rng = SeededRandom(seed: 11)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                check(indexSpec(&rng, shape: shape, reduction: reduction), zLoss: 0.1)
                check(indexSpec(&rng, shape: shape, reduction: reduction, weighted: true, ignoredFraction: 0.2),
                      labelSmoothing: 0.1, zLoss: 0.03)
                check(probabilitySpec(&rng, shape: shape, reduction: reduction, weighted: true), zLoss: 0.05)
            }
        }
    }

    /// z-loss by hand: logits 0 and C = 4 give lse = log 4, L = log 4 + λ·log²4, and the gradient
    /// p - δ + 2λ·lse·p with p = 1/4.
    func testZLossByHand() {
        let lambda = 0.5
        let handle = LossHandle(zLoss: lambda)
        let spec = BatchSpec(shape: [1, 4], logits: [0, 0, 0, 0], target: .indices([2]), reduction: LK_REDUCTION_SUM)
        let prepared = PreparedBatch(spec)
        XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
        let lse = log(4.0)
        XCTAssertEqual(prepared.lossValues[0], lse + lambda * lse * lse, accuracy: 1e-14)
        let g = 0.25 + 2 * lambda * lse * 0.25
        assertClose(prepared.gradValues, [g, g, g - 1, g], rtol: 1e-14, "z-loss gradient")
    }

    /// The upstream gradient: a scalar for mean and sum, one value per sample for none.
    func testUpstreamGradient() {
        var rng = SeededRandom(seed: 12)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                check(indexSpec(&rng, shape: shape, reduction: reduction, upstream: true))
                check(indexSpec(&rng, shape: shape, reduction: reduction, weighted: true, upstream: true, ignoredFraction: 0.2),
                      labelSmoothing: 0.15, zLoss: 0.02)
                check(probabilitySpec(&rng, shape: shape, reduction: reduction, weighted: true, upstream: true),
                      labelSmoothing: 0.1)
            }
        }
    }

    /// dloss scales the gradient and nothing else: the loss is the same, the gradient is dloss times
    /// the gradient without it.
    func testUpstreamGradientScalesOnlyTheGradient() {
        var rng = SeededRandom(seed: 13)
        let handle = LossHandle(labelSmoothing: 0.1)
        for reduction in Self.reductions {
            var spec = indexSpec(&rng, shape: [4, 3, 2], reduction: reduction, weighted: true)
            let plain = PreparedBatch(spec)
            XCTAssertEqual(plain.compute(handle), LK_OK)
            spec.dloss = Array(repeating: -2.0, count: spec.lossCount)
            let scaled = PreparedBatch(spec)
            XCTAssertEqual(scaled.compute(handle), LK_OK)
            assertBitIdentical(scaled.lossValues, plain.lossValues, "loss with dloss")
            assertClose(scaled.gradValues, plain.gradValues.map { -2 * $0 }, rtol: 1e-15, "grad with dloss -2")
        }
    }

    // MARK: - Types

    func testFloat32MatchesReference() {
        var rng = SeededRandom(seed: 14)
        for shape in Self.layouts {
            for reduction in Self.reductions {
                for indexKind in IndexKind.allCases {
                    check(indexSpec(&rng, shape: shape, reduction: reduction, floatKind: .float32, indexKind: indexKind))
                    check(indexSpec(&rng, shape: shape, reduction: reduction, floatKind: .float32, indexKind: indexKind,
                                    weighted: true, upstream: true, ignoredFraction: 0.25),
                          labelSmoothing: 0.2, zLoss: 0.01)
                }
                check(probabilitySpec(&rng, shape: shape, reduction: reduction, floatKind: .float32, weighted: true,
                                      upstream: true), labelSmoothing: 0.1, zLoss: 0.01)
            }
        }
    }

    /// int32 and int64 targets are the same targets: identical results, bit for bit.
    func testInt32AndInt64TargetsAgree() {
        var rng = SeededRandom(seed: 15)
        for floatKind in FloatKind.allCases {
            for shape in Self.layouts {
                for reduction in Self.reductions {
                    var spec = indexSpec(&rng, shape: shape, reduction: reduction, floatKind: floatKind, indexKind: .int64,
                                         weighted: true, upstream: true, ignoredFraction: 0.2)
                    let wide = check(spec, labelSmoothing: 0.1, finiteDifferences: false)
                    spec.indexKind = .int32
                    let narrow = check(spec, labelSmoothing: 0.1, finiteDifferences: false)
                    assertBitIdentical(narrow.loss, wide.loss, "int32 vs int64 loss")
                    assertBitIdentical(narrow.grad, wide.grad, "int32 vs int64 grad")
                }
            }
        }
    }

    /// grad == logits: the logits are overwritten by exactly the out-of-place gradient.
    func testGradientInPlace() {
        var rng = SeededRandom(seed: 16)
        let handle = LossHandle(labelSmoothing: 0.1, zLoss: 0.01)
        for floatKind in FloatKind.allCases {
            for shape in Self.layouts + [[7, 33], [2, 5, 3, 1, 2]] {
                var spec = indexSpec(&rng, shape: shape, reduction: LK_REDUCTION_MEAN, floatKind: floatKind, weighted: true)
                let outOfPlace = PreparedBatch(spec)
                XCTAssertEqual(outOfPlace.compute(handle), LK_OK)
                spec.gradInPlace = true
                let inPlace = PreparedBatch(spec)
                XCTAssertEqual(inPlace.batch.grad, UnsafeMutableRawPointer(mutating: inPlace.batch.logits))
                XCTAssertEqual(inPlace.compute(handle), LK_OK, lastErrorMessage())
                assertBitIdentical(inPlace.lossValues, outOfPlace.lossValues, "in-place loss \(shape)")
                assertBitIdentical(inPlace.gradValues, outOfPlace.gradValues, "in-place grad \(shape)")
            }
        }
    }

    // MARK: - Infinite logits

    /// -inf logits are masked classes: the loss and gradient stay finite, the gradient of a masked
    /// class is exactly 0, and the rest matches the reference and finite differences.
    func testMaskedClasses() {
        var rng = SeededRandom(seed: 17)
        for floatKind in FloatKind.allCases {
            for shape in Self.layouts {
                for reduction in Self.reductions {
                    var spec = indexSpec(&rng, shape: shape, reduction: reduction, floatKind: floatKind, weighted: true,
                                         upstream: true, ignoredFraction: 0.2)
                    guard case .indices(let y) = spec.target else { return XCTFail() }
                    var masked: [Int] = []
                    for s in 0..<spec.samples {
                        // Mask one or two classes other than the target.
                        let candidates = (0..<spec.classes).filter { Int64($0) != y[s] }
                        for cls in candidates.prefix(1 + s % 2) {
                            let e = spec.element(sample: s, cls: cls)
                            spec.logits[e] = -.infinity
                            masked.append(e)
                        }
                    }
                    let result = check(spec, zLoss: 0.01)
                    XCTAssertTrue(result.loss.allSatisfy(\.isFinite), "loss \(result.loss)")
                    XCTAssertTrue(result.grad.allSatisfy(\.isFinite), "grad must be finite")
                    for e in masked { XCTAssertEqual(result.grad[e], 0, "gradient of a masked class, element \(e)") }
                }
            }
        }
    }

    /// The target class at -inf: p_y = 0, so the loss is +inf (in every reduction that includes it).
    func testTargetAtNegativeInfinity() {
        let handle = LossHandle()
        for floatKind in FloatKind.allCases {
            for reduction in Self.reductions {
                let spec = BatchSpec(shape: [2, 3], logits: [0.5, -.infinity, 1, 0.25, 0, -1], target: .indices([1, 0]),
                                     floatKind: floatKind, reduction: reduction)
                let prepared = PreparedBatch(spec)
                XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
                let loss = prepared.lossValues
                XCTAssertEqual(loss[0], .infinity, "\(spec)")
                if reduction == LK_REDUCTION_NONE {
                    // Sample 1 is untouched by sample 0's infinity: log(e^.25 + 1 + e^-1) - 0.25.
                    let expected = log(exp(0.25) + 1 + exp(-1.0)) - 0.25
                    XCTAssertEqual(loss[1], expected, accuracy: 1e-6)
                }
            }
        }
    }

    // MARK: - Threads

    /// A batch big enough to be split into several chunks gives bit-identical results with 1 and 2
    /// threads (and the default); the thread limit is restored to 0.
    func testThreadCountDoesNotChangeResults() {
        defer { XCTAssertEqual(lk_set_num_threads(0), LK_OK) }
        var rng = SeededRandom(seed: 18)
        let cases: [(BatchSpec, Double)] = [
            (indexSpec(&rng, shape: [3000, 50], reduction: LK_REDUCTION_MEAN, weighted: true, ignoredFraction: 0.1), 0.1),
            (indexSpec(&rng, shape: [3000, 50], reduction: LK_REDUCTION_SUM, floatKind: .float32, indexKind: .int32), 0),
            (indexSpec(&rng, shape: [3000, 50], reduction: LK_REDUCTION_NONE, upstream: true), 0),
            (indexSpec(&rng, shape: [300, 50, 5, 2], reduction: LK_REDUCTION_MEAN, floatKind: .float32, weighted: true,
                       ignoredFraction: 0.1), 0.2),
            (probabilitySpec(&rng, shape: [3000, 50], reduction: LK_REDUCTION_MEAN, weighted: true), 0.05),
        ]
        for (spec, smoothing) in cases {
            let handle = LossHandle(labelSmoothing: smoothing, zLoss: 0.001)
            var results: [(loss: [Double], grad: [Double])] = []
            for threads: Int32 in [1, 2, 0] {
                XCTAssertEqual(lk_set_num_threads(threads), LK_OK)
                XCTAssertEqual(lk_get_num_threads(), threads)
                let prepared = PreparedBatch(spec)
                XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
                results.append((prepared.lossValues, prepared.gradValues))
            }
            for (i, r) in results.enumerated().dropFirst() {
                assertBitIdentical(r.loss, results[0].loss, "loss, run \(i) vs 1 thread, \(spec)")
                assertBitIdentical(r.grad, results[0].grad, "grad, run \(i) vs 1 thread, \(spec)")
            }
            // And the split batch is right, not just consistent.
            let reference = ReferenceCrossEntropy(labelSmoothing: smoothing, zLoss: 0.001).evaluate(spec)
            let (rtol, floor) = spec.floatKind == .float64 ? (1e-10, 1e-4) : (1e-5, 0.1)
            assertClose(results[0].loss, reference.loss, rtol: rtol, floorFraction: floor, "big loss vs reference")
            assertClose(results[0].grad, reference.grad, rtol: rtol, floorFraction: floor, "big grad vs reference")
        }
    }

    // MARK: - Edge cases by hand

    /// Logits all equal: p = 1/C, the loss of each sample is log C and its gradient 1/C - δ_y.
    func testUniformLogitsByHand() {
        let handle = LossHandle()
        for floatKind in FloatKind.allCases {
            let spec = BatchSpec(shape: [2, 5], logits: Array(repeating: 3, count: 10), target: .indices([4, 0]),
                                 floatKind: floatKind)
            let prepared = PreparedBatch(spec)
            XCTAssertEqual(prepared.compute(handle), LK_OK)
            XCTAssertEqual(prepared.lossValues[0], log(5.0), accuracy: 1e-6 * log(5.0))
            let expected: [Double] = [0.2, 0.2, 0.2, 0.2, -0.8, -0.8, 0.2, 0.2, 0.2, 0.2].map { $0 / 2 }
            assertClose(prepared.gradValues, expected, rtol: 1e-6, "uniform logits \(floatKind)")
        }
    }

    /// Huge logits must not overflow nor lose accuracy (LOSSES.md: p and lse with the max subtracted):
    /// z = (c, c + 1), target 1: L = log(1 + e^-1), p_0 = 1/(1+e), whatever c.
    func testLargeLogitsAreStable() {
        let handle = LossHandle()
        for floatKind in FloatKind.allCases {
            for offset in [1000.0, -1000.0, 0.0] {
                let spec = BatchSpec(shape: [1, 2], logits: [offset, offset + 1], target: .indices([1]), floatKind: floatKind,
                                     reduction: LK_REDUCTION_SUM)
                let prepared = PreparedBatch(spec)
                XCTAssertEqual(prepared.compute(handle), LK_OK)
                // float32 inputs here are exact, so float32 owes the same 1e-5 as everywhere else.
                let rtol = floatKind == .float64 ? 1e-12 : 1e-5
                XCTAssertEqual(prepared.lossValues[0], log(1 + exp(-1.0)), accuracy: rtol * log(1 + exp(-1.0)),
                               "offset \(offset) \(floatKind)")
                let p0 = 1 / (1 + exp(1.0))
                assertClose(prepared.gradValues, [p0, -p0], rtol: rtol, "grad at offset \(offset) \(floatKind)")
            }
        }
    }

    /// A single class: p = 1, the loss and gradient are 0.
    func testSingleClass() {
        let handle = LossHandle()
        for reduction in Self.reductions {
            let spec = BatchSpec(shape: [3, 1], logits: [2, -7, 0.5], target: .indices([0, 0, 0]), reduction: reduction)
            let prepared = PreparedBatch(spec)
            XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
            XCTAssertEqual(prepared.lossValues, Array(repeating: 0, count: spec.lossCount))
            XCTAssertEqual(prepared.gradValues, [0, 0, 0])
        }
    }

    /// N = 0 (and a zero spatial size): nothing to average, the mean and the sum are 0.
    func testEmptyBatch() {
        let handle = LossHandle()
        for shape: [Int64] in [[0, 3], [2, 3, 0]] {
            for reduction in [LK_REDUCTION_MEAN, LK_REDUCTION_SUM] {
                let spec = BatchSpec(shape: shape, logits: [], target: .indices([]), reduction: reduction)
                let prepared = PreparedBatch(spec)
                XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
                XCTAssertEqual(prepared.lossValues, [0], "\(shape)")
            }
            let none = PreparedBatch(BatchSpec(shape: shape, logits: [], target: .indices([]), reduction: LK_REDUCTION_NONE))
            XCTAssertEqual(none.compute(handle), LK_OK, lastErrorMessage())
        }
    }

    /// The parameters of one handle do not leak into another.
    func testHandlesAreIndependent() {
        var rng = SeededRandom(seed: 19)
        let spec = indexSpec(&rng, shape: [4, 3], reduction: LK_REDUCTION_SUM)
        let smoothed = LossHandle(labelSmoothing: 0.3)
        let plain = LossHandle()
        let a = PreparedBatch(spec), b = PreparedBatch(spec)
        XCTAssertEqual(a.compute(smoothed), LK_OK)
        XCTAssertEqual(b.compute(plain), LK_OK)
        let referencePlain = ReferenceCrossEntropy().evaluate(spec)
        let referenceSmoothed = ReferenceCrossEntropy(labelSmoothing: 0.3).evaluate(spec)
        assertClose(b.lossValues, referencePlain.loss, rtol: 1e-12, "plain handle")
        assertClose(a.lossValues, referenceSmoothed.loss, rtol: 1e-12, "smoothed handle")
    }
}
